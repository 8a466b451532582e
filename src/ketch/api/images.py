"""Image routes: translate HTTP to ImageService / ImageTransfer calls and
render Docker's JSON (PascalCase lives here and nowhere deeper)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from ketch.api import distribution
from ketch.api.keys import SERVICES
from ketch.api.params import query_bool, query_filters, query_list, query_str
from ketch.api.spool import spooled_body
from ketch.api.streams import byte_stream, json_response, json_stream
from ketch.api.version import at_least
from ketch.errors import InvalidArgument
from ketch.images.model import DeleteRecord, Image
from ketch.images.transfer import Progress
from ketch.timeutil import format_ns, parse_rfc3339

#: The fields of an image's container config, in Docker's order, with the
#: values Docker shows when the image does not set them (API < 1.50 shows
#: all of them; 1.50 dropped the container-only ones).
_CONTAINER_CONFIG_DEFAULTS: dict[str, Any] = {
    "Hostname": "", "Domainname": "", "User": "", "AttachStdin": False,
    "AttachStdout": False, "AttachStderr": False, "Tty": False, "OpenStdin": False,
    "StdinOnce": False, "Env": None, "Cmd": None, "Image": "", "Volumes": None,
    "WorkingDir": "", "Entrypoint": None, "OnBuild": None, "Labels": None,
}
_CONTAINER_ONLY = ("Hostname", "Domainname", "AttachStdin", "AttachStdout", "AttachStderr",
                   "Tty", "OpenStdin", "StdinOnce", "Image")
#: Image-config fields API 1.50 always shows, set or not.
_IMAGE_CONFIG_DEFAULTS: dict[str, Any] = {
    "Cmd": None, "Entrypoint": None, "Env": None, "Labels": None, "OnBuild": None,
    "User": "", "Volumes": None, "WorkingDir": "",
}


def _repo_lists(image: Image, api_version: str) -> tuple[list[str], list[str]]:
    tags = [t.familiar for t in image.tags]
    digests = [d.familiar for d in image.digests]
    if not tags and not digests and not at_least(api_version, "1.43"):
        return ["<none>:<none>"], ["<none>@<none>"]
    return tags, digests


def image_summary(image: Image, api_version: str, containers: int = -1,
                  shared_size: int = -1) -> dict[str, Any]:
    tags, digests = _repo_lists(image, api_version)
    labels = (image.config.config or {}).get("Labels")
    body: dict[str, Any] = {
        "Containers": containers, "Created": parse_rfc3339(image.row.created),
        "Id": image.id, "Labels": labels if labels is not None else {},
        "ParentId": image.row.parent, "RepoDigests": digests, "RepoTags": tags,
        "SharedSize": shared_size, "Size": image.row.size,
    }
    if not at_least(api_version, "1.44"):
        body["VirtualSize"] = image.row.size
    return body


def _image_config(image: Image, api_version: str) -> dict[str, Any]:
    config = dict(image.config.config or {})
    if at_least(api_version, "1.50"):
        for key in _CONTAINER_ONLY:
            config.pop(key, None)
        return {**_IMAGE_CONFIG_DEFAULTS, **config}
    return {**_CONTAINER_CONFIG_DEFAULTS, **config}


def image_inspect(request: web.Request, image: Image) -> dict[str, Any]:
    services = request.app[SERVICES]
    api_version: str = request["api_version"]
    tags, digests = _repo_lists(image, api_version)
    config = image.config
    chain = services.images.store.layer_chain(image.row.top_layer)
    layer_dirs = [str(services.images.store.layers.diff_dir(row.chain_id)) for row in chain]
    graph: dict[str, Any] = {"Name": "overlay2", "Data": None}
    if layer_dirs:
        top = layer_dirs[-1]
        graph["Data"] = {"MergedDir": top.removesuffix("diff") + "merged", "UpperDir": top,
                         "WorkDir": top.removesuffix("diff") + "work"}
        if len(layer_dirs) > 1:
            graph["Data"]["LowerDir"] = ":".join(reversed(layer_dirs[:-1]))
    body: dict[str, Any] = {
        "Id": image.id, "RepoTags": tags, "RepoDigests": digests,
        "Parent": image.row.parent, "Comment": config.comment or "",
        "Created": config.created or "",
    }
    if not at_least(api_version, "1.45"):
        body["Container"] = config.container or ""
        body["ContainerConfig"] = _image_config(image, "1.44") if config.container_config \
            else None
    body.update({
        "DockerVersion": config.docker_version or "", "Author": config.author or "",
        "Config": _image_config(image, api_version), "Architecture": config.architecture,
    })
    if config.variant:
        body["Variant"] = config.variant
    body["Os"] = config.os
    if config.os_version:
        body["OsVersion"] = config.os_version
    body["Size"] = image.row.size
    if not at_least(api_version, "1.44"):
        body["VirtualSize"] = image.row.size
    body.update({
        "GraphDriver": graph,
        "RootFS": {"Type": "layers", "Layers": list(config.rootfs.diff_ids)},
        "Metadata": {"LastTagTime": format_ns(image.last_tag_ns) if image.last_tag_ns
                     else "0001-01-01T00:00:00Z"},
    })
    return body


async def list_images(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    filters = query_filters(request)
    legacy = query_str(request, "filter")
    if legacy:
        filters.setdefault("reference", []).append(legacy)
    images = services.images.list_images(filters, all_=query_bool(request, "all"))
    want_shared = query_bool(request, "shared-size")
    usage = services.images.disk_usage() if want_shared else None
    return json_response([
        image_summary(image, request["api_version"],
                      shared_size=usage.shared_size[image.id] if usage else -1)
        for image in images
    ])


async def inspect_image(request: web.Request) -> web.Response:
    image = request.app[SERVICES].images.get(request.match_info["name"])
    return json_response(image_inspect(request, image))


async def image_history(request: web.Request) -> web.Response:
    entries = request.app[SERVICES].images.history(request.match_info["name"])
    return json_response([
        {"Comment": e.comment, "Created": e.created, "CreatedBy": e.created_by, "Id": e.id,
         "Size": e.size, "Tags": e.tags or None}
        for e in entries
    ])


async def tag_image(request: web.Request) -> web.Response:
    repo = query_str(request, "repo")
    if not repo:
        raise InvalidArgument('repo is required: missing query parameter "repo"')
    await request.app[SERVICES].images.tag(request.match_info["name"], repo,
                                           query_str(request, "tag"))
    return web.Response(status=201)


def _delete_records(records: list[DeleteRecord]) -> list[dict[str, str]]:
    return [{"Untagged": r.untagged} if r.untagged else {"Deleted": r.deleted} for r in records]


async def delete_image(request: web.Request) -> web.Response:
    records = await request.app[SERVICES].images.delete(
        request.match_info["name"], force=query_bool(request, "force"),
        prune=not query_bool(request, "noprune"),
    )
    return json_response(_delete_records(records))


async def prune_images(request: web.Request) -> web.Response:
    report = await request.app[SERVICES].images.prune(query_filters(request))
    return json_response({
        "ImagesDeleted": _delete_records(report.records) or None,
        "SpaceReclaimed": report.space_reclaimed,
    })


async def save_images(request: web.Request) -> web.StreamResponse:
    names = query_list(request, "names")
    if "name" in request.match_info:
        names = [request.match_info["name"]]
    transfer = request.app[SERVICES].transfer
    return await byte_stream(request, transfer.save(names), "application/x-tar")


def _progress_message(progress: Progress) -> dict[str, Any]:
    if progress.stream:
        return {"stream": progress.stream}
    return {"status": progress.status, "progressDetail": {
        "current": progress.current, "total": progress.total}, "id": progress.id}


async def load_images(request: web.Request) -> web.StreamResponse:
    services = request.app[SERVICES]
    quiet = query_bool(request, "quiet")
    async with spooled_body(request, services.tmp_dir) as archive:
        async def messages() -> AsyncIterator[dict[str, Any]]:
            async for progress in services.transfer.load(archive, quiet):
                yield _progress_message(progress)
        return await json_stream(request, messages())


async def create_image(request: web.Request) -> web.StreamResponse:
    """``POST /images/create``: import (``fromSrc``); pulling (``fromImage``)
    belongs to the registry client."""
    services = request.app[SERVICES]
    from_src = query_str(request, "fromSrc")
    if query_str(request, "fromImage"):
        return await distribution.pull_image(request)
    if not from_src:
        raise InvalidArgument('either "fromSrc" or "fromImage" must be given')
    if from_src != "-":
        raise InvalidArgument(f'fromSrc {from_src!r}: only "-" (the request body) is supported')
    async with spooled_body(request, services.tmp_dir) as tarball:
        image_id = await services.transfer.import_rootfs(
            tarball, repo=query_str(request, "repo"), tag=query_str(request, "tag"),
            changes=query_list(request, "changes"), message=query_str(request, "message"),
            platform=query_str(request, "platform"),
        )

    async def messages() -> AsyncIterator[dict[str, Any]]:
        yield {"status": image_id}
    return await json_stream(request, messages())


def add_routes(add: Any) -> None:
    add("GET", "/images/json", list_images)
    add("POST", "/images/load", load_images)
    add("GET", "/images/get", save_images)
    add("POST", "/images/create", create_image)
    add("POST", "/images/prune", prune_images)
    add("GET", "/images/{name:.+}/json", inspect_image)
    add("GET", "/images/{name:.+}/history", image_history)
    add("GET", "/images/{name:.+}/get", save_images)
    add("POST", "/images/{name:.+}/tag", tag_image)
    add("DELETE", "/images/{name:.+}", delete_image)
