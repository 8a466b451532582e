"""Routes reading a container's filesystem: ``POST /commit``,
``GET /containers/{id}/changes`` and ``GET /containers/{id}/export``.

``/commit`` takes its parameters in the query (``container``, ``repo``,
``tag``, ``comment``, ``author``, ``pause``, repeated ``changes``) and an
optional body: a container config (Docker's ``Config`` fields) used
instead of the container's own before the changes and the merge. As in
moby, a body is only accepted as JSON, an empty body or ``null`` means no
config, and ``pause`` defaults to true when absent or empty.
"""

from __future__ import annotations

import json
from typing import Any

import msgspec
from aiohttp import web

from ketch.api.gojson import GoDecoder
from ketch.api.keys import SERVICES
from ketch.api.params import query_bool, query_str
from ketch.api.streams import byte_stream, json_response
from ketch.containers.commit import CommitOptions, ContainerFiles, change_json_path
from ketch.containers.model import ContainerConfig, CreateRequest
from ketch.errors import InvalidArgument

_config_decoder = GoDecoder(CreateRequest)
#: Config's JSON names, lower-cased: Go matches body keys to fields without case.
_CONFIG_KEYS = frozenset(f.encode_name.lower() for f in msgspec.structs.fields(ContainerConfig))


def _files(request: web.Request) -> ContainerFiles:
    services = request.app[SERVICES]
    return ContainerFiles(services.containers, services.committer)


def _check_json(request: web.Request, body: bytes) -> None:
    """moby's ``CheckForJSON``: no Content-Type only without a body, else JSON."""
    content_type = request.headers.get("Content-Type", "")
    if not content_type:
        if body:
            raise InvalidArgument("malformed Content-Type header (): mime: no media type")
        return
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type != "application/json":
        raise InvalidArgument(
            f"unsupported Content-Type header ({content_type}): must be 'application/json'")


def decode_commit_config(body: bytes) -> ContainerConfig | None:
    """The body's config; None for an empty body, ``null``, or no Config field.

    Go decodes the body into a create request whose embedded Config is
    only allocated when one of its fields is present (names match without
    regard to case), so only then does the body replace the container's config.
    """
    if not body.strip():
        return None
    try:
        raw = json.loads(body)
    except ValueError as exc:
        raise InvalidArgument(f"invalid JSON: {exc}") from None
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise InvalidArgument(
            f"invalid JSON: json: cannot unmarshal {type(raw).__name__} into Go value of type "
            "container.CreateRequest")
    if not any(key.lower() in _CONFIG_KEYS for key in raw):
        return None
    try:
        return _config_decoder.decode(body).config()
    except msgspec.ValidationError as exc:
        raise InvalidArgument(f"invalid container configuration: {exc}") from None
    except msgspec.DecodeError as exc:
        raise InvalidArgument(f"invalid JSON: {exc}") from None


async def commit_container(request: web.Request) -> web.Response:
    body = await request.read()
    _check_json(request, body)
    config = decode_commit_config(body)
    pause = True if query_str(request, "pause") == "" else query_bool(request, "pause")
    options = CommitOptions(
        container=query_str(request, "container"), repo=query_str(request, "repo"),
        tag=query_str(request, "tag"), comment=query_str(request, "comment"),
        author=query_str(request, "author"), pause=pause,
        changes=request.query.getall("changes", []), config=config,
    )
    image_id = await _files(request).commit(options)
    return json_response({"Id": image_id}, status=201)


async def container_changes(request: web.Request) -> web.Response:
    found = await _files(request).changes(request.match_info["id"])
    body: list[dict[str, Any]] | None = [
        {"Path": change_json_path(c.path), "Kind": c.kind} for c in found
    ] or None  # Go encodes the nil slice of "no changes" as null
    return json_response(body)


async def export_container(request: web.Request) -> web.StreamResponse:
    chunks = _files(request).export(request.match_info["id"])
    try:
        return await byte_stream(request, chunks, "application/octet-stream")
    finally:
        await chunks.aclose()  # releases the mount now, even if the client went away


def add_routes(add: Any) -> None:
    add("POST", "/commit", commit_container)
    add("GET", "/containers/{id}/changes", container_changes)
    add("GET", "/containers/{id}/export", export_container)
