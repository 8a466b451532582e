"""``docker cp`` on the daemon side: stat, archive and extract paths in a container.

Three operations, as moby's archive endpoints do them:

* **stat** (``HEAD .../archive``): lstat of the path, its parents resolved
  in the container; a trailing ``/`` or ``/.`` follows the last symlink
  too. A symlink's ``linkTarget`` is its full resolution in the container
  (missing components kept as written).
* **archive** (``GET``): a tar of the path, rebased to its base name: a
  file ``/etc/passwd`` is the entry ``passwd``; a directory ``/d`` is
  ``d/`` and ``d/...``; ``/d/.`` gives ``./`` and ``./...``; ``/`` gives
  ``/`` and ``/bin/...``. The CLI renames entries itself where it must.
* **extract** (``PUT``): a tar unpacked *into* a directory, symlinks of the
  destination path followed; ``noOverwriteDirNonDir`` refuses to replace a
  directory by a non-directory and the reverse; ``copyUIDGID`` gives every
  entry the container user's uid and gid (when it has a ``User``).

The container's files are untrusted: ``/etc`` may be a symlink to ``/``
and ``a/b`` one to ``../../..``. :class:`CopyView` therefore resolves
every path one component at a time from descriptors with ``O_NOFOLLOW``,
interpreting symlinks itself with the container's root as ``/``, and
reads trees through descriptors only (:mod:`ketch.layers.export`'s walk),
so no path or symlink inside the container can lead a copy outside it.
Extraction runs in the chroot'ed unpacker of :mod:`ketch.layers.extract`,
rooted at the container's root filesystem (or at the mount the
destination is on), after its entries are checked and renamed here.

As in Docker, the view includes what is mounted into the container:
volumes and binds (``Container.mount_points``, when the container has
them) and the engine's ``/etc/hosts``, ``/etc/hostname`` and
``/etc/resolv.conf``. A path on one of them is read from, or written to,
the mount's source on the host; a read-only mount refuses writes. tmpfs
mounts are not included: their content lives only in the container (Docker
20.10 shows the directory below them too).

Everything here but :class:`ContainerArchive` blocks; the service runs it
in worker threads.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import errno
import io
import json
import os
import posixpath
import stat
import tarfile
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, cast

from ketch.containers.commit import ContainerFiles
from ketch.containers.model import Container
from ketch.containers.rootfs import open_in_root
from ketch.containers.users import resolve_user
from ketch.errors import InternalError, InvalidArgument, KetchError, NotFound
from ketch.layers.export import (
    HardLinks,
    TarWriter,
    WalkEntry,
    _Walker,
    add_entry,
)
from ketch.layers.extract import extract_layer
from ketch.threadstream import AsyncPipe, stream_from_thread
from ketch.timeutil import format_ns

#: The response header carrying a path's stat (base64 of JSON).
STAT_HEADER = "X-Docker-Container-Path-Stat"

_MAX_SYMLINKS = 40
_PATH_FLAGS = os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC
_DIR_READ = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
_CHUNK = 1 << 20
_BLOCK = 512

# Go's os.FileMode type bits.
_GO_DIR = 1 << 31
_GO_SYMLINK = 1 << 27
_GO_DEVICE = 1 << 26
_GO_PIPE = 1 << 25
_GO_SOCKET = 1 << 24
_GO_SETUID = 1 << 23
_GO_SETGID = 1 << 22
_GO_CHARDEV = 1 << 21
_GO_STICKY = 1 << 20

#: Where the engine's per-container files appear (see ``Container.*_path``).
_ENGINE_FILES = (("/etc/hostname", "hostname_path"), ("/etc/hosts", "hosts_path"),
                 ("/etc/resolv.conf", "resolv_conf_path"))


# -- paths as Go's filepath and moby's archive package see them ------------------------


def _go_base(path: str) -> str:
    """``filepath.Base``: the last element, trailing slashes ignored; ``/`` for root."""
    if not path:
        return "."
    path = path.rstrip("/")
    return path.rsplit("/", 1)[-1] if path else "/"


def _asserts_dir(path: str) -> bool:
    """The path ends in ``/`` or ``/.``: it names a directory, following a last symlink."""
    return path.endswith("/") or _go_base(path) == "."


def container_path(path: str) -> str:
    """*path* made absolute and cleaned, keeping a trailing ``/`` or ``/.``
    (moby's ``PreserveTrailingDotOrSeparator(filepath.Join("/", path), path)``)."""
    cleaned = posixpath.normpath("/" + path.lstrip("/"))
    if _go_base(cleaned) != "." and _go_base(path) == ".":
        cleaned = cleaned.rstrip("/") + "/."
    if not cleaned.endswith("/") and path.endswith("/"):
        cleaned += "/"
    return cleaned


def _components(path: str) -> list[str]:
    return [p for p in path.split("/") if p not in ("", ".")]


def _inside(path: str, top: str) -> bool:
    return top == "/" or path == top or path.startswith(top + "/")


# -- stat -------------------------------------------------------------------------------


def go_file_mode(mode: int) -> int:
    """A ``st_mode`` as Go's ``os.FileMode`` (what the stat header carries)."""
    out = mode & 0o777
    fmt = stat.S_IFMT(mode)
    out |= {stat.S_IFDIR: _GO_DIR, stat.S_IFLNK: _GO_SYMLINK, stat.S_IFBLK: _GO_DEVICE,
            stat.S_IFCHR: _GO_DEVICE | _GO_CHARDEV, stat.S_IFIFO: _GO_PIPE,
            stat.S_IFSOCK: _GO_SOCKET}.get(fmt, 0)
    for bit, go_bit in ((stat.S_ISUID, _GO_SETUID), (stat.S_ISGID, _GO_SETGID),
                        (stat.S_ISVTX, _GO_STICKY)):
        if mode & bit:
            out |= go_bit
    return out


@dataclass(frozen=True)
class PathStat:
    """moby's ``container.PathStat``: what ``docker cp`` learns about a path."""

    name: str
    size: int
    #: Go ``os.FileMode`` bits (directory ``1<<31``, symlink ``1<<27``, ...)
    mode: int
    mtime_ns: int
    link_target: str = ""

    @property
    def is_dir(self) -> bool:
        return bool(self.mode & _GO_DIR)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "size": self.size, "mode": self.mode,
                "mtime": format_ns(self.mtime_ns), "linkTarget": self.link_target}

    def header_value(self) -> str:
        """The ``X-Docker-Container-Path-Stat`` value: base64 of compact JSON."""
        raw = json.dumps(self.to_json(), separators=(",", ":"), ensure_ascii=False)
        return base64.b64encode(raw.encode()).decode()


# -- the container's filesystem as cp sees it -----------------------------------------


def _track(opened: list[int], fd: int) -> int:
    opened.append(fd)
    return fd


def _close_all(fds: Sequence[int]) -> None:
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
        self._root_dev = os.fstat(self._root_fd).st_dev

    def __enter__(self) -> CopyView:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        fds, self._fds = self._fds, []
        _close_all(fds)

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
            _close_all(opened)
            raise
        keep = (found.fd, found.parent_fd)
        _close_all([fd for fd in opened if fd not in keep])
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
            _close_all(opened)

    def _open_mount(self, mount: CopyMount, opened: list[int]) -> Found:
        """The root of *mount*: its host source (a trusted path), then its subpath."""
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
        parts = deque(_components(path))
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
                found = self._open_mount(mount, opened)
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
                parts.extendleft(reversed(_components(target)))
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
            return self._open_mount(cast(CopyMount, top.mount), opened)
        parent = frames[-2]
        logical = "/" + "/".join(f.name for f in frames[1:])
        return Found(logical, os.fstat(top.fd), top.fd, parent.fd, top.name, top.mount,
                     top.host_top, top.rel)

    def resolve_link(self, path: str) -> str:
        """moby's ``FollowSymlinkInScope(path, "/")``: every symlink resolved in
        the container; what does not exist is kept as written."""
        names: list[str] = []
        missing: list[str] = []
        parts = deque(_components(path))
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
                parts.extendleft(reversed(_components(target)))
                continue
            names.append(name)
        return "/" + "/".join(names + missing)

    # -- stat -----------------------------------------------------------------------
    def stat(self, path: str) -> tuple[PathStat, Found]:
        """The stat Docker reports for *path* (already a :func:`container_path`)."""
        found = self.lookup(path, follow_last=_asserts_dir(path))
        if _asserts_dir(path) and not stat.S_ISDIR(found.st.st_mode):
            raise NotADirectoryError(errno.ENOTDIR, "not a directory", path)
        st = found.st
        target = self.resolve_link(path) if stat.S_ISLNK(st.st_mode) else ""
        return PathStat(_go_base(path), st.st_size, go_file_mode(st.st_mode), st.st_mtime_ns,
                        target), found

    # -- archive --------------------------------------------------------------------
    def write_archive(self, found: Found, name: str, out: BinaryIO) -> None:
        """Write *found* (and, for a directory, everything below it) as a tar
        whose top entry is *name* ("" for the root: entries ``/``, ``/bin``...)."""
        tar = TarWriter(out)
        links = HardLinks()
        self._write(tar, links, found, os.fsencode(name))
        tar.close()

    def _write(self, tar: TarWriter, links: HardLinks, found: Found, name: bytes) -> None:
        if not stat.S_ISDIR(found.st.st_mode):
            if found.parent_fd >= 0:
                add_entry(tar, links, WalkEntry(name, os.fsencode(found.name), found.st,
                                                found.parent_fd))
            return
        dir_fd = os.open(f"/proc/self/fd/{found.fd}", _DIR_READ)
        try:
            st = os.fstat(dir_fd)
            add_entry(tar, links, WalkEntry(name, os.fsencode(found.name), st,
                                            found.parent_fd, dir_fd))
            # below the root filesystem, other filesystems are not entered (see export)
            device = self._root_dev if found.mount is None else None
            self._write_tree(tar, links, dir_fd, found.path, name, device)
        finally:
            os.close(dir_fd)

    def _write_tree(self, tar: TarWriter, links: HardLinks, dir_fd: int, path: str,
                    name: bytes, device: int | None) -> None:
        """Everything below open directory *dir_fd* (container path *path*),
        each mount met on the way shown from its source."""
        walker = _Walker(dir_fd)
        entries = walker.entries()
        try:
            for entry in entries:
                child = posixpath.join(path, os.fsdecode(entry.path))
                renamed = name + b"/" + entry.path
                mount = self.mounts.get(child)
                if mount is not None:
                    entry.descend = False
                    opened: list[int] = []
                    try:
                        found = self._open_mount(mount, opened)
                        self._write(tar, links, found, renamed)
                    except (FileNotFoundError, NotADirectoryError):
                        pass  # a source gone meanwhile: nothing to show
                    finally:
                        _close_all(opened)
                    continue
                if entry.dir_fd is not None and device is not None \
                        and entry.st.st_dev != device:
                    entry.descend = False
                entry.path = renamed
                add_entry(tar, links, entry)
        finally:
            entries.close()
            walker.close()


# -- extraction ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ExtractTarget:
    """Where an upload goes: container directory *path*, which is *rel* below
    the host directory *host_top* (the rootfs, or a mount's source)."""

    path: str
    host_top: str
    rel: tuple[str, ...]
    #: (uid, gid) every entry gets, for copyUIDGID with a container user
    owner: tuple[int, int] | None = None


def extract_target(view: CopyView, path: str, *, readonly_rootfs: bool) -> ExtractTarget:
    """Resolve the extraction directory as Docker does: every symlink followed
    (so an upload can go "to" a symlink to a directory), then checked to be a
    directory on a writable filesystem."""
    found = view.lookup(path, follow_last=True)
    if not stat.S_ISDIR(found.st.st_mode):
        raise InvalidArgument("extraction point is not a directory")
    if found.mount is not None:
        if not found.mount.rw:
            raise InvalidArgument("mounted volume is marked read-only")
    elif readonly_rootfs:
        raise InvalidArgument("container rootfs is marked read-only")
    return ExtractTarget(found.path, found.host_top, found.rel)


class _ChunkReader(io.RawIOBase):
    """A readable binary file over an iterator of byte chunks."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        super().__init__()
        self._chunks = chunks
        self._current = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._current:
            chunk = next(self._chunks, None)
            if chunk is None:
                return 0
            self._current = memoryview(chunk)
        count = min(len(buffer), len(self._current))
        buffer[:count] = self._current[:count]
        self._current = self._current[count:]
        return count


#: PAX records the rewritten header recomputes from the member itself.
_RECOMPUTED = ("path", "linkpath", "size", "GNU.sparse.")
_OWNER_RECORDS = ("uid", "gid", "uname", "gname")


class _Rewriter:
    """Docker's checks on an uploaded tar, and its entries renamed below the target.

    The unpacker is rooted at ``target.host_top``; each entry ``x`` becomes
    ``<rel>/x``. Names that climb out of the target directory, hard links
    to outside it and relative symlinks pointing above it are refused with
    Docker's messages; with *no_overwrite* so is replacing a directory by a
    non-directory or the reverse (checked against the files already there
    and the entries met before in the same upload).
    """

    def __init__(self, target: ExtractTarget, no_overwrite: bool) -> None:
        self.target = target
        self.no_overwrite = no_overwrite
        self.seen: dict[str, bool] = {}

    def _relative(self, path: str) -> str:
        """Container path *path* (inside the target) below the unpacker's root."""
        below = path[len(self.target.path):].strip("/") if self.target.path != "/" \
            else path.strip("/")
        return "/".join([*self.target.rel, *([below] if below else [])]) or "."

    def _existing_is_dir(self, check: CopyView, rel: str) -> bool | None:
        if rel in self.seen:
            return self.seen[rel]
        try:
            st, _ = check.probe(rel)
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                return None
            raise
        return stat.S_ISDIR(st.st_mode)

    def _check_entry(self, member: tarfile.TarInfo, path: str, rel: str,
                     check: CopyView) -> None:
        dest = self.target.path
        if member.islnk():
            link = posixpath.normpath(dest + "/" + member.linkname)
            if not _inside(link, dest):
                raise InternalError(f'invalid hardlink "{link}" -> "{member.linkname}"')
        elif member.issym():
            link = posixpath.normpath(posixpath.dirname(path) + "/" + member.linkname)
            if not member.linkname.startswith("/") and not _inside(link, dest):
                raise InternalError(f'invalid symlink "{path}" -> "{member.linkname}"')
        if self.no_overwrite:
            existing = self._existing_is_dir(check, rel)
            if existing is True and not member.isdir():
                raise InternalError(
                    f'cannot overwrite directory "{path}" with non-directory "{dest}"')
            if existing is False and member.isdir():
                raise InternalError(
                    f'cannot overwrite non-directory "{path}" with directory "{dest}"')

    def chunks(self, source: BinaryIO) -> Iterator[bytes]:
        """The rewritten tar, read from (possibly compressed) *source*."""
        buffered = io.BufferedReader(cast(io.RawIOBase, source), _CHUNK)
        if not buffered.peek(1):
            return  # an empty upload extracts nothing, as in Docker
        owner = self.target.owner
        try:
            with tarfile.open(fileobj=buffered, mode="r|*", encoding="utf-8",
                              errors="surrogateescape") as tf, \
                    CopyView(Path(self.target.host_top)) as check:
                for member in tf:
                    name = posixpath.normpath(member.name or ".")
                    path = posixpath.normpath(self.target.path + "/" + name)
                    if not _inside(path, self.target.path) or name == "..":
                        raise InternalError(f'"{name}" is outside of "{self.target.path}"')
                    rel = self._relative(path)
                    self._check_entry(member, path, rel, check)
                    if name == "." and member.isdir():
                        continue  # as moby: the target's own metadata is left alone
                    self.seen[rel] = member.isdir()
                    if member.islnk():
                        member.linkname = self._relative(
                            posixpath.normpath(self.target.path + "/" + member.linkname))
                    member.name = rel
                    drop = _RECOMPUTED + (_OWNER_RECORDS if owner is not None else ())
                    member.pax_headers = {k: v for k, v in member.pax_headers.items()
                                          if not k.startswith(drop)}
                    if owner is not None:
                        member.uid, member.gid = owner
                        member.uname = member.gname = ""
                    if member.type == tarfile.GNUTYPE_SPARSE:
                        member.type = tarfile.REGTYPE
                    member.sparse = None
                    yield member.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")
                    if member.isreg() and member.size:
                        yield from _member_data(tf, member)
        except tarfile.TarError as exc:
            raise InvalidArgument(f"Error processing tar file: {exc}") from None
        yield b"\0" * (2 * _BLOCK)


def _member_data(tf: tarfile.TarFile, member: tarfile.TarInfo) -> Iterator[bytes]:
    data = tf.extractfile(member)
    if data is None:
        raise InvalidArgument(f"Error processing tar file: no data for {member.name!r}")
    remaining = member.size
    while remaining:
        chunk = data.read(min(_CHUNK, remaining))
        if not chunk:
            raise InvalidArgument("Error processing tar file: unexpected EOF")
        remaining -= len(chunk)
        yield chunk
    yield b"\0" * (-member.size % _BLOCK)


def extract_archive(target: ExtractTarget, source: BinaryIO, *, no_overwrite: bool) -> None:
    """Unpack the tar *source* into *target*, chroot'ed at its filesystem's top."""
    rewriter = _Rewriter(target, no_overwrite)
    reader = _ChunkReader(rewriter.chunks(source))
    try:
        extract_layer(cast(BinaryIO, reader), Path(target.host_top), whiteouts=False)
    except InvalidArgument as exc:
        prefix = "invalid layer archive: "
        message = exc.message.removeprefix(prefix)
        raise InvalidArgument(f"Error processing tar file: {message}") from None


# -- the service ---------------------------------------------------------------------------


class ArchiveStream:
    """A path's tar being streamed; :meth:`aclose` releases what it holds,
    whether or not it was read."""

    def __init__(self, stat_: PathStat, chunks: AsyncIterator[bytes],
                 release: Callable[[], Awaitable[None]]) -> None:
        self.stat = stat_
        self._chunks = chunks
        self._release: Callable[[], Awaitable[None]] | None = release

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._chunks

    async def aclose(self) -> None:
        try:
            close: Callable[[], Awaitable[None]] | None = getattr(self._chunks, "aclose", None)
            if close is not None:
                await close()
        finally:
            release, self._release = self._release, None
            if release is not None:
                await release()


def _os_failure(exc: OSError, path: str, container: str) -> KetchError:
    """Docker's answer for a failed lookup of *path* (as the client gave it)."""
    if isinstance(exc, FileNotFoundError):
        return NotFound(f"Could not find the file {path} in container {container}")
    if isinstance(exc, NotADirectoryError):
        return InternalError(f"lstat {container_path(path)}: not a directory")
    return InternalError(f"lstat {container_path(path)}: {(exc.strerror or str(exc)).lower()}")


class ContainerArchive:
    """stat, archive and extract of paths in containers (running or not).

    A stopped container's overlay is mounted for the operation and
    unmounted after it, counted with exports (:class:`ContainerFiles`), so
    concurrent users never unmount under each other.
    """

    def __init__(self, files: ContainerFiles) -> None:
        self.files = files
        self.containers = files.containers

    @staticmethod
    def _check_path(path: str) -> None:
        if not path:
            raise InvalidArgument("bad parameter: path cannot be empty")

    async def _open(self, ref: str) -> tuple[Container, CopyView]:
        container = self.files._get(ref)
        rootfs = self.files._rootfs()
        merged = await self.files._hold_mount(rootfs, container)
        try:
            view = await asyncio.to_thread(lambda: CopyView(merged, copy_mounts(container)))
        except BaseException:
            await self.files._release_mount(rootfs, container.id)
            raise
        return container, view

    async def _close(self, container: Container, view: CopyView) -> None:
        try:
            await asyncio.to_thread(view.close)
        finally:
            await self.files._release_mount(self.files._rootfs(), container.id)

    async def stat(self, ref: str, path: str) -> PathStat:
        """``HEAD /containers/{id}/archive?path=``."""
        self._check_path(path)
        container, view = await self._open(ref)
        try:
            try:
                path_stat, _ = await asyncio.to_thread(view.stat, container_path(path))
            except OSError as exc:
                raise _os_failure(exc, path, ref) from None
            return path_stat
        finally:
            await self._close(container, view)

    async def archive(self, ref: str, path: str) -> ArchiveStream:
        """``GET /containers/{id}/archive?path=``: the stat and the tar stream.

        Lookup errors are raised here, before any byte; close the stream
        (``aclose``) when done, read or not.
        """
        self._check_path(path)
        container, view = await self._open(ref)
        try:
            absolute = container_path(path)
            try:
                path_stat, found = await asyncio.to_thread(view.stat, absolute)
            except OSError as exc:
                raise _os_failure(exc, path, ref) from None
            name = "" if absolute == "/" else _go_base(absolute)

            def produce(out: BinaryIO) -> None:
                view.write_archive(found, name, out)

            chunks = stream_from_thread(produce)
        except BaseException:
            await self._close(container, view)
            raise
        self.containers.emit(container, "archive-path")
        return ArchiveStream(path_stat, chunks, lambda: self._close(container, view))

    async def extract(self, ref: str, path: str, body: AsyncIterator[bytes], *,
                      no_overwrite_dir_non_dir: bool, copy_uid_gid: bool) -> None:
        """``PUT /containers/{id}/archive?path=``: unpack the tar in *body* into
        directory *path*. Errors about the target come before the body is read."""
        self._check_path(path)
        container, view = await self._open(ref)
        try:
            try:
                target = await asyncio.to_thread(
                    extract_target, view, container_path(path),
                    readonly_rootfs=container.host_config.readonly_rootfs)
            except OSError as exc:
                raise _os_failure(exc, path, ref) from None
            if copy_uid_gid and container.config.user:
                user = await asyncio.to_thread(resolve_user, view.root, container.config.user)
                target = ExtractTarget(target.path, target.host_top, target.rel,
                                       (user.uid, user.gid))
            await _feed_extraction(target, body, no_overwrite_dir_non_dir)
        finally:
            await self._close(container, view)
        self.containers.emit(container, "extract-to-dir")


async def _feed_extraction(target: ExtractTarget, body: AsyncIterator[bytes],
                           no_overwrite: bool) -> None:
    """Pipe *body* into :func:`extract_archive` running in a worker thread."""
    pipe = AsyncPipe(asyncio.get_running_loop())

    def work() -> None:
        with pipe:
            extract_archive(target, cast(BinaryIO, pipe), no_overwrite=no_overwrite)

    extracting = asyncio.ensure_future(asyncio.to_thread(work))
    try:
        try:
            async for chunk in body:
                await pipe.write_async(chunk)
        except BrokenPipeError:
            pass  # the extraction stopped reading: its own error says why
        except BaseException as exc:
            await pipe.fail(exc if isinstance(exc, Exception) else BrokenPipeError())
            raise
        else:
            await pipe.finish()
        await asyncio.shield(extracting)
    finally:
        if not extracting.done():
            pipe.close()
            with contextlib.suppress(BaseException):
                await extracting


__all__ = [
    "STAT_HEADER",
    "ArchiveStream",
    "ContainerArchive",
    "CopyMount",
    "CopyView",
    "ExtractTarget",
    "PathStat",
    "container_path",
    "copy_mounts",
    "extract_archive",
    "extract_target",
    "go_file_mode",
]
