"""Copy-up from a real container root (busybox layer + a crafted layer on an
overlay mount) into volumes, including images that try to make the copy
read or write outside the root.
"""

from __future__ import annotations

import hashlib
import os
import stat
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from layers.tars import TarBuilder

from ketch.volumes import copyup

from .conftest import Busybox, World, mount_root

CRAFTED = (
    TarBuilder()
    .dir("data", mode=0o750, uid=1000, gid=1001, xattrs={"user.kind": b"top"})
    .file("data/a.txt", b"hello", mode=0o640, uid=1000, gid=1001, mtime=1_600_000_000,
          xattrs={"user.note": b"n1"})
    .file("data/suid", b"#!/bin/sh\n", mode=0o4755, uid=1000, gid=1001)
    .hardlink("data/a-hard", "data/a.txt")
    .dir("data/sub", mode=0o700, uid=7, gid=8)
    .file("data/sub/deep", b"deep")
    .symlink("data/escape", "/../../../../etc")
    .symlink("data/sub/rel-escape", "../../../../../../etc/passwd")
    .symlink("data/dangling", "/nonexistent/x")
    .fifo("data/pipe", mode=0o620)
    .device("data/null", tarfile.CHRTYPE, 1, 3, mode=0o666)
    .symlink("linkdir", "/../../../data")  # the target itself: resolved inside the root
    .symlink("hostetc", "/../../../../../../../../etc")
    .file("plainfile", b"not a dir")
    .data()
)
CRAFTED_ID = "sha256:" + hashlib.sha256(CRAFTED).hexdigest()


@pytest.fixture
def root(busybox_layers: Busybox) -> Iterator[Path]:
    merged = mount_root(busybox_layers, "c1", [(CRAFTED_ID, CRAFTED)])
    try:
        yield merged
    finally:
        busybox_layers.rootfs.remove("c1")


def listing(top: Path) -> dict[str, tuple[str, int, int, int]]:
    """relative path -> (kind, mode, uid, gid) for everything below top."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(top):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            st = p.lstat()
            kind = ("dir" if stat.S_ISDIR(st.st_mode) else "link" if stat.S_ISLNK(st.st_mode)
                    else "file" if stat.S_ISREG(st.st_mode) else "fifo"
                    if stat.S_ISFIFO(st.st_mode) else "chr" if stat.S_ISCHR(st.st_mode) else "?")
            mode = stat.S_IMODE(st.st_mode) if kind != "link" else 0
            out[str(p.relative_to(top))] = (kind, mode, st.st_uid, st.st_gid)
    return out


def test_copy_preserves_everything_and_follows_nothing(world: World, root: Path,
                                                        tmp_path: Path) -> None:
    vol = world.run(world.service.create("")).name
    data = Path(world.call(lambda: world.service.get(vol)).mountpoint)
    assert world.run(world.service.copy_up(vol, root, "/data"))
    assert listing(data) == listing(root / "data")
    # the volume's own directory takes the image directory's owner and mode
    st = data.stat()
    assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) == (0o750, 1000, 1001)
    assert os.getxattr(data, "user.kind") == b"top"
    assert (data / "a.txt").read_bytes() == b"hello"
    assert os.getxattr(data / "a.txt", "user.note") == b"n1"
    assert (data / "a.txt").stat().st_mtime == 1_600_000_000
    assert (data / "a.txt").stat().st_ino == (data / "a-hard").stat().st_ino
    assert stat.S_IMODE((data / "suid").stat().st_mode) == 0o4755
    # symlinks are copied as links, never followed (not even those pointing "out")
    assert os.readlink(data / "escape") == "/../../../../etc"
    assert os.readlink(data / "sub" / "rel-escape") == "../../../../../../etc/passwd"
    assert os.readlink(data / "dangling") == "/nonexistent/x"
    assert os.major((data / "null").stat().st_rdev) == 1
    # nothing of the host's /etc came along
    assert not any(p.name == "shadow" for p in data.rglob("*"))


def test_target_symlink_resolves_inside_the_root(world: World, root: Path) -> None:
    """A mount target that is a symlink to "/../../../data" means the root's /data;
    one to "/../../../etc" the root's /etc, never the host's."""
    svc = world.service
    first = world.run(svc.create("")).name
    assert world.run(svc.copy_up(first, root, "/linkdir"))
    data = Path(world.call(lambda: svc.get(first)).mountpoint)
    assert sorted(os.listdir(data)) == sorted(os.listdir(root / "data"))
    second = world.run(svc.create("")).name
    assert world.run(svc.copy_up(second, root, "/hostetc"))
    copied = Path(world.call(lambda: svc.get(second)).mountpoint)
    assert sorted(os.listdir(copied)) == sorted(os.listdir(root / "etc"))
    assert sorted(os.listdir(copied)) != sorted(os.listdir("/etc"))


def test_busybox_bin_hard_links(world: World, root: Path) -> None:
    vol = world.run(world.service.create("bb")).name
    assert world.run(world.service.copy_up(vol, root, "/bin"))
    data = Path(world.call(lambda: world.service.get(vol)).mountpoint)
    inodes = {(data / n).stat().st_ino for n in os.listdir(data)}
    assert len(os.listdir(data)) > 100 and len(inodes) == 1
    assert (data / "sh").stat().st_nlink == len(os.listdir(data))
    assert (data / "busybox").read_bytes() == (root / "bin" / "busybox").read_bytes()


def test_no_copy_into_a_non_empty_volume_or_from_a_non_directory(world: World,
                                                                 root: Path) -> None:
    svc = world.service
    vol = world.run(svc.create("full")).name
    data = Path(world.call(lambda: svc.get(vol)).mountpoint)
    (data / "mine").write_text("keep")
    assert not world.run(svc.copy_up(vol, root, "/data"))
    assert os.listdir(data) == ["mine"]
    empty = world.run(svc.create("empty")).name
    for path in ("/plainfile", "/nonexistent", "/data/dangling", "/data/a.txt"):
        assert not world.run(svc.copy_up(empty, root, path)), path
    assert os.listdir(Path(world.call(lambda: svc.get(empty)).mountpoint)) == []


def test_copy_into_a_tmpfs_volume_mounts_it_for_the_copy(world: World, root: Path) -> None:
    svc = world.service
    world.run(svc.create("tv", driver_opts={"type": "tmpfs", "device": "tmpfs"}))
    assert world.run(svc.copy_up("tv", root, "/data"))
    # unmounted again afterwards: what was copied lived on the tmpfs only
    data = Path(world.call(lambda: svc.get("tv")).mountpoint)
    assert os.listdir(data) == []
    assert world.call(lambda: svc.get("tv")).record.mounted_by == []


def test_too_deep_trees_are_refused(tmp_path: Path) -> None:
    src = tmp_path / "src"
    deep = src
    for _ in range(copyup.MAX_DEPTH + 2):
        deep = deep / "d"
    deep.mkdir(parents=True)
    dest = tmp_path / "dest"
    dest.mkdir()
    with pytest.raises(Exception, match="deeper than"):
        copyup.copy_up(src, "/", dest)
