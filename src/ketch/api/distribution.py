"""Registry routes: pull (``POST /images/create?fromImage=``), push, login
check (``/auth``) and ``/distribution/{name}/json``.

Credentials come in the ``X-Registry-Auth`` header (or the ``/auth`` body);
the progress of pull and push goes out as Docker's JSON message stream.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from ketch.api.keys import SERVICES
from ketch.api.params import query_str
from ketch.api.streams import json_response, json_stream
from ketch.distribution.auth import credentials_from_mapping, decode_registry_auth
from ketch.distribution.messages import Message
from ketch.errors import InvalidArgument


def render(message: Message) -> dict[str, Any]:
    """One message of Docker's JSON stream (layer lines without progress get
    ``progressDetail: {}``, as Docker's daemon sends them)."""
    if message.aux is not None:
        return {"progressDetail": {}, "aux": message.aux}
    body: dict[str, Any] = {"status": message.status}
    if message.current is not None:
        detail = {"current": message.current, "total": message.total or 0}
        body["progressDetail"] = detail
        body["progress"] = _progress_bar(message.current, message.total or 0)
    elif _is_layer(message.id):
        # Only layer lines carry it: clients draw any message with a
        # progressDetail as a line they will overwrite.
        body["progressDetail"] = {}
    if message.id:
        body["id"] = message.id
    return body


def _is_layer(ident: str) -> bool:
    return len(ident) == 12 and all(c in "0123456789abcdef" for c in ident)


def _progress_bar(current: int, total: int) -> str:
    """The ``progress`` text Docker adds (clients without a terminal print it)."""
    if total <= 0:
        return _human(current)
    filled = min(50, int(50 * current / total))
    bar = "=" * filled + (">" if filled < 50 else "") + " " * max(0, 49 - filled)
    return f"[{bar}]  {_human(current)}/{_human(total)}"


def _human(size: int) -> str:
    value = float(size)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.3g}{unit}" if unit != "B" else f"{int(value)}B"
        value /= 1000
    return f"{size}B"


async def _rendered(messages: AsyncIterator[Message]) -> AsyncIterator[dict[str, Any]]:
    async for message in messages:
        yield render(message)


async def pull_image(request: web.Request) -> web.StreamResponse:
    """Called by ``POST /images/create`` when ``fromImage`` is given."""
    service = request.app[SERVICES].distribution
    credentials = decode_registry_auth(request.headers.get("X-Registry-Auth"))
    messages = service.pull(query_str(request, "fromImage"), query_str(request, "tag"),
                            credentials, query_str(request, "platform"))
    return await json_stream(request, _rendered(messages))


async def push_image(request: web.Request) -> web.StreamResponse:
    service = request.app[SERVICES].distribution
    credentials = decode_registry_auth(request.headers.get("X-Registry-Auth"))
    messages = service.push(request.match_info["name"], query_str(request, "tag"),
                            credentials)
    return await json_stream(request, _rendered(messages))


async def check_auth(request: web.Request) -> web.Response:
    """``POST /auth``: 200 ``Login Succeeded`` or the registry's refusal (401)."""
    try:
        body = json.loads(await request.read() or b"{}")
    except ValueError:
        raise InvalidArgument("invalid JSON in the request body") from None
    if not isinstance(body, dict):
        raise InvalidArgument("the request body must be a JSON object")
    await request.app[SERVICES].distribution.login(credentials_from_mapping(body))
    return json_response({"IdentityToken": "", "Status": "Login Succeeded"})


async def distribution_inspect(request: web.Request) -> web.Response:
    credentials = decode_registry_auth(request.headers.get("X-Registry-Auth"))
    found = await request.app[SERVICES].distribution.inspect(
        request.match_info["name"], credentials)
    return json_response({
        "Descriptor": {"mediaType": found.media_type, "digest": found.digest,
                       "size": found.size},
        "Platforms": found.platforms,
    })


def add_routes(add: Any) -> None:
    """The registry routes other than pull (which shares /images/create)."""
    add("POST", "/images/{name:.+}/push", push_image)
    add("POST", "/auth", check_auth)
    add("GET", "/distribution/{name:.+}/json", distribution_inspect)
