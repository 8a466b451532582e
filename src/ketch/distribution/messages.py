"""Progress messages of pull and push, rendered by the API as Docker's JSON stream."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp

from ketch.emitstream import stream_emitted
from ketch.errors import InternalError, KetchError

log = logging.getLogger(__name__)


class RegistryIOError(KetchError):
    """A network or disk failure in the middle of a pull or push."""


@dataclass(frozen=True)
class Message:
    """``status`` with an optional layer ``id`` and byte progress, or an ``aux`` object."""

    status: str = ""
    id: str = ""
    current: int | None = None
    total: int | None = None
    aux: dict[str, Any] | None = None


Emit = Callable[[Message], None]


async def run_with_messages(
    work: Callable[[Emit], Awaitable[None]],
) -> AsyncIterator[Message]:
    """Run ``work`` as a task and yield what it emits, in order, as it emits it.

    The operation's layer tasks run concurrently and report from wherever
    they are; the HTTP handler consumes one ordered stream. If the consumer
    goes away (the client disconnected), the work is cancelled; an error of
    the work is raised here after the messages it emitted before failing,
    as a registry I/O error or an internal one when it is not a KetchError.
    """
    async def mapped(emit: Emit) -> None:
        try:
            await work(emit)
        except KetchError:
            raise
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise RegistryIOError(f"{type(exc).__name__}: {exc}") from exc
        except Exception as exc:
            log.exception("registry operation failed")
            raise InternalError(f"{type(exc).__name__}: {exc}") from exc

    async for message in stream_emitted(mapped):
        yield message
