"""Walk a COPY source (a file or a directory tree) without ever following a symlink.

Both the cache digest and the tar writer need the same view of a source:
every entry with its ``lstat``, its link target, and its bytes read from
the very inode that was stat'ed. The walk holds a descriptor per directory
level and opens each child relative to its parent with ``O_NOFOLLOW``, so a
tree rearranged under us (a symlink swapped in for a directory or a file)
yields an error or a different file of the same tree, never a host file.

Entries come depth first, each directory before its contents, names in
byte order (Go's ``filepath.WalkDir`` order, which Docker's tar writer
follows). Sockets are skipped: a tar cannot hold them and Docker drops them.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Generator
from dataclasses import dataclass
from typing import BinaryIO

from ketch.build.copy_scope import Tree

_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


@dataclass(slots=True)
class Entry:
    """One file, directory, symlink or device of a source.

    ``rel`` is its path relative to the walked source (``""`` for the
    source itself). :meth:`open` is only valid until the walk moves on.
    """

    rel: str
    st: os.stat_result
    linkname: str
    dir_fd: int
    name: str

    @property
    def is_dir(self) -> bool:
        return stat.S_ISDIR(self.st.st_mode)

    @property
    def is_reg(self) -> bool:
        return stat.S_ISREG(self.st.st_mode)

    def open(self) -> BinaryIO:
        """The regular file's contents, from the inode that was stat'ed."""
        fd = os.open(self.name, _READ_FLAGS, dir_fd=self.dir_fd)
        now = os.fstat(fd)
        if (now.st_dev, now.st_ino) != (self.st.st_dev, self.st.st_ino) or not stat.S_ISREG(
            now.st_mode
        ):
            os.close(fd)
            raise OSError(errno.ESTALE, f"{self.rel or self.name} changed while being copied")
        return os.fdopen(fd, "rb")


def walk_source(tree: Tree, resolved: str) -> Generator[Entry, None, None]:
    """The entries of the resolved source path *resolved* in *tree*.

    A file yields itself; a directory yields itself (``rel == ""``) and
    everything below it. The source path itself was resolved in scope, so
    it is opened without following links.
    """
    parent_fd = tree.open_parent(resolved)
    name = resolved.rsplit("/", 1)[-1] if resolved else "."
    try:
        st = os.stat(name, dir_fd=parent_fd, follow_symlinks=False)
        if not stat.S_ISDIR(st.st_mode):
            if not stat.S_ISSOCK(st.st_mode):
                yield _entry("", st, parent_fd, name)
            return
        fd = _open_dir(parent_fd, name, st, resolved)
        try:
            yield Entry("", os.fstat(fd), "", parent_fd, name)
        except BaseException:
            os.close(fd)
            raise
        yield from _walk(fd, "")
    finally:
        os.close(parent_fd)


def _open_dir(parent_fd: int, name: str, st: os.stat_result, shown: str) -> int:
    """Open directory *name*, which must still be the inode *st* describes."""
    fd = os.open(name, _DIR_FLAGS, dir_fd=parent_fd)
    now = os.fstat(fd)
    if (now.st_dev, now.st_ino) != (st.st_dev, st.st_ino):
        os.close(fd)
        raise OSError(errno.ESTALE, f"{shown} changed while being copied")
    return fd


def _entry(rel: str, st: os.stat_result, dir_fd: int, name: str) -> Entry:
    link = os.readlink(name, dir_fd=dir_fd) if stat.S_ISLNK(st.st_mode) else ""
    return Entry(rel, st, link, dir_fd, name)


def _walk(fd: int, rel: str) -> Generator[Entry, None, None]:
    """Everything below the directory open as *fd*; closes *fd*."""
    try:
        with os.scandir(fd) as it:
            names = sorted((e.name for e in it), key=os.fsencode)
        for name in names:
            path = f"{rel}/{name}" if rel else name
            try:
                st = os.stat(name, dir_fd=fd, follow_symlinks=False)
            except FileNotFoundError:
                continue
            if stat.S_ISSOCK(st.st_mode):
                continue
            if not stat.S_ISDIR(st.st_mode):
                yield _entry(path, st, fd, name)
                continue
            child = _open_dir(fd, name, st, path)
            try:
                yield Entry(path, os.fstat(child), "", fd, name)
            except BaseException:
                os.close(child)
                raise
            yield from _walk(child, path)
    finally:
        os.close(fd)


__all__ = ["Entry", "walk_source"]
