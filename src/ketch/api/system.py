"""System routes: ``/_ping``, ``/version``, ``/info``, ``/system/df``, ``/events``."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import os
import time
from typing import Any

from aiohttp import web

from ketch.api.containers import container_summary
from ketch.api.images import image_summary
from ketch.api.keys import SERVICES
from ketch.api.params import query_filters, query_list, query_str
from ketch.api.streams import json_response
from ketch.api.version import API_VERSION, MIN_API_VERSION, at_least
from ketch.api.volumes import volume_usage_json
from ketch.build.cache import CacheRecord, cache_records
from ketch.distribution.service import RegistrySettings
from ketch.errors import InvalidArgument
from ketch.events import Event, EventFilter
from ketch.system import BUILD_TIME, ENGINE_VERSION, PYTHON_VERSION, host_facts
from ketch.timeutil import format_ns, parse_timestamp_ns

PING_HEADERS = {
    "Cache-Control": "no-cache, no-store, must-revalidate",
    "Pragma": "no-cache",
    "Docker-Experimental": "false",
    "Builder-Version": "1",
    "Swarm": "inactive",
}


async def ping(request: web.Request) -> web.Response:
    body = b"" if request.method == "HEAD" else b"OK"
    response = web.Response(body=body, headers=PING_HEADERS, content_type="text/plain")
    response.charset = "utf-8"
    if request.method == "HEAD":
        response.headers["Content-Length"] = "0"
    return response


async def version(request: web.Request) -> web.Response:
    facts = host_facts()
    details = {
        "ApiVersion": API_VERSION, "Arch": facts.architecture, "BuildTime": BUILD_TIME,
        "Experimental": "false", "GitCommit": "ketch", "GoVersion": PYTHON_VERSION,
        "KernelVersion": facts.kernel_version, "MinAPIVersion": MIN_API_VERSION, "Os": "linux",
    }
    return json_response({
        "Platform": {"Name": "ketch"},
        "Components": [{"Name": "Engine", "Version": ENGINE_VERSION, "Details": details}],
        "Version": ENGINE_VERSION, "ApiVersion": API_VERSION,
        "MinAPIVersion": MIN_API_VERSION, "GitCommit": "ketch", "GoVersion": PYTHON_VERSION,
        "Os": "linux", "Arch": facts.architecture, "KernelVersion": facts.kernel_version,
        "BuildTime": BUILD_TIME,
    })


async def info(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    facts = host_facts()
    images = services.images.meta.images()
    states = [c.state.status for c in services.containers.table.all()]
    running = sum(1 for status in states if status in ("running", "restarting"))
    paused = states.count("paused")
    body: dict[str, Any] = {
        "ID": services.engine_id, "Containers": len(states), "ContainersRunning": running,
        "ContainersPaused": paused, "ContainersStopped": len(states) - running - paused,
        "Images": len(images),
        "Driver": "overlay2",
        "DriverStatus": [["Backing Filesystem", "extfs"], ["Supports d_type", "true"],
                         ["Using metacopy", "false"], ["Native Overlay Diff", "true"],
                         ["userxattr", "false"]],
        "Plugins": {"Volume": ["local"], "Network": ["bridge", "host", "none"],
                    "Authorization": None, "Log": ["json-file", "k8s-file"]},
        "MemoryLimit": True, "SwapLimit": True, "KernelMemoryTCP": False,
        "CpuCfsPeriod": True, "CpuCfsQuota": True, "CPUShares": True, "CPUSet": True,
        "PidsLimit": True, "IPv4Forwarding": facts.ipv4_forwarding,
        "BridgeNfIptables": False, "BridgeNfIp6tables": False, "Debug": services.debug,
        "NFd": _open_fds(), "OomKillDisable": True, "NGoroutines": len(asyncio.all_tasks()),
        "SystemTime": format_ns(time.time_ns()), "LoggingDriver": "json-file",
        "CgroupDriver": facts.cgroup_driver, "CgroupVersion": facts.cgroup_version,
        "NEventsListener": services.events.listener_count,
        "KernelVersion": facts.kernel_version, "OperatingSystem": facts.operating_system,
        "OSVersion": facts.os_version, "OSType": "linux", "Architecture": facts.machine,
        "IndexServerAddress": "https://index.docker.io/v1/",
        "RegistryConfig": _registry_config(services.distribution.settings),
        "NCPU": facts.ncpu, "MemTotal": facts.mem_total, "GenericResources": None,
        "DockerRootDir": str(services.data_root), "HttpProxy": "", "HttpsProxy": "",
        "NoProxy": "", "Name": facts.hostname, "Labels": [], "ExperimentalBuild": False,
        "ServerVersion": ENGINE_VERSION,
        "Runtimes": {"runc": {"path": "runc"}}, "DefaultRuntime": "runc",
        "Swarm": {"NodeID": "", "NodeAddr": "", "LocalNodeState": "inactive",
                  "ControlAvailable": False, "Error": "", "RemoteManagers": None},
        "LiveRestoreEnabled": True, "Isolation": "", "InitBinary": "",
        "ContainerdCommit": {"ID": ""}, "RuncCommit": {"ID": ""}, "InitCommit": {"ID": ""},
        "SecurityOptions": ["name=seccomp,profile=builtin"], "Warnings": None,
        "DefaultAddressPools": None, "CDISpecDirs": [],
        "Containerd": None,
    }
    return json_response(body)


def _registry_config(settings: RegistrySettings) -> dict[str, Any]:
    """Docker's shape: insecure CIDRs (loopback always), one index entry per
    insecure host name, and the Docker Hub mirrors."""
    cidrs = ["::1/128", "127.0.0.0/8"]
    mirrors = [m.rstrip("/") + "/" for m in settings.registry_mirrors]
    indexes: dict[str, Any] = {"docker.io": {"Name": "docker.io", "Mirrors": mirrors,
                                             "Secure": True, "Official": True}}
    for entry in settings.insecure_registries:
        try:
            cidrs.append(str(ipaddress.ip_network(entry, strict=False)))
        except ValueError:
            indexes[entry] = {"Name": entry, "Mirrors": [], "Secure": False, "Official": False}
    return {"AllowNondistributableArtifactsCIDRs": None,
            "AllowNondistributableArtifactsHostnames": None,
            "InsecureRegistryCIDRs": cidrs, "IndexConfigs": indexes,
            "Mirrors": mirrors or None}


def _open_fds() -> int:
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:
        return 0


async def disk_usage(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    api_version: str = request["api_version"]
    wanted = set(query_list(request, "type")) or {"image", "container", "volume", "build-cache"}
    for kind in wanted:
        if kind not in ("image", "container", "volume", "build-cache"):
            raise InvalidArgument(f"unknown object type: {kind}")
    body: dict[str, Any] = {}
    if "image" in wanted:
        usage = services.images.disk_usage()
        body["LayersSize"] = usage.layers_size
        body["Images"] = [
            image_summary(image, api_version, containers=usage.containers_per_image[image.id],
                          shared_size=usage.shared_size[image.id])
            for image in usage.images
        ]
    if "container" in wanted:
        now = time.time_ns()
        body["Containers"] = [
            {**container_summary(c, now), "SizeRw": await services.containers.size_rw(c),
             "SizeRootFs": 0}
            for c in services.containers.table.all()
        ]
    if "volume" in wanted:
        body["Volumes"] = volume_usage_json(await services.volumes.disk_usage())
    if "build-cache" in wanted:
        records = cache_records(services.builder.cache, services.images)
        body["BuildCache"] = [build_cache_json(r, api_version) for r in records]
        if not at_least(api_version, "1.42"):
            body["BuilderSize"] = sum(r.size for r in records)
    return json_response(body)


def build_cache_json(record: CacheRecord, api_version: str) -> dict[str, Any]:
    """Docker's ``BuildCache`` object. Before API 1.42 the parent is ``Parent``;
    from 1.42 it is a list under the key Docker's struct tag really spells
    `` Parents`` (leading space included), left out when empty."""
    body: dict[str, Any] = {"ID": record.id}
    if not at_least(api_version, "1.42"):
        body["Parent"] = record.parent
    elif record.parent:
        body[" Parents"] = [record.parent]
    body.update({
        "Type": record.type, "Description": record.description, "InUse": record.in_use,
        "Shared": record.shared, "Size": record.size, "CreatedAt": format_ns(record.created_ns),
        "LastUsedAt": format_ns(record.last_used_ns), "UsageCount": record.usage_count,
    })
    return body


def render_event(event: Event) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if event.type in ("container", "image"):
        body["status"] = event.action
        body["id"] = event.actor_id
        if event.type == "container" and "image" in event.attributes:
            body["from"] = event.attributes["image"]
    body.update({
        "Type": event.type, "Action": event.action,
        "Actor": {"ID": event.actor_id, "Attributes": dict(event.attributes)},
        "scope": event.scope, "time": event.time_ns // 1_000_000_000, "timeNano": event.time_ns,
    })
    return body


async def events(request: web.Request) -> web.StreamResponse:
    services = request.app[SERVICES]
    event_filter = EventFilter.parse(query_filters(request))
    now_ns = time.time_ns()
    since = query_str(request, "since")
    until = query_str(request, "until")
    since_ns = parse_timestamp_ns(since) if since else None
    until_ns = parse_timestamp_ns(until) if until else None
    if since_ns is not None and until_ns is not None and until_ns < since_ns:
        raise InvalidArgument("`since` time must be before `until` time")
    queue = services.events.subscribe()
    try:
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        if since_ns is not None:
            for event in services.events.history(since_ns, until_ns):
                if event.time_ns <= now_ns and event_filter.matches(event):
                    await _write_event(response, event)
        while until_ns is None or time.time_ns() < until_ns:
            timeout = None if until_ns is None else max(0.0, (until_ns - time.time_ns()) / 1e9)
            try:
                event = await asyncio.wait_for(queue.get(), timeout)
            except TimeoutError:
                break
            if event.time_ns <= now_ns and since_ns is not None:
                continue  # already replayed from history
            if until_ns is not None and event.time_ns > until_ns:
                break
            if event_filter.matches(event):
                await _write_event(response, event)
        await response.write_eof()
        return response
    finally:
        services.events.unsubscribe(queue)


async def _write_event(response: web.StreamResponse, event: Event) -> None:
    await response.write(json.dumps(render_event(event), separators=(",", ":")).encode() + b"\n")


def add_routes(add: Any) -> None:
    add("GET", "/_ping", ping)
    add("HEAD", "/_ping", ping)
    add("GET", "/version", version)
    add("GET", "/info", info)
    add("GET", "/system/df", disk_usage)
    add("GET", "/events", events)


__all__ = ["add_routes", "at_least"]
