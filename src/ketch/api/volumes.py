"""Volume routes: translate HTTP to VolumeService calls and render Docker's JSON.

``POST /volumes/create`` (201), ``GET /volumes`` (``{"Volumes", "Warnings"}``),
``GET /volumes/{name}``, ``DELETE /volumes/{name}?force=`` (204) and
``POST /volumes/prune`` (``{"VolumesDeleted", "SpaceReclaimed"}``). Fields
come in the order of Docker's Go structs, since clients that print the raw
JSON (``ketch volume inspect``) show them in that order.

The service is found under :data:`VOLUMES` in the application (the wiring
puts it there), so that this module does not depend on the shape of
``Services``. ``mount_point_json`` and ``volume_usage_json`` render the
volume parts of container inspect and ``/system/df``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec
from aiohttp import web

from ketch.api.gojson import GoDecoder, read_body
from ketch.api.params import query_bool, query_filters
from ketch.api.streams import json_response
from ketch.api.version import at_least
from ketch.containers.mounts import MountPoint
from ketch.errors import Unavailable
from ketch.volumes.service import Volume, VolumeService, VolumeUsage

VOLUMES = web.AppKey("volumes", VolumeService)
#: What Docker answers to cluster-volume requests on a node outside any swarm.
NOT_A_MANAGER = ('This node is not a swarm manager. Use "docker swarm init" or '
                 '"docker swarm join" to connect this node to swarm and try again.')


class CreateRequest(msgspec.Struct, rename="pascal"):
    """Docker's ``volume.CreateRequest`` (``ClusterVolumeSpec`` is refused)."""

    name: str = ""
    driver: str = ""
    driver_opts: dict[str, str] | None = None
    labels: dict[str, str] | None = None
    cluster_volume_spec: dict[str, Any] | None = None


_create_decoder = GoDecoder(CreateRequest)


def _go_map(value: dict[str, str] | None) -> dict[str, str] | None:
    """A map as Go's encoder writes it: keys sorted."""
    return None if value is None else dict(sorted(value.items()))


def volume_json(volume: Volume, usage: VolumeUsage | None = None) -> dict[str, Any]:
    """A ``volume.Volume`` object, fields in Docker's order."""
    record = volume.record
    body: dict[str, Any] = {
        "CreatedAt": VolumeService.created_at(volume),
        "Driver": record.driver,
        "Labels": _go_map(record.labels),
        "Mountpoint": volume.mountpoint,
        "Name": record.name,
        "Options": _go_map(record.options),
        "Scope": volume.scope,
    }
    if usage is not None:
        body["UsageData"] = {"RefCount": usage.ref_count, "Size": usage.size}
    return body


def volume_usage_json(usages: Sequence[VolumeUsage]) -> list[dict[str, Any]]:
    """The ``Volumes`` list of ``GET /system/df``."""
    return [volume_json(u.volume, u) for u in usages]


def mount_point_json(point: MountPoint) -> dict[str, Any]:
    """One entry of a container's ``Mounts`` (inspect and ``/containers/json``)."""
    body: dict[str, Any] = {"Type": point.type}
    if point.name:
        body["Name"] = point.name
    body["Source"] = point.source
    body["Destination"] = point.destination
    if point.driver:
        body["Driver"] = point.driver
    body.update({"Mode": point.mode, "RW": point.rw, "Propagation": point.propagation})
    return body


def _service(request: web.Request) -> VolumeService:
    return request.app[VOLUMES]


async def create_volume(request: web.Request) -> web.Response:
    create = await read_body(request, _create_decoder, CreateRequest(),
                             "volume configuration")
    if create.cluster_volume_spec is not None and at_least(request["api_version"], "1.42"):
        raise Unavailable(NOT_A_MANAGER)
    volume = await _service(request).create(create.name, create.driver, create.driver_opts,
                                            create.labels)
    return json_response(volume_json(volume), status=201)


async def list_volumes(request: web.Request) -> web.Response:
    volumes, warnings = _service(request).list(query_filters(request))
    return json_response({"Volumes": [volume_json(v) for v in volumes],
                          "Warnings": warnings or None})


async def inspect_volume(request: web.Request) -> web.Response:
    return json_response(volume_json(_service(request).get(request.match_info["name"])))


async def remove_volume(request: web.Request) -> web.Response:
    await _service(request).remove(request.match_info["name"],
                                   force=query_bool(request, "force"))
    return web.Response(status=204)


async def prune_volumes(request: web.Request) -> web.Response:
    report = await _service(request).prune(query_filters(request), request["api_version"])
    return json_response({"VolumesDeleted": report.deleted,
                          "SpaceReclaimed": report.space_reclaimed})


def add_routes(add: Any) -> None:
    add("POST", "/volumes/create", create_volume)
    add("POST", "/volumes/prune", prune_volumes)
    add("GET", "/volumes", list_volumes)
    add("GET", "/volumes/{name}", inspect_volume)
    add("DELETE", "/volumes/{name}", remove_volume)
