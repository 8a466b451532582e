"""``POST /build`` (the classic builder) and ``POST /build/prune``.

The context (a tar, possibly compressed, or a bare Dockerfile) is unpacked
in a chrooted child as it arrives, as Docker's daemon does: the docker CLI
is still walking and tarring the client's files while the first ones are
written here (a large context takes as long to send as to unpack, so
waiting for the whole body first would add the two). A truncated or bad
context, bad parameters or a bad Dockerfile are a 400 before the stream
starts. From then on the response is Docker's JSON stream and a failed
step is its last ``errorDetail`` object.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import json
import queue
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from aiohttp import web

from ketch.api.distribution import render
from ketch.api.keys import SERVICES, Services
from ketch.api.params import query_bool, query_filters, query_list, query_str
from ketch.api.streams import json_response, json_stream
from ketch.api.version import at_least
from ketch.build.builder import BuildOptions, PullFn
from ketch.build.cache import PRUNE_FILTERS, RECORD_FILTERS, PruneOptions
from ketch.build.context import BuildContext, receive_context
from ketch.build.dockerfile.gocompat import quote as go_quote
from ketch.distribution.auth import Credentials, credentials_from_mapping
from ketch.errors import InvalidArgument
from ketch.oci.reference import Reference, parse_with_default_tag, split_domain
from ketch.timeutil import parse_timestamp_ns

_CHUNK = 1 << 20


def _json_param(request: web.Request, name: str) -> dict[str, Any]:
    text = query_str(request, name)
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        raise InvalidArgument(f"invalid {name} parameter: not JSON") from None
    if not isinstance(value, dict):
        raise InvalidArgument(f"invalid {name} parameter: expected a JSON object")
    return value


def build_options(request: web.Request) -> BuildOptions:
    tags: list[Reference] = []
    for tag in query_list(request, "t"):
        try:
            ref = parse_with_default_tag(tag)
        except InvalidArgument:
            raise InvalidArgument(f"invalid reference format: {tag}") from None
        if ref.digest is not None:
            raise InvalidArgument(f"invalid tag {tag!r}: a tag cannot have a digest")
        tags.append(ref)
    args = _json_param(request, "buildargs")
    labels = _json_param(request, "labels")
    cache_from = query_str(request, "cachefrom")
    hosts = query_str(request, "extrahosts")
    return BuildOptions(
        tags=tags,
        dockerfile=query_str(request, "dockerfile"),
        build_args={str(k): None if v is None else str(v) for k, v in args.items()},
        target=query_str(request, "target"),
        no_cache=query_bool(request, "nocache"),
        pull=query_bool(request, "pull"),
        quiet=query_bool(request, "q"),
        remove=query_bool(request, "rm", True),
        force_remove=query_bool(request, "forcerm"),
        labels={str(k): str(v) for k, v in labels.items()},
        network_mode=query_str(request, "networkmode"),
        extra_hosts=[h for h in hosts.replace(",", " ").split() if h] if hosts else [],
        cache_from=json.loads(cache_from) if cache_from.startswith("[") else [],
    )


def _registry_credentials(header: str | None) -> dict[str, Credentials]:
    """``X-Registry-Config``: base64 JSON of registry host -> auth config."""
    if not header:
        return {}
    try:
        data = json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))
    except (ValueError, UnicodeDecodeError):
        return {}
    if not isinstance(data, dict):
        return {}
    result: dict[str, Credentials] = {}
    for host, auth in data.items():
        if isinstance(auth, dict):
            name = str(host).removeprefix("https://").removeprefix("http://").split("/")[0]
            if name in ("index.docker.io", "registry-1.docker.io"):
                name = "docker.io"
            result[name] = credentials_from_mapping(auth)
    return result


def puller(services: Services, request: web.Request,
           progress: list[dict[str, Any]]) -> PullFn:
    """The build's implicit pull, with this request's registry credentials;
    its progress messages are queued in ``progress`` for the build's stream."""
    by_registry = _registry_credentials(request.headers.get("X-Registry-Config"))

    async def pull(ref: Reference) -> str:
        domain, _ = split_domain(str(ref.repository()))
        credentials = by_registry.get(domain, Credentials())
        name = str(ref.repository()) + (f"@{ref.digest}" if ref.digest else "")
        async for message in services.distribution.pull(name, ref.tag or "", credentials, ""):
            progress.append(render(message))
        return services.images.resolve_id(str(ref))

    return pull


class _BodyReader(io.RawIOBase):
    """The request body as a blocking file for a worker thread, fed by the event loop.

    At most ``depth`` chunks wait in between, so a slow unpacker slows the
    upload down rather than filling memory. ``stop()`` (the reader is
    done, maybe early) makes :meth:`feed` return False instead of waiting
    for room that will never come.
    """

    def __init__(self, depth: int = 8) -> None:
        super().__init__()
        self._chunks: queue.Queue[bytes | Exception | None] = queue.Queue()
        self._room = asyncio.Semaphore(depth)
        self._loop = asyncio.get_running_loop()
        self._stopped = False
        self._pending = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._pending:
            item = self._chunks.get()
            if item is None:
                self._chunks.put(None)  # stays at its end
                return 0
            if isinstance(item, Exception):
                self._chunks.put(item)
                raise item
            self._pending = memoryview(item)
            self._loop.call_soon_threadsafe(self._room.release)
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        return size

    async def feed(self, chunk: bytes) -> bool:
        """Hand a chunk over; False once the reader stopped (stop feeding)."""
        await self._room.acquire()
        if self._stopped:
            return False
        self._chunks.put(chunk)
        return True

    def end(self, failure: Exception | None = None) -> None:
        """No more chunks: the body's end, or ``failure`` for the reader to raise."""
        self._chunks.put(failure)

    def stop(self) -> None:
        self._stopped = True
        self._room.release()


async def _receive(request: web.Request, tmp_dir: Path, scratch: Path | None,
                   dockerfile: str) -> BuildContext:
    """The context unpacked from the body while the body arrives."""
    body = _BodyReader()
    unpacked = asyncio.ensure_future(asyncio.to_thread(
        receive_context, io.BufferedReader(body, _CHUNK), tmp_dir, dockerfile,
        scratch=scratch))
    unpacked.add_done_callback(lambda _: body.stop())
    try:
        while chunk := await request.content.read(_CHUNK):
            if not await body.feed(chunk):
                break
    except BaseException as exc:  # the client went away, or the request was cancelled
        body.end(ConnectionAbortedError(f"the build context upload failed: {exc!r}"))
        with contextlib.suppress(BaseException):
            (await asyncio.shield(unpacked)).close()  # only if it finished meanwhile
        raise
    body.end()
    return await unpacked


async def build(request: web.Request) -> web.StreamResponse:
    services = request.app[SERVICES]
    options = build_options(request)
    context = await _receive(request, services.tmp_dir, services.build_scratch,
                             options.dockerfile)
    try:
        pulled: list[dict[str, Any]] = []
        builder = services.builder
        dockerfile = builder.parse(context)
        messages = builder.build(context, dockerfile, options,
                                 puller(services, request, pulled))

        async def with_pull_progress() -> AsyncIterator[dict[str, Any]]:
            async for message in messages:
                while pulled:
                    yield pulled.pop(0)
                yield message

        return await json_stream(request, with_pull_progress())
    finally:
        services.builder.discard(context)


# -- POST /build/prune -------------------------------------------------------------------


def _prune_bytes(request: web.Request, name: str) -> int:
    """A size in bytes (Go's ``strconv.Atoi``); 0 when absent or empty."""
    value = query_str(request, name)
    if not value:
        return 0
    if not re.fullmatch(r"[+-]?[0-9]+", value):
        reason = f"strconv.Atoi: parsing {go_quote(value)}: invalid syntax"
    elif not -(1 << 63) <= int(value) < 1 << 63:
        reason = f"strconv.Atoi: parsing {go_quote(value)}: value out of range"
    else:
        return int(value)
    raise InvalidArgument(f"{name} is in bytes and expects an integer, got {value}: {reason}")


def _prune_until(filters: dict[str, list[str]]) -> int | None:
    """``until`` (or its old name ``unused-for``): keep what was used after then."""
    until, unused_for = filters.get("until", []), filters.get("unused-for", [])
    if until and unused_for:
        raise InvalidArgument('conflicting filters: "until" and "unused-for"')
    key = "unused-for" if unused_for else "until"
    values = until + unused_for
    if not values:
        return None
    if len(values) > 1:
        raise InvalidArgument("filters expect only one value")
    try:
        return parse_timestamp_ns(values[0])
    except InvalidArgument as exc:
        raise InvalidArgument(f'"{key}" filter expects a duration (e.g., \'24h\') '
                              f"or a timestamp: {exc.message}") from None


def prune_options(request: web.Request) -> PruneOptions:
    """The query of ``POST /build/prune``, validated in Docker's order and words.

    From API 1.48 ``reserved-space`` (``keep-storage`` being its old name),
    ``max-used-space`` and ``min-free-space``; before, ``keep-storage`` only.
    """
    filters = query_filters(request)
    if at_least(request["api_version"], "1.48"):
        reserved = _prune_bytes(request, "reserved-space") or _prune_bytes(
            request, "keep-storage")
        max_used = _prune_bytes(request, "max-used-space")
        min_free = _prune_bytes(request, "min-free-space")
    else:
        reserved, max_used, min_free = _prune_bytes(request, "keep-storage"), 0, 0
    for key in filters:
        if not PRUNE_FILTERS.get(key, False):
            raise InvalidArgument(f"invalid filter '{key}'")
    until_ns = _prune_until(filters)
    fields: dict[str, str] = {}
    for key in RECORD_FILTERS:
        if key in filters:
            if len(filters[key]) > 1:
                raise InvalidArgument("filters expect only one value")
            fields[key] = filters[key][0] if filters[key] else ""
    return PruneOptions(all=query_bool(request, "all"), until_ns=until_ns,
                        reserved_space=reserved, max_used_space=max_used,
                        min_free_space=min_free, fields=fields)


async def prune(request: web.Request) -> web.Response:
    options = prune_options(request)
    deleted, reclaimed = await request.app[SERVICES].builder.prune(options)
    return json_response({"CachesDeleted": deleted or None, "SpaceReclaimed": reclaimed})


def add_routes(add: Any) -> None:
    add("POST", "/build", build)
    add("POST", "/build/prune", prune)
