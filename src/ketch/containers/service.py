"""Containers: create, look up, run, stop, wait, remove — Docker's rules.

State changes of one container are serialised by its lock; the container's
record in SQLite is rewritten after each change, so a restarted daemon sees
the last state. A running container has a *monitor* task waiting for its
exit; the monitor records the exit, releases the rootfs and wakes waiters.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import logging
import secrets
import signal as signals
import sqlite3
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from ketch.containers.bundle import BundleBuilder
from ketch.containers.health import HealthMonitor, validate_healthcheck
from ketch.containers.merge import command_of, merge_image_config
from ketch.containers.model import (
    Container,
    CreateRequest,
    EndpointConfig,
    EndpointIPAMConfig,
    HostConfig,
)
from ketch.containers.mounts import MountPoint
from ketch.containers.names import random_name, validate_name
from ketch.containers.networking import (
    ContainerNetworking,
    endpoint_problem,
    is_container_mode,
    plan_networks,
)
from ketch.containers.ps import ContainerFilter
from ketch.containers.restart import next_delay, restart_on_daemon_start, should_restart
from ketch.containers.top import run_ps
from ketch.containers.update import UpdateRequest, runc_resources, updated_host_config
from ketch.containers.volumes import ContainerVolumes
from ketch.errors import (
    Conflict,
    Forbidden,
    InternalError,
    InvalidArgument,
    KetchError,
    NotFound,
    NotModified,
)
from ketch.events import EventBus
from ketch.images.filters import labels_exclude, labels_match
from ketch.images.model import Image, ImageUser
from ketch.images.service import ImageService
from ketch.networks.model import Network
from ketch.networks.service import NetworkService
from ketch.runtime.base import ExitInfo, ProcessIO, Runtime
from ketch.store.containers import ContainerTable
from ketch.timeutil import parse_timestamp_ns

log = logging.getLogger(__name__)

DEFAULT_STOP_TIMEOUT = 10
LOG_DRIVERS = ("", "json-file", "k8s-file", "local")
RESTART_POLICIES = ("", "no", "always", "unless-stopped", "on-failure")


def start_failure_exit_code(message: str, default: int) -> int:
    """The shell's codes for a process that could not start, as Docker reports
    them: 127 not found, 126 not executable."""
    if "executable file not found" in message or "no such file or directory" in message:
        return 127
    if "permission denied" in message:
        return 126
    return default


def parse_signal(value: str | int) -> int:
    """Signal names with or without SIG, or numbers (Docker accepts all three)."""
    if isinstance(value, int) or value.isdigit():
        number = int(value)
        if not 0 < number < 65:
            raise InvalidArgument(f"Invalid signal: {value}")
        return number
    name = value.upper()
    name = name if name.startswith("SIG") else "SIG" + name
    try:
        return int(signals.Signals[name])
    except KeyError:
        raise InvalidArgument(f"Invalid signal: {value}") from None


class EndpointRequest(Protocol):
    """What ``docker network connect`` asks for (the API's EndpointConfig)."""

    @property
    def ipam_config(self) -> IPAMRequest | None: ...
    @property
    def links(self) -> list[str] | None: ...
    @property
    def aliases(self) -> list[str] | None: ...
    @property
    def mac_address(self) -> str: ...
    @property
    def driver_opts(self) -> dict[str, str] | None: ...
    @property
    def gw_priority(self) -> int: ...


class IPAMRequest(Protocol):
    @property
    def i_pv4_address(self) -> str: ...
    @property
    def i_pv6_address(self) -> str: ...
    @property
    def link_local_i_ps(self) -> list[str] | None: ...


@dataclass
class _Waiters:
    """Futures waiting for a container's next exit or its removal."""

    exits: list[asyncio.Future[ExitInfo]] = field(default_factory=list)
    removal: list[asyncio.Future[ExitInfo]] = field(default_factory=list)


class ContainerService:
    def __init__(self, table: ContainerTable, images: ImageService, runtime: Runtime,
                 bundles: BundleBuilder, events: EventBus, networks: NetworkService,
                 volumes: ContainerVolumes) -> None:
        self.table = table
        self.networking = ContainerNetworking(networks, self.get)
        self.volumes = volumes
        self.images = images
        self.runtime = runtime
        self.bundles = bundles
        self.events = events
        self._locks: dict[str, asyncio.Lock] = {}
        self._waiters: dict[str, _Waiters] = {}
        self._monitors: dict[str, asyncio.Task[None]] = {}
        self._stopping: set[str] = set()
        #: attachers waiting for a created container to start
        self._pending_attach: dict[str, list[asyncio.Future[ProcessIO | None]]] = {}
        #: what recovery found for the restart policies to bring back, started by
        #: start_after_recovery() once the networks are back: (ID, whether it died
        #: while the daemon was down, and so restarts as after any other exit)
        self._restart_after_recovery: list[tuple[str, bool]] = []
        self.health = HealthMonitor(self)
        images.users = self

    # -- lookup -------------------------------------------------------------------
    def get(self, ref: str) -> Container:
        """By full ID, name (with or without /), or unique ID prefix."""
        container = self.table.get(ref) or self.table.by_name(ref.lstrip("/"))
        if container is not None:
            return container
        if ref and all(c in "0123456789abcdef" for c in ref):
            matches = self.table.ids_with_prefix(ref)
            if len(matches) == 1:
                found = self.table.get(matches[0])
                if found is not None:
                    return found
            if len(matches) > 1:
                raise InvalidArgument(f"multiple IDs found with provided prefix: {ref}")
        raise NotFound(f"No such container: {ref}")

    def users_of(self, image_id: str) -> list[ImageUser]:
        return [ImageUser(c.id, c.state.running) for c in self.table.using_image(image_id)]

    def lock(self, container_id: str) -> asyncio.Lock:
        return self._locks.setdefault(container_id, asyncio.Lock())

    def _save(self, container: Container) -> None:
        self.table.save(container)

    def emit(self, container: Container, action: str, **extra: str) -> None:
        attributes = {"image": container.config.image, "name": container.name,
                      **(container.config.labels or {}), **extra}
        self.events.emit("container", action, container.id, **attributes)

    # -- create -------------------------------------------------------------------
    async def create(self, request: CreateRequest, name: str = "",
                     api_version: str = "1.50") -> Container:
        """``docker create``; *api_version* is the client's (some mount options
        mean other things to older clients; the default is the newest)."""
        if name:
            name = validate_name(name)
        if not request.image:
            raise InvalidArgument("config cannot be empty in order to create a container")
        host_config = request.host_config or HostConfig()
        _validate_host_config(host_config)
        if host_config.memory > 0 and host_config.memory_swap == 0:
            # moby's adaptContainerSettings: as much swap again as memory
            host_config.memory_swap = host_config.memory * 2
        validate_healthcheck(request.healthcheck)
        if host_config.log_config.type in ("", "k8s-file", "local"):
            # Clients (docker-py's run()) read logs only from drivers they know.
            host_config.log_config.type = "json-file"
        image = self.images.get(request.image)
        config = merge_image_config(request.config(), image.config.config or {})
        endpoints = request.networking_config.endpoints_config \
            if request.networking_config is not None else None
        networks = plan_networks(config, host_config, endpoints, self._find_network,
                                 self._find_container)
        mount_points = self.volumes.plan(host_config, api_version, self.get)
        path, args = command_of(config)
        container_id = secrets.token_hex(32)
        if not config.hostname and host_config.network_mode != "host":
            config.hostname = container_id[:12]
        container = Container(
            id=container_id, name="", image_id=image.id, created_ns=time.time_ns(),
            config=config, host_config=host_config, path=path, args=args, networks=networks,
        )
        for attempt in range(10):
            container.name = name or random_name(attempt)
            existing = self.table.by_name(container.name)
            if existing is None:
                try:
                    await self.bundles.create(container, image)
                    self._save(container)
                except sqlite3.IntegrityError:
                    await self.bundles.destroy(container)
                    existing = self.table.by_name(container.name)
                    if existing is None:
                        raise
                else:
                    break
            if name and existing is not None:
                raise Conflict(
                    f'Conflict. The container name "/{name}" is already in use by container '
                    f'"{existing.id}". You have to remove (or rename) that container to be '
                    f"able to reuse that name.")
        await self._attach_volumes(container, image, mount_points)
        self.emit(container, "create")
        return container

    async def _attach_volumes(self, container: Container, image: Image,
                              points: list[MountPoint]) -> None:
        """The volumes of a new container (its record exists, its lock keeps
        others away meanwhile); a failure takes the container away again."""
        async with self.lock(container.id):
            try:
                container.mount_points = await self.volumes.attach(
                    container, points, lambda: self.bundles.mount_rootfs(container, image),
                    lambda: self.bundles.release(container))
                self._save(container)
            except BaseException:
                await self.bundles.destroy(container)
                self.table.delete(container.id)
                self._locks.pop(container.id, None)
                raise

    # -- start ----------------------------------------------------------------------
    async def start(self, ref: str) -> None:
        container = self.get(ref)
        async with self.lock(container.id):
            container = self.get(container.id)
            if container.state.removal_in_progress:
                raise Conflict("container is marked for removal and cannot be started")
            if container.state.status == "paused":
                raise Conflict("cannot start a paused container, try unpause instead")
            if container.state.status == "restarting":
                raise NotModified("container is already running")
            if container.state.running:
                raise NotModified("container is already running")
            container.state.manually_stopped = False
            container.state.restart_count = 0
            container.state.restart_delay = 0.0
            await self._start_locked(container)

    async def _start_locked(self, container: Container) -> None:
        image = self.images.get(container.image_id)
        try:
            network = await self.networking.attach(container)
            prepared = await self.volumes.setup(container)
            try:
                options = await self.bundles.prepare(container, image, network,
                                                     self.volumes.oci(container, prepared))
                pid = await self.runtime.create(options)
            finally:
                await self.volumes.close(prepared)
            await self._connect_pending_attachers(container.id)
            await self.runtime.start(container.id)
        except KetchError as exc:
            await self._abandon_start(container, exc)
            if container.host_config.auto_remove:
                asyncio.get_running_loop().create_task(self._remove_quietly(container.id))
            raise
        state = container.state
        state.status, state.pid, state.exit_code, state.error = "running", pid, 0, ""
        state.started_at_ns, state.oom_killed = time.time_ns(), False
        self.health.on_start(container)
        self._save(container)
        self.emit(container, "start")
        self._monitor(container.id)

    async def _abandon_start(self, container: Container, exc: KetchError) -> None:
        with contextlib.suppress(KetchError):
            await self.runtime.delete(container.id, force=True)
        await self.networking.release(container.id)
        await self.volumes.teardown(container)
        with contextlib.suppress(KetchError):
            await self.bundles.release(container)
        message = exc.message
        container.state.status = "exited" if container.state.started_at_ns else "created"
        container.state.exit_code = start_failure_exit_code(message, default=128)
        container.state.error = message
        container.state.finished_at_ns = time.time_ns()
        self._save(container)

    async def _remove_quietly(self, container_id: str) -> None:
        with contextlib.suppress(KetchError):
            await self.remove(container_id, force=True, volumes=True)

    def _monitor(self, container_id: str) -> None:
        task = asyncio.get_running_loop().create_task(self._watch(container_id),
                                                      name=f"monitor-{container_id[:12]}")
        self._monitors[container_id] = task

    async def _watch(self, container_id: str) -> None:
        try:
            exit_info = await self.runtime.wait_exit(container_id)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("waiting for container %s failed", container_id[:12])
            exit_info = ExitInfo(exit_code=255, finished_at_ns=time.time_ns())
        await self._record_exit(container_id, exit_info)

    async def _record_exit(self, container_id: str, exit_info: ExitInfo,
                           recovering: bool = False) -> None:
        self._monitors.pop(container_id, None)
        async with self.lock(container_id):
            container = self.table.get(container_id)
            if container is None:
                return
            state = container.state
            state.status = "exited"
            state.pid = 0
            state.exit_code = exit_info.exit_code
            state.oom_killed = exit_info.oom_killed
            # The exit file's clock is coarse: never finish before starting.
            state.finished_at_ns = max(exit_info.finished_at_ns or time.time_ns(),
                                       state.started_at_ns)
            self.health.on_stop(container)
            self._save(container)
            if exit_info.oom_killed:
                self.emit(container, "oom")
            self.emit(container, "die", exitCode=str(exit_info.exit_code))
            with contextlib.suppress(KetchError):
                await self.runtime.delete(container_id, force=True)
            await self.networking.release(container_id)
            await self.volumes.teardown(container)
            with contextlib.suppress(KetchError):
                await self.bundles.release(container)
            if container_id in self._stopping:
                self.emit(container, "stop")
        waiters = self._waiters.get(container_id)
        if waiters is not None:
            for future in waiters.exits:
                if not future.done():
                    future.set_result(exit_info)
            waiters.exits.clear()
        if container.host_config.auto_remove:
            # --rm takes the anonymous volumes along (Docker's RemoveVolume)
            with contextlib.suppress(KetchError):
                await self.remove(container_id, force=True, volumes=True)
        elif should_restart(container.host_config.restart_policy, exit_info.exit_code,
                            container.state.restart_count, container.state.manually_stopped):
            if recovering:
                self._restart_after_recovery.append((container_id, True))
            else:
                await self._schedule_restart(container)

    async def _schedule_restart(self, container: Container) -> None:
        state = container.state
        ran_for = (state.finished_at_ns - state.started_at_ns) / 1e9
        state.restart_delay = next_delay(state.restart_delay, ran_for)
        state.status = "restarting"
        state.restart_count += 1
        self._save(container)
        task = asyncio.get_running_loop().create_task(
            self._restart_later(container.id, state.restart_delay))
        self._monitors[container.id] = task

    async def _restart_later(self, container_id: str, delay: float) -> None:
        await asyncio.sleep(delay)
        async with self.lock(container_id):
            container = self.table.get(container_id)
            if container is None or container.state.status != "restarting":
                return  # removed, or stopped during the backoff
            self._monitors.pop(container_id, None)
            try:
                await self._start_locked(container)
            except KetchError as exc:
                log.warning("restarting %s failed: %s", container.short_id, exc.message)

    def _cancel_restart(self, container: Container) -> bool:
        """Stop a pending policy restart (docker stop/kill/rm during the backoff)."""
        if container.state.status != "restarting":
            return False
        task = self._monitors.pop(container.id, None)
        if task is not None:
            task.cancel()
        container.state.status = "exited"
        container.state.manually_stopped = True
        self._save(container)
        return True

    # -- stop / kill / restart / pause ----------------------------------------------
    async def kill(self, ref: str, signal: str | int = "SIGKILL") -> None:
        number = parse_signal(signal) if signal != "" else int(signals.SIGKILL)
        container = self.get(ref)
        if self._cancel_restart(container) or not container.state.running:
            raise Conflict(f"cannot kill container: {ref}: container {container.id} "
                           "is not running")
        self._mark_manually_stopped(container)
        await self.runtime.kill(container.id, number)
        self.emit(container, "kill", signal=str(number))

    async def stop(self, ref: str, timeout: int | None = None,
                   signal: str | None = None) -> None:
        container = self.get(ref)
        if self._cancel_restart(container):
            return
        if not container.state.running:
            raise NotModified("container is already stopped")
        self._mark_manually_stopped(container)
        await self._stop(container, timeout, signal)

    def _mark_manually_stopped(self, container: Container) -> None:
        container.state.manually_stopped = True
        self._save(container)

    async def _stop(self, container: Container, timeout: int | None,
                    signal: str | None) -> None:
        stop_signal = parse_signal(signal or container.config.stop_signal or "SIGTERM")
        if timeout is None:
            timeout = container.config.stop_timeout
        if timeout is None:
            timeout = DEFAULT_STOP_TIMEOUT
        exited = self._exit_future(container.id)
        self._stopping.add(container.id)
        try:
            if container.state.status == "paused":
                await self.runtime.unpause(container.id)
            with contextlib.suppress(KetchError):
                await self.runtime.kill(container.id, stop_signal)
                self.emit(container, "kill", signal=str(stop_signal))
            try:
                await asyncio.wait_for(asyncio.shield(exited), None if timeout < 0 else timeout)
            except TimeoutError:
                with contextlib.suppress(KetchError):
                    await self.runtime.kill(container.id, int(signals.SIGKILL), True)
                    self.emit(container, "kill", signal=str(int(signals.SIGKILL)))
                await exited
        finally:
            self._stopping.discard(container.id)

    async def restart(self, ref: str, timeout: int | None = None,
                      signal: str | None = None) -> None:
        container = self.get(ref)
        self._cancel_restart(container)
        if container.state.running:
            self._mark_manually_stopped(container)
            await self._stop(container, timeout, signal)
        async with self.lock(container.id):
            container = self.get(container.id)
            if not container.state.running:
                container.state.manually_stopped = False
                await self._start_locked(container)
        self.emit(container, "restart")

    async def pause(self, ref: str) -> None:
        container = self.get(ref)
        async with self.lock(container.id):
            container = self.get(container.id)
            if container.state.status == "paused":
                raise Conflict(f"container {container.id} is already paused")
            if container.state.status != "running":
                raise Conflict(f"container {container.id} is not running")
            await self.runtime.pause(container.id)
            container.state.status = "paused"
            self.health.on_stop(container)
            self._save(container)
        self.emit(container, "pause")

    async def update(self, ref: str, request: UpdateRequest) -> None:
        """``docker update`` (moby's ``ContainerUpdate``): the new limits go into
        the HostConfig and, for a running or paused container, into its
        cgroups; if runc refuses them, the old HostConfig stays."""
        container = self.get(ref)
        async with self.lock(container.id):
            container = self.get(container.id)
            if container.state.removal_in_progress or container.state.status == "dead":
                raise Conflict(f"Cannot update container {container.id}: container is marked "
                               'for removal and cannot be "update"')
            host = updated_host_config(container.host_config, request, container.id)
            if container.state.status in ("running", "paused"):
                try:
                    await self.runtime.update(container.id, runc_resources(host))
                except KetchError as exc:
                    raise InternalError(
                        f"Cannot update container {container.id}: {exc.message}") from None
            container.host_config = host
            self._save(container)
        self.emit(container, "update")

    async def unpause(self, ref: str) -> None:
        container = self.get(ref)
        async with self.lock(container.id):
            container = self.get(container.id)
            if container.state.status != "paused":
                raise Conflict(f"Container {container.id} is not paused")
            await self.runtime.unpause(container.id)
            container.state.status = "running"
            self.health.on_unpause(container)
            self._save(container)
        self.emit(container, "unpause")

    # -- wait -----------------------------------------------------------------------
    def _exit_future(self, container_id: str) -> asyncio.Future[ExitInfo]:
        future: asyncio.Future[ExitInfo] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(container_id, _Waiters()).exits.append(future)
        return future

    def stopped_event(self, container_id: str) -> asyncio.Event:
        """Set once the container is no longer running (for ``logs -f``)."""
        event = asyncio.Event()
        container = self.table.get(container_id)
        if container is None or not container.state.running:
            event.set()
            return event
        self._exit_future(container_id).add_done_callback(lambda _: event.set())
        return event

    def wait_future(self, ref: str, condition: str) -> asyncio.Future[ExitInfo]:
        """A future for ``POST /wait``: created at once, so the API can flush
        its headers before the condition is met (``docker run`` relies on it)."""
        if condition not in ("", "not-running", "next-exit", "removed"):
            raise InvalidArgument(f"invalid condition: {condition!r}")
        container = self.get(ref)
        if condition == "removed":
            future: asyncio.Future[ExitInfo] = asyncio.get_running_loop().create_future()
            self._waiters.setdefault(container.id, _Waiters()).removal.append(future)
            return future
        if condition in ("", "not-running") and not container.state.running:
            done: asyncio.Future[ExitInfo] = asyncio.get_running_loop().create_future()
            done.set_result(ExitInfo(container.state.exit_code, container.state.oom_killed,
                                     container.state.finished_at_ns))
            return done
        return self._exit_future(container.id)

    # -- stdio / top --------------------------------------------------------------------
    async def attach(self, ref: str) -> ProcessIO:
        container = self.get(ref)
        if container.state.status == "exited" or container.state.removal_in_progress:
            raise Conflict("You cannot attach to a stopped container, start it first")
        if not container.state.running and container.state.status != "created":
            raise Conflict("You cannot attach to a stopped container, start it first")
        return await self._attach_when_created(container)

    async def _attach_when_created(self, container: Container) -> ProcessIO:
        """A created container has no process yet: attach once start has made one."""
        if container.state.running:
            return await self.runtime.attach(container.id)
        return _DeferredIO(self, container.id)

    def _attach_on_start(self, container_id: str) -> asyncio.Future[ProcessIO | None]:
        future: asyncio.Future[ProcessIO | None] = \
            asyncio.get_running_loop().create_future()
        self._pending_attach.setdefault(container_id, []).append(future)
        return future

    async def _connect_pending_attachers(self, container_id: str) -> None:
        for future in self._pending_attach.pop(container_id, []):
            if not future.done():
                future.set_result(await self.runtime.attach(container_id))

    def _drop_pending_attachers(self, container_id: str) -> None:
        for future in self._pending_attach.pop(container_id, []):
            if not future.done():
                future.set_result(None)

    async def resize(self, ref: str, rows: int, cols: int) -> None:
        container = self.get(ref)
        if not container.state.running:
            raise Conflict(f"container {container.id} is not running")
        if rows < 0 or cols < 0:
            raise InvalidArgument("invalid size: height and width must be >= 0")
        await self.runtime.resize(container.id, rows, cols)

    async def top(self, ref: str, ps_args: str) -> tuple[list[str], list[list[str]]]:
        container = self.get(ref)
        if not container.state.running:
            raise Conflict(f"container {container.id} is not running")
        pids = set(await self.runtime.processes(container.id))
        return await run_ps(ps_args, pids)

    # -- rename / remove / prune ----------------------------------------------------------
    async def rename(self, ref: str, new_name: str) -> None:
        if not new_name:
            raise InvalidArgument("Neither old nor new names may be empty")
        new_name = validate_name(new_name)
        container = self.get(ref)
        async with self.lock(container.id):
            container = self.get(container.id)
            if container.name == new_name:
                raise InvalidArgument(
                    "Renaming a container with the same name as its current name")
            existing = self.table.by_name(new_name)
            if existing is not None:
                raise Conflict(
                    f'Conflict. The container name "/{new_name}" is already in use by '
                    f'container "{existing.id}". You have to remove (or rename) that '
                    f"container to be able to reuse that name.")
            old = container.name
            container.name = new_name
            self._save(container)
        self.emit(container, "rename", oldName="/" + old)

    async def remove(self, ref: str, force: bool = False, volumes: bool = False) -> None:
        container = self.get(ref)
        if force:
            self._cancel_restart(container)
        if container.state.running and not force:
            if container.state.status == "paused":
                raise Conflict(
                    f"cannot remove container \"/{container.name}\": container is paused and "
                    "must be unpaused first")
            raise Conflict(
                f"cannot remove container \"/{container.name}\": container is running: stop "
                "the container before removing or force remove")
        if container.state.removal_in_progress:
            raise Conflict(f"removal of container {container.short_id} is already in progress")
        if container.state.running:
            exited = self._exit_future(container.id)
            with contextlib.suppress(KetchError):
                if container.state.status == "paused":
                    await self.runtime.unpause(container.id)
                await self.runtime.kill(container.id, int(signals.SIGKILL), True)
                self.emit(container, "kill", signal=str(int(signals.SIGKILL)))
            await exited
        async with self.lock(container.id):
            current = self.table.get(container.id)
            if current is None:
                return
            container = current
            container.state.removal_in_progress = True
            self._save(container)
            with contextlib.suppress(KetchError):
                await self.runtime.delete(container.id, force=True)
            await self.networking.release(container.id)
            await self.bundles.destroy(container)
            self.table.delete(container.id)
            await self.volumes.release(container, remove_anonymous=volumes)
        self.emit(container, "destroy")
        self._drop_pending_attachers(container.id)
        waiters = self._waiters.pop(container.id, None)
        if waiters is not None:
            info = ExitInfo(container.state.exit_code, container.state.oom_killed,
                            container.state.finished_at_ns)
            for future in waiters.removal + waiters.exits:
                if not future.done():
                    future.set_result(info)
        self._locks.pop(container.id, None)

    async def prune(self, filters: Mapping[str, list[str]]) -> tuple[list[str], int]:
        allowed = {"until", "label", "label!"}
        for key in filters:
            if key not in allowed:
                raise InvalidArgument(f"invalid filter '{key}'")
        until = min((parse_timestamp_ns(v) for v in filters.get("until", [])), default=None)
        deleted: list[str] = []
        reclaimed = 0
        for container in self.table.all():
            if container.state.running or container.state.removal_in_progress:
                continue
            labels = container.config.labels or {}
            if filters.get("label") and not labels_match(labels, filters["label"]):
                continue
            if filters.get("label!") and not labels_exclude(labels, filters["label!"]):
                continue
            if until is not None and container.created_ns >= until:
                continue
            reclaimed += await self.bundles.size_rw(container)
            with contextlib.suppress(NotFound, Conflict):
                await self.remove(container.id)
                deleted.append(container.id)
        self.events.emit("container", "prune", "", reclaimed=str(reclaimed))
        return deleted, reclaimed

    # -- listing --------------------------------------------------------------------------
    def list(self, all_: bool, limit: int, filters: Mapping[str, list[str]],
             latest: bool = False) -> list[Container]:
        predicate = ContainerFilter.compile(filters, self.get, self._ancestors,
                                            self.networking.port_summaries)
        containers = sorted(self.table.all(), key=lambda c: c.created_ns, reverse=True)
        if not all_ and limit <= 0 and not latest:
            containers = [c for c in containers if c.state.running or
                          c.state.removal_in_progress]
        containers = [c for c in containers if predicate(c)]
        if latest:
            limit = 1
        return containers[:limit] if limit > 0 else containers

    def _ancestors(self, ref: str) -> set[str]:
        """Image IDs that have ``ref``'s image in their parent chain (or are it)."""
        image_id = self.images.resolve_id(ref)
        result = {image_id}
        for image in self.images.meta.images():
            parent = image.parent
            while parent:
                if parent == image_id:
                    result.add(image.id)
                    break
                row = self.images.meta.image(parent)
                parent = row.parent if row else ""
        return result

    async def size_rw(self, container: Container) -> int:
        return await self.bundles.size_rw(container)

    # -- recovery ---------------------------------------------------------------------------
    async def recover(self) -> builtins.list[str]:
        """Re-adopt the containers that outlived the daemon (or record their exits);
        the IDs of those still alive, whose networking the network service keeps.

        Nothing is started here: containers a restart policy brings back wait
        for start_after_recovery(), called once the networks are up again.
        """
        alive: builtins.list[str] = []
        self._restart_after_recovery.clear()
        for container in self.table.all():
            if container.state.removal_in_progress:
                with contextlib.suppress(KetchError):
                    await self.runtime.delete(container.id, force=True)
                await self.networking.release(container.id)
                await self.bundles.destroy(container)
                self.table.delete(container.id)
                await self.volumes.release(container, remove_anonymous=False)
                continue
            if container.state.status == "restarting" or (
                    not container.state.running and restart_on_daemon_start(
                        container.host_config.restart_policy, container.state.manually_stopped)):
                self._restart_after_recovery.append((container.id, False))
                continue
            if not container.state.running:
                continue
            try:
                state = await self.runtime.recover(container.id)
            except KetchError as exc:
                log.warning("container %s cannot be recovered: %s", container.short_id, exc)
                await self._record_exit(container.id, ExitInfo(255, False, time.time_ns()),
                                        recovering=True)
                continue
            if state.status == "stopped" or state.exit is not None:
                await self._record_exit(container.id, state.exit or ExitInfo(255),
                                        recovering=True)
                continue
            if (state.status == "paused") != (container.state.status == "paused"):
                container.state.status = "paused" if state.status == "paused" else "running"
                self._save(container)
            log.info("re-adopted container %s (pid %d)", container.short_id, state.pid)
            alive.append(container.id)
            self._monitor(container.id)
            self.health.on_recover(container)
        await self.volumes.reconcile(self.table.all())
        return alive

    async def start_after_recovery(self) -> None:
        """Start what the restart policies bring back after a daemon restart."""
        pending, self._restart_after_recovery = self._restart_after_recovery, []
        for container_id, died_meanwhile in pending:
            container = self.table.get(container_id)
            if container is None:
                continue
            if died_meanwhile:
                await self._schedule_restart(container)
            else:
                await self._start_at_daemon_start(container)

    # -- networks ---------------------------------------------------------------------------
    def _find_network(self, term: str) -> Network | None:
        try:
            return self.networking.networks.get(term)
        except KetchError:
            return None

    def _find_container(self, ref: str) -> Container | None:
        try:
            return self.get(ref)
        except KetchError:
            return None

    async def connect_network(self, ref: str, network_id: str,
                              request: EndpointRequest) -> None:
        """``docker network connect``: the network joins the container's configuration
        and, if it runs, its sandbox at once (Docker's ConnectToNetwork)."""
        cfg = _endpoint_config(request)
        container = self.get(ref)
        async with self.lock(container.id):
            container = self.get(container.id)
            if container.state.removal_in_progress or container.state.status == "dead":
                raise Conflict(f"Container {container.id} is marked for removal and cannot be "
                               "connected or disconnected to the network")
            net = self.networking.networks.get(network_id)
            self._check_connect(container, net)
            problem = endpoint_problem(net.name, cfg, net)
            if problem:
                raise InvalidArgument(problem)
            configured = dict(self.networking.configured(container))
            if container.state.status in ("running", "paused"):
                await self.networking.connect_running(container, net, cfg)
                configured[net.name] = cfg
                container.networks = configured
                self._save(container)
                await self.bundles.update_network_files(
                    container, self.networking.current_setup(container))
                return
            if net.name in configured:
                return  # Docker keeps the first configuration
            cfg.network_id = net.id
            configured[net.name] = cfg
            container.networks = configured
            self._save(container)

    def _check_connect(self, container: Container, net: Network) -> None:
        mode = container.host_config.network_mode
        if is_container_mode(mode):
            raise InvalidArgument("container sharing network namespace with another container "
                                  "or host cannot be connected to any other network")
        if net.driver == "host" and mode != "host":
            raise InvalidArgument("cannot connect container to host network - container must be "
                                  "created in host network mode")
        for name in self.networking.configured(container):
            if name == net.name:
                continue
            if mode == "host" or name == "host":
                raise InvalidArgument("container sharing network namespace with another "
                                      "container or host cannot be connected to any other "
                                      "network")
            if name == "none" or net.name == "none":
                raise InvalidArgument("container cannot be connected to multiple networks with "
                                      "one of the networks in private (none) mode")

    async def disconnect_network(self, ref: str, network_id: str, force: bool) -> None:
        """``docker network disconnect`` (Docker's DisconnectFromNetwork)."""
        container = self.get(ref)
        async with self.lock(container.id):
            container = self.get(container.id)
            if container.state.removal_in_progress or container.state.status == "dead":
                raise Conflict(f"Container {container.id} is marked for removal and cannot be "
                               "connected or disconnected to the network")
            net = self.networking.networks.get(network_id)
            configured = dict(self.networking.configured(container))
            running = container.state.status in ("running", "paused")
            if running:
                if container.host_config.network_mode == "host" and net.driver == "host":
                    raise InvalidArgument("cannot disconnect container from host network - "
                                          "container was created in host network mode")
                if not self.networking.networks.endpoint_settings(container.id).get(net.name):
                    if not force:
                        raise Forbidden(f"container {container.id} is not connected to network "
                                        f"{net.name}")
                else:
                    await self.networking.networks.disconnect_container(net.id, container.id,
                                                                        force)
            elif net.name not in configured:
                raise Forbidden(f"container {container.id} is not connected to the network "
                                f"{net.name}")
            configured.pop(net.name, None)
            container.networks = configured
            self._save(container)
            if running:
                await self.bundles.update_network_files(
                    container, self.networking.current_setup(container))

    async def _start_at_daemon_start(self, container: Container) -> None:
        async with self.lock(container.id):
            try:
                await self._start_locked(container)
            except KetchError as exc:
                log.warning("starting %s (restart policy) failed: %s", container.short_id,
                            exc.message)

    async def close(self) -> None:
        """Stop watching (containers keep running: they outlive the daemon)."""
        await self.health.close()
        for task in list(self._monitors.values()):
            task.cancel()
        for task in list(self._monitors.values()):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.runtime.close()


def _endpoint_config(request: EndpointRequest) -> EndpointConfig:
    ipam = request.ipam_config
    return EndpointConfig(
        ipam_config=EndpointIPAMConfig(
            ipv4_address=ipam.i_pv4_address, ipv6_address=ipam.i_pv6_address,
            link_local_ips=ipam.link_local_i_ps) if ipam is not None else None,
        links=request.links, aliases=request.aliases, mac_address=request.mac_address,
        driver_opts=request.driver_opts, gw_priority=request.gw_priority)


class _DeferredIO:
    """Stdio of a container that is attached before it is started (``docker
    run`` attaches first): connects to the process on first use."""

    def __init__(self, service: ContainerService, container_id: str) -> None:
        # One connection, however many of read/write wait for it at once.
        self._connection = service._attach_on_start(container_id)
        self._io: ProcessIO | None = None

    async def _connect(self) -> ProcessIO | None:
        self._io = await asyncio.shield(self._connection)
        return self._io

    async def read(self) -> tuple[int, bytes] | None:
        io = await self._connect()
        return None if io is None else await io.read()

    async def write(self, data: bytes) -> None:
        io = await self._connect()
        if io is not None:
            await io.write(data)

    async def close_stdin(self) -> None:
        io = await self._connect()
        if io is not None:
            await io.close_stdin()

    async def close(self) -> None:
        if self._io is not None:
            await self._io.close()


def _validate_host_config(host: HostConfig) -> None:
    if host.log_config.type not in LOG_DRIVERS:
        raise InvalidArgument(
            f'HostConfig.LogConfig.Type: logging driver "{host.log_config.type}" is not '
            "supported (json-file, local)")
    if host.restart_policy.name not in RESTART_POLICIES:
        raise InvalidArgument(
            f"HostConfig.RestartPolicy.Name: invalid restart policy '{host.restart_policy.name}'")
    if host.auto_remove and host.restart_policy.name not in ("", "no"):
        raise InvalidArgument(
            "HostConfig.AutoRemove: can't create 'AutoRemove' container with restart policy")
    for field_name in ("memory", "shm_size", "cpu_shares", "nano_cpus", "memory_swap"):
        value = getattr(host, field_name)
        if value < 0 and not (field_name == "memory_swap" and value == -1):
            wire = "".join(p.capitalize() for p in field_name.split("_"))
            raise InvalidArgument(f"HostConfig.{wire}: invalid value {value}: must be >= 0")
    if 0 < host.memory < 6 * 1024 * 1024:
        raise InvalidArgument("Minimum memory limit allowed is 6MB")
    if host.memory > 0 and 0 < host.memory_swap < host.memory:
        raise InvalidArgument(
            "Minimum memoryswap limit should be larger than memory limit, see usage")
    if host.memory == 0 and host.memory_swap > 0:
        raise InvalidArgument(
            "You should always set the Memory limit when using Memoryswap limit, see usage")
    if host.console_size is not None and len(host.console_size) != 2:
        raise InvalidArgument("HostConfig.ConsoleSize: expected [height, width]")
