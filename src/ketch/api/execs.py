"""Exec routes: create, start (hijacked or detached), resize, inspect."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import msgspec
from aiohttp import web

from ketch.api.gojson import GoDecoder
from ketch.api.hijack import MULTIPLEXED, RAW, STDOUT, frame, hijack
from ketch.api.keys import SERVICES
from ketch.api.params import query_int
from ketch.api.stdio import parse_detach_keys, pump
from ketch.api.streams import json_response
from ketch.containers.execs import ExecCreateRequest, ExecStartRequest
from ketch.errors import InvalidArgument, KetchError

EXIT_RECORD_TIMEOUT = 10.0
_create_decoder = GoDecoder(ExecCreateRequest)
_start_decoder = GoDecoder(ExecStartRequest)


def _decode(decoder: GoDecoder[Any], body: bytes) -> Any:
    try:
        return decoder.decode(body or b"{}")
    except msgspec.ValidationError as exc:
        raise InvalidArgument(f"invalid exec configuration: {exc}") from None
    except msgspec.DecodeError as exc:
        raise InvalidArgument(f"invalid JSON: {exc}") from None


async def create_exec(request: web.Request) -> web.Response:
    body: ExecCreateRequest = _decode(_create_decoder, await request.read())
    session = request.app[SERVICES].execs.create(request.match_info["id"], body)
    return json_response({"Id": session.id}, status=201)


async def start_exec(request: web.Request) -> web.StreamResponse:
    execs = request.app[SERVICES].execs
    start: ExecStartRequest = _decode(_start_decoder, await request.read())
    session = execs.get(request.match_info["id"])
    create = session.request
    detach_keys = parse_detach_keys(create.detach_keys)
    if start.detach:
        await execs.start(session.id, start)
        return web.Response(status=200)
    execs.check_startable(session)
    tty = start.tty  # framing follows the start body, not the create body
    # The response head goes out before the process starts, as Docker does: a
    # client that reads the head through a buffer (docker-py) would otherwise
    # swallow the first output with it.
    async with hijack(request, RAW if tty else MULTIPLEXED) as stream:
        try:
            io = await execs.start(session.id, start)
        except KetchError as exc:
            message = exc.message.encode() + b"\r\n"
            await stream.write(message if tty else frame(STDOUT, message))
            return web.Response(status=200)
        if io is not None:
            await pump(io, stream, tty=tty, stdin=create.attach_stdin,
                       stdout=create.attach_stdout, stderr=create.attach_stderr,
                       close_stdin=True, detach_keys=detach_keys)
        # The client asks for the exit code as soon as the stream ends: have it.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(execs.release(session), EXIT_RECORD_TIMEOUT)
    return web.Response(status=200)


async def resize_exec(request: web.Request) -> web.Response:
    await request.app[SERVICES].execs.resize(
        request.match_info["id"], query_int(request, "h", 0) or 0,
        query_int(request, "w", 0) or 0)
    return web.Response(status=200)


async def inspect_exec(request: web.Request) -> web.Response:
    session = request.app[SERVICES].execs.get(request.match_info["id"])
    create = session.request
    cmd = create.cmd or []
    return json_response({
        "CanRemove": False, "ContainerID": session.container_id,
        "DetachKeys": create.detach_keys, "ExitCode": session.exit_code, "ID": session.id,
        "OpenStderr": create.attach_stderr, "OpenStdin": create.attach_stdin,
        "OpenStdout": create.attach_stdout, "Running": session.running, "Pid": session.pid,
        "ProcessConfig": {"arguments": cmd[1:], "entrypoint": cmd[0] if cmd else "",
                          "privileged": create.privileged, "tty": create.tty,
                          "user": create.user},
    })


def add_routes(add: Any) -> None:
    add("POST", "/containers/{id}/exec", create_exec)
    add("POST", "/exec/{id}/start", start_exec)
    add("POST", "/exec/{id}/resize", resize_exec)
    add("GET", "/exec/{id}/json", inspect_exec)
