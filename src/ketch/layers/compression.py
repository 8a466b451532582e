"""Recognise how a layer blob is compressed and undo it while streaming.

Registries and ``docker load`` archives hand us layers as gzip (the common
case), zstd (``application/vnd.oci.image.layer.v1.tar+zstd``), plain tar, and
occasionally bzip2 or xz (old ``docker save`` output, hand-made images).
The media type is not always trustworthy (``docker import`` of a URL,
``load`` of an archive written by another tool), so, like Docker, we decide
from the first bytes of the stream. Nothing is seeked: the peeked bytes are
replayed in front of the rest, so the source may be a socket or a pipe.

Decompressor failures (bad magic after all, a corrupt or truncated stream)
surface as :class:`~ketch.errors.InvalidArgument` from ``read()``, so callers
see one error kind for "this layer is not what it claims to be". Failures of
the *source* itself (an ``OSError`` from a socket) pass through unchanged:
they are not the archive's fault.
"""

from __future__ import annotations

import bz2
import enum
import io
import lzma
import zlib
from collections.abc import Callable
from types import ModuleType
from typing import IO, BinaryIO, Protocol

from ketch.errors import InvalidArgument

#: How many bytes are peeked: one tar header block, enough for every magic
#: number and for recognising an uncompressed tar by its header checksum.
_PEEK = 512


class Compression(enum.Enum):
    """A layer stream's compression, as detected from its magic bytes."""

    NONE = "none"
    GZIP = "gzip"
    BZIP2 = "bzip2"
    XZ = "xz"
    ZSTD = "zstd"


_MAGIC: tuple[tuple[bytes, Compression], ...] = (
    (b"\x1f\x8b\x08", Compression.GZIP),
    (b"BZh", Compression.BZIP2),
    (b"\xfd7zXZ\x00", Compression.XZ),
    (b"\x28\xb5\x2f\xfd", Compression.ZSTD),
)


def detect_compression(head: bytes) -> Compression:
    """The compression of a stream that starts with *head* (give 512 bytes).

    Anything that is neither a known compressed format nor recognisably a
    tar (empty, zero blocks, a ``ustar`` magic or a valid header checksum)
    is rejected: feeding garbage to the tar reader would only produce a
    vaguer error later.
    """
    for magic, kind in _MAGIC:
        if head.startswith(magic):
            return kind
    if _looks_like_tar(head):
        return Compression.NONE
    shown = head[:8].hex(" ") or "nothing"
    raise InvalidArgument(
        f"unrecognised layer compression: stream starts with {shown} "
        "(expected tar, gzip, bzip2, xz or zstd)"
    )


def _looks_like_tar(head: bytes) -> bool:
    """True for something a tar reader should be given a chance to read.

    An empty stream or zero blocks are an empty archive (Docker accepts
    both as an empty layer). Otherwise a header must carry the POSIX
    ``ustar`` magic or, for pre-POSIX v7 archives, a correct checksum.
    """
    if not head.strip(b"\x00"):
        return True
    if len(head) < _PEEK:
        return False
    if head[257:262] == b"ustar":
        return True
    field = head[148:156].split(b"\x00", 1)[0].strip(b" ")
    try:
        recorded = int(field, 8)
    except ValueError:
        return False
    unsigned = sum(head[:148]) + 8 * 0x20 + sum(head[156:512])
    signed = sum(b - 256 if b > 127 else b for b in head[:148] + head[156:512]) + 8 * 0x20
    return recorded in (unsigned, signed)


class _Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


class _SourceError(Exception):
    """Carries an error raised by the *source* through a decompressor.

    Deliberately not an ``OSError``: the decompressors' own corruption
    errors are ``OSError`` subclasses (``BadGzipFile``), and a network
    failure must not be reported as a corrupt layer.
    """

    def __init__(self, error: BaseException) -> None:
        super().__init__(str(error))
        self.error = error


class Replay(io.RawIOBase):
    """The peeked bytes followed by the rest of the source, read-only.

    Lets a caller look at the start of a forward-only stream (a pipe, a
    request body) to decide what it is, then read it whole. An ``OSError``
    from the source is raised wrapped (see ``_SourceError``), so that a
    decompressor reading through it does not take a failing source for a
    corrupt stream; :func:`open_decompressed`'s reader unwraps it.
    """

    def __init__(self, head: bytes, source: IO[bytes]) -> None:
        self._head = memoryview(head)
        self._source = source

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        if self._head:
            n = min(len(buffer), len(self._head))
            buffer[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        try:
            data = self._source.read(len(buffer))
        except OSError as e:
            raise _SourceError(e) from e
        n = len(data)
        buffer[:n] = data
        return n


class _Checked(io.RawIOBase):
    """Reads a decompressor, turning its corruption errors into InvalidArgument."""

    def __init__(
        self,
        inner: _Readable,
        kind: Compression,
        errors: tuple[type[BaseException], ...],
        close_inner: Callable[[], None],
    ) -> None:
        self._inner = inner
        self._kind = kind
        self._errors = errors
        self._close_inner = close_inner

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        try:
            data = self._inner.read(len(buffer))
        except _SourceError as e:
            raise e.error from None
        except self._errors as e:
            raise InvalidArgument(f"corrupt {self._kind.value} layer stream: {e}") from None
        n = len(data)
        buffer[:n] = data
        return n

    def close(self) -> None:
        if not self.closed:
            self._close_inner()
        super().close()


def _read_head(source: IO[bytes]) -> bytes:
    """Up to ``_PEEK`` bytes, looping because sockets and pipes return short reads."""
    chunks: list[bytes] = []
    have = 0
    while have < _PEEK:
        chunk = source.read(_PEEK - have)
        if not chunk:
            break
        chunks.append(chunk)
        have += len(chunk)
    return b"".join(chunks)


def open_decompressed(fileobj: IO[bytes]) -> BinaryIO:
    """A binary reader yielding the uncompressed tar inside *fileobj*.

    *fileobj* is read forward only (it may be a pipe or a response body);
    closing the result does not close it. Corrupt data raises
    InvalidArgument from the returned reader's ``read``.
    """
    head = _read_head(fileobj)
    kind = detect_compression(head)
    replay = io.BufferedReader(Replay(head, fileobj), buffer_size=1 << 16)
    if kind is Compression.NONE:
        checked = _Checked(replay, kind, (), replay.close)
        return io.BufferedReader(checked, buffer_size=1 << 16)

    inner: _Readable
    errors: tuple[type[BaseException], ...] = (OSError, EOFError)
    close_inner: Callable[[], None]
    # The decompressor objects below are closed by _Checked.close().
    if kind is Compression.GZIP:
        gz = _GzipMembers(replay)
        inner, close_inner, errors = gz, replay.close, (*errors, zlib.error)
    elif kind is Compression.BZIP2:
        bz = bz2.BZ2File(replay, mode="rb")
        inner, close_inner = bz, bz.close
    elif kind is Compression.XZ:
        xz = lzma.LZMAFile(replay, mode="rb", format=lzma.FORMAT_XZ)
        inner, close_inner, errors = xz, xz.close, (*errors, lzma.LZMAError)
    else:
        # Imported here: zstd layers are rare and the module is a C
        # extension we do not want in every process that imports us.
        import zstandard

        zs = _ZstdFrames(replay, zstandard)
        inner, close_inner, errors = zs, replay.close, (*errors, zstandard.ZstdError)
    return io.BufferedReader(_Checked(inner, kind, errors, close_inner), buffer_size=1 << 16)


class _GzipMembers:
    """Inflates a stream of concatenated gzip members.

    zlib does the whole member format in C (header, deflate, CRC-32 and
    length check) when asked for ``wbits=31``; the gzip module would parse
    the header and compute the CRC in Python-driven steps, about twice the
    CPU per megabyte. Output is bounded per call with ``max_length``.
    """

    _READ = 1 << 20

    def __init__(self, source: IO[bytes]) -> None:
        self._source = source
        self._member = zlib.decompressobj(31)
        self._in_member = False
        self._pending = b""

    def read(self, size: int = -1, /) -> bytes:
        limit = size if size > 0 else self._READ
        while True:
            if not self._pending:
                if self._member.unconsumed_tail:
                    self._pending = self._member.unconsumed_tail
                else:
                    self._pending = self._source.read(self._READ)
                    if not self._pending:
                        if self._in_member:
                            raise EOFError("compressed stream ends inside a member (truncated)")
                        return b""
            if self._member.eof:  # a new member starts here
                if not self._pending.strip(b"\x00"):
                    self._pending = b""  # zero padding after the last member, as gzip allows
                    continue
                self._member = zlib.decompressobj(31)
            self._in_member = True
            data, self._pending = self._pending, b""
            output = self._member.decompress(data, limit)
            if self._member.eof:
                self._in_member = False
                self._pending = self._member.unused_data
            elif self._member.unconsumed_tail:
                self._pending = b""
            if output:
                return output


class _ZstdFrames:
    """Decompresses a stream of concatenated zstd frames.

    zstandard's ``stream_reader`` reports a stream cut off inside a frame as
    a clean end, so this drives a decompression object per frame and calls
    the stream truncated when the source ends with a frame still open. The
    input is fed in small pieces because one call returns all the output of
    its input, and a kilobyte of zstd can expand to tens of megabytes.
    """

    _PIECE = 1024
    _READ = 1 << 16

    def __init__(self, source: IO[bytes], zstd: ModuleType) -> None:
        self._source = source
        self._zstd = zstd
        self._frame = zstd.ZstdDecompressor().decompressobj()
        self._in_frame = False
        self._input = memoryview(b"")
        self._output = b""
        self._taken = 0

    def read(self, size: int = -1, /) -> bytes:
        while self._taken >= len(self._output):
            if not self._decompress_more():
                return b""
        end = len(self._output) if size < 0 else self._taken + size
        chunk = self._output[self._taken:end]
        self._taken += len(chunk)
        return chunk

    def _decompress_more(self) -> bool:
        """Refill the output buffer; False at the clean end of the stream."""
        if not self._input:
            self._input = memoryview(self._source.read(self._READ))
            if not self._input:
                if self._in_frame:
                    raise self._zstd.ZstdError("stream ends inside a frame (truncated)")
                return False
        piece, self._input = self._input[: self._PIECE], self._input[self._PIECE :]
        self._in_frame = True
        output = self._frame.decompress(piece)
        while self._frame.eof:
            rest = self._frame.unused_data
            self._frame = self._zstd.ZstdDecompressor().decompressobj()
            self._in_frame = bool(rest)
            if rest:
                output += self._frame.decompress(rest)
        self._output, self._taken = output, 0
        return True
