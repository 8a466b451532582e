"""What a container changed: its overlay upper dir as a layer tar or a change list.

A container's root filesystem is an overlay: the image's layers as lower
dirs (top first), the container's own changes in the upper dir. There,
overlayfs marks a deleted name with a whiteout (a 0/0 character device)
and a directory whose lower contents are hidden (rm -rf then mkdir) with
the ``trusted.overlay.opaque=y`` xattr. Image layers say the same with
``.wh.<name>`` and ``.wh..wh..opq`` entries, so:

* :func:`write_layer_tar` (``docker commit``, the builder's layer commits)
  writes the upper dir as it is, converting those two markers, exactly as
  Docker's overlay2 driver does with its native diff; the header
  conventions are those of :mod:`ketch.layers.export`;
* :func:`changes` (``GET /containers/{id}/changes``) reports what Docker
  20.10 reports: it compares the container's merged view with the image's
  (its overlay2 driver walks both mounted trees), reduced here to a walk
  of the upper dir plus lookups in the lower dirs, which is equivalent
  because nothing outside the upper dir differs.

Unsupported overlay features. With ``redirect_dir`` on, renaming a lower
directory leaves a ``trusted.overlay.redirect`` xattr instead of copying
it, and with ``metacopy`` on, a chmod copies up metadata only: in both
cases the upper dir no longer holds the data a layer needs (Docker falls
back to comparing mounted trees). ketch turns ``metacopy`` and ``index``
off when the kernel defaults them on (``containers.rootfs``); both
functions raise InternalError if they meet either xattr rather than write
a wrong layer.

Engine-made files. ketch creates the mount targets it needs (/etc/hosts,
/etc/hostname, /etc/resolv.conf, /proc, /sys, /dev) in the upper dir
when the image lacks them, where Docker keeps them in a per-container
"init" layer below the container's. Pass them as *exclude*: they and the
directories created or copied up only to hold them are then left out, as
Docker leaves its init layer out of diffs and commits.

Everything here blocks; run it in a worker thread.
"""

from __future__ import annotations

import errno
import os
import posixpath
import stat
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from ketch.errors import InternalError, InvalidArgument
from ketch.layers.export import (
    CAPABILITY_XATTR,
    REGTYPE,
    HardLinks,
    TarHeader,
    TarWriter,
    WalkEntry,
    add_entry,
    capability_for_tar,
    header_from_stat,
    walk_tree,
)

#: ``Kind`` values of the Engine API's ``GET /containers/{id}/changes``.
CHANGE_MODIFY = 0
CHANGE_ADD = 1
CHANGE_DELETE = 2

OPAQUE_XATTR = "trusted.overlay.opaque"
REDIRECT_XATTR = "trusted.overlay.redirect"
METACOPY_XATTR = "trusted.overlay.metacopy"
WHITEOUT_PREFIX = b".wh."
OPAQUE_MARKER = b".wh..wh..opq"

_WANTED = frozenset({OPAQUE_XATTR, REDIRECT_XATTR, METACOPY_XATTR, CAPABILITY_XATTR})
_GONE = (errno.ENOENT, errno.ENOTDIR, errno.ELOOP)


@dataclass(frozen=True, slots=True)
class Change:
    """One line of ``docker diff``: an absolute path and CHANGE_* kind.

    Names that are not UTF-8 keep their bytes as surrogate escapes
    (``os.fsdecode``); the API encodes them as Go would (U+FFFD).
    """

    path: str
    kind: int

    @property
    def letter(self) -> str:
        """``C``, ``A`` or ``D``, as the docker CLI prints it."""
        return "CAD"[self.kind]


@dataclass(frozen=True, slots=True)
class LayerDiff:
    """What :func:`write_layer_tar` wrote.

    ``diff_id`` is the ``sha256:`` digest of the tar bytes, ``size`` the sum
    of the sizes of the regular files in it (each inode once: Docker's layer
    size) and ``empty`` true when the tar has no entry at all, so that the
    caller can skip storing a layer (Docker's "empty layer").
    """

    diff_id: str
    size: int
    empty: bool
    entries: int


# -- helpers -----------------------------------------------------------------------


def _is_whiteout(st: os.stat_result) -> bool:
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def _read_xattrs(target: int | str) -> dict[str, bytes]:
    """The xattrs among _WANTED of an open fd or a ``/proc/self/fd`` path."""
    try:
        names = os.listxattr(target)
    except OSError as e:
        if e.errno == errno.ENOTSUP:
            return {}
        raise
    found: dict[str, bytes] = {}
    for name in names:
        if name in _WANTED:
            try:
                found[name] = os.getxattr(target, name)
            except OSError as e:
                if e.errno != errno.ENODATA:
                    raise
    return found


def _entry_xattrs(entry: WalkEntry) -> dict[str, bytes] | None:
    """The wanted xattrs of a directory or regular file; None if it vanished.

    A regular file is opened ``O_PATH`` only (its data is not needed) and
    read through ``/proc/self/fd``, so a device swapped in is never opened.
    """
    if entry.dir_fd is not None:
        return _read_xattrs(entry.dir_fd)
    if not stat.S_ISREG(entry.st.st_mode):
        return {}
    try:
        fd = os.open(entry.name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC,
                     dir_fd=entry.parent_fd)
    except OSError as e:
        if e.errno in _GONE:
            return None
        raise
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        return _read_xattrs(f"/proc/self/fd/{fd}")
    finally:
        os.close(fd)


def _refuse_unsupported(path: bytes, xattrs: dict[str, bytes]) -> None:
    """InternalError if the upper dir uses redirects or metacopy (see module doc)."""
    for attr, option in ((REDIRECT_XATTR, "redirect_dir"), (METACOPY_XATTR, "metacopy")):
        if attr in xattrs:
            raise InternalError(
                f"cannot diff the container's filesystem: /{os.fsdecode(path)} carries "
                f"{attr}; its overlay must be mounted with {option}=off"
            )


def _is_opaque(xattrs: dict[str, bytes]) -> bool:
    return xattrs.get(OPAQUE_XATTR) == b"y"


def _tar_xattrs(xattrs: dict[str, bytes]) -> dict[str, bytes]:
    cap = xattrs.get(CAPABILITY_XATTR)
    return {CAPABILITY_XATTR: capability_for_tar(cap)} if cap is not None else {}


@dataclass(frozen=True, slots=True)
class _Exclusions:
    """Engine-made paths (relative bytes) and the directories leading to them."""

    leaves: frozenset[bytes]
    ancestors: frozenset[bytes]

    @classmethod
    def parse(cls, paths: Collection[str]) -> _Exclusions:
        leaves: set[bytes] = set()
        ancestors: set[bytes] = set()
        for path in paths:
            rel = posixpath.normpath(os.fsencode(path).lstrip(b"/") or b".")
            if rel in (b".", b"..") or rel.startswith(b"../"):
                raise InvalidArgument(f"invalid excluded path {path!r}")
            leaves.add(rel)
            head = posixpath.dirname(rel)
            while head:
                ancestors.add(head)
                head = posixpath.dirname(head)
        return cls(frozenset(leaves), frozenset(ancestors - leaves))


# -- the image's view (the lower dirs merged) --------------------------------------


@dataclass(frozen=True, slots=True)
class _LowerNode:
    """An entry of the merged lower dirs.

    ``st`` and ``path`` are the topmost layer's entry (None for the root),
    ``dirs`` the layer directories merged into it, top first (empty for a
    non-directory, and for a directory that no layer provides).
    """

    st: os.stat_result | None
    path: bytes
    dirs: tuple[bytes, ...] = field(default=())

    def capability(self) -> bytes | None:
        if self.st is None or not (stat.S_ISREG(self.st.st_mode) or stat.S_ISDIR(self.st.st_mode)):
            return None
        try:
            return os.getxattr(self.path, CAPABILITY_XATTR, follow_symlinks=False)
        except OSError as e:
            if e.errno in (errno.ENODATA, errno.ENOTSUP):
                return None
            raise


def _lower_opaque(path: bytes) -> bool:
    try:
        return os.getxattr(path, OPAQUE_XATTR, follow_symlinks=False) == b"y"
    except OSError as e:
        if e.errno in (errno.ENODATA, errno.ENOTSUP):
            return False
        raise


class _LowerView:
    """Looks names up in the lower dirs with overlayfs's rules.

    The topmost entry of a name decides; a directory merges with the same
    directory in the layers below until one is opaque, or a layer has a
    whiteout or a non-directory there. Lower dirs are snapshots nobody
    writes once created, and the walk only steps into names this view saw
    as real directories, so plain paths are safe here.
    """

    def __init__(self, lowers: Sequence[Path]) -> None:
        self.root = _LowerNode(None, b"", tuple(os.fsencode(p) for p in lowers))

    def child(self, node: _LowerNode, name: bytes) -> _LowerNode | None:
        first: os.stat_result | None = None
        first_path = b""
        dirs: list[bytes] = []
        for layer_dir in node.dirs:
            path = layer_dir + b"/" + name
            try:
                st = os.lstat(path)
            except OSError as e:
                if e.errno in _GONE:
                    continue
                raise
            if _is_whiteout(st):
                break
            if first is None:
                first, first_path = st, path
            if not stat.S_ISDIR(st.st_mode):
                break  # a file on top ends the lookup; one below a dir is hidden
            dirs.append(path)
            if _lower_opaque(path):
                break
        if first is None:
            return None
        return _LowerNode(first, first_path, tuple(dirs) if stat.S_ISDIR(first.st_mode) else ())

    def children(self, node: _LowerNode) -> dict[bytes, _LowerNode]:
        names: set[bytes] = set()
        for layer_dir in node.dirs:
            names.update(os.listdir(layer_dir))
        found: dict[bytes, _LowerNode] = {}
        for name in sorted(names):
            child = self.child(node, name)
            if child is not None:
                found[name] = child
        return found

    def lookup(self, path: bytes) -> _LowerNode | None:
        node: _LowerNode | None = self.root
        for name in path.split(b"/"):
            if node is None:
                return None
            node = self.child(node, name)
        return node


# -- the layer tar -----------------------------------------------------------------


@dataclass(slots=True)
class _Deferred:
    """A directory on the way to an excluded path, written only if needed."""

    path: bytes
    header: TarHeader
    st: os.stat_result
    written: bool = False


class _LayerWriter:
    """The state of one :func:`write_layer_tar` run."""

    def __init__(self, out: BinaryIO, exclude: _Exclusions, view: _LowerView | None,
                 snapshot: bool = False) -> None:
        self.tar = TarWriter(out)
        self.links = HardLinks()
        self.exclude = exclude
        self.view = view
        self.deferred: list[_Deferred] = []
        self.snapshot = snapshot
        #: whole-second times given to the directories met so far (snapshot mode)
        self.dir_times: dict[bytes, int] = {}

    def settle_times(self, entry: WalkEntry) -> None:
        """Give *entry* the times unpacking its tar entry gives: atime = mtime, whole seconds.

        Only entries that differ are touched (extracted files already match).
        A socket, which no tar holds, is removed, and its directory's time
        put back.
        """
        st = entry.st
        if stat.S_ISSOCK(st.st_mode):
            os.unlink(entry.name, dir_fd=entry.parent_fd)
            parent = entry.path.rpartition(b"/")[0]
            if parent in self.dir_times:
                stamp = self.dir_times[parent]
                os.utime(entry.parent_fd, ns=(stamp, stamp))
            return
        stamp = st.st_mtime_ns - st.st_mtime_ns % 1_000_000_000
        if entry.dir_fd is not None:
            self.dir_times[entry.path] = stamp
        if st.st_mtime_ns != stamp or st.st_atime_ns != stamp:
            os.utime(entry.name, ns=(stamp, stamp), dir_fd=entry.parent_fd,
                     follow_symlinks=False)

    def write_deferred(self) -> None:
        """Write the pending parent directories of the entry about to be written."""
        for pending in self.deferred:
            if not pending.written:
                self.tar.add(pending.header)
                pending.written = True

    def settle(self, path: bytes | None) -> None:
        """Close the deferred directories that *path* (None: the end) is not inside."""
        while self.deferred and (path is None
                                 or not path.startswith(self.deferred[-1].path + b"/")):
            pending = self.deferred[-1]
            if not pending.written and self._must_keep(pending):
                self.write_deferred()
            self.deferred.pop()

    def _must_keep(self, pending: _Deferred) -> bool:
        """Whether a directory holding only engine-made files still belongs in the layer.

        Only if the container changed the directory itself: its mode or
        owner differ from the image's (or, where the image has none, from
        the 0755 root-owned directory the engine makes). Without the lower
        dirs nothing can be compared, and the directory is kept.
        """
        if self.view is None:
            return True
        st = pending.st
        node = self.view.lookup(pending.path)
        if node is None or node.st is None:
            return (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) != (0o755, 0, 0)
        old = node.st
        return (old.st_mode, old.st_uid, old.st_gid) != (st.st_mode, st.st_uid, st.st_gid)

    def add(self, entry: WalkEntry) -> None:
        self.write_entry(entry)
        if self.snapshot:  # after: reading a file's data would move its atime again
            self.settle_times(entry)

    def write_entry(self, entry: WalkEntry) -> None:
        self.settle(entry.path)
        if entry.path in self.exclude.leaves:
            entry.descend = False
            return
        st = entry.st
        if _is_whiteout(st):
            parent, _, name = entry.path.rpartition(b"/")
            whiteout = WHITEOUT_PREFIX + name
            header = TarHeader(
                name=parent + b"/" + whiteout if parent else whiteout, kind=REGTYPE,
                mode=0o600, uid=st.st_uid, gid=st.st_gid, mtime=st.st_mtime_ns // 1_000_000_000,
            )
            self.write_deferred()
            self.tar.add(header)
            return
        if entry.dir_fd is None:
            if stat.S_ISSOCK(st.st_mode):
                return  # tar cannot hold it; not worth writing its directories for

            def xattrs_for(fd: int) -> dict[str, bytes]:
                xattrs = _read_xattrs(fd)
                _refuse_unsupported(entry.path, xattrs)
                return _tar_xattrs(xattrs)

            self.write_deferred()
            add_entry(self.tar, self.links, entry, xattrs_for)
            return
        xattrs = _read_xattrs(entry.dir_fd)
        _refuse_unsupported(entry.path, xattrs)
        header = header_from_stat(entry.path, st)
        header.xattrs = _tar_xattrs(xattrs)
        opaque = _is_opaque(xattrs)
        if entry.path in self.exclude.ancestors and not opaque:
            self.deferred.append(_Deferred(entry.path, header, st))
            return
        self.write_deferred()
        self.tar.add(header)
        if opaque:
            self.tar.add(TarHeader(
                name=entry.path + b"/" + OPAQUE_MARKER, kind=REGTYPE,
                mode=stat.S_IMODE(st.st_mode) & 0o777, uid=st.st_uid, gid=st.st_gid,
            ))

    def finish(self) -> LayerDiff:
        self.settle(None)
        digest = self.tar.close()
        return LayerDiff(diff_id=digest, size=self.tar.data_size, empty=self.tar.entries == 0,
                         entries=self.tar.entries)


def write_layer_tar(upper: Path, out: BinaryIO, *, exclude: Collection[str] = (),
                    lowers: Sequence[Path] = (), snapshot: bool = False) -> LayerDiff:
    """Write the overlay upper dir *upper* to *out* as an image layer tar.

    Entries come in Docker's order (pre-order, names sorted bytewise); a
    whiteout becomes an empty ``<dir>/.wh.<name>`` file (mode 0600, owner
    of the whiteout) placed where the deleted name sorts; an opaque
    directory is followed by ``<dir>/.wh..wh..opq`` (the directory's
    permission bits and owner, time 0). Regular files, directories,
    symlinks, FIFOs and devices are written with their owner, mode
    (setuid, setgid and sticky included), whole-second mtime and
    ``security.capability``; a second name of an inode is a hard link entry;
    sockets are skipped; ``trusted.overlay.*`` never appears.

    *exclude* lists the container paths the engine created as mount targets
    (``/etc/hosts``...): they are left out, and so is a directory present
    only to hold them, unless its mode or owner differ from the image's;
    that check needs *lowers*, the image's layer dirs top first (without
    them such directories are kept). *out* receives the tar and is neither
    flushed nor closed. Raises InternalError for an upper dir made with
    ``redirect_dir`` or ``metacopy`` on.

    ``snapshot=True`` is for a caller that then makes *upper* itself the
    layer's snapshot (``LayerStore.adopt``) instead of unpacking the tar
    again: the tree is settled to what that unpacking would give (whole-
    second times with atime = mtime, as the extractor sets them; no
    sockets). Use it only on an unmounted upper dir with nothing excluded.
    """
    if snapshot and exclude:
        raise InvalidArgument("a snapshot cannot leave paths out")
    writer = _LayerWriter(out, _Exclusions.parse(exclude),
                          _LowerView(lowers) if lowers else None, snapshot)
    with walk_tree(upper) as entries:
        for entry in entries:
            writer.add(entry)
    return writer.finish()


# -- docker diff ---------------------------------------------------------------------


def _same_time(old: os.stat_result, new: os.stat_result) -> bool:
    """Docker's mtime equality: same second, and same or an unknown (0) fraction.

    Layers come from tars with whole-second times, so a file copied up from
    one must not count as changed for its lost nanoseconds.
    """
    old_s, old_ns = divmod(old.st_mtime_ns, 1_000_000_000)
    new_s, new_ns = divmod(new.st_mtime_ns, 1_000_000_000)
    return old_s == new_s and (old_ns == new_ns or old_ns == 0 or new_ns == 0)


def _stat_differs(old: os.stat_result, new: os.stat_result) -> bool:
    """Docker 20.10's test for a changed entry present in both trees.

    Type and permission bits, owner and device number always count; size
    and mtime count unless the old entry's mode has the directory bit (a
    test Docker makes with a mask, so block devices and sockets are
    compared like directories).
    """
    if (old.st_mode, old.st_uid, old.st_gid, old.st_rdev) != (
        new.st_mode, new.st_uid, new.st_gid, new.st_rdev
    ):
        return True
    if old.st_mode & stat.S_IFDIR == stat.S_IFDIR:
        return False
    return not _same_time(old, new) or old.st_size != new.st_size


@dataclass(frozen=True, slots=True)
class _UpperDir:
    """An upper directory seen by the change walk.

    ``lower`` is the image's entry at the same path (None if the image has
    no directory there); ``merged`` tells whether the container's view of
    the directory includes the image's contents, which is false at and
    below an opaque directory.
    """

    lower: _LowerNode | None
    merged: bool


class _ChangeFinder:
    """The state of one :func:`changes` run: the upper walk against the lower view."""

    def __init__(self, view: _LowerView, exclude: _Exclusions) -> None:
        self.view = view
        self.exclude = exclude
        self.found: dict[bytes, int] = {}
        self.dirs: dict[bytes, _UpperDir] = {b"": _UpperDir(view.root, True)}

    def visit(self, entry: WalkEntry) -> None:
        path = entry.path
        if path in self.exclude.leaves:
            entry.descend = False
            return
        parent = self.dirs.get(path.rpartition(b"/")[0])
        if parent is None:
            entry.descend = False  # below a directory that vanished
            return
        old = self.view.child(parent.lower, entry.name) if parent.lower is not None else None
        st = entry.st
        if _is_whiteout(st):
            if old is not None:
                self.found[path] = CHANGE_DELETE
            return
        xattrs = _entry_xattrs(entry)
        if xattrs is None:
            entry.descend = False
            return  # vanished meanwhile
        _refuse_unsupported(path, xattrs)
        is_dir = entry.dir_fd is not None
        if old is None or old.st is None:
            if is_dir and path in self.exclude.ancestors:
                # made by the engine on the way to its mount targets: as if
                # it were in the image (Docker's init layer), holding nothing
                self.dirs[path] = _UpperDir(_LowerNode(st, path), False)
                return
            self.found[path] = CHANGE_ADD
            if is_dir:
                self.dirs[path] = _UpperDir(None, False)
            return
        if _stat_differs(old.st, st) or xattrs.get(CAPABILITY_XATTR) != old.capability():
            self.found[path] = CHANGE_MODIFY
        if not is_dir:
            return
        if not stat.S_ISDIR(old.st.st_mode):
            self.dirs[path] = _UpperDir(None, False)  # a file became a directory
            return
        merged = parent.merged and not _is_opaque(xattrs)
        self.dirs[path] = _UpperDir(old, merged)
        if not merged:
            assert entry.dir_fd is not None
            self._hidden(path, entry.dir_fd, old)

    def _hidden(self, path: bytes, dir_fd: int, old: _LowerNode) -> None:
        """Image entries of a directory the container sees without them are deleted.

        That is a directory at or below an opaque one: whatever the image
        has there and the upper dir does not is gone from the container's
        view, whiteout or not.
        """
        for name in self.view.children(old):
            try:
                st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
                present = not _is_whiteout(st)
            except OSError as e:
                if e.errno not in _GONE:
                    raise
                present = False
            if not present:
                self.found[path + b"/" + name] = CHANGE_DELETE

    def result(self) -> list[Change]:
        found = self.found
        for path in list(found):
            head = posixpath.dirname(path)
            while head and head not in found:
                found[head] = CHANGE_MODIFY  # "a change inside" makes the directory changed
                head = posixpath.dirname(head)
        return [Change("/" + os.fsdecode(p), found[p]) for p in sorted(found)]


def changes(upper: Path, lowers: Sequence[Path], *, exclude: Collection[str] = ()) -> list[Change]:
    """The container's changes to its image, as ``docker diff`` (Docker 20.10) lists them.

    *upper* is the container's upper dir, *lowers* the image's layer dirs,
    top first (overlay's ``lowerdir`` order). Docker compares the merged
    trees: a name only in the container's is ``A`` (and so is everything
    below a new directory), a name only in the image's is ``D`` (once, not
    what was below it: a whiteout, or a name an opaque directory hides), and
    a name in both is ``C`` if its type, mode, owner or device number
    differ, or, for non-directories, its size or mtime (whole-second times
    match any fraction), or its ``security.capability``. Every directory
    holding a change is ``C`` too. The list is sorted by path.

    *exclude* lists engine-made mount targets (see the module doc): they,
    and the directories the engine made to hold them, are not reported.
    Raises InternalError for an upper dir made with ``redirect_dir`` or
    ``metacopy`` on.
    """
    finder = _ChangeFinder(_LowerView(lowers), _Exclusions.parse(exclude))
    with walk_tree(upper) as entries:
        for entry in entries:
            finder.visit(entry)
    return finder.result()


__all__ = [
    "CHANGE_ADD",
    "CHANGE_DELETE",
    "CHANGE_MODIFY",
    "Change",
    "LayerDiff",
    "changes",
    "write_layer_tar",
]
