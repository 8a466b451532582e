"""write_layer_tar on upper dirs made by hand: every kind of entry, byte by byte.

The upper dirs here are plain directories shaped the way overlayfs leaves
them (0/0 character devices for whiteouts, ``trusted.overlay.opaque`` on
directories), so each rule can be checked alone; test_diff_overlay.py
does the same on a real overlay. Needs root (mknod, trusted.* xattrs).
"""

from __future__ import annotations

import hashlib
import io
import os
import socket
import struct
import tarfile
from pathlib import Path

import pytest

from ketch.errors import InternalError
from ketch.layers.diff import LayerDiff, write_layer_tar

from .tars import require_root
from .test_diff_helpers import tar_entries

MTIME_NS = 1_700_000_000_123_456_789
EMPTY_LAYER = "sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef"


@pytest.fixture
def upper(tmp_path: Path) -> Path:
    require_root()
    path = tmp_path / "upper"
    path.mkdir()
    return path


def whiteout(path: Path, uid: int = 0, gid: int = 0) -> None:
    os.mknod(path, 0o600 | 0o020000, os.makedev(0, 0))
    os.chown(path, uid, gid)


def opaque(path: Path) -> None:
    path.mkdir(exist_ok=True)
    os.setxattr(path, "trusted.overlay.opaque", b"y")


def write(upper: Path, **kw: object) -> tuple[LayerDiff, bytes]:
    out = io.BytesIO()
    result = write_layer_tar(upper, out, **kw)  # type: ignore[arg-type]
    return result, out.getvalue()


def members(data: bytes) -> list[tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:", encoding="utf-8",
                      errors="surrogateescape") as tar:
        return tar.getmembers()


def test_empty_upper_is_the_empty_layer(upper: Path) -> None:
    result, data = write(upper)
    assert data == b"\0" * 1024  # two zero blocks, no record padding (Go's writer)
    assert result == LayerDiff(diff_id=EMPTY_LAYER, size=0, empty=True, entries=0)


def test_whiteouts_and_opaque_dirs_become_docker_markers(upper: Path) -> None:
    opaque(upper / "a")
    (upper / "a/new").write_bytes(b"new")
    whiteout(upper / "b", uid=7, gid=8)
    (upper / "c").mkdir()
    whiteout(upper / "c/x")
    os.link(upper / "c/x", upper / "c/z")  # overlayfs shares one whiteout inode
    (upper / "c/y").write_bytes(b"y")
    os.chmod(upper / "a", 0o2751)
    os.chown(upper / "a", 5, 6)
    result, data = write(upper)
    got = [(e.name, e.type, e.mode, e.uid, e.gid, e.size, e.linkname, mtime)
           for e, mtime in tar_entries(data)]
    a_mtime = os.stat(upper / "a").st_mtime_ns // 10**9
    assert [g[0] for g in got] == ["a", "a/.wh..wh..opq", "a/new", ".wh.b", "c", "c/.wh.x",
                                   "c/y", "c/.wh.z"]
    assert got[0][1:5] == (tarfile.DIRTYPE, 0o2751, 5, 6) and got[0][7] == a_mtime
    # the marker: regular, empty, the directory's permission bits and owner, time 0
    assert got[1][1:] == (tarfile.REGTYPE, 0o751, 5, 6, 0, "", 0)
    # a whiteout: regular, empty, mode 0600, the whiteout's owner, never a hard link
    assert got[3][1:7] == (tarfile.REGTYPE, 0o600, 7, 8, 0, "")
    assert got[5][1:7] == got[7][1:7] == (tarfile.REGTYPE, 0o600, 0, 0, 0, "")
    assert not any(m.pax_headers for m in members(data))  # the opaque xattr is not exported
    assert result.entries == 8 and result.size == 4 and not result.empty


def test_every_file_type_with_owner_and_mode(upper: Path) -> None:
    (upper / "dir").mkdir()
    os.chmod(upper / "dir", 0o1777)
    (upper / "dir/suid").write_bytes(b"#!/bin/sh\n")
    os.chown(upper / "dir/suid", 1000, 2000)
    os.chmod(upper / "dir/suid", 0o4755)
    os.symlink("/etc/shadow", upper / "dir/abs")
    os.symlink("../nowhere", upper / "dir/dangling")
    os.mkfifo(upper / "dir/fifo", 0o640)
    os.mknod(upper / "dir/null", 0o666 | 0o020000, os.makedev(1, 3))
    os.mknod(upper / "dir/loop", 0o660 | 0o060000, os.makedev(7, 1))
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(upper / "dir/sock"))
    for name in ("dir/suid", "dir/fifo", "dir/null", "dir/loop", "dir"):
        os.utime(upper / name, ns=(MTIME_NS, MTIME_NS))
    result, data = write(upper)
    by_name = {e.name: (e, mtime) for e, mtime in tar_entries(data)}
    assert list(by_name) == ["dir", "dir/abs", "dir/dangling", "dir/fifo", "dir/loop",
                             "dir/null", "dir/suid"]  # no socket
    assert by_name["dir"][0].mode == 0o1777
    suid, mtime = by_name["dir/suid"]
    assert (suid.type, suid.mode, suid.uid, suid.gid, suid.size) == (
        tarfile.REGTYPE, 0o4755, 1000, 2000, 10)
    assert mtime == MTIME_NS // 10**9  # truncated, never rounded up
    assert by_name["dir/abs"][0].type == tarfile.SYMTYPE
    assert by_name["dir/abs"][0].linkname == "/etc/shadow"
    assert by_name["dir/dangling"][0].linkname == "../nowhere"
    assert (by_name["dir/fifo"][0].type, by_name["dir/fifo"][0].mode) == (tarfile.FIFOTYPE,
                                                                          0o640)
    assert (by_name["dir/null"][0].type, by_name["dir/null"][0].dev) == (tarfile.CHRTYPE, (1, 3))
    assert (by_name["dir/loop"][0].type, by_name["dir/loop"][0].dev) == (tarfile.BLKTYPE, (7, 1))
    assert result.size == 10


def test_headers_are_ustar_as_go_writes_them(upper: Path) -> None:
    (upper / "etc").mkdir(mode=0o755)
    (upper / "etc/passwd").write_bytes(b"root\n")
    os.chmod(upper / "etc/passwd", 0o4644)
    os.utime(upper / "etc/passwd", ns=(MTIME_NS, MTIME_NS))
    _, data = write(upper)
    block = data[512:1024]
    assert block[:100].rstrip(b"\0") == b"etc/passwd"
    assert block[100:108] == b"0004644\0"  # no file type bits (Docker >= 23)
    assert block[108:124] == b"0000000\x000000000\0"
    assert block[124:136] == b"00000000005\0"
    assert block[136:148] == b"%011o\0" % (MTIME_NS // 10**9)
    assert block[156:157] == b"0"
    assert block[257:265] == b"ustar\x0000"
    assert block[265:329] == b"\0" * 64  # no user or group names
    assert block[329:345] == b"0000000\x000000000\0"
    checksum = sum(block[:148]) + 8 * 32 + sum(block[156:])
    assert block[148:156] == b"%06o\0 " % checksum
    assert data[:100].rstrip(b"\0") == b"etc/"
    assert len(data) == 512 * 3 + 1024  # dir, file header, one data block, end


def test_long_and_non_ascii_names_use_pax_only_when_needed(upper: Path) -> None:
    deep = upper / ("d" * 60) / ("e" * 60)
    deep.mkdir(parents=True)
    (deep / "short").write_bytes(b"")  # 128 bytes: fits with the USTAR prefix field
    (deep / ("f" * 120)).write_bytes(b"")  # a base name over 100 bytes: PAX path
    name = b"caf\xe9-\xff"  # not UTF-8 at all
    (upper / os.fsdecode(name)).write_bytes(b"")
    os.symlink("t" * 150, upper / "long-link")
    (upper / "big-ids").write_bytes(b"")
    os.chown(upper / "big-ids", 3_000_000, 3_000_001)
    _, data = write(upper)
    names = [m.name for m in members(data)]
    long_dir = "d" * 60 + "/" + "e" * 60
    assert names == ["big-ids", os.fsdecode(name), "d" * 60, long_dir,
                     long_dir + "/" + "f" * 120, long_dir + "/short", "long-link"]
    by_name = {m.name: m for m in members(data)}
    assert by_name["long-link"].linkname == "t" * 150
    assert (by_name["big-ids"].uid, by_name["big-ids"].gid) == (3_000_000, 3_000_001)
    # raw stream: which entries needed a PAX header, and what Go names it
    raw_x = _pax_entries(data)
    assert raw_x == [
        b"PaxHeaders.0/big-ids",
        b"PaxHeaders.0/caf-",
        (long_dir + "/PaxHeaders.0/" + "f" * 120).encode()[:100],
        b"PaxHeaders.0/long-link",
    ]
    assert f"path={long_dir}/short".encode() not in data  # the prefix field sufficed
    assert b"15 path=caf\xe9-\xff\n" in data  # raw bytes, as Go keeps them


def _pax_entries(data: bytes) -> list[bytes]:
    found: list[bytes] = []
    offset = 0
    while offset + 512 <= len(data) and data[offset:offset + 512] != b"\0" * 512:
        block = data[offset:offset + 512]
        size = int(block[124:136].rstrip(b"\0") or b"0", 8)
        if block[156:157] == b"x":
            found.append(block[:100].rstrip(b"\0"))
        kind = block[156:157]
        has_data = kind in (b"0", b"x")
        offset += 512 + ((size + 511) // 512 * 512 if has_data else 0)
    return found


def test_hard_links_within_the_upper_dir(upper: Path) -> None:
    (upper / "b-first").write_bytes(b"data")
    os.link(upper / "b-first", upper / "c-second")
    os.link(upper / "b-first", upper / "a-zero")
    result, data = write(upper)
    got = [(e.name, e.type, e.size, e.linkname) for e, _ in tar_entries(data)]
    assert got == [("a-zero", tarfile.REGTYPE, 4, ""), ("b-first", tarfile.LNKTYPE, 0, "a-zero"),
                   ("c-second", tarfile.LNKTYPE, 0, "a-zero")]
    assert result.size == 4


def _cap(version: int, permitted: int, rootid: int | None = None) -> bytes:
    magic = (version << 24) | 1  # VFS_CAP_FLAGS_EFFECTIVE
    data = struct.pack("<IIIII", magic, permitted, 0, 0, 0)
    return data if rootid is None else data + struct.pack("<I", rootid)


def test_only_the_capability_xattr_is_exported(upper: Path) -> None:
    v2 = _cap(2, 1 << 13)  # cap_net_raw
    (upper / "ping").write_bytes(b"x")
    os.setxattr(upper / "ping", "security.capability", v2)
    os.setxattr(upper / "ping", "user.note", b"not for images")
    os.setxattr(upper / "ping", "trusted.overlay.origin", b"\0\xfb")
    (upper / "dir").mkdir()
    os.setxattr(upper / "dir", "trusted.overlay.impure", b"y")
    _, data = write(upper)
    by_name = {m.name: m for m in members(data)}
    assert by_name["ping"].pax_headers == {
        "SCHILY.xattr.security.capability": v2.decode("utf-8", "surrogateescape")}
    assert by_name["dir"].pax_headers == {}
    assert b"user.note" not in data and b"trusted.overlay" not in data


def test_a_v3_capability_is_written_as_v2(upper: Path) -> None:
    (upper / "tool").write_bytes(b"x")
    try:
        os.setxattr(upper / "tool", "security.capability", _cap(3, 1 << 10, rootid=1000))
    except OSError as e:
        pytest.skip(f"this kernel refuses a v3 file capability: {e}")
    stored = os.getxattr(upper / "tool", "security.capability")
    if stored[3] != 3:
        pytest.skip("the kernel stored the capability as v2 already")
    _, data = write(upper)
    value = members(data)[0].pax_headers["SCHILY.xattr.security.capability"]
    assert value.encode("utf-8", "surrogateescape") == _cap(2, 1 << 10)


def test_bytes_are_deterministic_and_hashed(upper: Path) -> None:
    (upper / "etc").mkdir()
    (upper / "etc/f").write_bytes(os.urandom(3 * 1024 * 1024 + 5))  # several chunks
    whiteout(upper / "gone")
    first, data = write(upper)
    second, again = write(upper)
    assert data == again and first == second
    assert first.diff_id == "sha256:" + hashlib.sha256(data).hexdigest()
    assert first.size == 3 * 1024 * 1024 + 5


def test_symlinks_in_the_upper_dir_are_never_followed(upper: Path, tmp_path: Path) -> None:
    secret = tmp_path / "host"
    secret.mkdir()
    (secret / "shadow").write_bytes(b"host secret")
    os.symlink(secret, upper / "etc")
    os.symlink(secret / "shadow", upper / "passwd")
    _, data = write(upper)
    assert [(e.name, e.type) for e, _ in tar_entries(data)] == [
        ("etc", tarfile.SYMTYPE), ("passwd", tarfile.SYMTYPE)]
    assert b"host secret" not in data


def test_a_deep_tree_is_walked_whole(upper: Path) -> None:
    """Deeper than the walker keeps descriptors open: closed ones are reopened."""
    path = upper
    expected = []
    for i in range(150):
        path = path / f"d{i}"
        expected.append(str(path.relative_to(upper)))
    path.mkdir(parents=True)
    (path / "bottom").write_bytes(b"b")
    (upper / "d0" / "sibling").write_bytes(b"s")
    (upper / "z-top").write_bytes(b"z")
    _, data = write(upper)
    names = [e.name for e, _ in tar_entries(data)]
    assert names == [*expected, expected[-1] + "/bottom", "d0/sibling", "z-top"]


@pytest.mark.parametrize("kind", ["redirect", "metacopy"])
def test_redirect_and_metacopy_uppers_are_refused(upper: Path, kind: str) -> None:
    if kind == "redirect":
        (upper / "renamed").mkdir()
        os.setxattr(upper / "renamed", "trusted.overlay.redirect", b"/orig")
    else:
        (upper / "file").write_bytes(b"")
        os.setxattr(upper / "file", "trusted.overlay.metacopy", b"")
    with pytest.raises(InternalError, match=f"{kind}(_dir)?=off"):
        write(upper)


def test_engine_files_are_left_out(upper: Path, tmp_path: Path) -> None:
    """As Docker's init layer: /etc/hosts & co, and /etc if only they are there."""
    lower = tmp_path / "lower"
    (lower / "etc").mkdir(parents=True)
    (upper / "etc").mkdir()
    for name in ("hosts", "hostname", "resolv.conf"):
        (upper / "etc" / name).write_bytes(b"")
    (upper / "proc").mkdir()  # a mount target the image lacked
    (upper / "proc/ignored").write_bytes(b"")
    exclude = ["/etc/hosts", "/etc/hostname", "/etc/resolv.conf", "/proc"]

    def names(**kw: object) -> list[str]:
        return [e.name for e, _ in tar_entries(write(upper, exclude=exclude, **kw)[1])]

    assert names(lowers=[lower]) == []
    assert names() == ["etc"]  # without the image, /etc cannot be judged unchanged
    os.chmod(upper / "etc", 0o700)
    assert names(lowers=[lower]) == ["etc"]  # the container changed it
    os.chmod(upper / "etc", 0o755)
    (upper / "etc/motd").write_bytes(b"hi")
    assert names(lowers=[lower]) == ["etc", "etc/motd"]
    (upper / "etc/motd").unlink()
    (lower / "etc").rmdir()  # the engine made /etc for its files: left out too
    assert names(lowers=[lower]) == []
