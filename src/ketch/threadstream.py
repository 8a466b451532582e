"""Bridge a blocking writer (tarfile, a compressor) running in a thread to an
async byte iterator, with back-pressure so a slow client bounds memory."""

from __future__ import annotations

import asyncio
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
