"""Container healthchecks, run as Docker runs them (moby's daemon/health.go).

A container whose configuration has a healthcheck (``Test`` neither empty nor
``["NONE"]``) gets a monitor task while it runs. After each interval the task
runs the probe as an exec session in the container (``CMD``: the arguments as
they are, ``CMD-SHELL``: through the container's shell), records the result in
``State.Health`` and emits ``health_status: <status>`` when the status changes.

The container service calls the ``on_*`` hooks from its own state changes,
with the container's lock held; the hooks only change the record in hand and
the caller saves it. The monitor writes its results under the same lock into
a freshly read record, so a result never overwrites a newer state change.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from typing import TYPE_CHECKING

from ketch.containers.model import Container, Health, HealthConfig, HealthResult
from ketch.errors import InvalidArgument, KetchError
from ketch.runtime.base import ProcessIO

if TYPE_CHECKING:
    from ketch.containers.execs import ExecService, ExecSession
    from ketch.containers.service import ContainerService

log = logging.getLogger(__name__)

_SECOND = 1_000_000_000
#: Docker's defaults (between the end of one probe and the start of the next;
#: also the wait before the first one)
DEFAULT_INTERVAL_NS = 30 * _SECOND
DEFAULT_TIMEOUT_NS = 30 * _SECOND
DEFAULT_START_INTERVAL_NS = 5 * _SECOND
DEFAULT_RETRIES = 3
#: results kept in ``State.Health.Log``
MAX_LOG_ENTRIES = 5
#: probe output kept per result; longer output ends with "..."
MAX_OUTPUT = 4096
#: starting the exec is not part of the probe's timeout, but may not hang
START_TIMEOUT_S = 30.0
DEFAULT_SHELL = ("/bin/sh", "-c")
#: the shortest duration a healthcheck may set (zero means the default)
MINIMUM_DURATION_NS = 1_000_000


def validate_healthcheck(config: HealthConfig | None) -> None:
    """Docker's checks of a create request's healthcheck, with its messages."""
    if config is None:
        return
    for value, name in ((config.interval, "Interval"), (config.timeout, "Timeout")):
        if value != 0 and value < MINIMUM_DURATION_NS:
            raise InvalidArgument(f"{name} in Healthcheck cannot be less than 1ms")
    if config.retries < 0:
        raise InvalidArgument("Retries in Healthcheck cannot be negative")
    for value, name in ((config.start_period, "StartPeriod"),
                        (config.start_interval, "StartInterval")):
        if value != 0 and value < MINIMUM_DURATION_NS:
            raise InvalidArgument(f"{name} in Healthcheck cannot be less than 1ms")


def probe_command(container: Container) -> list[str] | None:
    """The probe's argv, or None when the container has no healthcheck to run.

    An unknown test type is ignored (with a warning), as Docker does; ``CMD``
    without arguments is a probe that fails on every run."""
    config = container.config.healthcheck
    if config is None or not config.test:
        return None
    kind, args = config.test[0], config.test[1:]
    if kind == "CMD":
        return list(args)
    if kind == "CMD-SHELL":
        return [*(container.config.shell or DEFAULT_SHELL), *args] if args else []
    if kind != "NONE":
        log.warning("unknown healthcheck type %r in container %s", kind, container.short_id)
    return None


def go_duration(ns: int) -> str:
    """A duration as Go's ``time.Duration.String`` prints it (``1s``, ``1.5s``,
    ``1m30s``, ``500ms``): Docker's timeout message shows it."""
    if ns == 0:
        return "0s"
    sign, ns = ("-", -ns) if ns < 0 else ("", ns)
    if ns < _SECOND:
        for unit, size in (("ms", 1_000_000), ("µs", 1_000), ("ns", 1)):
            if ns >= size:
                return sign + _decimal(ns, size) + unit
    hours, rest = divmod(ns, 3600 * _SECOND)
    minutes, rest = divmod(rest, 60 * _SECOND)
    text = _decimal(rest, _SECOND) + "s"
    if hours or minutes:
        text = f"{minutes}m{text}"
    if hours:
        text = f"{hours}h{text}"
    return sign + text


def _decimal(value: int, unit: int) -> str:
    whole, frac = divmod(value, unit)
    if not frac:
        return str(whole)
    digits = len(str(unit)) - 1
    return f"{whole}.{frac:0{digits}d}".rstrip("0")


class _Output:
    """The first MAX_OUTPUT bytes of a probe's stdout and stderr together."""

    def __init__(self) -> None:
        self._data = bytearray()
        self._truncated = False

    def write(self, data: bytes) -> None:
        room = MAX_OUTPUT - len(self._data)
        self._data += data[:max(room, 0)]
        if len(data) > room:
            self._truncated = True

    def text(self) -> str:
        text = self._data.decode("utf-8", "replace")
        return text + "..." if self._truncated else text


def _kill(session: ExecSession) -> None:
    """End a probe that ran too long (or whose monitor stopped)."""
    if session.running and session.pid:
        with contextlib.suppress(ProcessLookupError):
            os.kill(session.pid, signal.SIGKILL)


class HealthMonitor:
    """The running healthcheck monitors, one task per container at most."""

    def __init__(self, service: ContainerService) -> None:
        self._service = service
        self._tasks: dict[str, asyncio.Task[None]] = {}
        #: cleanups of probes whose monitor was stopped while they ran
        self._cleanups: set[asyncio.Task[None]] = set()

    # -- hooks the container service calls (container lock held, caller saves) --
    def on_start(self, container: Container) -> None:
        """The container (re)started: status ``starting``, streak reset, log kept,
        and a new monitor."""
        if probe_command(container) is None:
            return
        self._close(container.id)
        health = container.state.health or Health()
        health.status, health.failing_streak = "starting", 0
        container.state.health = health
        self._open(container)

    def on_stop(self, container: Container) -> None:
        """The container exited or was paused: the monitor ends and, if one was
        running, the status becomes ``unhealthy`` (Docker's compatibility rule)."""
        if self._close(container.id) and container.state.health is not None:
            container.state.health.status = "unhealthy"

    def on_unpause(self, container: Container) -> None:
        """Probing resumes; the status stays as it is until the next result."""
        if container.state.health is not None and probe_command(container) is not None:
            self._open(container)

    def on_recover(self, container: Container) -> None:
        """A running container re-adopted after a daemon restart gets its monitor
        back, starting over as after a start (saved here: recovery has no save
        of its own after re-adopting)."""
        if container.state.status == "running" and probe_command(container) is not None:
            self.on_start(container)
            self._service.table.save(container)

    async def close(self) -> None:
        """Daemon shutdown: stop every monitor (the containers keep running)."""
        tasks = [*self._tasks.values(), *self._cleanups]
        self._tasks.clear()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # -- monitor ---------------------------------------------------------------------
    def _open(self, container: Container) -> None:
        if container.id in self._tasks:
            return
        config = container.config.healthcheck or HealthConfig()
        task = asyncio.get_running_loop().create_task(
            self._monitor(container.id, container.state.started_at_ns, config),
            name=f"health-{container.short_id}")
        self._tasks[container.id] = task

    def _close(self, container_id: str) -> bool:
        task = self._tasks.pop(container_id, None)
        if task is None:
            return False
        task.cancel()
        return True

    async def _monitor(self, container_id: str, started_ns: int, config: HealthConfig) -> None:
        try:
            await self._probe_loop(container_id, started_ns, config)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("healthcheck monitor of container %s failed", container_id[:12])
        finally:
            if self._tasks.get(container_id) is asyncio.current_task():
                del self._tasks[container_id]

    async def _probe_loop(self, container_id: str, started_ns: int,
                          config: HealthConfig) -> None:
        interval = config.interval or DEFAULT_INTERVAL_NS
        start_interval = config.start_interval or DEFAULT_START_INTERVAL_NS
        status = "starting"
        while True:
            in_start_period = time.time_ns() - started_ns < config.start_period
            wait = start_interval if in_start_period and status == "starting" else interval
            await asyncio.sleep(wait / _SECOND)
            container = self._service.table.get(container_id)
            if container is None:
                return
            command = probe_command(container)
            if command is None:
                return
            result = await self._probe(container, command,
                                        config.timeout or DEFAULT_TIMEOUT_NS)
            recorded = await self._record(container_id, result, config)
            if recorded is None:
                return
            status = recorded

    async def _record(self, container_id: str, result: HealthResult,
                      config: HealthConfig) -> str | None:
        """Apply one result (Docker's handleProbeResult); the new status, or None
        when this monitor has been superseded."""
        async with self._service.lock(container_id):
            if self._tasks.get(container_id) is not asyncio.current_task():
                return None
            container = self._service.table.get(container_id)
            if container is None or container.state.status != "running":
                return None
            health = container.state.health or Health()
            container.state.health = health
            before = health.status
            health.log = [*health.log, result][-MAX_LOG_ENTRIES:]
            if result.exit_code == 0:
                health.failing_streak = 0
                health.status = "healthy"
            elif health.status != "starting" or \
                    result.start_ns - container.state.started_at_ns >= config.start_period:
                # A failure within the start period counts only once the
                # container was healthy.
                health.failing_streak += 1
                if health.failing_streak >= (config.retries if config.retries > 0
                                             else DEFAULT_RETRIES):
                    health.status = "unhealthy"
            self._service.table.save(container)
            if health.status != before:
                self._service.emit(container, f"health_status: {health.status}")
            return health.status

    # -- one probe ---------------------------------------------------------------------
    async def _probe(self, container: Container, command: list[str],
                     timeout_ns: int) -> HealthResult:
        start = time.time_ns()
        if not command:
            code, output = -1, f"healthcheck for container {container.id} has no command"
        else:
            try:
                code, output = await self._run(container, command, timeout_ns)
            except KetchError as exc:
                code, output = -1, exc.message
        return HealthResult(start_ns=start, end_ns=time.time_ns(), exit_code=code,
                            output=output)

    async def _run(self, container: Container, command: list[str],
                   timeout_ns: int) -> tuple[int, str]:
        """Run the probe as ``docker exec`` runs a process (same events too);
        its exit code and output."""
        from ketch.containers.execs import (  # execs imports the service module
            ExecCreateRequest,
            ExecService,
            ExecStartRequest,
        )

        # A service of its own per probe: its session is forgotten with it,
        # and never shows among the container's ExecIDs.
        execs = ExecService(self._service, self._service.bundles)
        session = execs.create(container.id, ExecCreateRequest(
            cmd=command, attach_stdout=True, attach_stderr=True))
        try:
            io = await asyncio.wait_for(execs.start(session.id, ExecStartRequest()),
                                        START_TIMEOUT_S)
        except TimeoutError:
            return -1, f"timed out starting health check for container {container.id}"
        # From here on the session runs: it is released whatever happens.
        output = _Output()
        try:
            await asyncio.wait_for(self._drain(io, output, session), timeout_ns / _SECOND)
        except TimeoutError:
            _kill(session)
            await session.done.wait()  # no dying probes piling up
            text = output.text()
            message = f"Health check exceeded timeout ({go_duration(timeout_ns)})"
            return -1, f"{message}: {text}" if text else message
        else:
            return (-1 if session.exit_code is None else session.exit_code), output.text()
        finally:
            if session.done.is_set():
                await self._cleanup(execs, session, io)
            else:
                # The monitor stopped (container paused or exiting) mid-probe:
                # the probe may not end soon, so it is released in the background.
                _kill(session)
                cleanup = asyncio.get_running_loop().create_task(
                    self._cleanup(execs, session, io))
                self._cleanups.add(cleanup)
                cleanup.add_done_callback(self._cleanups.discard)

    @staticmethod
    async def _drain(io: ProcessIO | None, output: _Output, session: ExecSession) -> None:
        while io is not None and (chunk := await io.read()) is not None:
            output.write(chunk[1])
        await session.done.wait()

    @staticmethod
    async def _cleanup(execs: ExecService, session: ExecSession, io: ProcessIO | None) -> None:
        if io is not None:
            with contextlib.suppress(KetchError, OSError):
                await io.close()
        await execs.release(session)
