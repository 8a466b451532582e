"""A readable binary file over an iterator of byte chunks.

Code that produces a stream piece by piece (a rebuilt layer tar, a
rewritten upload) is easiest to write as a generator; code that consumes
one (tarfile, gzip, shutil.copyfileobj) wants a file. :class:`ChunkReader`
is the adapter, without joining the chunks into one buffer.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any


class ChunkReader(io.RawIOBase):
    """Reads *chunks* in order; closing closes the iterator if it is a generator."""

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

    def close(self) -> None:
        close = getattr(self._chunks, "close", None)
        if close is not None:
            close()
        super().close()


__all__ = ["ChunkReader"]
