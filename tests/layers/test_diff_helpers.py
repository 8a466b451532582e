"""Helpers shared by the diff and export tests (this module has no tests).

A real container root filesystem for the tests: the offline busybox image
unpacked by the real LayerStore, mounted by the real ContainerRootfs, and
changed by a busybox shell run under chroot, which is what a container's
processes do to it. Every helper that mounts something unmounts it in a
``finally``; the layer store lives in the test's tmp_path.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import stat
import subprocess
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from support.images import OfflineImages

from ketch.containers.rootfs import MOUNT_TARGETS, ContainerRootfs, RootfsPaths
from ketch.layers.store import LayerStore

from .tars import require_root

#: The paths ketch may create in a container's upper dir at mount time.
ENGINE_PATHS = tuple(path for path, _ in MOUNT_TARGETS)

#: What a container does to the busybox image; every kind of change once.
OPS = """
set -e
echo hello > /root/new.txt
echo extra >> /etc/passwd
rm /bin/vi
rmdir /home
rm -rf /usr && mkdir /usr && echo fresh > /usr/fresh
mkdir -p /opt/a/b/c && echo deep > /opt/a/b/c/file
chmod 0755 /tmp
chmod 4755 /bin/ls
ln -s /etc/passwd /root/pw-link
ln -s ../nowhere /root/dangling
ln /root/new.txt /root/new-hard
mkfifo /root/fifo
mknod /root/null c 1 3
chown 65534:65534 /root/new.txt
rm /etc/group && mkdir /etc/group && echo g > /etc/group/inside
rmdir /var && echo v > /var
"""

#: ``docker diff`` of OPS on the busybox image, as Docker 20.10 prints it.
OPS_CHANGES = [
    ("C", "/bin"), ("C", "/bin/ls"), ("D", "/bin/vi"),
    ("C", "/etc"), ("C", "/etc/group"), ("A", "/etc/group/inside"), ("C", "/etc/passwd"),
    ("D", "/home"),
    ("A", "/opt"), ("A", "/opt/a"), ("A", "/opt/a/b"), ("A", "/opt/a/b/c"),
    ("A", "/opt/a/b/c/file"),
    ("C", "/root"), ("A", "/root/dangling"), ("A", "/root/fifo"), ("A", "/root/new-hard"),
    ("A", "/root/new.txt"), ("A", "/root/null"), ("A", "/root/pw-link"),
    ("C", "/tmp"),
    ("C", "/usr"), ("D", "/usr/bin"), ("A", "/usr/fresh"), ("D", "/usr/sbin"),
    ("C", "/var"),
]


@dataclass
class Container:
    """A mounted container root: its paths and the image's layer dirs, top first."""

    paths: RootfsPaths
    lowers: list[Path]
    store: LayerStore
    chain_id: str


def busybox_store(root: Path, images: OfflineImages) -> tuple[LayerStore, str]:
    """A LayerStore under *root* holding the busybox image's one layer."""
    require_root()
    store = LayerStore(root)
    tar = images.busybox
    chain_id = "sha256:" + hashlib.sha256(tar.read_bytes()).hexdigest()
    store.create(chain_id, tar)
    return store, chain_id


@contextlib.contextmanager
def busybox_container(tmp: Path, images: OfflineImages, cid: str = "c1") -> Iterator[Container]:
    """A busybox container root, mounted as ketch mounts it; removed afterwards."""
    store, chain_id = busybox_store(tmp / "layers", images)
    rootfs = ContainerRootfs(tmp / "containers", store)
    paths = rootfs.create(cid, [chain_id])
    try:
        rootfs.mount(cid, [chain_id])
        yield Container(paths, [store.diff_dir(chain_id)], store, chain_id)
    finally:
        rootfs.remove(cid)


def run_in_root(root: Path, script: str) -> None:
    """Run *script* with the image's own shell, chrooted into *root*."""
    proc = subprocess.run(["chroot", str(root), "/bin/sh", "-c", script],
                          capture_output=True, text=True, timeout=60,
                          env={"PATH": "/bin:/sbin:/usr/bin:/usr/sbin"}, check=False)
    assert proc.returncode == 0, f"{script}\n--- stdout\n{proc.stdout}--- stderr\n{proc.stderr}"


@contextlib.contextmanager
def overlay(lowers: list[Path], target: Path) -> Iterator[Path]:
    """A read-only overlay of *lowers* (top first) on *target*."""
    target.mkdir(exist_ok=True)
    options = "lowerdir=" + ":".join(str(p) for p in lowers)
    subprocess.run(["mount", "-t", "overlay", "overlay", "-o", options, str(target)],
                   check=True, capture_output=True)
    try:
        yield target
    finally:
        subprocess.run(["umount", str(target)], check=True)


def tree_view(root: Path, skip: tuple[str, ...] = ()) -> dict[str, tuple[object, ...]]:
    """Everything below *root* as it looks: path -> (type, mode, owner, content...).

    Content is the data's sha256 for files, the target for symlinks, the
    device number for devices; times are whole seconds. Paths in *skip*
    (relative, and what is below them) are left out.
    """
    view: dict[str, tuple[object, ...]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in sorted(dirnames + filenames):
            path = Path(dirpath, name)
            rel = str(path.relative_to(root))
            if any(rel == s or rel.startswith(s + "/") for s in skip):
                continue
            st = os.lstat(path)
            fmt = stat.S_IFMT(st.st_mode)
            if fmt == stat.S_IFREG:
                content: object = hashlib.sha256(path.read_bytes()).hexdigest()
            elif fmt == stat.S_IFLNK:
                content = os.readlink(path)
            elif fmt in (stat.S_IFCHR, stat.S_IFBLK):
                content = (os.major(st.st_rdev), os.minor(st.st_rdev))
            else:
                content = None
            try:
                cap: bytes | None = os.getxattr(path, "security.capability",
                                                follow_symlinks=False)
            except OSError:
                cap = None
            view[rel] = (fmt, stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, st.st_size,
                         st.st_mtime_ns // 1_000_000_000, content, cap)
    return view


def link_groups(root: Path) -> set[frozenset[str]]:
    """The names below *root* that share an inode, as sets of relative paths."""
    groups: dict[tuple[int, int], set[str]] = {}
    for dirpath, _, filenames in os.walk(root):
        for name in filenames:
            path = Path(dirpath, name)
            st = os.lstat(path)
            if st.st_nlink > 1:
                groups.setdefault((st.st_dev, st.st_ino), set()).add(
                    str(path.relative_to(root)))
    return {frozenset(g) for g in groups.values() if len(g) > 1}


@dataclass(frozen=True)
class Entry:
    """A tar entry as the comparisons see it (mtime kept apart)."""

    name: str
    type: bytes
    mode: int
    uid: int
    gid: int
    size: int
    linkname: str
    dev: tuple[int, int]
    xattrs: tuple[tuple[str, str], ...]


def tar_entries(data: bytes) -> list[tuple[Entry, int]]:
    """(entry, mtime) for each member, names without a trailing slash.

    Mode keeps only the permission bits (Docker 20.10 adds file type bits,
    later versions and ketch do not); a link name counts only for links.
    """
    out: list[tuple[Entry, int]] = []
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:", encoding="utf-8",
                      errors="surrogateescape") as tar:
        for m in tar:
            xattrs = tuple(sorted((k, v) for k, v in m.pax_headers.items()
                                  if k.startswith("SCHILY.xattr.")))
            out.append((Entry(
                name=m.name.rstrip("/"), type=m.type, mode=m.mode & 0o7777, uid=m.uid,
                gid=m.gid, size=m.size,
                linkname=m.linkname if m.type in (tarfile.LNKTYPE, tarfile.SYMTYPE) else "",
                dev=(m.devmajor, m.devminor) if m.type in (tarfile.CHRTYPE, tarfile.BLKTYPE)
                else (0, 0),
                xattrs=xattrs,
            ), int(m.mtime)))
    return out
