"""extract_layer on real tars into real directories, run as root.

Each test forges a layer with tarfile, unpacks it with the real chroot'ed
child process, and inspects the result with lstat/getxattr: file types,
ownership, modes, times, overlay whiteouts, and every escape route we know.
"""

from __future__ import annotations

import io
import os
import stat
import tarfile
import uuid
from pathlib import Path

import pytest

from ketch.errors import InvalidArgument
from ketch.layers.extract import ExtractResult, extract_layer

from .tars import MTIME_NS, TarBuilder, require_root, tree


@pytest.fixture(autouse=True)
def _root() -> None:
    require_root()


@pytest.fixture
def target(tmp_path: Path) -> Path:
    """An empty layer dir three levels below tmp_path, so ``../../..`` from
    inside it reaches tmp_path (where the sentinel is) if anything escapes."""
    path = tmp_path / "l1" / "l2" / "target"
    path.mkdir(parents=True)
    return path


@pytest.fixture
def sentinel(tmp_path: Path) -> Path:
    path = tmp_path / "sentinel"
    path.mkdir()
    return path


def extract(tar: TarBuilder | bytes, target: Path) -> ExtractResult:
    data = tar if isinstance(tar, bytes) else tar.data()
    return extract_layer(io.BytesIO(data), target)


# -- file types and metadata ------------------------------------------------

#: A version-2 security.capability value (magic, then empty cap sets).
CAPABILITY = b"\x01\x00\x00\x02" + bytes(16)



def test_every_file_type_with_its_metadata(target: Path) -> None:
    tar = (
        TarBuilder()
        .dir("bin", mode=0o2755, uid=12, gid=13)
        .file("bin/tool", b"#!/bin/sh\n", mode=0o4755, uid=1000, gid=1001,
              xattrs={"user.note": b"hello", "security.capability": CAPABILITY})
        .hardlink("bin/tool2", "bin/tool")
        .symlink("bin/link", "tool", uid=7, gid=8)
        .dir("tmp", mode=0o1777, xattrs={"trusted.mark": b"\xff\x00binary"})
        .device("dev/null", tarfile.CHRTYPE, 1, 3, mode=0o666)
        .device("dev/loop9", tarfile.BLKTYPE, 7, 9, mode=0o640, gid=6)
        .fifo("run/pipe", mode=0o620)
        .file("empty", b"", mode=0o400)
    )
    result = extract(tar, target)
    assert result.size == len(b"#!/bin/sh\n")
    assert result.entries == 9

    st = os.lstat(target / "bin")
    assert stat.S_ISDIR(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o2755
    assert (st.st_uid, st.st_gid) == (12, 13)

    st = os.lstat(target / "bin/tool")
    assert stat.S_ISREG(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o4755  # setuid survives chown
    assert (st.st_uid, st.st_gid) == (1000, 1001)
    assert st.st_mtime_ns == MTIME_NS
    assert (target / "bin/tool").read_bytes() == b"#!/bin/sh\n"
    assert os.getxattr(target / "bin/tool", "user.note") == b"hello"
    assert os.getxattr(target / "bin/tool", "security.capability") == CAPABILITY

    st2 = os.lstat(target / "bin/tool2")
    assert (st2.st_ino, st2.st_nlink) == (st.st_ino, 2)

    st = os.lstat(target / "bin/link")
    assert stat.S_ISLNK(st.st_mode) and os.readlink(target / "bin/link") == "tool"
    assert (st.st_uid, st.st_gid) == (7, 8)
    assert st.st_mtime_ns == MTIME_NS  # symlinks get their time too

    st = os.lstat(target / "tmp")
    assert stat.S_IMODE(st.st_mode) == 0o1777
    assert os.getxattr(target / "tmp", "trusted.mark") == b"\xff\x00binary"

    st = os.lstat(target / "dev/null")
    assert stat.S_ISCHR(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o666
    assert (os.major(st.st_rdev), os.minor(st.st_rdev)) == (1, 3)
    st = os.lstat(target / "dev/loop9")
    assert stat.S_ISBLK(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o640
    assert (os.major(st.st_rdev), os.minor(st.st_rdev), st.st_gid) == (7, 9, 6)
    # parents missing from the tar are made 0755, as Docker does
    assert stat.S_IMODE(os.lstat(target / "dev").st_mode) == 0o755

    st = os.lstat(target / "run/pipe")
    assert stat.S_ISFIFO(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o620
    assert stat.S_IMODE(os.lstat(target / "empty").st_mode) == 0o400


def test_directory_mtimes_are_set_after_their_children(target: Path) -> None:
    tar = TarBuilder().dir("d", mtime=1000).file("d/a", b"x").dir("d/sub", mtime=2000)
    tar.file("d/sub/b", b"y").symlink("d/sub/c", "b")
    extract(tar, target)
    assert os.lstat(target / "d").st_mtime_ns == 1000 * 10**9
    assert os.lstat(target / "d/sub").st_mtime_ns == 2000 * 10**9


def test_replaced_directory_does_not_lend_its_mtime(target: Path) -> None:
    tar = TarBuilder().dir("x", mtime=1000).dir("x/sub", mtime=1000).file("x", b"f", mtime=3000)
    tar.dir("y", mtime=1000).dir("y", mtime=4000)
    extract(tar, target)
    assert os.lstat(target / "x").st_mtime_ns == 3000 * 10**9
    assert os.lstat(target / "y").st_mtime_ns == 4000 * 10**9


def test_root_entry_applies_to_the_target(target: Path) -> None:
    extract(TarBuilder().dir("./", mode=0o711, uid=3, gid=4).file("a", b"1"), target)
    st = os.lstat(target)
    assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) == (0o711, 3, 4)


def test_size_counts_regular_files_only(target: Path) -> None:
    tar = TarBuilder().file("a", b"x" * 1000).file("b", b"y" * 24).hardlink("c", "a")
    tar.symlink("d", "a").dir("e").whiteout("f")
    assert extract(tar, target).size == 1024


def test_long_and_non_ascii_names(target: Path) -> None:
    deep = "/".join(["directory-with-a-long-name"] * 8) + "/fïlé-😀"
    extract(TarBuilder().file(deep, b"ok"), target)
    assert (target / deep).read_bytes() == b"ok"


# -- whiteouts ----------------------------------------------------------------


def test_whiteout_becomes_a_0_0_char_device_owned_like_the_entry(target: Path) -> None:
    extract(TarBuilder().dir("etc").whiteout("etc/motd", uid=5, gid=6).whiteout("top"), target)
    assert sorted(os.listdir(target / "etc")) == ["motd"]
    for path in (target / "etc/motd", target / "top"):
        st = os.lstat(path)
        assert stat.S_ISCHR(st.st_mode)
        assert st.st_rdev == os.makedev(0, 0)
    assert os.lstat(target / "etc/motd").st_uid == 5
    assert os.lstat(target / "etc/motd").st_gid == 6
    assert not (target / "etc/.wh.motd").exists()


def test_opaque_marker_sets_the_overlay_xattr(target: Path) -> None:
    tar = TarBuilder().dir("usr").opaque("usr").file("usr/keep", b"k").opaque("new/dir")
    extract(tar, target)
    assert os.getxattr(target / "usr", "trusted.overlay.opaque") == b"y"
    assert os.getxattr(target / "new/dir", "trusted.overlay.opaque") == b"y"
    assert sorted(os.listdir(target / "usr")) == ["keep"]
    with pytest.raises(OSError):
        os.getxattr(target / "new", "trusted.overlay.opaque")


def test_other_aufs_metadata_is_skipped(target: Path) -> None:
    tar = TarBuilder().dir(".wh..wh.orph").file(".wh..wh.orph/x", b"1")
    tar.file(".wh..wh.aufs", b"2").file("d/.wh..wh.other", b"3").file("d/real", b"4")
    extract(tar, target)
    assert tree(target) == ["d", "d/real"]


def test_aufs_hardlink_dir_feeds_links_then_disappears(target: Path) -> None:
    tar = TarBuilder().file(".wh..wh.plnk/12.34", b"shared", mode=0o640)
    tar.hardlink("a", ".wh..wh.plnk/12.34").hardlink("b/c", ".wh..wh.plnk/12.34")
    extract(tar, target)
    assert tree(target) == ["a", "b", "b/c"]
    assert (target / "b/c").read_bytes() == b"shared"
    assert os.lstat(target / "a").st_ino == os.lstat(target / "b/c").st_ino


def test_overlay_xattrs_inside_the_tar_are_not_trusted(target: Path) -> None:
    tar = TarBuilder().dir("d", xattrs={"trusted.overlay.redirect": b"/etc",
                                        "trusted.overlay.opaque": b"y"})
    result = extract(tar, target)
    assert os.listxattr(target / "d") == []
    assert any("trusted.overlay.redirect" in w for w in result.warnings)


def test_impossible_values_are_bad_archives(target: Path) -> None:
    with pytest.raises(InvalidArgument, match="null"):
        extract(_pax_entry({"path": "x\x00y"}), target)
    with pytest.raises(InvalidArgument, match='entry "b"'):
        extract(_pax_entry({"path": "b", "mtime": "1" + "0" * 30}), target)


def _pax_entry(pax: dict[str, str]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        info = tarfile.TarInfo("placeholder")
        info.pax_headers = pax
        tf.addfile(info)
    return buf.getvalue()


def test_whiteout_of_dot_is_rejected(target: Path) -> None:
    with pytest.raises(InvalidArgument, match=r"\.wh\.\."):
        extract(TarBuilder().file("d/.wh..", b""), target)


# -- replacing what is there ----------------------------------------------------


def test_later_entries_replace_earlier_ones(target: Path) -> None:
    tar = (
        TarBuilder()
        .file("f2d", b"file").dir("f2d", mode=0o700)      # dir over file
        .dir("d2f").file("d2f/child", b"c").file("d2f", b"now a file")  # file over dir
        .symlink("s", "/etc/passwd").file("s", b"not through the link")  # file over symlink
        .dir("keep", mode=0o755).file("keep/old", b"o").dir("keep", mode=0o750, uid=9)
        .file("w", b"x").whiteout("w")                     # whiteout over file
    )
    passwd = Path("/etc/passwd").read_bytes()
    extract(tar, target)
    assert stat.S_ISDIR(os.lstat(target / "f2d").st_mode)
    assert (target / "d2f").read_bytes() == b"now a file"
    assert stat.S_ISREG(os.lstat(target / "s").st_mode)
    assert (target / "s").read_bytes() == b"not through the link"
    assert Path("/etc/passwd").read_bytes() == passwd
    st = os.lstat(target / "keep")
    assert (stat.S_IMODE(st.st_mode), st.st_uid) == (0o750, 9)
    assert (target / "keep/old").read_bytes() == b"o"  # dir over dir merges
    assert stat.S_ISCHR(os.lstat(target / "w").st_mode)


def test_entries_replace_what_the_target_already_holds(target: Path) -> None:
    (target / "x").mkdir()
    (target / "x/inner").write_bytes(b"old")
    (target / "y").write_bytes(b"old")
    extract(TarBuilder().file("x", b"new").dir("y"), target)
    assert (target / "x").read_bytes() == b"new"
    assert (target / "y").is_dir()


# -- escape attempts ----------------------------------------------------------


@pytest.mark.parametrize("name", ["../x", "a/../../x", "..", "./../../../../x"])
def test_names_climbing_out_are_rejected(name: str, tmp_path: Path, target: Path) -> None:
    before = tree(tmp_path)
    with pytest.raises(InvalidArgument) as err:
        extract(TarBuilder().file("ok", b"1").file(name, b"evil"), target)
    assert "escapes the layer root" in err.value.message
    assert name.rstrip("/") in err.value.message
    assert "\n" not in err.value.message
    assert tree(tmp_path) == sorted([*before, "l1/l2/target/ok"])


def test_absolute_names_land_inside(tmp_path: Path, target: Path) -> None:
    marker = f"ketch-test-{uuid.uuid4().hex}"
    extract(TarBuilder().file(f"/etc/{marker}", b"in").file(f"//{marker}", b"in2"), target)
    assert (target / "etc" / marker).read_bytes() == b"in"
    assert (target / marker).read_bytes() == b"in2"
    assert not Path("/etc", marker).exists() and not Path("/", marker).exists()


def test_symlink_to_root_cannot_carry_writes_out(target: Path) -> None:
    marker = f"ketch-test-{uuid.uuid4().hex}"
    extract(TarBuilder().symlink("d", "/").file(f"d/{marker}", b"contained"), target)
    assert not Path("/", marker).exists()
    assert (target / marker).read_bytes() == b"contained"


@pytest.mark.parametrize("link", ["../../..", "../../../sentinel"])
def test_relative_symlink_escape_stays_inside(link: str, target: Path, sentinel: Path) -> None:
    # Without the chroot, target/d/sentinel would be tmp_path/sentinel.
    tar = TarBuilder().dir("sentinel").symlink("d", link)
    evil = "d/evil" if link.endswith("sentinel") else "d/sentinel/evil"
    tar.file(evil, b"contained").dir("d/sentinel/dir").symlink("d/sentinel/ln", "x")
    extract(tar, target)
    assert list(sentinel.iterdir()) == []
    assert (target / "sentinel/evil").read_bytes() == b"contained"


def test_symlinked_parent_chain_stays_inside(target: Path, sentinel: Path) -> None:
    # Outside a chroot a/up is l1/l2 and a/b is tmp_path; inside, both are /.
    tar = TarBuilder().dir("a").symlink("a/up", "../..").symlink("a/b", "up/../..")
    tar.file("a/b/sentinel/evil", b"x").hardlink("a/b/sentinel/evil2", "a/b/sentinel/evil")
    tar.whiteout("a/b/sentinel/gone").opaque("a/b/sentinel")
    extract(tar, target)
    assert list(sentinel.iterdir()) == []
    assert sorted(os.listdir(target / "sentinel")) == ["evil", "evil2", "gone"]


def test_hard_link_out_of_the_root_is_rejected(target: Path) -> None:
    with pytest.raises(InvalidArgument, match=r"hard link target \"\.\./\.\./etc/passwd\" escapes"):
        extract(TarBuilder().hardlink("passwd", "../../etc/passwd"), target)
    assert not (target / "passwd").exists()


def test_hard_link_through_a_symlink_finds_nothing_outside(target: Path) -> None:
    nlink = os.lstat("/etc/passwd").st_nlink
    tar = TarBuilder().symlink("d", "/").hardlink("passwd", "d/etc/passwd")
    with pytest.raises(InvalidArgument, match="passwd"):
        extract(tar, target)
    assert os.lstat("/etc/passwd").st_nlink == nlink


def test_absolute_hard_link_target_is_inside(target: Path) -> None:
    extract(TarBuilder().file("etc/passwd", b"mine").hardlink("p", "/etc/passwd"), target)
    assert (target / "p").read_bytes() == b"mine"


# -- broken archives ------------------------------------------------------------


def _sample() -> bytes:
    """Three entries without PAX records, so member offsets are header offsets."""
    tar = TarBuilder().dir("d", mtime=1000).file("d/a", b"a" * 5000, mtime=1000)
    return tar.file("d/b", b"b" * 3000, mtime=1000).data()


def _offsets(data: bytes) -> list[int]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        return [m.offset for m in tf]


def test_truncated_inside_file_data_is_rejected(target: Path) -> None:
    data = _sample()
    with pytest.raises(InvalidArgument, match="unexpected end of data"):
        extract(data[:3000], target)


def test_truncated_inside_a_header_is_rejected(target: Path) -> None:
    data = _sample()
    with pytest.raises(InvalidArgument, match="truncated header"):
        extract(data[: _offsets(data)[-1] + 200], target)


def test_corrupt_header_checksum_is_rejected(target: Path) -> None:
    # tarfile alone would end the archive quietly at a bad header that is
    # not the first; a layer missing its tail must be an error instead.
    data = bytearray(_sample())
    data[_offsets(bytes(data))[-1] + 2] ^= 0x20
    with pytest.raises(InvalidArgument, match="bad checksum"):
        extract(bytes(data), target)


@pytest.mark.parametrize("garbage", [os.urandom(4096), b"not a tar at all" * 100, b"\x01" * 700])
def test_garbage_is_rejected(garbage: bytes, target: Path) -> None:
    with pytest.raises(InvalidArgument, match="invalid layer archive"):
        extract(garbage, target)


def test_empty_stream_and_bare_end_marker_are_empty_layers(target: Path) -> None:
    assert extract(b"", target).entries == 0
    assert extract(b"\0" * 10240, target).entries == 0
    assert os.listdir(target) == []


# -- sources ------------------------------------------------------------------


def test_stream_is_read_to_the_end(target: Path) -> None:
    stream = io.BytesIO(_sample() + b"\0" * 100_000)
    extract_layer(stream, target)
    assert stream.read() == b""


def test_path_source(tmp_path: Path, target: Path) -> None:
    path = TarBuilder().file("a", b"from a file").write(tmp_path / "layer.tar")
    assert extract_layer(path, target).size == len(b"from a file")
    assert (target / "a").read_bytes() == b"from a file"


def test_source_errors_propagate_unchanged(target: Path) -> None:
    class Failing(io.RawIOBase):
        def readable(self) -> bool:
            return True

        def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
            raise ConnectionResetError("peer went away")

    with pytest.raises(ConnectionResetError):
        extract_layer(io.BufferedReader(Failing()), target)


def test_missing_path_source_propagates(tmp_path: Path, target: Path) -> None:
    with pytest.raises(FileNotFoundError):
        extract_layer(tmp_path / "nope.tar", target)
