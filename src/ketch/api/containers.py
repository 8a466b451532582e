"""Container routes: lifecycle, listing, inspect, wait, attach, top."""

from __future__ import annotations

import json
import time
from typing import Any

import msgspec
from aiohttp import web

from ketch.api.gojson import GoDecoder, read_body
from ketch.api.hijack import MULTIPLEXED, RAW, STDERR, STDOUT, frame, hijack
from ketch.api.keys import SERVICES
from ketch.api.params import query_bool, query_filters, query_int, query_str
from ketch.api.stdio import parse_detach_keys, pump
from ketch.api.streams import json_response
from ketch.api.volumes import mount_point_json
from ketch.containers.model import Container, CreateRequest, Health
from ketch.containers.networking import ContainerNetworking
from ketch.containers.ps import status_text
from ketch.containers.update import UpdateRequest
from ketch.errors import InvalidArgument
from ketch.timeutil import format_ns, format_ns_fixed, parse_timestamp_ns

ZERO_TIME = "0001-01-01T00:00:00Z"
_create_decoder = GoDecoder(CreateRequest)
_update_decoder = GoDecoder(UpdateRequest)


def _time(ns: int) -> str:
    return format_ns(ns) if ns else ZERO_TIME


def _network_mode(container: Container) -> str:
    return container.host_config.network_mode or "default"


def _health_json(health: Health) -> dict[str, Any]:
    """``State.Health``: Docker always shows the Log as a list."""
    return {"Status": health.status, "FailingStreak": health.failing_streak, "Log": [
        {"Start": format_ns(r.start_ns), "End": format_ns(r.end_ns), "ExitCode": r.exit_code,
         "Output": r.output} for r in health.log]}


def container_inspect(request: web.Request, container: Container) -> dict[str, Any]:
    services = request.app[SERVICES]
    state = container.state
    status = "removing" if state.removal_in_progress else state.status
    body: dict[str, Any] = {
        "Id": container.id, "Created": format_ns(container.created_ns),
        "Path": container.path, "Args": container.args,
        "State": {
            "Status": status, "Running": state.status in ("running", "paused"),
            "Paused": state.status == "paused", "Restarting": state.status == "restarting",
            "OOMKilled": state.oom_killed, "Dead": state.status == "dead", "Pid": state.pid,
            "ExitCode": state.exit_code, "Error": state.error,
            "StartedAt": _time(state.started_at_ns), "FinishedAt": _time(state.finished_at_ns),
            **({"Health": _health_json(state.health)} if state.health is not None else {}),
        },
        "Image": container.image_id, "ResolvConfPath": container.resolv_conf_path,
        "HostnamePath": container.hostname_path, "HostsPath": container.hosts_path,
        "LogPath": container.log_path, "Name": "/" + container.name,
        "RestartCount": state.restart_count, "Driver": container.driver,
        "Platform": container.platform, "MountLabel": "", "ProcessLabel": "",
        "AppArmorProfile": "",
        "ExecIDs": services.execs.ids_for(container.id) or None,
        "HostConfig": msgspec.to_builtins(container.host_config),
        "GraphDriver": {"Name": "overlay2", "Data": None},
        "Mounts": [mount_point_json(p) for p in container.mount_points],
        "Config": msgspec.to_builtins(container.config),
        "NetworkSettings": services.containers.networking.settings(container),
    }
    return body


def _command_line(container: Container) -> str:
    """Docker's ps form: arguments with a space are put in single quotes."""
    args = [f"'{arg}'" if " " in arg else arg for arg in container.args]
    return " ".join([container.path, *args])


def container_summary(container: Container, now_ns: int,
                      networking: ContainerNetworking | None = None) -> dict[str, Any]:
    """One item of ``GET /containers/json``; *networking* fills Ports and Networks."""
    state = container.state
    return {
        "Id": container.id, "Names": ["/" + container.name],
        "Image": container.config.image, "ImageID": container.image_id,
        "Command": _command_line(container),
        "Created": container.created_ns // 1_000_000_000,
        "Ports": networking.port_summaries(container) if networking else [],
        "Labels": container.config.labels or {},
        "State": "removing" if state.removal_in_progress else state.status,
        "Status": status_text(container, now_ns),
        "HostConfig": {"NetworkMode": _network_mode(container)},
        "NetworkSettings": {"Networks": networking.networks_view(container)
                            if networking else {}},
        "Mounts": [mount_point_json(p) for p in container.mount_points],
    }


async def create_container(request: web.Request) -> web.Response:
    body = await request.read()
    if not body:
        raise InvalidArgument("invalid JSON: request body is empty")
    try:
        create = _create_decoder.decode(body)
    except msgspec.ValidationError as exc:
        raise InvalidArgument(f"invalid container configuration: {exc}") from None
    except msgspec.DecodeError as exc:
        raise InvalidArgument(f"invalid JSON: {exc}") from None
    container = await request.app[SERVICES].containers.create(
        create, name=query_str(request, "name"), api_version=request["api_version"])
    return json_response({"Id": container.id, "Warnings": []}, status=201)


async def list_containers(request: web.Request) -> web.Response:
    containers = request.app[SERVICES].containers.list(
        all_=query_bool(request, "all"), limit=query_int(request, "limit", -1) or -1,
        filters=query_filters(request), latest=query_bool(request, "latest"))
    now = time.time_ns()
    networking = request.app[SERVICES].containers.networking
    summaries = [container_summary(c, now, networking) for c in containers]
    if query_bool(request, "size"):
        services = request.app[SERVICES]
        for summary, container in zip(summaries, containers, strict=True):
            summary["SizeRw"] = await services.containers.size_rw(container)
            summary["SizeRootFs"] = summary["SizeRw"] + _image_size(request, container)
    return json_response(summaries)


def _image_size(request: web.Request, container: Container) -> int:
    row = request.app[SERVICES].images.meta.image(container.image_id)
    return row.size if row else 0


async def inspect_container(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    container = services.containers.get(request.match_info["id"])
    body = container_inspect(request, container)
    if query_bool(request, "size"):
        body["SizeRw"] = await services.containers.size_rw(container)
        body["SizeRootFs"] = body["SizeRw"] + _image_size(request, container)
    return json_response(body)


async def start_container(request: web.Request) -> web.Response:
    await request.app[SERVICES].containers.start(request.match_info["id"])
    return web.Response(status=204)


def _timeout(request: web.Request) -> int | None:
    return query_int(request, "t", None)


async def stop_container(request: web.Request) -> web.Response:
    await request.app[SERVICES].containers.stop(
        request.match_info["id"], _timeout(request), query_str(request, "signal") or None)
    return web.Response(status=204)


async def restart_container(request: web.Request) -> web.Response:
    await request.app[SERVICES].containers.restart(
        request.match_info["id"], _timeout(request), query_str(request, "signal") or None)
    return web.Response(status=204)


async def kill_container(request: web.Request) -> web.Response:
    await request.app[SERVICES].containers.kill(
        request.match_info["id"], query_str(request, "signal") or "SIGKILL")
    return web.Response(status=204)


async def pause_container(request: web.Request) -> web.Response:
    await request.app[SERVICES].containers.pause(request.match_info["id"])
    return web.Response(status=204)


async def update_container(request: web.Request) -> web.Response:
    update = await read_body(request, _update_decoder, UpdateRequest(), "update request")
    await request.app[SERVICES].containers.update(request.match_info["id"], update)
    return json_response({"Warnings": []})


async def unpause_container(request: web.Request) -> web.Response:
    await request.app[SERVICES].containers.unpause(request.match_info["id"])
    return web.Response(status=204)


async def rename_container(request: web.Request) -> web.Response:
    await request.app[SERVICES].containers.rename(request.match_info["id"],
                                                   query_str(request, "name"))
    return web.Response(status=204)


async def remove_container(request: web.Request) -> web.Response:
    await request.app[SERVICES].containers.remove(
        request.match_info["id"], force=query_bool(request, "force"),
        volumes=query_bool(request, "v"))
    return web.Response(status=204)


async def prune_containers(request: web.Request) -> web.Response:
    deleted, reclaimed = await request.app[SERVICES].containers.prune(query_filters(request))
    return json_response({"ContainersDeleted": deleted or None, "SpaceReclaimed": reclaimed})


async def wait_container(request: web.Request) -> web.StreamResponse:
    """Headers go out at once; the body when the condition is met (``docker run``
    sends this before ``start`` and would deadlock on a late header)."""
    future = request.app[SERVICES].containers.wait_future(
        request.match_info["id"], query_str(request, "condition"))
    response = web.StreamResponse(headers={"Content-Type": "application/json"})
    response.enable_chunked_encoding()
    await response.prepare(request)
    try:
        info = await future
    finally:
        future.cancel()
    body: dict[str, Any] = {"StatusCode": info.exit_code, "Error": None}
    await response.write(json.dumps(body).encode() + b"\n")
    await response.write_eof()
    return response


async def attach_container(request: web.Request) -> web.StreamResponse:
    services = request.app[SERVICES]
    container = services.containers.get(request.match_info["id"])
    tty = container.config.tty
    stdin = query_bool(request, "stdin")
    stdout, stderr = query_bool(request, "stdout"), query_bool(request, "stderr")
    detach_keys = parse_detach_keys(query_str(request, "detachKeys"))
    replay_logs = query_bool(request, "logs")
    streaming = query_bool(request, "stream")
    io = await services.containers.attach(container.id) if streaming else None
    async with hijack(request, RAW if tty else MULTIPLEXED) as stream:
        if replay_logs:
            async for entry in services.logs.entries(container):
                kind = STDOUT if entry.stream == "stdout" else STDERR
                if (kind == STDOUT and stdout) or (kind == STDERR and stderr):
                    await stream.write(entry.data if tty else frame(kind, entry.data))
        if io is not None:
            await pump(io, stream, tty=tty, stdin=stdin, stdout=stdout, stderr=stderr,
                       close_stdin=container.config.stdin_once and not tty,
                       detach_keys=detach_keys)
    return web.Response(status=200)


async def container_logs(request: web.Request) -> web.StreamResponse:
    services = request.app[SERVICES]
    container = services.containers.get(request.match_info["id"])
    stdout, stderr = query_bool(request, "stdout"), query_bool(request, "stderr")
    if not (stdout or stderr):
        raise InvalidArgument("Bad parameters: you must choose at least one stream")
    since, until = query_str(request, "since"), query_str(request, "until")
    tail_text = query_str(request, "tail", "all")
    if tail_text in ("", "all"):
        tail = None
    elif tail_text.lstrip("-").isdigit():
        tail = max(int(tail_text), 0) if int(tail_text) >= 0 else None
    else:
        raise InvalidArgument(f'invalid value for "tail": {tail_text!r}')
    timestamps = query_bool(request, "timestamps")
    tty = container.config.tty
    entries = services.logs.entries(
        container, since_ns=parse_timestamp_ns(since) if since and since != "0" else 0,
        until_ns=parse_timestamp_ns(until) if until and until != "0" else None, tail=tail,
        follow=query_bool(request, "follow"))
    response = web.StreamResponse(headers={"Content-Type": RAW if tty else MULTIPLEXED})
    response.enable_chunked_encoding()
    await response.prepare(request)
    async for entry in entries:
        kind = STDOUT if entry.stream == "stdout" else STDERR
        if (kind == STDOUT and not stdout) or (kind == STDERR and not stderr):
            continue
        data = entry.data
        if timestamps:
            data = format_ns_fixed(entry.time_ns).encode() + b" " + data
        await response.write(data if tty else frame(kind, data))
    await response.write_eof()
    return response


async def resize_container(request: web.Request) -> web.Response:
    height = query_int(request, "h", 0) or 0
    width = query_int(request, "w", 0) or 0
    await request.app[SERVICES].containers.resize(request.match_info["id"], height, width)
    return web.Response(status=200)


async def top_container(request: web.Request) -> web.Response:
    titles, rows = await request.app[SERVICES].containers.top(
        request.match_info["id"], query_str(request, "ps_args") or "-ef")
    return json_response({"Titles": titles, "Processes": rows})


def add_routes(add: Any) -> None:
    add("POST", "/containers/create", create_container)
    add("GET", "/containers/json", list_containers)
    add("POST", "/containers/prune", prune_containers)
    add("GET", "/containers/{id}/json", inspect_container)
    add("GET", "/containers/{id}/top", top_container)
    add("GET", "/containers/{id}/logs", container_logs)
    add("POST", "/containers/{id}/start", start_container)
    add("POST", "/containers/{id}/stop", stop_container)
    add("POST", "/containers/{id}/restart", restart_container)
    add("POST", "/containers/{id}/kill", kill_container)
    add("POST", "/containers/{id}/pause", pause_container)
    add("POST", "/containers/{id}/unpause", unpause_container)
    add("POST", "/containers/{id}/update", update_container)
    add("POST", "/containers/{id}/rename", rename_container)
    add("POST", "/containers/{id}/wait", wait_container)
    add("POST", "/containers/{id}/attach", attach_container)
    add("POST", "/containers/{id}/resize", resize_container)
    add("DELETE", "/containers/{id}", remove_container)
