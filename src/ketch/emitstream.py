"""Run a coroutine that emits messages, and stream those messages as it runs.

Long operations (a pull, a push, a build) report progress from wherever
they are, often several concurrent tasks at once, while the HTTP handler
consumes one ordered stream of JSON objects. :func:`stream_emitted` joins
the two: the work runs as a task with an ``emit`` callback, and the caller
iterates over what it emitted, in order, as it was emitted.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def stream_emitted(work: Callable[[Callable[[T], None]], Awaitable[None]],
                         ) -> AsyncIterator[T]:
    """Yield what ``work(emit)`` emits until it ends.

    If the consumer goes away (the client disconnected), the work is
    cancelled and awaited; an error of the work is raised here after the
    messages it emitted before failing.
    """
    queue: asyncio.Queue[tuple[T] | None] = asyncio.Queue()

    async def runner() -> None:
        try:
            await work(lambda message: queue.put_nowait((message,)))
        finally:
            queue.put_nowait(None)

    task = asyncio.create_task(runner())
    try:
        while (item := await queue.get()) is not None:
            yield item[0]
        await task
    finally:
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


__all__ = ["stream_emitted"]
