"""The tar of what a COPY or ADD puts into the image, laid out by Docker's rules.

The builder writes into a container's root filesystem only through the
chroot'ed extractor, so a COPY is turned into a tar whose entry names are
paths from the container root (``app/x.py``) plus a short list of
directories to create first (:class:`MkdirSpec`). The rules are those of
Docker 20.10's classic builder (``builder/dockerfile/copy.go``,
``copy_unix.go``, ``pkg/archive``), checked against it:

- a directory source copies its contents, not itself; the destination
  directory is created (0755) if missing, its own metadata untouched if
  it exists;
- a file source goes to ``dest/<name>`` if the destination ends with ``/``
  or is an existing directory, otherwise it becomes ``dest`` itself;
- ownership: ``chown=(uid, gid)`` for every entry (Docker's default for
  COPY/ADD is 0:0), or ``chown=None`` to keep the source's owners (COPY
  ``--from`` without ``--chown``). Docker changes owners after writing,
  and ``chown(2)`` clears set-user-ID (and group-executable set-group-ID)
  bits of non-directories, so we clear them too when an owner is applied;
- modes, sizes, link targets, devices and mtimes (whole seconds) are
  kept; hard links among one source's files stay hard links; sockets are
  skipped;
- ``chmod`` (BuildKit's ``--chmod``, refused by Docker's classic builder)
  sets the mode of every entry but symlinks;
- missing parents of a copied file are created 0755 and owned like the
  file; missing parents of a copied directory's destination 0755 root,
  the destination itself 0755 with the copy's owner;
- ADD of a local tar (plain, gzip, bzip2, xz) unpacks it into the
  destination directory with the archive's own owners and modes; entries
  that would land outside it are refused.
"""

from __future__ import annotations

import errno
import os
import posixpath
import stat
import tarfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, BinaryIO

from ketch.build.copy_scope import ScopeError, Tree, lexical_rel
from ketch.build.copy_walk import Entry, walk_source
from ketch.build.copysource import CopySource, is_archive, open_archive
from ketch.build.dockerignore import go_clean
from ketch.errors import InvalidArgument

#: Mode of every directory a copy creates (Docker's MkdirAll 0755).
DIR_MODE = 0o755


@dataclass(frozen=True, slots=True)
class MkdirSpec:
    """A directory that must exist before the tar is extracted.

    Create it and any missing parent with ``mode``, ``uid``, ``gid``, and
    leave every component that already exists as it is (owner, mode and
    time): ``ketch.containers.rootfs.mkdir_in_root`` does exactly that.
    """

    path: str
    mode: int
    uid: int
    gid: int


@dataclass(frozen=True, slots=True)
class CopyStats:
    """What :func:`write_copy_tar` wrote: entry count, file bytes, dirs to create first."""

    entries: int
    size: int
    mkdirs: tuple[MkdirSpec, ...]


@dataclass(frozen=True, slots=True)
class Destination:
    """A COPY destination after symlinks in the target filesystem are followed.

    ``path`` is absolute and resolved (no symlink in it), ``is_dir`` says
    whether a directory exists there, ``slash`` whether the instruction's
    destination ended with ``/``.
    """

    path: str
    is_dir: bool = False
    slash: bool = False

    @classmethod
    def unresolved(cls, dest: str) -> Destination:
        """A destination taken as written, for a target with nothing at it yet."""
        return cls(path=go_clean("/" + dest), is_dir=False, slash=dest.endswith("/"))

    @property
    def rel(self) -> str:
        """The path without its leading ``/`` (``""`` for the root)."""
        return go_clean(self.path).lstrip("/")

    @property
    def into_dir(self) -> bool:
        """Whether a single file lands inside (``dest/name``) rather than at ``dest``."""
        return self.slash or self.is_dir or self.rel == ""


def resolve_destination(rootfs: Path, dest: str) -> Destination:
    """Resolve absolute *dest* inside the target root filesystem *rootfs*.

    Symlinks already in the image are followed as Docker does (scoped to
    the rootfs: ``COPY x /link/`` with ``link -> /data`` writes into
    ``/data``). *dest* is absolute (the caller applies WORKDIR) and keeps
    its trailing ``/``.
    """
    if not dest.startswith("/"):
        raise InvalidArgument(f"destination {dest!r} is not an absolute path")
    with Tree(rootfs) as tree:
        try:
            found = tree.resolve(dest)
        except ScopeError as e:
            raise InvalidArgument(f"failed to copy files: {dest}: {e.detail}") from None
    return Destination(path="/" + found.rel, is_dir=found.is_dir, slash=dest.endswith("/"))


def _join(*parts: str) -> str:
    return "/".join(p for p in parts if p)


class _Writer:
    """Writes entries to the output tar, keeping count and hard-link memory."""

    def __init__(self, out: BinaryIO, chown: tuple[int, int] | None, chmod: int | None) -> None:
        self.tar = tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT,
                                encoding="utf-8", errors="surrogateescape")
        self.chown = chown
        self.chmod = chmod
        self.entries = 0
        self.size = 0
        self.links: dict[tuple[int, int], str] = {}

    def close(self) -> None:
        self.tar.close()

    def header(self, name: str, entry: Entry) -> tarfile.TarInfo:
        st = entry.st
        info = tarfile.TarInfo(name)
        info.mtime = st.st_mtime_ns // 1_000_000_000
        mode = stat.S_IMODE(st.st_mode)
        kind = stat.S_IFMT(st.st_mode)
        if self.chown is not None:
            info.uid, info.gid = self.chown
            if kind not in (stat.S_IFDIR, stat.S_IFLNK):
                # What chown(2) does to the file Docker has just written.
                mode &= ~stat.S_ISUID
                if mode & stat.S_IXGRP:
                    mode &= ~stat.S_ISGID
        else:
            info.uid, info.gid = st.st_uid, st.st_gid
        if self.chmod is not None and kind != stat.S_IFLNK:
            mode = self.chmod & 0o7777
        info.mode = mode
        if kind == stat.S_IFDIR:
            info.type = tarfile.DIRTYPE
        elif kind == stat.S_IFLNK:
            info.type = tarfile.SYMTYPE
            info.linkname = entry.linkname
        elif kind == stat.S_IFIFO:
            info.type = tarfile.FIFOTYPE
        elif kind in (stat.S_IFCHR, stat.S_IFBLK):
            info.type = tarfile.CHRTYPE if kind == stat.S_IFCHR else tarfile.BLKTYPE
            info.devmajor, info.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
        else:
            info.type = tarfile.REGTYPE
            info.size = st.st_size
        if kind != stat.S_IFDIR and st.st_nlink > 1:
            key = (st.st_dev, st.st_ino)
            first = self.links.get(key)
            if first is None:
                self.links[key] = name
            else:
                info.type, info.linkname, info.size = tarfile.LNKTYPE, first, 0
        return info

    def add(self, name: str, entry: Entry) -> None:
        info = self.header(name, entry)
        self.entries += 1
        if info.type != tarfile.REGTYPE:
            self.tar.addfile(info)
            return
        self.size += info.size
        with entry.open() as f:
            try:
                self.tar.addfile(info, f)
            except OSError as e:
                if "unexpected end of data" in str(e):
                    raise OSError(errno.ESTALE, f"{name} shrank while being copied") from None
                raise

    def add_member(self, info: tarfile.TarInfo, data: IO[bytes] | None) -> None:
        self.entries += 1
        if info.isreg():
            self.size += info.size
        self.tar.addfile(info, data)


def _copy_dir(writer: _Writer, tree: Tree, source: CopySource, dest: Destination,
              mkdirs: list[MkdirSpec]) -> None:
    owner = writer.chown or (0, 0)
    if dest.rel:
        parent = posixpath.dirname(dest.rel)
        if parent:
            mkdirs.append(MkdirSpec("/" + parent, DIR_MODE, 0, 0))
        mkdirs.append(MkdirSpec(dest.path, DIR_MODE, *owner))
    for entry in walk_source(tree, source.resolved):
        if entry.rel:
            writer.add(_join(dest.rel, entry.rel), entry)


def _copy_file(writer: _Writer, tree: Tree, source: CopySource, dest: Destination,
               mkdirs: list[MkdirSpec], cmd: str) -> None:
    target = _join(dest.rel, source.name) if dest.into_dir else dest.rel
    parent = posixpath.dirname(target)
    if parent:
        owner = writer.chown or (0, 0)
        mkdirs.append(MkdirSpec("/" + parent, DIR_MODE, *owner))
    walker = walk_source(tree, source.resolved)
    try:
        entry = next(walker, None)
        if entry is None:
            raise InvalidArgument(
                f"{cmd} failed: failed to copy files: archive/tar: sockets not supported")
        writer.add(target, entry)
    finally:
        walker.close()


def _outside(name: str, dest: Destination) -> InvalidArgument:
    return InvalidArgument(f"failed to copy files: {name!r} is outside of {dest.path!r}")


def _unpack_archive(writer: _Writer, source: CopySource, dest: Destination,
                    mkdirs: list[MkdirSpec]) -> None:
    """Re-emit the archive's entries below ``dest`` (Docker's Untar into dest)."""
    if dest.rel:
        mkdirs.append(MkdirSpec(dest.path, DIR_MODE, 0, 0))
    with open_archive(source) as stream:
        try:
            with tarfile.open(fileobj=stream, mode="r|", encoding="utf-8",
                              errors="surrogateescape") as archive:
                for member in archive:
                    _unpack_member(writer, archive, member, dest)
        except tarfile.TarError as e:
            raise InvalidArgument(f"failed to copy files: {source.path}: {e}") from None


def _unpack_member(writer: _Writer, archive: tarfile.TarFile, member: tarfile.TarInfo,
                   dest: Destination) -> None:
    # Docker cleans the name before joining it to the destination, so a
    # leading "/.." is clamped while "../" is refused.
    rel = lexical_rel(go_clean(member.name))
    if rel is None:
        raise _outside(member.name, dest)
    if rel == "":
        return  # the destination itself: Docker keeps the existing directory
    info = tarfile.TarInfo(_join(dest.rel, rel))
    info.type = member.type
    info.mode, info.uid, info.gid = member.mode, member.uid, member.gid
    info.mtime = int(member.mtime)
    info.size = member.size if member.isreg() else 0
    info.devmajor, info.devminor = member.devmajor, member.devminor
    data = None
    if member.islnk():
        target = lexical_rel(member.linkname)
        if not target:
            raise InvalidArgument(
                f"failed to copy files: invalid hardlink {member.name!r} -> {member.linkname!r}")
        info.linkname = _join(dest.rel, target)
    elif member.issym():
        seen_from = posixpath.dirname(rel)
        if not member.linkname.startswith("/") and lexical_rel(
                _join(seen_from, member.linkname)) is None:
            raise InvalidArgument(
                f"failed to copy files: invalid symlink {member.name!r} -> {member.linkname!r}")
        info.linkname = member.linkname
    elif member.isreg():
        data = archive.extractfile(member)
    elif not (member.isdir() or member.isfifo() or member.ischr() or member.isblk()):
        return  # nothing Docker would create either
    writer.add_member(info, data)


def write_copy_tar(
    sources: Sequence[CopySource],
    dest: Destination | str,
    *,
    chown: tuple[int, int] | None,
    out: BinaryIO,
    chmod: int | None = None,
    extract_archives: bool = False,
    cmd: str = "COPY",
) -> CopyStats:
    """Write to *out* the tar of what copying *sources* to *dest* produces.

    *dest* is a :class:`Destination` from :func:`resolve_destination` (a
    plain string is taken as an unresolved absolute path with nothing at
    it). *chown* is the owner every entry gets, None to keep the sources'
    owners. *extract_archives* is true for ADD: local tar archives are
    unpacked into *dest*. Entries are named from the container root
    without a leading ``/``. The returned :attr:`CopyStats.mkdirs` must be
    created (only where missing) before the tar is extracted.

    Sources are written in order, so a later one overwrites an earlier one
    as it does in Docker. Raises InvalidArgument for what Docker refuses
    (a socket as a source, an archive entry outside the destination) and
    OSError if a source changes under us.
    """
    if isinstance(dest, str):
        dest = Destination.unresolved(dest)
    mkdirs: list[MkdirSpec] = []
    writer = _Writer(out, chown, chmod)
    try:
        for source in sources:
            if extract_archives and is_archive(source):
                _unpack_archive(writer, source, dest, mkdirs)
                writer.links.clear()
                continue
            with Tree(source.root) as tree:
                if source.is_dir:
                    _copy_dir(writer, tree, source, dest, mkdirs)
                else:
                    _copy_file(writer, tree, source, dest, mkdirs, cmd)
            # Docker writes one tar per source: no hard link crosses sources.
            writer.links.clear()
    finally:
        writer.close()
    return CopyStats(entries=writer.entries, size=writer.size, mkdirs=_dedupe(mkdirs))


def _dedupe(specs: list[MkdirSpec]) -> tuple[MkdirSpec, ...]:
    """Drop repeats: the first spec for a path wins, as the first copy creates it."""
    seen: set[str] = set()
    result: list[MkdirSpec] = []
    for spec in specs:
        if spec.path not in seen:
            seen.add(spec.path)
            result.append(spec)
    return tuple(result)


__all__ = [
    "DIR_MODE",
    "CopyStats",
    "Destination",
    "MkdirSpec",
    "resolve_destination",
    "write_copy_tar",
]
