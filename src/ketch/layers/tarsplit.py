"""A layer's exact tar, rebuilt from its unpacked files and a tar-split record.

``docker save`` and ``docker push`` must reproduce a layer's tar byte for
byte: its SHA-256 is the diffID the image config names. Keeping that tar
as a blob next to the unpacked files wrote every pulled byte twice. Like
Docker's layer store, ketch keeps the files once and, beside them, a record
of everything else the tar held (headers, padding, end-of-archive blocks),
written by the unpacking child (``_unpack_child.SplitRecorder``) as it
unpacks.

Record format (a zlib stream), entries in tar order:

* ``R`` u32 length, bytes: raw tar bytes;
* ``F`` u64 size, u32 index, u16 length, path: *size* bytes of content, in
  the file at *path* below the layer's ``diff/`` (a path without symlinks
  or ``..``), or in ``tar-split.spill/<index>`` when a later entry of the
  same tar deleted or replaced that file (the summary lists those).

The summary (``tar-split.json``: the tar's length and the spilled indexes)
is written by :func:`write_summary` once the layer is unpacked.

Rebuilding opens every file one path component at a time without
following symlinks, checks each one still has the size it was unpacked
with and, given the diffID, hashes the whole stream and fails at the end if
the layer's files were changed behind ketch's back.
"""

from __future__ import annotations

import json
import os
import zlib
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from pathlib import Path

from ketch.chunkio import ChunkReader
from ketch.errors import InternalError
from ketch.oci.digest import new_hasher

RECORD = "tar-split"
SPILL_DIR = "tar-split.spill"
SUMMARY = "tar-split.json"

_RAW = ord("R")
_FILE = ord("F")
_READ = 1 << 20


@dataclass(frozen=True, slots=True)
class SplitSummary:
    """How long the rebuilt tar is and which contents live in the spill dir."""

    size: int
    spilled: frozenset[int]


def write_summary(layer_dir: Path, size: int, spilled: tuple[int, ...]) -> None:
    (layer_dir / SUMMARY).write_text(json.dumps({"size": size, "spilled": sorted(spilled)}))


def read_summary(layer_dir: Path) -> SplitSummary | None:
    """The layer's summary; None when the layer has no tar-split record."""
    try:
        raw = json.loads((layer_dir / SUMMARY).read_text())
        return SplitSummary(size=int(raw["size"]),
                            spilled=frozenset(int(i) for i in raw["spilled"]))
    except FileNotFoundError:
        return None
    except (ValueError, KeyError, TypeError) as e:
        raise InternalError(f"damaged tar-split summary in {layer_dir}: {e}") from None


class SplitTarReader(ChunkReader):
    """The layer's tar as a readable stream, rebuilt as it is read.

    ``expected`` (the diffID) makes the last read fail with InternalError if
    the rebuilt bytes are not that digest.
    """

    def __init__(self, layer_dir: Path, summary: SplitSummary,
                 expected: str | None = None) -> None:
        self._layer_dir = layer_dir
        self._summary = summary
        self._expected = expected
        self._algorithm = expected.split(":", 1)[0] if expected else ""
        self._hasher = new_hasher(self._algorithm) if expected else None
        super().__init__(self._generate())

    def _generate(self) -> Generator[bytes, None, None]:
        diff_fd = os.open(self._layer_dir / "diff", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            total = 0
            for entry in _entries(self._layer_dir / RECORD):
                chunks = (iter((entry,)) if isinstance(entry, bytes)
                          else self._content(diff_fd, *entry))
                for chunk in chunks:
                    total += len(chunk)
                    if self._hasher is not None:
                        self._hasher.update(chunk)
                    yield chunk
        finally:
            os.close(diff_fd)
        self._check(total)

    def _content(self, diff_fd: int, size: int, index: int, path: bytes) -> Iterator[bytes]:
        if index in self._summary.spilled:
            fd = os.open(self._layer_dir / SPILL_DIR / str(index), os.O_RDONLY | os.O_CLOEXEC)
        else:
            fd = _open_beneath(diff_fd, path)
        try:
            if os.fstat(fd).st_size != size:
                raise self._changed(f"{path!r} no longer has its size of {size} bytes")
            left = size
            while left:
                chunk = os.read(fd, min(left, _READ))
                if not chunk:
                    raise self._changed(f"{path!r} is shorter than {size} bytes")
                left -= len(chunk)
                yield chunk
        finally:
            os.close(fd)

    def _check(self, total: int) -> None:
        if total != self._summary.size:
            raise self._changed(f"the tar came out {total} bytes long, not "
                                f"{self._summary.size}")
        if self._hasher is not None:
            digest = f"{self._algorithm}:{self._hasher.hexdigest()}"
            if digest != self._expected:
                raise self._changed(f"the tar is {digest}, not {self._expected}")

    def _changed(self, detail: str) -> InternalError:
        return InternalError(f"layer {self._layer_dir.name} changed on disk: {detail}")


def _entries(record: Path) -> Iterator[bytes | tuple[int, int, bytes]]:
    """The record's entries: raw bytes, or (size, index, path) of a content."""
    inflate = zlib.decompressobj()
    pending = bytearray()
    with record.open("rb") as f:
        eof = False
        while not eof or pending:
            if not eof:
                block = f.read(_READ)
                pending += inflate.decompress(block) if block else inflate.flush()
                eof = not block
            while (entry := _take(pending)) is not None:
                yield entry
            if eof and pending:
                raise InternalError(f"tar-split record {record} is cut short")


def _take(pending: bytearray) -> bytes | tuple[int, int, bytes] | None:
    """Remove and return the first complete entry of *pending*, if there is one."""
    if not pending:
        return None
    kind = pending[0]
    if kind == _RAW:
        if len(pending) < 5:
            return None
        end = 5 + int.from_bytes(pending[1:5], "big")
        if len(pending) < end:
            return None
        raw = bytes(pending[5:end])
        del pending[:end]
        return raw
    if kind == _FILE:
        if len(pending) < 15:
            return None
        end = 15 + int.from_bytes(pending[13:15], "big")
        if len(pending) < end:
            return None
        size = int.from_bytes(pending[1:9], "big")
        index = int.from_bytes(pending[9:13], "big")
        path = bytes(pending[15:end])
        del pending[:end]
        return size, index, path
    raise InternalError(f"damaged tar-split record: entry kind {kind:#x}")


def _open_beneath(root_fd: int, path: bytes) -> int:
    """Open the regular file *path* below *root_fd*, following no symlink."""
    parts = path.split(b"/")
    if any(part in (b"", b".", b"..") for part in parts):
        raise InternalError(f"damaged tar-split record: path {path!r}")
    fd = os.dup(root_fd)
    try:
        for part in parts[:-1]:
            next_fd = os.open(part, os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC,
                              dir_fd=fd)
            os.close(fd)
            fd = next_fd
        return os.open(parts[-1], os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
    except OSError as e:
        raise InternalError(f"layer file {path!r} cannot be read back: {e.strerror}") from None
    finally:
        os.close(fd)


__all__ = ["RECORD", "SPILL_DIR", "SUMMARY", "SplitSummary", "SplitTarReader", "read_summary",
           "write_summary"]
