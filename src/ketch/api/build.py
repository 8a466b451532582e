"""``POST /build`` (the classic builder) and ``POST /build/prune``.

The context (a tar, possibly compressed, or a bare Dockerfile) is spooled
to a file and unpacked in a chrooted child before anything else; a bad
context, bad parameters or a bad Dockerfile are a 400 before the stream
starts. From then on the response is Docker's JSON stream and a failed
step is its last ``errorDetail`` object.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from ketch.api.distribution import render
from ketch.api.keys import SERVICES, Services
from ketch.api.params import query_bool, query_list, query_str
from ketch.api.spool import spooled_body
from ketch.api.streams import json_response, json_stream
from ketch.build.builder import Builder, BuildOptions, PullFn
from ketch.build.context import receive_context
from ketch.distribution.auth import Credentials, credentials_from_mapping
from ketch.errors import InvalidArgument, KetchError
from ketch.oci.reference import Reference, parse_with_default_tag, split_domain


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


async def build(request: web.Request) -> web.StreamResponse:
    services = request.app[SERVICES]
    options = build_options(request)
    async with spooled_body(request, services.tmp_dir) as body_path:
        def receive() -> Any:
            with body_path.open("rb") as body:
                return receive_context(body, services.tmp_dir, options.dockerfile)
        context = await asyncio.to_thread(receive)
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


async def prune(request: web.Request) -> web.Response:
    builder = request.app[SERVICES].builder
    deleted, reclaimed = await prune_cache(builder, query_bool(request, "all"))
    return json_response({"CachesDeleted": deleted or None, "SpaceReclaimed": reclaimed})


async def prune_cache(builder: Builder, everything: bool) -> tuple[list[str], int]:
    """Remove the build's intermediate images nothing needs any more.

    A cached step image goes when it has no tag, no container uses it and no
    image is built on it (leaves first, so a whole unused chain goes).
    ``all`` also drops tagged results' cache entries (not their images).
    """
    images = builder.images
    deleted: list[str] = []
    reclaimed = 0
    changed = True
    while changed:
        changed = False
        entries = builder.cache.entries()
        cached = {entry.image_id for entry in entries}
        parents = {row.parent for row in images.meta.images() if row.parent}
        for image_id in sorted(cached):
            row = images.meta.image(image_id)
            if row is None:
                builder.cache.forget_images({image_id})
                continue
            if image_id in parents or images.meta.refs(image_id) or images.users.users_of(
                    image_id):
                continue
            try:
                await images.delete(image_id, force=False, prune=False)
            except KetchError:  # a conflict or a concurrent removal: keep it
                continue
            builder.cache.forget_images({image_id})
            deleted.append(image_id)
            parent = images.meta.image(row.parent) if row.parent else None
            reclaimed += row.size - (parent.size if parent else 0)
            changed = True
    if everything:
        builder.cache.forget_images({entry.image_id for entry in builder.cache.entries()})
    return deleted, reclaimed


def add_routes(add: Any) -> None:
    add("POST", "/build", build)
    add("POST", "/build/prune", prune)
