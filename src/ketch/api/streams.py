"""Streaming responses: JSON message streams (load, import, pull, build) and
raw byte streams (save, export)."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from ketch.errors import KetchError

log = logging.getLogger("ketch.api")


def encode_message(message: dict[str, Any]) -> bytes:
    return json.dumps(message, separators=(",", ":")).encode() + b"\r\n"


def error_message(exc: KetchError) -> dict[str, Any]:
    return {"errorDetail": {"message": exc.message}, "error": exc.message}


async def json_stream(
    request: web.Request, messages: AsyncIterator[dict[str, Any]],
) -> web.StreamResponse:
    """Write ``messages`` as a chunked JSON stream.

    An error before the first message becomes a plain HTTP error (raised to
    the error middleware); after it, an ``errorDetail`` message ends the stream.
    """
    iterator = aiter(messages)
    first = await anext(iterator, None)
    response = web.StreamResponse(headers={"Content-Type": "application/json"})
    response.enable_chunked_encoding()
    await response.prepare(request)
    if first is not None:
        await response.write(encode_message(first))
        try:
            async for message in iterator:
                await response.write(encode_message(message))
        except KetchError as exc:
            await response.write(encode_message(error_message(exc)))
    await response.write_eof()
    return response


async def byte_stream(
    request: web.Request, chunks: AsyncIterator[bytes], content_type: str,
) -> web.StreamResponse:
    """Stream bytes; an error before the first chunk is a plain HTTP error."""
    iterator = aiter(chunks)
    first = await anext(iterator, b"")
    response = web.StreamResponse(headers={"Content-Type": content_type})
    response.enable_chunked_encoding()
    await response.prepare(request)
    try:
        await response.write(first)
        async for chunk in iterator:
            await response.write(chunk)
    except KetchError as exc:
        # Headers are gone: the only honest signal left is a broken stream.
        log.error("%s %s: stream aborted: %s", request.method, request.path, exc.message)
        if request.transport is not None:
            request.transport.close()
        return response
    await response.write_eof()
    return response


def json_response(body: Any, status: int = 200) -> web.Response:
    """A JSON body with ``Content-Type`` exactly ``application/json`` (no
    charset: the Go CLI compares the whole header value)."""
    return web.Response(status=status, body=json.dumps(body).encode() + b"\n",
                        headers={"Content-Type": "application/json"})
