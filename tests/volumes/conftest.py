"""Fixtures for the volume tests: a real VolumeService on a temporary data root,
an asyncio loop on its own thread to drive it, a small daemon serving only
the volume routes on a unix socket, and a mounted busybox root filesystem.

Everything a fixture mounts is unmounted when the test ends, and the test
fails if anything is still mounted below its directory.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Coroutine, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
from aiohttp import web
from support import leaks
from support.dockercli import docker_cli_env
from support.images import OfflineImages
from support.loopthread import LoopThread

from ketch.api import system
from ketch.api.app import VERSION_PREFIX, _common_headers, version_middleware
from ketch.api.errors import error_middleware
from ketch.api.volumes import VOLUMES
from ketch.api.volumes import add_routes as add_volume_routes
from ketch.containers.rootfs import ContainerRootfs
from ketch.events import EventBus
from ketch.layers.store import LayerStore
from ketch.store.db import Database
from ketch.store.volumes import VolumeTable
from ketch.volumes.service import VolumeService

T = TypeVar("T")


def require_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root (mounts, chown, mknod)")


@dataclass
class World:
    """A VolumeService on ``root`` (the data root), driven through ``loop``."""

    root: Path
    db: Database
    events: EventBus
    service: VolumeService
    loop: LoopThread

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.loop.run(coro)

    def call(self, fn: Callable[[], T]) -> T:
        return self.loop.call(fn)

    def restart(self) -> VolumeService:
        """A new service on the same data root, as after a daemon restart."""
        self.service = VolumeService(VolumeTable(self.db), self.root / "volumes", self.events)
        self.call(self.service.setup)
        return self.service


def _check_no_mounts(where: Path) -> None:
    left = leaks.mounts_under(where)
    if left:
        leaks.unmount_all(left)
        pytest.fail(f"mounts left under {where}: {left}", pytrace=False)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    require_root()
    root = tmp_path / "data"
    root.mkdir()
    db = Database(root / "ketch.db")
    events = EventBus()
    loop = LoopThread()
    service = VolumeService(VolumeTable(db), root / "volumes", events)
    w = World(root, db, events, service, loop)
    loop.call(service.setup)
    try:
        yield w
    finally:
        loop.close()
        db.close()
        _check_no_mounts(tmp_path)


@dataclass
class MiniDaemon:
    """The volume routes (and ``/_ping``) of the real API on a unix socket."""

    world: World
    socket: Path
    env: dict[str, str]

    @property
    def host(self) -> str:
        return f"unix://{self.socket}"


def volume_app(service: VolumeService) -> web.Application:
    """The API application with only ping and the volume routes."""
    app = web.Application(middlewares=[error_middleware, version_middleware])
    app[VOLUMES] = service

    def add(method: str, path: str, handler: Any) -> None:
        app.router.add_route(method, path, handler)
        app.router.add_route(method, VERSION_PREFIX + path, handler)

    add("GET", "/_ping", system.ping)
    add("HEAD", "/_ping", system.ping)
    add_volume_routes(add)
    app.on_response_prepare.append(_common_headers)
    return app


@pytest.fixture
def mini_daemon(world: World, tmp_path: Path) -> Iterator[MiniDaemon]:
    sock = tmp_path / "v.sock"

    async def start() -> web.AppRunner:
        runner = web.AppRunner(volume_app(world.service))
        await runner.setup()
        await web.UnixSite(runner, str(sock)).start()
        return runner

    runner = world.run(start())
    config = tmp_path / "docker-config"
    config.mkdir()
    try:
        yield MiniDaemon(world, sock, docker_cli_env(f"unix://{sock}", config))
    finally:
        world.run(runner.cleanup())


@dataclass
class Busybox:
    store: LayerStore
    rootfs: ContainerRootfs
    chain: list[str]


@pytest.fixture
def busybox_layers(tmp_path: Path, offline_images: OfflineImages) -> Busybox:
    """The busybox image as a layer of a fresh LayerStore."""
    require_root()
    store = LayerStore(tmp_path / "layers")
    tar = offline_images.busybox
    chain_id = "sha256:" + hashlib.sha256(tar.read_bytes()).hexdigest()
    store.create(chain_id, tar)
    return Busybox(store, ContainerRootfs(tmp_path / "containers", store), [chain_id])


def mount_root(busybox: Busybox, cid: str,
               extra_layers: Sequence[tuple[str, bytes]] = ()) -> Path:
    """Mount a container root of busybox plus *extra_layers* (chain id, tar bytes)."""
    import io

    chain = list(busybox.chain)
    for chain_id, data in extra_layers:
        if not busybox.store.exists(chain_id):
            busybox.store.create(chain_id, io.BytesIO(data))
        chain.append(chain_id)
    busybox.rootfs.create(cid, chain)
    return busybox.rootfs.mount(cid, chain)
