"""The tar a COPY/ADD produces: names, types, modes, owners, links, archives.

Sources are real trees; the produced tar is read back with tarfile. The
layout rules are Docker 20.10's classic builder (checked against the real
engine in tests/build/test_copy_vs_docker.py).
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import socket
import stat
import tarfile
from pathlib import Path

import pytest

from ketch.build.copy_tar import (
    CopyStats,
    Destination,
    MkdirSpec,
    resolve_destination,
    write_copy_tar,
)
from ketch.build.copysource import CopySource, is_archive, resolve_sources, url_source
from ketch.errors import InvalidArgument

ME = (os.getuid(), os.getgid())
MTIME = 1_600_000_000


def _list(data: bytes) -> dict[str, tuple[str, int, int, int, str]]:
    """name -> (type, mode, uid, gid, linkname) of every entry, in order."""
    result = {}
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        for m in tar:
            result[m.name] = (m.type.decode(), m.mode, m.uid, m.gid, m.linkname)
    return result


def _copy(root: Path, srcs: list[str], dest: str | Destination, **kw: object) -> tuple[
        dict[str, tuple[str, int, int, int, str]], CopyStats, bytes]:
    written = dest if isinstance(dest, str) else dest.path + ("/" if dest.slash else "")
    sources = resolve_sources(root, srcs, written)
    out = io.BytesIO()
    kw.setdefault("chown", (0, 0))
    stats = write_copy_tar(sources, dest, out=out, **kw)  # type: ignore[arg-type]
    return _list(out.getvalue()), stats, out.getvalue()


@pytest.fixture
def ctx(tmp_path: Path) -> Path:
    root = tmp_path / "ctx"
    (root / "d" / "sub").mkdir(parents=True)
    (root / "d").chmod(0o750)
    (root / "d" / "sub").chmod(0o700)
    (root / "d" / "f").write_text("f")
    (root / "d" / "f").chmod(0o640)
    os.link(root / "d" / "f", root / "d" / "hl")
    os.symlink("f", root / "d" / "ln")
    (root / "d" / "sub" / "g").write_text("gg")
    (root / "top.txt").write_text("top")
    (root / "top.txt").chmod(0o600)
    (root / "run").write_text("#!/bin/sh\n")
    (root / "run").chmod(0o4755)
    for path in (root / "d" / "f", root / "d" / "sub" / "g", root / "top.txt", root / "run"):
        os.utime(path, (MTIME + 0.75, MTIME + 0.75))
    return root


def test_directory_copies_its_contents(ctx: Path) -> None:
    entries, stats, raw = _copy(ctx, ["d"], "/x/y/")
    assert entries == {
        "x/y/f": ("0", 0o640, 0, 0, ""),
        "x/y/hl": ("1", 0o640, 0, 0, "x/y/f"),
        "x/y/ln": ("2", 0o777, 0, 0, "f"),
        "x/y/sub": ("5", 0o700, 0, 0, ""),
        "x/y/sub/g": ("0", 0o644, 0, 0, ""),
    }
    # parents root-owned, the destination itself owned like the copy
    assert stats.mkdirs == (MkdirSpec("/x", 0o755, 0, 0), MkdirSpec("/x/y", 0o755, 0, 0))
    assert (stats.entries, stats.size) == (5, 3)
    with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
        assert tar.getmember("x/y/f").mtime == MTIME  # whole seconds
        f = tar.extractfile("x/y/sub/g")
        assert f is not None and f.read() == b"gg"


def test_directory_with_chown(ctx: Path) -> None:
    entries, stats, _ = _copy(ctx, ["d"], "/c/d1", chown=(1000, 1001))
    assert {v[2:4] for v in entries.values()} == {(1000, 1001)}
    assert stats.mkdirs == (MkdirSpec("/c", 0o755, 0, 0), MkdirSpec("/c/d1", 0o755, 1000, 1001))


def test_directory_into_root(ctx: Path) -> None:
    entries, stats, _ = _copy(ctx, ["d"], "/")
    assert sorted(entries) == ["f", "hl", "ln", "sub", "sub/g"]
    assert stats.mkdirs == ()


@pytest.mark.parametrize(
    ("dest", "name", "mkdirs"),
    [
        (Destination("/f1"), "f1", ()),
        (Destination("/a/b/t"), "a/b/t", (MkdirSpec("/a/b", 0o755, 7, 8),)),
        (Destination("/g", slash=True), "g/top.txt", (MkdirSpec("/g", 0o755, 7, 8),)),
        (Destination("/etc", is_dir=True), "etc/top.txt", (MkdirSpec("/etc", 0o755, 7, 8),)),
        (Destination("/"), "top.txt", ()),
    ],
)
def test_file_destination(ctx: Path, dest: Destination, name: str,
                          mkdirs: tuple[MkdirSpec, ...]) -> None:
    entries, stats, _ = _copy(ctx, ["top.txt"], dest, chown=(7, 8))
    assert entries == {name: ("0", 0o600, 7, 8, "")}
    assert stats.mkdirs == mkdirs


def test_symlink_source_copies_the_target_under_the_link_name(ctx: Path) -> None:
    entries, _, _ = _copy(ctx, ["d/ln"], "/dir/")
    assert entries == {"dir/ln": ("0", 0o640, 0, 0, "")}


def test_several_sources_and_wildcards(ctx: Path) -> None:
    entries, stats, _ = _copy(ctx, ["*.txt", "d/sub"], "/m/")
    assert list(entries) == ["m/top.txt", "m/g"]
    assert stats.mkdirs == (MkdirSpec("/m", 0o755, 0, 0),)


def test_hard_links_do_not_cross_sources(ctx: Path) -> None:
    entries, _, _ = _copy(ctx, ["d/f", "d/hl"], "/z/")
    assert entries["z/f"][0] == "0" and entries["z/hl"][0] == "0"


def test_chown_clears_setuid_like_docker(ctx: Path) -> None:
    (ctx / "sgid").write_text("x")
    (ctx / "sgid").chmod(0o2755)
    (ctx / "sgid-nox").write_text("x")
    (ctx / "sgid-nox").chmod(0o2745)
    (ctx / "sdir").mkdir()
    (ctx / "sdir").chmod(0o2775)
    (ctx / "sdir" / "x").write_text("x")
    entries, _, _ = _copy(ctx, ["run", "sgid", "sgid-nox"], "/a/")
    assert [entries[n][1] for n in ("a/run", "a/sgid", "a/sgid-nox")] == [0o755, 0o755, 0o2745]
    kept, _, _ = _copy(ctx, ["run"], "/a/", chown=None)
    assert kept["a/run"][1:4] == (0o4755, *ME)
    # directories keep set-group-ID through chown
    with_dir, _, _ = _copy(ctx, ["."], "/w/")
    assert with_dir["w/sdir"][1] == 0o2775


def test_chmod_sets_every_mode_but_symlinks(ctx: Path) -> None:
    entries, stats, _ = _copy(ctx, ["d"], "/p/", chmod=0o751)
    assert {n: e[1] for n, e in entries.items()} == {
        "p/f": 0o751, "p/hl": 0o751, "p/ln": 0o777, "p/sub": 0o751, "p/sub/g": 0o751}
    assert stats.mkdirs[-1].mode == 0o755  # created directories stay 0755


def test_special_files(ctx: Path, tmp_path: Path) -> None:
    os.mkfifo(ctx / "d" / "fifo", 0o640)
    sock_path = ctx / "d" / "sock"
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(str(sock_path))
        entries, _, _ = _copy(ctx, ["d"], "/s")
        assert entries["s/fifo"][:2] == ("6", 0o640)
        assert "s/sock" not in entries
        with pytest.raises(InvalidArgument, match="sockets not supported"):
            _copy(ctx, ["d/sock"], "/s")


def test_resolve_destination_follows_links_in_the_rootfs(tmp_path: Path) -> None:
    rootfs = tmp_path / "rootfs"
    (rootfs / "data").mkdir(parents=True)
    (rootfs / "etc").mkdir()
    (rootfs / "etc" / "hosts").write_text("")
    os.symlink("/data", rootfs / "app")
    os.symlink("../../../etc", rootfs / "up")
    assert resolve_destination(rootfs, "/app/") == Destination("/data", is_dir=True, slash=True)
    assert resolve_destination(rootfs, "/app/new") == Destination("/data/new")
    assert resolve_destination(rootfs, "/up/hosts") == Destination("/etc/hosts")
    assert resolve_destination(rootfs, "/") == Destination("/", is_dir=True, slash=True)
    with pytest.raises(InvalidArgument, match="failed to copy files"):
        resolve_destination(rootfs, "/etc/hosts/x")
    with pytest.raises(InvalidArgument, match="not an absolute path"):
        resolve_destination(rootfs, "relative")


# -- ADD: archives -----------------------------------------------------------------------


def _archive(members: list[tuple[str, bytes | None, dict[str, object]]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data, attrs in members:
            info = tarfile.TarInfo(name)
            for key, value in attrs.items():
                setattr(info, key, value)
            if data is not None:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


GOOD = _archive([
    ("./", None, {"type": tarfile.DIRTYPE, "mode": 0o700}),
    ("pkg/", None, {"type": tarfile.DIRTYPE, "mode": 0o711, "uid": 5, "gid": 6}),
    ("pkg/bin", b"#!", {"mode": 0o4755, "uid": 5, "gid": 6}),
    ("/abs", b"a", {"mode": 0o600}),
    ("pkg/again", None, {"type": tarfile.LNKTYPE, "linkname": "pkg/bin"}),
    ("pkg/up", None, {"type": tarfile.SYMTYPE, "linkname": "../abs"}),
    ("pkg/etc", None, {"type": tarfile.SYMTYPE, "linkname": "/etc"}),
])


@pytest.mark.parametrize(
    "compress",
    [lambda b: b, gzip.compress, bz2.compress, lambda b: lzma.compress(b, lzma.FORMAT_XZ)],
    ids=["tar", "gzip", "bzip2", "xz"],
)
def test_add_unpacks_archives(tmp_path: Path, compress: object) -> None:
    (tmp_path / "a.tar").write_bytes(compress(GOOD))  # type: ignore[operator]
    entries, stats, _ = _copy(tmp_path, ["a.tar"], "/opt", extract_archives=True,
                              chown=(9, 9))
    # the archive's own owners and modes; "." is dropped; links re-based
    assert entries == {
        "opt/pkg": ("5", 0o711, 5, 6, ""),
        "opt/pkg/bin": ("0", 0o4755, 5, 6, ""),
        "opt/abs": ("0", 0o600, 0, 0, ""),
        "opt/pkg/again": ("1", 0o644, 0, 0, "opt/pkg/bin"),
        "opt/pkg/up": ("2", 0o644, 0, 0, "../abs"),
        "opt/pkg/etc": ("2", 0o644, 0, 0, "/etc"),
    }
    assert stats.mkdirs == (MkdirSpec("/opt", 0o755, 0, 0),)
    # COPY never unpacks
    copied, _, _ = _copy(tmp_path, ["a.tar"], "/opt")
    assert list(copied) == ["opt"]


@pytest.mark.parametrize(
    ("member", "message"),
    [
        (("../evil", b"x", {}), "is outside of"),
        (("a/../../evil", b"x", {}), "is outside of"),
        (("h", None, {"type": tarfile.LNKTYPE, "linkname": "../../etc/passwd"}),
         "invalid hardlink"),
        (("s/link", None, {"type": tarfile.SYMTYPE, "linkname": "../../x"}), "invalid symlink"),
    ],
)
def test_add_refuses_archive_breakouts(tmp_path: Path, member: tuple[str, bytes | None,
                                       dict[str, object]], message: str) -> None:
    (tmp_path / "bad.tar").write_bytes(_archive([member]))
    with pytest.raises(InvalidArgument, match=message):
        _copy(tmp_path, ["bad.tar"], "/opt/", extract_archives=True)


def test_add_clamps_leading_slash_dotdot(tmp_path: Path) -> None:
    (tmp_path / "t.tar").write_bytes(_archive([("/../x", b"x", {})]))
    entries, _, _ = _copy(tmp_path, ["t.tar"], "/o", extract_archives=True)
    assert list(entries) == ["o/x"]


def test_what_is_not_an_archive(tmp_path: Path) -> None:
    (tmp_path / "empty").write_bytes(b"")
    (tmp_path / "zeros.tar").write_bytes(b"\0" * 1024)
    (tmp_path / "text").write_text("just text\n" * 100)
    (tmp_path / "trunc.gz").write_bytes(gzip.compress(GOOD)[:30])
    (tmp_path / "z.tar.zst").write_bytes(b"\x28\xb5\x2f\xfd" + b"\0" * 600)
    (tmp_path / "ok.tar").write_bytes(GOOD)
    for name in ("empty", "zeros.tar", "text", "trunc.gz", "z.tar.zst"):
        [src] = resolve_sources(tmp_path, [name], "/x")
        assert not is_archive(src), name
    [ok] = resolve_sources(tmp_path, ["ok.tar"], "/x")
    assert is_archive(ok)
    downloaded = url_source(tmp_path, "ok.tar", "https://example.invalid/ok.tar", "/x")
    assert not is_archive(downloaded)
    entries, _, _ = _copy(tmp_path, ["empty", "zeros.tar"], "/x/", extract_archives=True)
    assert list(entries) == ["x/empty", "x/zeros.tar"]


def test_url_download_lands_as_a_file(tmp_path: Path) -> None:
    dl = tmp_path / "dl"
    dl.mkdir()
    (dl / "ok.tar").write_bytes(GOOD)
    (dl / "ok.tar").chmod(0o600)
    src = url_source(dl, "ok.tar", "https://example.invalid/ok.tar", "/x/")
    out = io.BytesIO()
    write_copy_tar([src], "/x/", chown=(0, 0), out=out, extract_archives=True, cmd="ADD")
    assert _list(out.getvalue()) == {"x/ok.tar": ("0", 0o600, 0, 0, "")}


def test_unresolved_string_destination(ctx: Path) -> None:
    [src] = resolve_sources(ctx, ["top.txt"], "/new/")
    out = io.BytesIO()
    write_copy_tar([src], "/new/", chown=(0, 0), out=out)
    assert list(_list(out.getvalue())) == ["new/top.txt"]
    assert stat.S_IMODE(os.stat(ctx / "top.txt").st_mode) == 0o600
    src2 = CopySource(root=ctx, path="top.txt", resolved="top.txt", is_dir=False)
    out2 = io.BytesIO()
    write_copy_tar([src2], "/plain", chown=None, out=out2)
    assert _list(out2.getvalue()) == {"plain": ("0", 0o600, *ME, "")}
