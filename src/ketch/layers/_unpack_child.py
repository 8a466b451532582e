"""Child process that unpacks one layer tar from stdin inside a chroot.

Run as ``python -I -S _unpack_child.py TARGET`` by :mod:`ketch.layers.extract`,
never imported by the daemon. It chroots into TARGET before reading a single
tar header, so whatever the archive contains (``..`` names, symlinks to
``/`` followed by entries below them, hard links to host files) the kernel
resolves every path inside the layer directory. That is the same defence as
Docker's chrootarchive; the name checks below are a second line that turns
an escape attempt into a clear error instead of a silently relocated file.

The conversion is the one overlay2 applies when it stores a layer's diff:
``.wh.NAME`` becomes a 0/0 character device NAME and ``.wh..wh..opq`` the
``trusted.overlay.opaque=y`` xattr on its directory, so the result can be
used directly as an overlayfs lower directory.

Only the standard library is used, and every module is imported before the
chroot: after it, nothing outside the layer can be imported. Paths are
handled as bytes (tar names are decoded as UTF-8 with surrogateescape and
encoded back) so the outcome does not depend on the child's locale.

Protocol: stdin is the uncompressed tar. On success one JSON object
``{"size": N, "entries": N, "warnings": [...]}`` is written to stdout and the
exit status is 0. With ``--split FD`` (FD: an open directory outside the
layer) the child also writes the layer's tar-split record there, so the
exact tar can be rebuilt later from the unpacked files (format in
:mod:`ketch.layers.tarsplit`, which reads it), and the report gains
``"split": {"size": TAR_BYTES, "spilled": [INDEX, ...]}``. On failure one
line naming the problem is written to stderr and the exit status is 2 for
a bad archive, 4 for a full filesystem, 3 for another host failure (I/O
error, missing privilege).
"""

from __future__ import annotations

import contextlib
import encodings.ascii
import encodings.latin_1
import encodings.utf_8  # noqa: F401
import errno
import io
import json
import os
import posixpath
import shutil
import stat
import sys
import tarfile
import zlib
from collections.abc import Callable
from tarfile import (  # type: ignore[attr-defined]  # real since 3.2, absent from typeshed
    EmptyHeaderError,
    EOFHeaderError,
)
from typing import IO, Self, cast

EXIT_BAD_ARCHIVE = 2
EXIT_HOST_FAILURE = 3
EXIT_NO_SPACE = 4

WHITEOUT_PREFIX = b".wh."
WHITEOUT_META_PREFIX = b".wh..wh."
WHITEOUT_OPAQUE = b".wh..wh..opq"
#: aufs kept hard-link targets here; old layers still contain it.
AUFS_LINK_DIR = b".wh..wh.plnk"
OPAQUE_XATTR = "trusted.overlay.opaque"
XATTR_PAX_PREFIX = "SCHILY.xattr."

#: errno values that mean "this host cannot do it", not "this archive is bad".
HOST_ERRNOS = frozenset(
    {errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EROFS, errno.ENOMEM, errno.EMFILE,
     errno.ENFILE}
)

CHUNK = 1 << 20
READ_AHEAD = 1 << 16
SPLICE_MAX = 1 << 30
MAX_WARNINGS = 20


SPLIT_RECORD = "tar-split"
SPLIT_SPILL_DIR = "tar-split.spill"
SPLIT_RAW = b"R"
SPLIT_FILE = b"F"
SPLIT_RAW_FLUSH = 1 << 20


class SplitRecorder:
    """Writes the tar-split record: the tar's bytes minus regular file contents.

    The record is a zlib stream of entries, in stream order: ``R`` + u32
    length + that many raw tar bytes (headers, padding, anything not file
    content), and ``F`` + u64 size + u32 index + u16 length + path: *size*
    bytes of content now in the file at *path* (relative to the layer root,
    free of symlinks). The reader is :mod:`ketch.layers.tarsplit`; the
    format is written here again because this child imports nothing of
    ketch.

    A file whose content the record points to may be deleted or replaced
    by a later entry of the same tar; :meth:`spill` first keeps its inode
    under ``tar-split.spill/INDEX`` next to the record.
    """

    def __init__(self, dir_fd: int) -> None:
        self.dir_fd = dir_fd
        fd = os.open(SPLIT_RECORD, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600,
                     dir_fd=dir_fd)
        self.out = os.fdopen(fd, "wb")
        self.compressor = zlib.compressobj(1)
        self.pending = bytearray()
        self.size = 0
        #: path -> index of every file the record points to
        self.files: dict[bytes, int] = {}
        self.spilled: list[int] = []

    def raw(self, data: bytes) -> None:
        self.pending += data
        self.size += len(data)
        if len(self.pending) >= SPLIT_RAW_FLUSH:
            self.flush_raw()

    def flush_raw(self) -> None:
        if self.pending:
            self.emit(SPLIT_RAW + len(self.pending).to_bytes(4, "big") + self.pending)
            self.pending.clear()

    def file(self, path: bytes, size: int) -> None:
        self.flush_raw()
        index = len(self.files) + len(self.spilled)
        self.files[path] = index
        self.size += size
        self.emit(SPLIT_FILE + size.to_bytes(8, "big") + index.to_bytes(4, "big")
                  + len(path).to_bytes(2, "big") + path)

    def spill(self, path: bytes, tree: bool) -> None:
        """Keep the content of *path* (or of every file below it) before it goes."""
        if tree:
            prefix = path + b"/"
            doomed = [p for p in self.files if p.startswith(prefix)]
        else:
            doomed = [path] if path in self.files else []
        for gone in doomed:
            index = self.files.pop(gone)
            if not self.spilled:
                os.mkdir(SPLIT_SPILL_DIR, 0o700, dir_fd=self.dir_fd)
            spill_fd = os.open(SPLIT_SPILL_DIR, os.O_RDONLY | os.O_DIRECTORY, dir_fd=self.dir_fd)
            try:
                os.link(gone, str(index), dst_dir_fd=spill_fd, follow_symlinks=False)
            finally:
                os.close(spill_fd)
            self.spilled.append(index)

    def emit(self, data: bytes) -> None:
        self.out.write(self.compressor.compress(data))

    def close(self) -> dict[str, object]:
        self.flush_raw()
        self.out.write(self.compressor.flush())
        self.out.close()
        return {"size": self.size, "spilled": sorted(self.spilled)}


class BadArchive(Exception):
    """The archive is malformed or tries to escape; the message names the entry."""


class HostFailure(Exception):
    """The archive is fine but the host failed to store it."""


class NoSpace(HostFailure):
    """The target filesystem is full (the caller may retry elsewhere)."""


class StrictTarInfo(tarfile.TarInfo):
    """A TarInfo whose reader treats a damaged header as an error.

    tarfile ends the archive silently at a bad checksum or a header cut
    short anywhere but at offset 0; Docker (Go's archive/tar) reports both.
    A zero block (the end-of-archive marker) or a clean end of stream at a
    header boundary still ends the archive normally.
    """

    @classmethod
    def fromtarfile(cls, tar: tarfile.TarFile) -> Self:
        try:
            return super().fromtarfile(tar)
        except (EOFHeaderError, EmptyHeaderError):
            raise
        except tarfile.HeaderError as e:
            raise tarfile.ReadError(f"{e} at offset {tar.offset}") from None


def show(name: bytes) -> str:
    """A one-line, quoted rendering of an entry name for error messages."""
    return json.dumps(name.decode("utf-8", "surrogateescape"))


def clean(name: str, what: str) -> bytes:
    """*name* as a path relative to the layer root, or BadArchive if it escapes.

    A leading ``/`` is dropped (as Docker does), so ``/etc/x`` lands at
    ``etc/x`` inside the layer; anything that still climbs above the root
    with ``..`` after normalisation is refused rather than clamped, because
    a layer that tries it is hostile or broken.
    """
    raw = name.encode("utf-8", "surrogateescape")
    rel = posixpath.normpath(raw.lstrip(b"/") or b".")
    if rel == b".." or rel.startswith(b"../"):
        raise BadArchive(f"{what} {show(raw)} escapes the layer root")
    return rel


def nanoseconds(member: tarfile.TarInfo) -> int:
    """The entry's mtime in nanoseconds, exact for PAX fractional times."""
    text = member.pax_headers.get("mtime")
    if text:
        whole, _, frac = text.partition(".")
        try:
            sign = -1 if whole.startswith("-") else 1
            ns = abs(int(whole or "0")) * 1_000_000_000 + int((frac + "000000000")[:9] or "0")
            return sign * ns
        except ValueError:
            pass
    return int(member.mtime * 1_000_000_000)


class ForwardReader:
    """The tar stream on a file descriptor, as a file tarfile can "seek" forward in.

    tarfile's random-access mode only ever moves forward over a layer (to
    the next header, or past data it was not asked for), so a read-ahead
    buffer and discarding reads are enough, and regular file contents can
    bypass Python entirely: :meth:`copy_to` moves them from the pipe to the
    file with splice(2) (copy_file_range(2) when stdin is a file), with no
    copy through user space.
    """

    def __init__(self, fd: int, recorder: SplitRecorder | None = None) -> None:
        self.fd = fd
        self.buffer = bytearray()
        self.offset = 0  # stream position of buffer[0]
        self.from_pipe = stat.S_ISFIFO(os.fstat(fd).st_mode)
        #: gets every byte consumed except file contents moved by copy_to
        self.recorder = recorder

    def _fill(self, wanted: int) -> None:
        while len(self.buffer) < wanted:
            chunk = os.read(self.fd, max(READ_AHEAD, wanted - len(self.buffer)))
            if not chunk:
                return
            self.buffer += chunk

    def peek(self, size: int = 1) -> bytes:
        self._fill(size)
        return bytes(self.buffer[:size])

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            rest = bytearray(self.buffer)
            while chunk := os.read(self.fd, CHUNK):
                rest += chunk
            self.offset += len(rest)
            self.buffer.clear()
            if self.recorder is not None:
                self.recorder.raw(bytes(rest))
            return bytes(rest)
        self._fill(size)
        data = bytes(self.buffer[:size])
        del self.buffer[:size]
        self.offset += len(data)
        if self.recorder is not None:
            self.recorder.raw(data)
        return data

    def tell(self) -> int:
        return self.offset

    def seek(self, position: int, whence: int = 0) -> int:
        if whence == 1:
            position += self.offset
        elif whence != 0:
            raise io.UnsupportedOperation("the layer stream can only move forward")
        if position < self.offset:
            raise io.UnsupportedOperation("the layer stream can only move forward")
        while self.offset < position:
            if not self.read(min(position - self.offset, CHUNK)):
                break
        return self.offset

    def copy_to(self, out: int, size: int) -> int:
        """Move ``size`` bytes of the stream into the file ``out``; the count moved."""
        moved = 0
        if self.buffer:
            head = memoryview(self.buffer)[:size]
            while head:
                written = os.write(out, head)
                head = head[written:]
                moved += written
            del head
            del self.buffer[:moved]
        while moved < size:
            count = size - moved
            if self.from_pipe:
                step = os.splice(self.fd, out, min(count, SPLICE_MAX))
            else:
                step = os.copy_file_range(self.fd, out, count)
            if step == 0:
                break
            moved += step
        self.offset += moved
        return moved


class Unpacker:
    """Applies tar entries to the current root (the chroot'ed layer dir)."""

    def __init__(self, stream: ForwardReader, whiteouts: bool = True) -> None:
        self.stream = stream
        #: False for plain trees (build contexts, COPY): ``.wh.`` names are files
        self.whiteouts = whiteouts
        self.size = 0
        self.entries = 0
        self.warnings: list[str] = []
        #: directory -> mtime (ns), applied once all entries are written
        self.dirs: dict[bytes, int] = {}
        self.saw_aufs_links = False
        #: until a symlink exists in the layer, every path is its real path
        self.made_symlink = False

    def warn(self, message: str) -> None:
        if len(self.warnings) < MAX_WARNINGS:
            self.warnings.append(message)

    def run(self) -> None:
        if not self.stream.peek(1):
            return  # an empty stream is an empty layer, as in Docker
        with tarfile.TarFile(fileobj=cast(IO[bytes], self.stream), mode="r",
                             tarinfo=StrictTarInfo, encoding="utf-8",
                             errors="surrogateescape") as tf:
            while True:
                member = tf.next()
                if member is None:
                    break
                # tarfile keeps every header in tf.members; a layer can have
                # hundreds of thousands of entries and we never look back.
                tf.members.clear()  # type: ignore[attr-defined]  # real, not in typeshed
                self.entries += 1
                self.apply(tf, member)
        self.finish()

    def apply(self, tf: tarfile.TarFile, member: tarfile.TarInfo) -> None:
        path = clean(member.name, "entry")
        base = posixpath.basename(path)
        top = path.split(b"/", 1)[0]

        if not self.whiteouts:
            pass
        elif top.startswith(WHITEOUT_META_PREFIX) and top != WHITEOUT_OPAQUE:
            # aufs metadata at the root: keep only the hard-link targets,
            # which later entries may link to; the dir goes at the end.
            if top != AUFS_LINK_DIR or not member.isreg():
                return
            self.saw_aufs_links = True
        elif base == WHITEOUT_OPAQUE:
            self.guard(path, lambda: self.opaque(posixpath.dirname(path) or b"."))
            return
        elif base.startswith(WHITEOUT_META_PREFIX):
            return
        elif base.startswith(WHITEOUT_PREFIX):
            self.guard(path, lambda: self.whiteout(path, base, member))
            return

        if member.isreg():
            self.size += member.size
        self.guard(path, lambda: self.create(tf, member, path))

    @staticmethod
    def guard(path: bytes, action: Callable[[], None]) -> None:
        """Run *action*, attributing its failure to the entry being applied."""
        try:
            action()
        except OSError as e:
            message = f"entry {show(path)}: {e.strerror or e}"
            if e.errno in (errno.ENOSPC, errno.EDQUOT):
                raise NoSpace(message) from None
            if e.errno in HOST_ERRNOS:
                raise HostFailure(message) from None
            raise BadArchive(message) from None
        except (ValueError, OverflowError) as e:
            # a NUL in a PAX name, a time or device number out of range
            raise BadArchive(f"entry {show(path)}: {e}") from None

    # -- whiteouts ---------------------------------------------------------

    def opaque(self, directory: bytes) -> None:
        if not os.path.lexists(directory):
            os.makedirs(directory, 0o755)
        os.setxattr(directory, OPAQUE_XATTR, b"y")

    def whiteout(self, path: bytes, base: bytes, member: tarfile.TarInfo) -> None:
        name = base[len(WHITEOUT_PREFIX):]
        if name in (b".", b".."):
            raise BadArchive(f"whiteout {show(path)} names no file")
        hidden = posixpath.join(posixpath.dirname(path), name)
        self.ensure_parent(hidden)
        self.remove(hidden)
        os.mknod(hidden, stat.S_IFCHR, os.makedev(0, 0))
        os.lchown(hidden, member.uid, member.gid)

    # -- everything else ---------------------------------------------------

    def create(self, tf: tarfile.TarFile, member: tarfile.TarInfo, path: bytes) -> None:
        if path == b"." and not member.isdir():
            raise BadArchive(f"entry {show(path)} would replace the layer root")
        self.ensure_parent(path)
        try:
            existing = os.lstat(path)
        except FileNotFoundError:
            existing = None
        if existing is not None and not (member.isdir() and stat.S_ISDIR(existing.st_mode)):
            self.remove(path)
            existing = None

        mtime = nanoseconds(member)
        if member.isreg():
            self.write_file(tf, member, path, mtime)
            return
        if member.islnk():
            self.hard_link(member, path)
            return
        if member.isdir():
            if existing is None:
                os.mkdir(path, 0o700)
            self.dirs[path] = mtime
        elif member.issym():
            os.symlink(member.linkname.encode("utf-8", "surrogateescape"), path)
            self.made_symlink = True
        elif member.ischr() or member.isblk():
            kind = stat.S_IFCHR if member.ischr() else stat.S_IFBLK
            os.mknod(path, kind | 0o600, os.makedev(member.devmajor, member.devminor))
        elif member.isfifo():
            os.mkfifo(path, 0o600)
        else:
            raise BadArchive(f"entry {show(path)} has unsupported type {member.type!r}")
        os.lchown(path, member.uid, member.gid)
        if not member.issym():
            os.chmod(path, member.mode)
        self.set_xattrs(member, path, path)
        if not member.isdir():
            os.utime(path, ns=(mtime, mtime), follow_symlinks=False)

    def write_file(self, tf: tarfile.TarFile, member: tarfile.TarInfo, path: bytes,
                   mtime: int) -> None:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                     0o600)
        try:
            if member.sparse is not None:  # GNU sparse: tarfile maps the holes
                self.copy_sparse(tf, member, fd, path)
            else:
                self.stream.seek(member.offset_data)
                if self.stream.copy_to(fd, member.size) != member.size:
                    raise tarfile.ReadError("unexpected end of data")
                if self.stream.recorder is not None:
                    self.stream.recorder.file(self.real(path), member.size)
            # chown clears setuid bits and file capabilities, so it goes
            # first, then the mode, then xattrs (security.capability).
            os.fchown(fd, member.uid, member.gid)
            os.fchmod(fd, member.mode)
            self.set_xattrs(member, path, fd)
            os.utime(fd, ns=(mtime, mtime))
        finally:
            os.close(fd)

    @staticmethod
    def copy_sparse(tf: tarfile.TarFile, member: tarfile.TarInfo, fd: int, path: bytes) -> None:
        data = tf.extractfile(member)
        if data is None:
            raise BadArchive(f"entry {show(path)} has no data")
        while chunk := data.read(CHUNK):
            view = memoryview(chunk)
            while view:
                view = view[os.write(fd, view):]

    @staticmethod
    def hard_link(member: tarfile.TarInfo, path: bytes) -> None:
        source = clean(member.linkname, "hard link target")
        if source == b".":
            raise BadArchive(f"hard link {show(path)} points at the layer root")
        # The inode already carries its metadata from its own entry.
        os.link(source, path, follow_symlinks=False)

    def set_xattrs(self, member: tarfile.TarInfo, path: bytes, target: bytes | int) -> None:
        """Apply PAX ``SCHILY.xattr.*`` records to *target* (a path or an fd).

        A path is never followed: it is the entry itself, maybe a symlink.
        """
        for key, value in member.pax_headers.items():
            if not key.startswith(XATTR_PAX_PREFIX):
                continue
            attr = key[len(XATTR_PAX_PREFIX):]
            if attr.startswith("trusted.overlay."):
                # Overlay metadata comes only from whiteout conversion: a
                # layer must not forge redirects, origins or opacity.
                self.warn(f"ignored xattr {attr} on {show(path)}")
                continue
            raw = value.encode("utf-8", "surrogateescape")
            try:
                os.setxattr(target, attr, raw, follow_symlinks=isinstance(target, int))
            except OSError as e:
                # As Docker: not every filesystem takes every namespace
                # (user.* is refused on symlinks and devices).
                if e.errno not in (errno.ENOTSUP, errno.EPERM):
                    raise
                self.warn(f"could not set xattr {attr} on {show(path)}: {e.strerror}")

    # -- helpers -----------------------------------------------------------

    @staticmethod
    def ensure_parent(path: bytes) -> None:
        parent = posixpath.dirname(path)
        if parent and not os.path.lexists(parent):
            os.makedirs(parent, 0o755, exist_ok=True)

    def real(self, path: bytes) -> bytes:
        """*path* with its directories' symlinks resolved (inside the chroot).

        The tar-split record names files by these paths, so that rebuilding
        the tar never follows a link.
        """
        if not self.made_symlink:
            return path
        parent, name = posixpath.split(path)
        return posixpath.join(os.path.realpath(parent or b".").lstrip(b"/"), name)

    def remove(self, path: bytes) -> None:
        """Delete whatever is at *path*, forgetting directory times below it."""
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            return
        if self.stream.recorder is not None:
            self.stream.recorder.spill(self.real(path), stat.S_ISDIR(st.st_mode))
        if stat.S_ISDIR(st.st_mode):
            shutil.rmtree(path)
            prefix = path + b"/"
            for gone in [d for d in self.dirs if d == path or d.startswith(prefix)]:
                del self.dirs[gone]
        else:
            os.unlink(path)

    def finish(self) -> None:
        if self.saw_aufs_links:
            if self.stream.recorder is not None:
                self.stream.recorder.spill(AUFS_LINK_DIR, tree=True)
            shutil.rmtree(AUFS_LINK_DIR, ignore_errors=True)
        # Directory times last: creating children changed them.
        for path, mtime in self.dirs.items():
            try:
                os.utime(path, ns=(mtime, mtime), follow_symlinks=False)
            except FileNotFoundError:
                continue  # below a directory a later entry replaced


USAGE = "usage: _unpack_child.py TARGET [--plain | --split FD]\n"


def main(argv: list[str]) -> int:
    options = argv[2:]
    split_option = len(options) == 2 and options[0] == "--split" and options[1].isdigit()
    if len(argv) < 2 or not (options in ([], ["--plain"]) or split_option):
        sys.stderr.write(USAGE)
        return EXIT_HOST_FAILURE
    try:
        recorder = SplitRecorder(int(options[1])) if split_option else None
    except OSError as e:
        sys.stderr.write(f"cannot write the tar-split record: {e.strerror}\n")
        return EXIT_HOST_FAILURE
    stream = ForwardReader(0, recorder)
    try:
        os.chroot(argv[1])
        os.chdir("/")
        os.umask(0)
    except OSError as e:
        sys.stderr.write(f"cannot enter layer directory {argv[1]}: {e.strerror}\n")
        return EXIT_HOST_FAILURE
    unpacker = Unpacker(stream, whiteouts=options != ["--plain"])
    report: dict[str, object] = {}
    try:
        unpacker.run()
        # Read what follows the end-of-archive marker so the writer sees
        # the whole stream consumed (it may be hashing it as it feeds us).
        while stream.read(CHUNK):
            pass
        if recorder is not None:
            report["split"] = recorder.close()
    except BadArchive as e:
        return fail(str(e), EXIT_BAD_ARCHIVE)
    except tarfile.TarError as e:
        return fail(f"bad tar archive: {e}", EXIT_BAD_ARCHIVE)
    except NoSpace as e:
        return fail(str(e), EXIT_NO_SPACE)
    except HostFailure as e:
        return fail(str(e), EXIT_HOST_FAILURE)
    except OSError as e:
        return fail(f"reading the layer: {e}", EXIT_HOST_FAILURE)
    except Exception as e:
        return fail(f"unexpected {type(e).__name__}: {e}", EXIT_HOST_FAILURE)
    report.update(size=unpacker.size, entries=unpacker.entries, warnings=unpacker.warnings)
    sys.stdout.write(json.dumps(report) + "\n")
    return 0


def fail(message: str, status: int) -> int:
    sys.stderr.write(" ".join(message.split()) + "\n")
    return status


# -- zygote mode ---------------------------------------------------------------

#: descriptors of one request, in the order they are sent
REQUEST_FDS = ("stdin", "stdout", "stderr", "status", "target")


def serve(sock_fd: int) -> int:
    """Fork one unpacker per request received on the SOCK_SEQPACKET *sock_fd*.

    Starting an interpreter and importing tarfile costs ~20 ms, more than
    unpacking a small build context; a fork of this process, which has
    imported everything already, costs ~1 ms. A request is a JSON list of
    options (as on the command line) with the descriptors of REQUEST_FDS
    (plus the tar-split directory, for ``--split``); the forked child takes
    them as its stdin, stdout and stderr, chroots into the target and, when
    done, writes its exit status as one byte on the status descriptor (a
    child killed before that leaves it empty). Ends when the daemon closes
    its end of the socket.
    """
    import signal
    import socket

    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the kernel reaps the children
    with socket.socket(fileno=sock_fd) as sock:
        while True:
            try:
                message, fds, _, _ = socket.recv_fds(sock, 1 << 16, len(REQUEST_FDS) + 1)
            except InterruptedError:
                continue
            if not message:
                return 0
            if os.fork() == 0:
                sock.close()
                os._exit(serve_one(message, fds))
            for fd in fds:
                os.close(fd)


def serve_one(message: bytes, fds: list[int]) -> int:
    """In the forked child: become the unpacker the request describes."""
    status = EXIT_HOST_FAILURE
    try:
        options = [str(o) for o in json.loads(message)]
        stdin, stdout, stderr, status_fd, target_fd, *rest = fds
        for fd, standard in ((stdin, 0), (stdout, 1), (stderr, 2)):
            os.dup2(fd, standard)
        if options[:1] == ["--split"]:
            options = ["--split", str(rest[0])]
        os.fchdir(target_fd)
        status = main(["unpack", ".", *options])
        sys.stdout.flush()
        sys.stderr.flush()
        os.write(status_fd, bytes([status]))
    except BaseException as e:  # never return into the server loop
        with contextlib.suppress(BaseException):
            sys.stderr.write(f"unpacker: {type(e).__name__}: {e}\n")
            sys.stderr.flush()
    return status


if __name__ == "__main__":
    if sys.argv[1:2] == ["--serve"] and len(sys.argv) == 3:
        sys.exit(serve(int(sys.argv[2])))
    sys.exit(main(sys.argv))
