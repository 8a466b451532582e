"""Copy-up: fill an empty volume with what the image has at the mount target.

Docker does this when a container is created with a volume (named or
anonymous, not ``nocopy``) on a directory the image populates: the
directory's contents, ownership, modes, times, extended attributes,
symlinks (as symlinks), hard links and special files are copied into the
volume, and so is the directory's own ownership and mode (a ``/var/lib/mysql``
owned by ``mysql`` gives a volume owned by ``mysql``). Nothing is copied into
a volume that already holds anything.

The image is untrusted. The source directory is resolved inside the
container's root with :func:`ketch.containers.rootfs.open_in_root` (symlinks
followed as if the root were ``/``), and below it everything is opened
relative to its parent's descriptor with ``O_NOFOLLOW``: a symlink is
copied as a link and never followed, so no entry of the image can make the
copy read or write outside the root and the volume. A source entry that is
swapped for something else between ``lstat`` and ``open`` is skipped.

Blocking (tree walk and data copy): call from a worker thread.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ketch.containers.rootfs import open_in_root
from ketch.errors import InternalError

#: Deeper trees are refused: every level holds two descriptors open.
MAX_DEPTH = 512
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_CHUNK = 1 << 20


def _ignore_unsupported(exc: OSError) -> bool:
    return exc.errno in (errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENODATA)


def _copy_xattrs(src_fd: int, dst_fd: int) -> None:
    try:
        names = os.listxattr(src_fd)
    except OSError as exc:
        if _ignore_unsupported(exc):
            return
        raise
    for name in names:
        try:
            os.setxattr(dst_fd, name, os.getxattr(src_fd, name))
        except OSError as exc:
            if not _ignore_unsupported(exc):
                raise


def _copy_meta_fd(fd: int, st: os.stat_result) -> None:
    """Owner, then mode (chown clears set-id bits), then times."""
    os.chown(fd, st.st_uid, st.st_gid)
    os.chmod(fd, stat.S_IMODE(st.st_mode))
    os.utime(fd, ns=(st.st_atime_ns, st.st_mtime_ns))


def _copy_meta_at(dir_fd: int, name: str, st: os.stat_result, link: bool) -> None:
    os.chown(name, st.st_uid, st.st_gid, dir_fd=dir_fd, follow_symlinks=False)
    if not link:  # a node just made by us: following "it" cannot lead elsewhere
        os.chmod(name, stat.S_IMODE(st.st_mode), dir_fd=dir_fd)
    os.utime(name, ns=(st.st_atime_ns, st.st_mtime_ns), dir_fd=dir_fd, follow_symlinks=False)


def _copy_data(src: int, dst: int) -> None:
    try:
        while os.copy_file_range(src, dst, _CHUNK):
            pass
        return
    except OSError as exc:
        if exc.errno not in (errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
            raise
    os.lseek(src, 0, os.SEEK_SET)
    os.lseek(dst, 0, os.SEEK_SET)
    os.ftruncate(dst, 0)
    while chunk := os.read(src, _CHUNK):
        view = memoryview(chunk)
        while view:
            written = os.write(dst, view)
            view = view[written:]


@dataclass
class _Frame:
    """A directory being copied: its descriptors, path and remaining entries."""

    src: int
    dst: int
    rel: str
    names: Iterator[str]
    #: the source directory's stat, applied to the copy once it is complete
    st: os.stat_result | None


class _Copier:
    def __init__(self, dst_root_fd: int) -> None:
        self.dst_root_fd = dst_root_fd
        #: (dev, ino) of a multiply-linked source file -> its copy, relative to the root
        self.links: dict[tuple[int, int], str] = {}

    @staticmethod
    def _names(src_fd: int) -> Iterator[str]:
        with os.scandir(src_fd) as it:
            return iter(sorted(entry.name for entry in it))

    def copy_tree(self, src_fd: int, dst_fd: int) -> None:
        """Copy the contents of *src_fd* into *dst_fd*, depth first, without
        recursion (an image decides how deep its trees are)."""
        stack = [_Frame(src_fd, dst_fd, "", self._names(src_fd), None)]
        try:
            while stack:
                frame = stack[-1]
                name = next(frame.names, None)
                if name is None:
                    stack.pop()
                    if frame.st is not None:
                        try:
                            _copy_xattrs(frame.src, frame.dst)
                            _copy_meta_fd(frame.dst, frame.st)
                        finally:
                            os.close(frame.src)
                            os.close(frame.dst)
                    continue
                try:
                    st = os.stat(name, dir_fd=frame.src, follow_symlinks=False)
                except FileNotFoundError:
                    continue
                rel = f"{frame.rel}/{name}" if frame.rel else name
                if stat.S_ISDIR(st.st_mode):
                    if len(stack) >= MAX_DEPTH:
                        raise InternalError(
                            f"copy-up: directory tree deeper than {MAX_DEPTH} levels")
                    child = self.open_dir(frame.src, frame.dst, name)
                    if child is not None:
                        stack.append(_Frame(child[0], child[1], rel, self._names(child[0]),
                                            st))
                    continue
                self.copy_entry(frame.src, frame.dst, name, st, rel)
        finally:
            for frame in stack:
                if frame.st is not None:
                    os.close(frame.src)
                    os.close(frame.dst)

    def open_dir(self, src_fd: int, dst_fd: int, name: str) -> tuple[int, int] | None:
        """Descriptors of the source directory and of its new copy."""
        try:
            child_src = os.open(name, _DIR_FLAGS, dir_fd=src_fd)
        except OSError as exc:
            if exc.errno in (errno.ENOENT, errno.ELOOP, errno.ENOTDIR):
                return None  # replaced while we looked: not what we listed
            raise
        try:
            os.mkdir(name, 0o700, dir_fd=dst_fd)
            return child_src, os.open(name, _DIR_FLAGS, dir_fd=dst_fd)
        except BaseException:
            os.close(child_src)
            raise

    def copy_entry(self, src_fd: int, dst_fd: int, name: str, st: os.stat_result,
                   rel: str) -> None:
        """Copy one non-directory entry."""
        mode = st.st_mode
        key = (st.st_dev, st.st_ino)
        if st.st_nlink > 1 and key in self.links:
            os.link(self.links[key], name, src_dir_fd=self.dst_root_fd, dst_dir_fd=dst_fd,
                    follow_symlinks=False)
            return
        if stat.S_ISREG(mode):
            if not self.copy_file(src_fd, dst_fd, name, st):
                return
        elif stat.S_ISLNK(mode):
            os.symlink(os.readlink(name, dir_fd=src_fd), name, dir_fd=dst_fd)
            _copy_meta_at(dst_fd, name, st, link=True)
        elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode) or stat.S_ISFIFO(mode) \
                or stat.S_ISSOCK(mode):
            os.mknod(name, stat.S_IFMT(mode) | 0o600, st.st_rdev, dir_fd=dst_fd)
            _copy_meta_at(dst_fd, name, st, link=False)
        else:
            return
        if st.st_nlink > 1:
            self.links[key] = rel

    def copy_file(self, src_fd: int, dst_fd: int, name: str, st: os.stat_result) -> bool:
        try:
            src = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY
                          | os.O_CLOEXEC, dir_fd=src_fd)
        except OSError as exc:
            if exc.errno in (errno.ENOENT, errno.ELOOP):
                return False
            raise
        try:
            now = os.fstat(src)
            if not stat.S_ISREG(now.st_mode) or (now.st_dev, now.st_ino) != (st.st_dev, st.st_ino):
                return False
            dst = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
                          | os.O_CLOEXEC, 0o600, dir_fd=dst_fd)
            try:
                _copy_data(src, dst)
                _copy_xattrs(src, dst)
                _copy_meta_fd(dst, now)
            finally:
                os.close(dst)
        finally:
            os.close(src)
        return True


def copy_up(root: Path, path: str, dest: Path) -> bool:
    """Copy directory *path* of the untrusted root *root* into the empty *dest*.

    Returns False, copying nothing, when *dest* is not empty or *path* is
    not a directory in the root (missing, a file, a dangling link): Docker
    populates a volume only from a directory.
    """
    try:
        src_fd = open_in_root(root, path, os.O_RDONLY | os.O_DIRECTORY)
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ENOTDIR, errno.ELOOP):
            return False
        raise
    try:
        dst_fd = os.open(dest, _DIR_FLAGS)
        try:
            if os.listdir(dst_fd):
                return False
            copier = _Copier(dst_fd)
            copier.copy_tree(src_fd, dst_fd)
            _copy_xattrs(src_fd, dst_fd)
            _copy_meta_fd(dst_fd, os.fstat(src_fd))
            return True
        finally:
            os.close(dst_fd)
    finally:
        os.close(src_fd)
