"""Tar streams of directory trees, written the way Docker writes them.

Two callers share this module: :func:`export_tree` (``docker export``: the
whole mounted root filesystem of a container) and
:func:`ketch.layers.diff.write_layer_tar` (a container's upper dir turned
into an image layer for ``docker commit`` and the builder). Both write the
headers Docker writes, so that the same files give the same bytes, hence
the same diffID, on either engine. ``docker cp``'s archives
(:mod:`ketch.containers.archive_tar`) are written with the same pieces
(:func:`walk_open_dir`, :func:`add_entry`).

Header conventions (those of moby's ``pkg/archive``, i.e. Go's
``archive/tar`` fed by ``FileInfoHeader``):

* entries are USTAR headers; a PAX extended header (named
  ``<dir>/PaxHeaders.0/<base>``, keys sorted) is added only when USTAR
  cannot say something: a long or non-ASCII name or link target, an id,
  size or time out of octal range, or an xattr;
* names are relative (``etc/passwd``), directories end in ``/``, long
  ASCII names use the USTAR prefix field when they can be split;
* mode is the permission bits with setuid/setgid/sticky, without file type
  bits (Docker >= 24; 20.10 and 23 add them; extractors go by the entry type);
* mtime is truncated to whole seconds, atime and ctime are not written,
  uname and gname are empty (Docker >= 23: until then they came from the
  passwd of the machine that wrote the layer);
* the only xattr exported is ``security.capability``, a v3 value turned
  into v2 (its root uid means nothing outside the writer's namespace);
* a second name of an inode (same device and inode number) already written
  becomes a hard link entry;
  sockets are skipped (tar cannot hold them);
* the archive ends with two zero blocks and no padding to a record size.

The tree is read through directory descriptors only, one component at a
time with ``O_NOFOLLOW``: the trees are written by untrusted containers,
possibly while they run, and a symlink swapped in mid-walk must never lead
the daemon outside. Regular files are opened as ``O_PATH`` first and
checked to be regular before their data is opened, so a device node
swapped in for a file is never opened.

Everything here blocks; run it in a worker thread.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import stat
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

BLOCK = 512
REGTYPE = b"0"
LNKTYPE = b"1"
SYMTYPE = b"2"
CHRTYPE = b"3"
BLKTYPE = b"4"
DIRTYPE = b"5"
FIFOTYPE = b"6"
XHDTYPE = b"x"

#: The one xattr Docker puts in archives (as ``SCHILY.xattr.<name>``).
CAPABILITY_XATTR = "security.capability"

_CHUNK = 1 << 20
_FLUSH_AT = 1 << 20
_MAX_OCTAL_7 = 8**7 - 1  # mode, uid, gid, devmajor, devminor fields
_MAX_OCTAL_11 = 8**11 - 1  # size and mtime fields
_NAME_SIZE = 100
_PREFIX_SIZE = 155
_VFS_CAP_REVISION_3 = 3
_VFS_CAP_SIZE_2 = 20
#: Directory descriptors kept open at once while walking a deep tree.
_MAX_OPEN_DIRS = 64
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_GONE = (errno.ENOENT, errno.ENOTDIR, errno.ELOOP)


# -- headers -----------------------------------------------------------------


@dataclass(slots=True)
class TarHeader:
    """One tar entry's metadata; ``name`` relative, ``/``-terminated for dirs."""

    name: bytes
    kind: bytes
    mode: int = 0
    uid: int = 0
    gid: int = 0
    size: int = 0
    mtime: int = 0
    linkname: bytes = b""
    devmajor: int = 0
    devminor: int = 0
    xattrs: dict[str, bytes] = field(default_factory=dict)


def _octal(value: int, width: int) -> bytes:
    """A numeric field as Go writes it: zero-padded digits and a NUL."""
    if not 0 <= value < 8 ** (width - 1):
        value = 0  # not representable; a PAX record carries the value
    return b"%0*o\0" % (width - 1, value)


def _field(value: bytes, width: int) -> bytes:
    """A string field as Go writes it: truncated and NUL-padded.

    When the cut falls in a run of trailing slashes, the first of them
    becomes a NUL, so that no reader takes a file for a directory.
    """
    if len(value) <= width:
        return value.ljust(width, b"\0")
    cut = value[:width]
    if cut.endswith(b"/"):
        n = len(cut.rstrip(b"/"))
        cut = cut[:n] + b"\0" + cut[n + 1 :]
    return cut


def _ascii_only(value: bytes) -> bytes:
    """What Go keeps of a string in a header field when a PAX record has it."""
    return bytes(b for b in value if 0 < b < 0x80)


def _split_ustar(name: bytes) -> tuple[bytes, bytes] | None:
    """(prefix, name) for a long ASCII name USTAR can hold, else None."""
    length = len(name)
    if length <= _NAME_SIZE or not name.isascii():
        return None
    if length > _PREFIX_SIZE + 1:
        length = _PREFIX_SIZE + 1
    elif name[length - 1 : length] == b"/":
        length -= 1
    i = name.rfind(b"/", 0, length)
    suffix_len = len(name) - i - 1
    if i <= 0 or suffix_len > _NAME_SIZE or suffix_len == 0 or i > _PREFIX_SIZE:
        return None
    return name[:i], name[i + 1 :]


def _pax_record(key: bytes, value: bytes) -> bytes:
    """``"<len> key=value\\n"`` where len counts the whole record itself."""
    body = b" " + key + b"=" + value + b"\n"
    size = len(body) + len(str(len(body)))
    if len(str(size)) + len(body) != size:
        size = len(str(size)) + len(body)
    return str(size).encode() + body


def _block(name: bytes, mode: int, uid: int, gid: int, size: int, mtime: int,
           kind: bytes, linkname: bytes, names_and_devs: bytes, prefix: bytes) -> bytes:
    """A 512-byte header with its checksum; the fields are already encoded."""
    head = (
        _field(name, 100) + _octal(mode, 8) + _octal(uid, 8) + _octal(gid, 8)
        + _octal(size, 12) + _octal(mtime, 12)
    )
    rest = kind + _field(linkname, 100) + b"ustar\x0000" + names_and_devs + _field(prefix, 155)
    raw = head + b" " * 8 + rest
    raw = raw.ljust(BLOCK, b"\0")
    checksum = sum(raw)
    return head + b"%06o\0 " % checksum + raw[156:]


_NO_NAMES_DEVS = b"\0" * 64 + b"\0" * 16  # uname, gname, devmajor, devminor left empty


def _pax_header(name: bytes, records: bytes) -> bytes:
    """The ``x`` entry carrying *records* for entry *name*.

    Its own name is Go's: ``<dir>/PaxHeaders.0/<base>`` (``<dir>/PaxHeaders.0``
    for a directory), ASCII only and cut to 100 bytes.
    """
    cut = name.rfind(b"/") + 1
    parts = [p for p in (name[:cut].rstrip(b"/"), b"PaxHeaders.0", name[cut:]) if p]
    pax_name = _ascii_only(b"/".join(parts))[:_NAME_SIZE].rstrip(b"/")
    header = _block(pax_name, 0, 0, 0, len(records), 0, XHDTYPE, b"", _NO_NAMES_DEVS, b"")
    return header + records + _padding(len(records))


def _padding(size: int) -> bytes:
    return b"\0" * (-size % BLOCK)


def encode_header(h: TarHeader) -> bytes:
    """The bytes of *h*: one USTAR block, or a PAX entry then the block."""
    records: dict[bytes, bytes] = {}
    needs_pax = False
    name, prefix = h.name, b""
    if len(name) > _NAME_SIZE or not name.isascii():
        records[b"path"] = name
        split = _split_ustar(name)
        if split is None:
            needs_pax = True
        else:
            prefix, name = split
    if len(h.linkname) > _NAME_SIZE or not h.linkname.isascii():
        records[b"linkpath"] = h.linkname
        needs_pax = True
    for key, number, limit in ((b"uid", h.uid, _MAX_OCTAL_7), (b"gid", h.gid, _MAX_OCTAL_7),
                               (b"size", h.size, _MAX_OCTAL_11),
                               (b"mtime", h.mtime, _MAX_OCTAL_11)):
        if not 0 <= number <= limit:
            records[key] = str(number).encode()
            needs_pax = True
    for attr, value in h.xattrs.items():
        records[b"SCHILY.xattr." + attr.encode()] = value
        needs_pax = True
    devs = b"\0" * 64 + _octal(h.devmajor, 8) + _octal(h.devminor, 8)
    if not needs_pax:
        return _block(name, h.mode, h.uid, h.gid, h.size, h.mtime, h.kind, h.linkname, devs,
                      prefix)
    pax = b"".join(_pax_record(k, records[k]) for k in sorted(records))
    main = _block(_ascii_only(h.name), h.mode, h.uid, h.gid, h.size, h.mtime, h.kind,
                  _ascii_only(h.linkname), devs, b"")
    return _pax_header(h.name, pax) + main


def header_from_stat(name: bytes, st: os.stat_result, linkname: bytes = b"") -> TarHeader:
    """Docker's header for a file of this stat; the caller fixes kind/size for links.

    *name* is relative, without the trailing ``/`` (added for directories).
    Sockets and unknown types give a ValueError: tar has no entry for them.
    """
    fmt = stat.S_IFMT(st.st_mode)
    header = TarHeader(
        name=name, kind=REGTYPE, mode=stat.S_IMODE(st.st_mode), uid=st.st_uid, gid=st.st_gid,
        mtime=st.st_mtime_ns // 1_000_000_000,
    )
    if fmt == stat.S_IFREG:
        header.size = st.st_size
    elif fmt == stat.S_IFDIR:
        header.kind = DIRTYPE
        header.name = name + b"/"
    elif fmt == stat.S_IFLNK:
        header.kind = SYMTYPE
        header.linkname = linkname
    elif fmt in (stat.S_IFCHR, stat.S_IFBLK):
        header.kind = CHRTYPE if fmt == stat.S_IFCHR else BLKTYPE
        header.devmajor, header.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
    elif fmt == stat.S_IFIFO:
        header.kind = FIFOTYPE
    else:
        raise ValueError(f"no tar entry type for mode {st.st_mode:o}")
    return header


def capability_for_tar(value: bytes) -> bytes:
    """A ``security.capability`` value as Docker archives it (v3 -> v2)."""
    if len(value) > 3 and value[3] == _VFS_CAP_REVISION_3:
        return value[:3] + bytes([2]) + value[4:_VFS_CAP_SIZE_2]
    return value


# -- the stream ----------------------------------------------------------------


class TarWriter:
    """Writes entries to *out*, hashing and counting the bytes on their way.

    Small writes are gathered into megabyte chunks, so a pipe or socket
    sees few large writes. ``data_size`` is the sum of the regular files'
    sizes written with data (a hard link adds nothing): Docker's layer size.
    """

    def __init__(self, out: BinaryIO) -> None:
        self._out = out
        self._buffer = bytearray()
        self._hash = hashlib.sha256()
        self.length = 0
        self.entries = 0
        self.data_size = 0
        self.short_reads = 0

    def _write(self, data: bytes | bytearray) -> None:
        if len(data) >= _FLUSH_AT:
            self._flush()
            self._emit(data)
            return
        self._buffer += data
        if len(self._buffer) >= _FLUSH_AT:
            self._flush()

    def _flush(self) -> None:
        if self._buffer:
            self._emit(self._buffer)
            self._buffer = bytearray()

    def _emit(self, data: bytes | bytearray) -> None:
        self._hash.update(data)
        view = memoryview(data)
        while view:
            # a raw (unbuffered) stream may take only part of it
            written = self._out.write(view)
            if not written:
                raise BlockingIOError(errno.EAGAIN, "the tar stream took no bytes")
            view = view[written:]
        self.length += len(data)

    def add(self, header: TarHeader) -> None:
        """Write a header-only entry (size must be 0 unless it is a link type)."""
        if header.kind == REGTYPE:
            header.size = 0
        self._write(encode_header(header))
        self.entries += 1

    def add_file(self, header: TarHeader, fd: int) -> None:
        """Write a regular file entry with ``header.size`` bytes read from *fd*.

        A file that shrank while being read is padded with zeros and one
        that grew is cut, so the archive stays well-formed whatever a
        running container does; ``short_reads`` counts the former.
        """
        self._write(encode_header(header))
        self.entries += 1
        remaining = header.size
        while remaining:
            chunk = os.read(fd, min(_CHUNK, remaining))
            if not chunk:
                self.short_reads += 1
                while remaining:
                    self._write(bytes(min(_CHUNK, remaining)))
                    remaining -= min(_CHUNK, remaining)
                break
            self._write(chunk)
            remaining -= len(chunk)
        self._write(_padding(header.size))
        self.data_size += header.size

    def close(self) -> str:
        """Write the end-of-archive blocks; the ``sha256:`` digest of everything."""
        self._write(b"\0" * (2 * BLOCK))
        self._flush()
        return "sha256:" + self._hash.hexdigest()


# -- reading a tree that may change under us ----------------------------------


@dataclass(slots=True)
class WalkEntry:
    """One entry met by :func:`walk_tree`.

    ``path`` is relative to the root (``b"etc/passwd"``). ``parent_fd``
    is the open directory holding it and, for a directory, ``dir_fd`` is
    the directory itself; both are valid only until the walk moves on.
    Set ``descend = False`` on a directory to skip what is below it.
    """

    path: bytes
    name: bytes
    st: os.stat_result
    parent_fd: int
    dir_fd: int | None = None
    descend: bool = True


@dataclass(slots=True)
class _Frame:
    name: bytes
    path: bytes
    fd: int
    ident: tuple[int, int]
    names: list[bytes]
    index: int = 0


def _listing(fd: int) -> list[bytes]:
    """The names in directory *fd*, sorted bytewise as Go's Walk sorts them."""
    return sorted(os.fsencode(n) for n in os.listdir(fd))


class _Walker:
    """Pre-order, sorted, descriptor-based walk; see :func:`walk_tree`."""

    def __init__(self, root_fd: int) -> None:
        st = os.fstat(root_fd)
        self.frames = [_Frame(b"", b"", root_fd, (st.st_dev, st.st_ino), _listing(root_fd))]

    def _open_count(self) -> int:
        return sum(1 for f in self.frames if f.fd >= 0)

    def _push(self, frame: _Frame) -> None:
        self.frames.append(frame)
        if self._open_count() > _MAX_OPEN_DIRS:
            for f in self.frames[1:-1]:
                if f.fd >= 0:
                    os.close(f.fd)
                    f.fd = -1
                    break

    def _fd(self, depth: int) -> int | None:
        """The descriptor of frame *depth*, reopened if it was closed.

        Reopening walks down from the nearest open ancestor by name with
        ``O_NOFOLLOW`` and checks each directory is the one seen before;
        None if the tree changed there (the caller drops that subtree).
        """
        frame = self.frames[depth]
        if frame.fd >= 0:
            return frame.fd
        base = max(i for i in range(depth) if self.frames[i].fd >= 0)
        fd, owned = self.frames[base].fd, False
        for step in self.frames[base + 1 : depth + 1]:
            try:
                nfd = os.open(step.name, _DIR_FLAGS, dir_fd=fd)
            except OSError as e:
                if e.errno not in _GONE:
                    raise
                nfd = -1
            finally:
                if owned:
                    os.close(fd)
            if nfd < 0:
                return None
            fd, owned = nfd, True
            st = os.fstat(fd)
            if (st.st_dev, st.st_ino) != step.ident:
                os.close(fd)
                return None
        frame.fd = fd
        return fd

    def close(self) -> None:
        for frame in self.frames[1:]:
            if frame.fd >= 0:
                os.close(frame.fd)
        del self.frames[1:]

    def entries(self) -> Generator[WalkEntry, None, None]:
        frames = self.frames
        while frames:
            depth = len(frames) - 1
            frame = frames[depth]
            if frame.index >= len(frame.names):
                self._pop()
                continue
            parent_fd = self._fd(depth)
            if parent_fd is None:
                self._pop()
                continue
            name = frame.names[frame.index]
            frame.index += 1
            path = frame.path + b"/" + name if frame.path else name
            try:
                st = os.stat(name, dir_fd=parent_fd, follow_symlinks=False)
            except OSError as e:
                if e.errno in _GONE:
                    continue
                raise
            if not stat.S_ISDIR(st.st_mode):
                yield WalkEntry(path, name, st, parent_fd)
                continue
            try:
                dir_fd = os.open(name, _DIR_FLAGS, dir_fd=parent_fd)
            except OSError as e:
                if e.errno in _GONE:
                    continue  # replaced by a non-directory since the lstat
                raise
            try:
                st = os.fstat(dir_fd)
                entry = WalkEntry(path, name, st, parent_fd, dir_fd)
                yield entry
                names = _listing(dir_fd) if entry.descend else []
            except BaseException:
                os.close(dir_fd)
                raise
            if not names:
                os.close(dir_fd)
                continue
            self._push(_Frame(name, path, dir_fd, (st.st_dev, st.st_ino), names))

    def _pop(self) -> None:
        frame = self.frames.pop()
        if self.frames and frame.fd >= 0:
            os.close(frame.fd)


@contextlib.contextmanager
def walk_tree(root: Path) -> Iterator[Iterator[WalkEntry]]:
    """Walk everything below *root* (not root itself), never following symlinks.

    Pre-order, each directory's entries sorted bytewise (Go's
    ``filepath.Walk`` order, which Docker's archives follow). Entries that
    vanish while being walked are skipped. Use as::

        with walk_tree(root) as entries:
            for entry in entries: ...
    """
    root_fd = os.open(root, _DIR_FLAGS)
    try:
        with walk_open_dir(root_fd) as entries:
            yield entries
    finally:
        os.close(root_fd)


@contextlib.contextmanager
def walk_open_dir(dir_fd: int) -> Iterator[Iterator[WalkEntry]]:
    """:func:`walk_tree` below an already open directory *dir_fd*.

    For callers that reached the directory themselves, through descriptors
    (``docker cp`` resolves paths in the container with its own symlink
    rules): reopening it by path would undo that care. *dir_fd* stays the
    caller's to close; every descriptor the walk opens is closed on exit.
    """
    walker = _Walker(dir_fd)
    entries = walker.entries()
    try:
        yield entries
    finally:
        entries.close()  # a directory handed out but not yet pushed is closed here
        walker.close()


def open_regular(parent_fd: int, name: bytes) -> tuple[int, os.stat_result] | None:
    """A read descriptor and stat for regular file *name*, or None if it is not one.

    The name is opened ``O_PATH | O_NOFOLLOW`` and checked to be a regular
    file before its data is opened through ``/proc/self/fd``, so nothing
    swapped in meanwhile (a device, a FIFO, a symlink) is ever opened.
    """
    try:
        path_fd = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=parent_fd)
    except OSError as e:
        if e.errno in _GONE:
            return None
        raise
    try:
        st = os.fstat(path_fd)
        if not stat.S_ISREG(st.st_mode):
            return None
        fd = os.open(f"/proc/self/fd/{path_fd}",
                     os.O_RDONLY | os.O_NOCTTY | os.O_NONBLOCK | os.O_CLOEXEC)
    finally:
        os.close(path_fd)
    return fd, st


def read_capability(fd: int) -> bytes | None:
    """The ``security.capability`` xattr of open file *fd*, if any."""
    try:
        return os.getxattr(fd, CAPABILITY_XATTR)
    except OSError as e:
        if e.errno in (errno.ENODATA, errno.ENOTSUP):
            return None
        raise


class HardLinks:
    """Remembers the first name written for each multiply-linked inode."""

    def __init__(self) -> None:
        self._seen: dict[tuple[int, int], bytes] = {}

    def first_name(self, name: bytes, st: os.stat_result) -> bytes | None:
        """The earlier name of this inode, or None (and *name* is remembered)."""
        if st.st_nlink <= 1 or stat.S_ISDIR(st.st_mode):
            return None
        key = (st.st_dev, st.st_ino)
        earlier = self._seen.get(key)
        if earlier is None:
            self._seen[key] = name
        return earlier


# -- docker export ----------------------------------------------------------------


def default_xattrs(fd: int) -> dict[str, bytes]:
    """The xattrs Docker archives for an open file: its capability, if any."""
    cap = read_capability(fd)
    return {CAPABILITY_XATTR: capability_for_tar(cap)} if cap is not None else {}


def add_entry(tar: TarWriter, links: HardLinks, entry: WalkEntry,
              xattrs_for: Callable[[int], dict[str, bytes]] = default_xattrs) -> bool:
    """Write *entry* as Docker would; False if it was skipped (socket, vanished).

    A regular file's data is read here. *xattrs_for* gives the header's
    xattrs of a regular file or directory from its open descriptor (it may
    raise to refuse the file); other types have none.
    """
    st = entry.st
    fmt = stat.S_IFMT(st.st_mode)
    fd: int | None = None
    linkname = b""
    if fmt == stat.S_IFSOCK:
        return False
    if fmt == stat.S_IFREG:
        opened = open_regular(entry.parent_fd, entry.name)
        if opened is None:
            return False
        fd, st = opened
    elif fmt == stat.S_IFLNK:
        try:
            linkname = os.readlink(entry.name, dir_fd=entry.parent_fd)
        except OSError as e:
            if e.errno in (*_GONE, errno.EINVAL):
                return False
            raise
    try:
        try:
            header = header_from_stat(entry.path, st, linkname)
        except ValueError:
            return False
        target = fd if fd is not None else entry.dir_fd
        if target is not None:
            header.xattrs = xattrs_for(target)
        earlier = links.first_name(entry.path, st)
        if earlier is not None:
            header.kind, header.linkname, header.size = LNKTYPE, earlier, 0
            tar.add(header)
        elif fd is not None:
            tar.add_file(header, fd)
        else:
            tar.add(header)
        return True
    finally:
        if fd is not None:
            os.close(fd)


def export_tree(root: Path, out: BinaryIO) -> None:
    """Write the whole tree below *root* to *out* as ``docker export`` does.

    *root* is a container's mounted root filesystem (the overlay's merged
    dir). The root itself is not an entry, names are relative. Other
    filesystems mounted below *root* are not entered (a directory whose
    device differs from the root's is written, empty): Docker exports the
    layer mount, which never shows the container's own mounts, and
    neither must a mount that leaked into the daemon's namespace add to the
    archive. Symlinks are never followed; sockets are skipped.
    """
    root_dev = os.lstat(root).st_dev
    tar = TarWriter(out)
    links = HardLinks()
    with walk_tree(root) as entries:
        for entry in entries:
            if entry.dir_fd is not None and entry.st.st_dev != root_dev:
                entry.descend = False
            add_entry(tar, links, entry)
    tar.close()


__all__ = [
    "HardLinks",
    "TarHeader",
    "TarWriter",
    "WalkEntry",
    "add_entry",
    "capability_for_tar",
    "default_xattrs",
    "encode_header",
    "export_tree",
    "header_from_stat",
    "open_regular",
    "read_capability",
    "walk_open_dir",
    "walk_tree",
]
