"""Bridge a blocking writer (tarfile, a compressor) running in a thread to an
async byte iterator, with back-pressure so a slow client bounds memory."""

from __future__ import annotations

import asyncio
import contextlib
import io
import queue
import threading
from collections.abc import AsyncIterator, Callable
from typing import Any

_DONE = object()
CHUNK = 256 * 1024


class _QueueWriter:
    """A write-only file object whose bytes go to a bounded queue."""

    def __init__(self, chunks: queue.Queue[Any], cancelled: threading.Event) -> None:
        self._chunks = chunks
        self._cancelled = cancelled
        self._buffer = bytearray()

    def write(self, data: bytes) -> int:
        if self._cancelled.is_set():
            raise BrokenPipeError("client went away")
        self._buffer += data
        if len(self._buffer) >= CHUNK:
            self.flush()
        return len(data)

    def flush(self) -> None:
        if self._buffer:
            self._chunks.put(bytes(self._buffer))
            self._buffer.clear()

    def tell(self) -> int:  # tarfile asks; streaming mode does not need the truth
        return 0


async def stream_from_thread(produce: Callable[[Any], None]) -> AsyncIterator[bytes]:
    """Run ``produce(fileobj)`` in a thread and yield what it writes.

    An exception in ``produce`` is re-raised in the consumer after the bytes
    written before it; closing the iterator early stops the producer.
    """
    chunks: queue.Queue[Any] = queue.Queue(maxsize=16)
    cancelled = threading.Event()
    writer = _QueueWriter(chunks, cancelled)
    failure: list[BaseException] = []

    def run() -> None:
        try:
            produce(writer)
            writer.flush()
        except BaseException as exc:  # handed to the consumer
            failure.append(exc)
        finally:
            chunks.put(_DONE)

    thread = threading.Thread(target=run, name="stream-producer", daemon=True)
    thread.start()
    loop = asyncio.get_running_loop()
    try:
        while True:
            item = await loop.run_in_executor(None, chunks.get)
            if item is _DONE:
                break
            yield item
        if failure:
            raise failure[0]
    finally:
        cancelled.set()
        while thread.is_alive():  # unblock a producer waiting on a full queue
            try:
                chunks.get_nowait()
            except queue.Empty:
                await asyncio.sleep(0.01)


class AsyncPipe(io.RawIOBase):
    """Bytes written by coroutines on the event loop, read by a blocking thread.

    The writer side (:meth:`write`, :meth:`finish`, :meth:`fail`) runs on the
    loop and waits, without blocking the loop, while ``max_chunks`` chunks
    are queued; the reader side is a raw binary file for code that wants one
    (a decompressor, a tar reader) in a worker thread. If the reader closes
    the pipe early (it failed or has all it wants), further writes raise
    BrokenPipeError so the producer stops.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, max_chunks: int = 16) -> None:
        super().__init__()
        self._loop = loop
        self._chunks: queue.Queue[Any] = queue.Queue(maxsize=max_chunks)
        self._space = asyncio.Event()
        self._abandoned = False
        self._current = memoryview(b"")
        self._ended = False
        self._error: BaseException | None = None
        #: set while the writer waits for room, so the reader only wakes the
        #: loop when someone is waiting (not once per chunk)
        self._writer_waiting = False

    # -- writer side (event loop) ---------------------------------------------
    async def write_async(self, data: bytes) -> None:
        while True:
            if self._abandoned:
                raise BrokenPipeError("the reader of the pipe has gone")
            try:
                self._chunks.put_nowait(data)
                return
            except queue.Full:
                self._space.clear()
                self._writer_waiting = True
                try:
                    if not self._chunks.full():
                        continue
                    await self._space.wait()
                finally:
                    self._writer_waiting = False

    async def finish(self) -> None:
        """End of data: the reader sees EOF after the queued chunks."""
        await self._put_marker(_DONE)

    async def fail(self, exc: BaseException) -> None:
        """The reader gets ``exc`` after the queued chunks instead of EOF."""
        await self._put_marker(exc)

    async def _put_marker(self, marker: Any) -> None:
        with contextlib.suppress(BrokenPipeError):
            await self.write_async(marker)

    # -- reader side (worker thread) ------------------------------------------
    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._current:
            if self._error is not None:
                raise self._error
            if self._ended:
                return 0
            item = self._chunks.get()
            if self._writer_waiting:
                self._loop.call_soon_threadsafe(self._space.set)
            if item is _DONE:
                self._ended = True
                return 0
            if isinstance(item, BaseException):
                self._error = item
                raise item
            self._current = memoryview(item)
        count = min(len(buffer), len(self._current))
        buffer[:count] = self._current[:count]
        self._current = self._current[count:]
        return count

    def close(self) -> None:
        """Reader is done: wake and refuse the writer, drop what is queued."""
        if not self._abandoned:
            self._abandoned = True
            while True:
                try:
                    self._chunks.get_nowait()
                except queue.Empty:
                    break
            with contextlib.suppress(RuntimeError):  # loop already closed
                self._loop.call_soon_threadsafe(self._space.set)
        super().close()
