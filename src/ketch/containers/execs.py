"""Exec sessions: extra processes in a running container (``docker exec``).

Like Docker, sessions live in memory only: they belong to the daemon run
that created them. Each started session has its own monitor in the runtime
(its stdio and exit code survive a daemon restart, but the session record
does not).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from dataclasses import dataclass, field

import msgspec

from ketch.containers.bundle import BundleBuilder
from ketch.containers.model import Container
from ketch.containers.service import ContainerService, start_failure_exit_code
from ketch.errors import Conflict, InvalidArgument, KetchError, NotFound
from ketch.runtime.base import ExecOptions, ProcessIO

log = logging.getLogger(__name__)


class ExecCreateRequest(msgspec.Struct, rename="pascal"):
    cmd: list[str] | None = None
    attach_stdin: bool = False
    attach_stdout: bool = False
    attach_stderr: bool = False
    detach_keys: str = ""
    tty: bool = False
    console_size: list[int] | None = None
    env: list[str] | None = None
    privileged: bool = False
    user: str = ""
    working_dir: str = ""


class ExecStartRequest(msgspec.Struct, rename="pascal"):
    detach: bool = False
    tty: bool = False
    console_size: list[int] | None = None


@dataclass
class ExecSession:
    id: str
    container_id: str
    request: ExecCreateRequest
    started: bool = False
    running: bool = False
    pid: int = 0
    exit_code: int | None = None
    detached: bool = False
    done: asyncio.Event = field(default_factory=asyncio.Event)


class ExecService:
    def __init__(self, containers: ContainerService, bundles: BundleBuilder) -> None:
        self.containers = containers
        self.runtime = containers.runtime
        self.bundles = bundles
        self._sessions: dict[str, ExecSession] = {}

    def ids_for(self, container_id: str) -> list[str]:
        return [s.id for s in self._sessions.values() if s.container_id == container_id]

    def get(self, exec_id: str) -> ExecSession:
        session = self._sessions.get(exec_id)
        if session is None:
            raise NotFound(f"No such exec instance: {exec_id}")
        return session

    @staticmethod
    def _check_running(container: Container) -> None:
        if container.state.status == "paused":
            raise Conflict(f"Container {container.id} is paused, unpause the container "
                           "before exec")
        if not container.state.running:
            raise Conflict(f"container {container.id} is not running")

    def create(self, ref: str, request: ExecCreateRequest) -> ExecSession:
        container = self.containers.get(ref)
        self._check_running(container)
        if not request.cmd:
            raise InvalidArgument("No exec command specified")
        if request.console_size is not None and len(request.console_size) != 2:
            raise InvalidArgument("ConsoleSize: expected [height, width]")
        session = ExecSession(id=secrets.token_hex(32), container_id=container.id,
                              request=request)
        self._sessions[session.id] = session
        self.containers.emit(container, f"exec_create: {' '.join(request.cmd)}",
                              execID=session.id)
        return session

    def check_startable(self, session: ExecSession) -> Container:
        if session.started:
            raise Conflict(f"exec command {session.id} is already running")
        container = self.containers.get(session.container_id)
        self._check_running(container)
        return container

    async def start(self, exec_id: str, start: ExecStartRequest) -> ProcessIO | None:
        """Start the session; its stdio when not detached (connected first)."""
        session = self.get(exec_id)
        container = self.check_startable(session)
        request = session.request
        session.started = True
        session.detached = start.detach
        size = start.console_size or request.console_size
        process = await self.bundles.exec_process(
            container, args=request.cmd or [], env=request.env or [], user=request.user,
            workdir=request.working_dir, tty=start.tty or request.tty,
            privileged=request.privileged, console_size=size)
        options = ExecOptions(
            exec_id=exec_id, process=process, tty=start.tty or request.tty,
            stdin=request.attach_stdin and not start.detach,
            console_size=(size[0], size[1]) if size else None, attach=not start.detach)
        try:
            handle = await self.runtime.exec(container.id, options)
        except KetchError as exc:
            session.exit_code = start_failure_exit_code(exc.message, default=126)
            session.done.set()
            raise
        session.pid, session.running = handle.pid, True
        self.containers.emit(container, f"exec_start: {' '.join(request.cmd or [])}",
                              execID=exec_id)
        asyncio.get_running_loop().create_task(self._watch(session, container))
        return handle.io

    async def _watch(self, session: ExecSession, container: Container) -> None:
        try:
            info = await self.runtime.wait_exec(session.container_id, session.id)
            session.exit_code = info.exit_code
        except KetchError as exc:
            log.warning("exec %s: %s", session.id[:12], exc)
            session.exit_code = 126
        session.running = False
        session.pid = 0
        session.done.set()
        if session.detached:
            await self.release(session)
        self.containers.emit(container, "exec_die", execID=session.id,
                              exitCode=str(session.exit_code))

    async def release(self, session: ExecSession) -> None:
        """Free the runtime's side of a finished session; for an attached one,
        the API calls this once the output was streamed (not before: the
        attach connection must be drained first)."""
        await session.done.wait()
        with contextlib.suppress(KetchError):
            await self.runtime.delete_exec(session.container_id, session.id)

    async def resize(self, exec_id: str, rows: int, cols: int) -> None:
        session = self.get(exec_id)
        if not session.running:
            raise Conflict(f"Exec {exec_id} is not running")
        await self.runtime.resize_exec(session.container_id, exec_id, rows, cols)

    def forget_container(self, container_id: str) -> None:
        for exec_id in self.ids_for(container_id):
            with contextlib.suppress(KeyError):
                del self._sessions[exec_id]
