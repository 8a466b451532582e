"""A container's files as ``docker cp`` sees them: its root filesystem plus its mounts.

The container's files are untrusted: ``/etc`` may be a symlink to ``/``
and ``a/b`` one to ``../../..``. :class:`CopyView` therefore resolves
every path one component at a time from descriptors with ``O_NOFOLLOW``,
interpreting symlinks itself with the container's root as ``/``, so no
path or symlink inside the container can lead a copy outside it.

As in Docker, the view includes what is mounted into the container:
volumes and binds (``Container.mount_points``, when the container has
them) and the engine's ``/etc/hosts``, ``/etc/hostname`` and
``/etc/resolv.conf`` (:func:`copy_mounts`). A path on one of them is
resolved in the mount's source on the host. tmpfs mounts are not included:
their content lives only in the container (Docker 20.10 shows the
directory below them too).

Everything here blocks; run it in a worker thread.
"""

from __future__ import annotations

import contextlib
import errno
import os
import posixpath
import stat
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, cast

from ketch.containers.archive_paths import (
    PathStat,
    asserts_dir,
    components,
    go_base,
    go_file_mode,
)
from ketch.containers.model import Container
from ketch.containers.rootfs import open_in_root

_MAX_SYMLINKS = 40
_PATH_FLAGS = os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC

#: Where the engine's per-container files appear (see ``Container.*_path``).
_ENGINE_FILES = (("/etc/hostname", "hostname_path"), ("/etc/hosts", "hosts_path"),
                 ("/etc/resolv.conf", "resolv_conf_path"))


def _track(opened: list[int], fd: int) -> int:
    """Record *fd* in *opened* (closed together on failure); returns it."""
    opened.append(fd)
    return fd


def close_fds(fds: Sequence[int]) -> None:
    """Close every descriptor in *fds*, ignoring errors (clean-up paths)."""
    for fd in fds:
        with contextlib.suppress(OSError):
            os.close(fd)


@dataclass(frozen=True)
class CopyMount:
    """Something mounted into the container: *destination* inside it, shown
    from *source* on the host (plus *subpath* below it, for volume subpaths)."""

    destination: str
    source: str
    rw: bool = True
    subpath: str = ""


def copy_mounts(container: Container) -> list[CopyMount]:
    """The container's volumes and binds, then the engine's /etc files it mounts.

    Mount points come from ``Container.mount_points`` when the model has
    them (volume and bind types with a host source); tmpfs and image
    mounts are left out. An engine file is included once it exists and no
    user mount replaces it; it is writable unless the root filesystem is
    read-only (as Docker's network mounts).
    """
    out: list[CopyMount] = []
    for point in getattr(container, "mount_points", None) or ():
        kind = getattr(point, "type", "")
        source = getattr(point, "source", "")
        if kind not in ("bind", "volume") or not source:
            continue
        spec = getattr(point, "spec", None)
        options = getattr(spec, "volume_options", None) if kind == "volume" else None
        out.append(CopyMount(posixpath.normpath(point.destination), source,
                             bool(getattr(point, "rw", True)),
                             getattr(options, "subpath", "") or ""))
    taken = {m.destination for m in out}
    writable = not container.host_config.readonly_rootfs
    for destination, attribute in _ENGINE_FILES:
        source = getattr(container, attribute, "")
        if destination not in taken and source and os.path.isfile(source):
            out.append(CopyMount(destination, source, writable))
    return out


@dataclass
class Found:
    """An entry looked up in a :class:`CopyView`; its descriptors belong to the view."""

    #: container path reached (symlinks before the last component resolved)
    path: str
    #: the entry's own stat (a symlink's, unless the lookup followed it)
    st: os.stat_result
    #: ``O_PATH`` descriptor of the entry
    fd: int
    #: the directory holding it and its name there (-1 and "" for a host root "/")
    parent_fd: int
    name: str
    #: the mount it is on; None for the container's root filesystem
    mount: CopyMount | None
    #: host directory at the top of that filesystem, and the entry's path below it
    host_top: str
    rel: tuple[str, ...]


@dataclass(frozen=True)
class _Frame:
    name: str
    fd: int
    mount: CopyMount | None
    host_top: str
    rel: tuple[str, ...]


class CopyView:
    """A container's root filesystem plus its mounts, resolved without escaping.

    *root* is the mounted rootfs (the overlay's merged dir). Use as a
    context manager: every descriptor a lookup opens stays open (results
    refer to them) until the view is closed.
    """

    def __init__(self, root: Path, mounts: Sequence[CopyMount] = ()) -> None:
        self.root = root
        self.mounts = {m.destination: m for m in mounts}
        self._fds: list[int] = []
        self._root_fd = self._keep(os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC))
        #: the root filesystem's device: archives do not enter other filesystems below it
        self.root_dev = os.fstat(self._root_fd).st_dev

    def __enter__(self) -> CopyView:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        fds, self._fds = self._fds, []
        close_fds(fds)

    def _keep(self, fd: int) -> int:
        self._fds.append(fd)
        return fd

    # -- lookup ---------------------------------------------------------------------
    def lookup(self, path: str, *, follow_last: bool) -> Found:
        """The entry at container path *path*; its descriptors stay open with the view.

        Symlinks are followed as the kernel would inside the container (the
        last one only with *follow_last*); ``..`` stops at the root.
        Raises FileNotFoundError, NotADirectoryError or ELOOP's OSError.
        """
        opened: list[int] = []
        try:
            found = self._lookup(path, follow_last, opened)
        except BaseException:
            close_fds(opened)
            raise
        keep = (found.fd, found.parent_fd)
        close_fds([fd for fd in opened if fd not in keep])
        self._fds += [fd for fd in opened if fd in keep]
        return found

    def probe(self, path: str) -> tuple[os.stat_result, str | None]:
        """lstat of *path* (parents resolved) and, for a symlink, its target;
        keeps no descriptor open (for lookups by the thousand)."""
        opened: list[int] = []
        try:
            found = self._lookup(path, False, opened)
            target = os.readlink("", dir_fd=found.fd) if stat.S_ISLNK(found.st.st_mode) \
                else None
            return found.st, target
        finally:
            close_fds(opened)

    def open_mount(self, mount: CopyMount, opened: list[int]) -> Found:
        """The root of *mount*: its host source (a trusted path), then its subpath.

        The descriptors it opens are added to *opened*, for the caller to close.
        """
        real = os.path.realpath(mount.source)
        if mount.subpath:
            fd = open_in_root(Path(real), mount.subpath, os.O_PATH)
            try:
                real = os.readlink(f"/proc/self/fd/{fd}")
            finally:
                os.close(fd)
        fd = _track(opened, os.open(real, _PATH_FLAGS))
        parent_fd, name = -1, ""
        if real != "/":
            parent, name = posixpath.split(real)
            parent_fd = _track(opened, os.open(parent, os.O_PATH | os.O_DIRECTORY
                                               | os.O_CLOEXEC))
        return Found(mount.destination, os.fstat(fd), fd, parent_fd, name, mount, real, ())

    def _lookup(self, path: str, follow_last: bool, opened: list[int]) -> Found:
        """:meth:`lookup`'s walk; every descriptor it opens is added to *opened*."""
        frames = [_Frame("", self._root_fd, None, str(self.root), ())]
        parts = deque(components(path))
        links = 0
        while parts:
            name = parts.popleft()
            if name == "..":
                if len(frames) > 1:
                    frames.pop()
                continue
            last = not parts
            top = frames[-1]
            logical = "/" + "/".join([f.name for f in frames[1:]] + [name])
            mount = self.mounts.get(logical)
            if mount is not None:
                found = self.open_mount(mount, opened)
                if last:
                    return found
                if not stat.S_ISDIR(found.st.st_mode):
                    raise NotADirectoryError(errno.ENOTDIR, "not a directory", logical)
                frames.append(_Frame(name, found.fd, mount, found.host_top, ()))
                continue
            fd = _track(opened, os.open(name, _PATH_FLAGS, dir_fd=top.fd))
            st = os.fstat(fd)
            if stat.S_ISLNK(st.st_mode) and (follow_last or not last):
                links += 1
                if links > _MAX_SYMLINKS:
                    raise OSError(errno.ELOOP, "too many levels of symbolic links", path)
                target = os.readlink("", dir_fd=fd)
                if target.startswith("/"):
                    del frames[1:]
                parts.extendleft(reversed(components(target)))
                continue
            if last:
                return Found(logical, st, fd, top.fd, name, top.mount, top.host_top,
                             (*top.rel, name))
            if not stat.S_ISDIR(st.st_mode):
                raise NotADirectoryError(errno.ENOTDIR, "not a directory", logical)
            frames.append(_Frame(name, fd, top.mount, top.host_top, (*top.rel, name)))
        # the path ended at a directory reached through "..", a symlink or "/"
        top = frames[-1]
        if len(frames) == 1:
            return Found("/", os.fstat(top.fd), top.fd, -1, "", None, top.host_top, ())
        if not top.rel:  # the root of a mount
            return self.open_mount(cast(CopyMount, top.mount), opened)
        parent = frames[-2]
        logical = "/" + "/".join(f.name for f in frames[1:])
        return Found(logical, os.fstat(top.fd), top.fd, parent.fd, top.name, top.mount,
                     top.host_top, top.rel)

    def resolve_link(self, path: str) -> str:
        """moby's ``FollowSymlinkInScope(path, "/")``: every symlink resolved in
        the container; what does not exist is kept as written."""
        names: list[str] = []
        missing: list[str] = []
        parts = deque(components(path))
        links = 0
        while parts:
            name = parts.popleft()
            if name == "..":
                if missing:
                    missing.pop()
                elif names:
                    names.pop()
                continue
            if missing:
                missing.append(name)
                continue
            candidate = "/" + "/".join([*names, name])
            try:
                _, target = self.probe(candidate)
            except (FileNotFoundError, NotADirectoryError):
                missing.append(name)
                continue
            if target is not None:
                links += 1
                if links > 255:
                    raise OSError(errno.ELOOP, "too many levels of symbolic links", path)
                if target.startswith("/"):
                    names = []
                parts.extendleft(reversed(components(target)))
                continue
            names.append(name)
        return "/" + "/".join(names + missing)

    # -- stat -----------------------------------------------------------------------
    def stat(self, path: str) -> tuple[PathStat, Found]:
        """The stat Docker reports for *path* (already a :func:`container_path`)."""
        found = self.lookup(path, follow_last=asserts_dir(path))
        if asserts_dir(path) and not stat.S_ISDIR(found.st.st_mode):
            raise NotADirectoryError(errno.ENOTDIR, "not a directory", path)
        st = found.st
        target = self.resolve_link(path) if stat.S_ISLNK(st.st_mode) else ""
        return PathStat(go_base(path), st.st_size, go_file_mode(st.st_mode), st.st_mtime_ns,
                        target), found

    def write_archive(self, found: Found, name: str, out: BinaryIO) -> None:
        """:func:`ketch.containers.archive_tar.write_archive` of *found* in this view."""
        from ketch.containers.archive_tar import write_archive  # it imports this module

        write_archive(self, found, name, out)


__all__ = ["CopyMount", "CopyView", "Found", "close_fds", "copy_mounts"]
