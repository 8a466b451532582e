"""``GET /containers/{id}/stats``: resource usage samples, as Docker 28 serves them.

``stream`` (default true) sends one JSON object a second, each carrying the
previous sample's CPU figures as ``precpu_stats`` (the CLI's CPU % is the
ratio of the two deltas). ``stream=false`` takes two samples a second apart
and sends the second, unless ``one-shot`` (API >= 1.41) asks for a single
sample with empty ``precpu_stats``. A container that is not running answers
a zeroed object; Docker 28 refuses ``stream`` together with ``one-shot``.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import web

from ketch.api.keys import SERVICES
from ketch.api.params import query_bool
from ketch.api.version import at_least
from ketch.containers import stats
from ketch.containers.model import Container
from ketch.errors import InvalidArgument, NotFound

#: Docker's collector samples every container once a second.
INTERVAL = 1.0


def _encode(body: dict[str, Any]) -> bytes:
    """Go's json.Encoder: compact, one object per line."""
    return json.dumps(body, separators=(",", ":")).encode() + b"\n"


def _stopped(container: Container) -> bool:
    return not container.state.running or container.state.status == "restarting"


def _target(container: Container) -> stats.Target:
    return stats.Target(container_id=container.id, name="/" + container.name,
                        pid=container.state.pid,
                        network=not container.config.network_disabled)


async def sample(request: web.Request, ref: str) -> dict[str, Any]:
    """One sample of the container as it is now (the empty object when it
    stopped, or stops while being read)."""
    container = request.app[SERVICES].containers.get(ref)
    if _stopped(container):
        return stats.empty_stats(container.id, "/" + container.name)
    try:
        return await asyncio.to_thread(stats.collect, _target(container))
    except ProcessLookupError:
        return stats.empty_stats(container.id, "/" + container.name)


async def container_stats(request: web.Request) -> web.StreamResponse:
    ref = request.match_info["id"]
    container = request.app[SERVICES].containers.get(ref)
    stream = query_bool(request, "stream", True)
    one_shot = at_least(request["api_version"], "1.41") and query_bool(request, "one-shot")
    if stream and one_shot:
        raise InvalidArgument("cannot have stream=true and one-shot=true")
    if not stream:
        if _stopped(container):
            body = stats.empty_stats(container.id, "/" + container.name)
        elif one_shot:
            body = await sample(request, container.id)
        else:
            first = await sample(request, container.id)
            await asyncio.sleep(INTERVAL)
            body = await sample(request, container.id)
            body["preread"], body["precpu_stats"] = first["read"], first["cpu_stats"]
        return web.Response(body=_encode(body), headers={"Content-Type": "application/json"})
    # Go sniffs a streamed body it was given no type for: text/plain.
    response = web.StreamResponse(headers={"Content-Type": "text/plain; charset=utf-8"})
    response.enable_chunked_encoding()
    await response.prepare(request)
    previous: dict[str, Any] | None = None
    while True:
        try:
            body = await sample(request, container.id)
        except NotFound:
            # Removed while watched: Docker ends the stream.
            break
        if previous is not None:
            body["preread"], body["precpu_stats"] = previous["read"], previous["cpu_stats"]
        try:
            await response.write(_encode(body))
        except ConnectionResetError:
            # The client hung up (docker stats exits, Ctrl-C): nothing left to say.
            return response
        previous = body
        await asyncio.sleep(INTERVAL)
    await response.write_eof()
    return response


def add_routes(add: Any) -> None:
    add("GET", "/containers/{id}/stats", container_stats)
