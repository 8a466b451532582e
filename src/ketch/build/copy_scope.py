"""Paths inside an untrusted tree, resolved the way Docker's builder does.

A build reads from trees it cannot trust: the build context (unpacked from
whatever the client sent) and other stages' root filesystems (written by
whatever their RUN steps ran). Both may hold symlinks to ``/etc`` or to
``../../..``. Docker resolves every path in them with
``symlink.FollowSymlinkInScope``: the path is cleaned first (so ``a/..``
is gone before any link is read), a ``..`` that climbs out of the tree in
the path itself is an error, and symlinks met on the way are expanded as if
the tree were ``/``, so they can never lead out of it.

:class:`Tree` does the same with directory descriptors: each component is
looked up with ``openat``/``fstatat`` relative to its parent's descriptor,
never through a host path, so a tree changed by someone else while we walk
it still cannot send us outside. Opening a resolved path again later
(:meth:`Tree.open`) refuses symlinks on the way instead of following them.

Blocking; call from a worker thread.
"""

from __future__ import annotations

import errno
import os
import stat
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from ketch.build.dockerignore import go_clean

#: Go's evalSymlinksInScope gives up after this many path components.
_MAX_STEPS = 255

_DIR_FLAGS = os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


class ScopeError(Exception):
    """The path leaves the tree lexically, or a lookup in it failed.

    Docker reports both as ``forbidden path outside the build context``;
    :attr:`path` is the path as the user gave it.
    """

    def __init__(self, path: str, detail: str = "") -> None:
        super().__init__(f"forbidden path outside the build context: {path} ()")
        self.path = path
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Resolved:
    """Where a path leads inside a tree.

    ``rel`` is the resolved path relative to the tree root (``""`` for the
    root itself) with no symlink left in it; ``st`` is the ``lstat`` of
    what is there, or None if nothing is (a missing file, a dangling link).
    """

    rel: str
    st: os.stat_result | None

    @property
    def exists(self) -> bool:
        return self.st is not None

    @property
    def is_dir(self) -> bool:
        return self.st is not None and stat.S_ISDIR(self.st.st_mode)


def lexical_rel(path: str) -> str | None:
    """*path* cleaned and made relative to the tree, or None if it climbs out.

    ``filepath.Join(root, path)`` semantics: a leading ``/`` means the tree
    root, and ``..`` that would go above the root is not clamped but fatal,
    even right after that ``/`` (``/../x`` climbs out: Go joins, then cleans).
    """
    cleaned = go_clean(path.lstrip("/") if path.startswith("/") else path)
    if cleaned == ".." or cleaned.startswith("../"):
        return None
    return "" if cleaned == "." else cleaned


def _parts(path: str) -> list[str]:
    return [p for p in path.split("/") if p not in ("", ".")]


class _Step:
    """One resolved component: a directory (with its descriptor) or not."""

    __slots__ = ("fd", "missing", "name", "st")

    def __init__(self, name: str, st: os.stat_result | None, fd: int = -1) -> None:
        self.name = name
        self.st = st
        self.fd = fd
        self.missing = st is None


class Tree:
    """A directory tree opened once, in which paths are resolved in scope."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.fd = os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> Tree:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def resolve(self, path: str) -> Resolved:
        """``FollowSymlinkInScope(join(root, path), root)``, relative to the root.

        Symlinks are followed in every component including the last; an
        absolute link target restarts from the tree root, ``..`` in a
        target stops at it. Missing components are kept as they are (a
        missing file resolves to where it would be). Raises ScopeError if
        *path* climbs out of the tree by itself, if a component below a
        non-directory is looked up, or after too many steps.
        """
        rel = lexical_rel(path)
        if rel is None:
            raise ScopeError(path, "outside the tree")
        pending = deque(_parts(rel))
        stack: list[_Step] = []
        steps = 0
        try:
            while pending:
                steps += 1
                if steps > _MAX_STEPS:
                    raise ScopeError(path, "too many links")
                name = pending.popleft()
                if name in ("", "."):
                    continue
                if name == "..":
                    if stack:
                        _close_step(stack.pop())
                    continue
                parent = stack[-1] if stack else None
                if parent is not None and parent.missing:
                    stack.append(_Step(name, None))
                    continue
                if parent is not None and parent.fd < 0:
                    raise ScopeError(path, f"{parent.name} is not a directory")
                parent_fd = parent.fd if parent is not None else self.fd
                try:
                    st = os.stat(name, dir_fd=parent_fd, follow_symlinks=False)
                except FileNotFoundError:
                    stack.append(_Step(name, None))
                    continue
                except OSError as e:
                    raise ScopeError(path, e.strerror or str(e)) from None
                if stat.S_ISLNK(st.st_mode):
                    target = os.readlink(name, dir_fd=parent_fd)
                    if target.startswith("/"):
                        while stack:
                            _close_step(stack.pop())
                    pending.extendleft(reversed(target.split("/")))
                    continue
                if stat.S_ISDIR(st.st_mode):
                    fd = _open_dir(parent_fd, name, st)
                    stack.append(_Step(name, st, fd))
                else:
                    stack.append(_Step(name, st))
            if not stack:
                return Resolved("", os.fstat(self.fd))
            return Resolved("/".join(s.name for s in stack), stack[-1].st)
        finally:
            for step in stack:
                _close_step(step)

    def open(self, rel: str, flags: int = os.O_RDONLY) -> int:
        """A descriptor for the resolved path *rel* (from :meth:`resolve`).

        Every component is opened with ``O_NOFOLLOW``: if the tree changed
        and a symlink now stands where a directory was, this fails (ELOOP
        or ENOTDIR) rather than follow it. *flags* apply to the last
        component; ``O_NOFOLLOW`` and ``O_CLOEXEC`` are always added.
        """
        parts = _parts(rel)
        if not parts:
            return os.open(".", flags | os.O_CLOEXEC, dir_fd=self.fd)
        fd = self.open_parent(rel)
        try:
            return os.open(parts[-1], flags | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
        finally:
            os.close(fd)

    def open_parent(self, rel: str) -> int:
        """An ``O_PATH`` descriptor of the directory holding resolved path *rel*."""
        fd = os.dup(self.fd)
        try:
            for name in _parts(rel)[:-1]:
                child = os.open(name, _DIR_FLAGS, dir_fd=fd)
                os.close(fd)
                fd = child
        except BaseException:
            os.close(fd)
            raise
        return fd

    def open_regular(self, rel: str) -> int:
        """A read-only descriptor for the regular file at resolved path *rel*.

        The type is checked with ``fstatat`` before anything is opened, so a
        device or FIFO planted in the tree is never opened (opening some
        devices has effects of its own), then the opened inode is checked to
        be the one stat'ed. Raises IsADirectoryError for a directory,
        OSError(EINVAL) for anything else that is not a regular file.
        """
        parts = _parts(rel)
        if not parts:
            raise IsADirectoryError(errno.EISDIR, "is a directory")
        parent = self.open_parent(rel)
        try:
            st = os.stat(parts[-1], dir_fd=parent, follow_symlinks=False)
            if stat.S_ISDIR(st.st_mode):
                raise IsADirectoryError(errno.EISDIR, "is a directory")
            if not stat.S_ISREG(st.st_mode):
                raise OSError(errno.EINVAL, "not a regular file")
            fd = os.open(parts[-1], os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY
                         | os.O_CLOEXEC, dir_fd=parent)
        finally:
            os.close(parent)
        now = os.fstat(fd)
        if (now.st_dev, now.st_ino) != (st.st_dev, st.st_ino):
            os.close(fd)
            raise OSError(errno.ESTALE, f"{rel} changed while being opened")
        return fd

    def read_file(self, rel: str, max_size: int) -> bytes:
        """The contents of the regular file at resolved path *rel* (see :meth:`open_regular`).

        Raises OSError(EFBIG) past *max_size* bytes.
        """
        fd = self.open_regular(rel)
        try:
            chunks: list[bytes] = []
            total = 0
            while chunk := os.read(fd, 1 << 16):
                total += len(chunk)
                if total > max_size:
                    raise OSError(errno.EFBIG, f"larger than {max_size} bytes")
                chunks.append(chunk)
            return b"".join(chunks)
        finally:
            os.close(fd)


def _open_dir(parent_fd: int, name: str, st: os.stat_result) -> int:
    """Open directory *name* without following links; it must still be *st*."""
    try:
        fd = os.open(name, _DIR_FLAGS, dir_fd=parent_fd)
    except OSError as e:
        raise ScopeError(name, e.strerror or str(e)) from None
    now = os.fstat(fd)
    if (now.st_dev, now.st_ino) != (st.st_dev, st.st_ino):
        os.close(fd)
        raise ScopeError(name, "changed while being resolved")
    return fd


def _close_step(step: _Step) -> None:
    if step.fd >= 0:
        os.close(step.fd)
        step.fd = -1


__all__ = ["Resolved", "ScopeError", "Tree", "lexical_rel"]
