"""The default bundle builder: overlay rootfs over the image's layers, engine
managed /etc files, and Docker's OCI spec.

Per container, under ``<data-root>/containers/<id>/``::

    rootfs/{upper,work,merged}   the writable layer and its mount point
    hostname, hosts, resolv.conf  bind-mounted into /etc
    bundle/config.json           what runc receives
    container.log                written by the container's monitor
"""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
from pathlib import Path
from typing import Any

from ketch.containers.etcfiles import HOST_GATEWAY, parse_extra_host, write_etc_files
from ketch.containers.model import Container
from ketch.containers.mounts import OciMounts
from ketch.containers.networking import NetworkSetup
from ketch.containers.rootfs import ContainerRootfs, mkdir_in_root
from ketch.containers.spec import (
    Resources,
    SpecInput,
    Ulimit,
    build_spec,
    container_env,
    exec_process,
    merge_env,
)
from ketch.containers.users import resolve_user
from ketch.errors import InvalidArgument
from ketch.images.model import Image
from ketch.layers.store import LayerStore
from ketch.oci.chain import chain_ids
from ketch.runtime.base import CreateOptions, LogOptions

DEFAULT_LOG_MAX_SIZE = 10 << 20
DEFAULT_LOG_MAX_FILES = 5
_SIZE_UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1000, "m": 1000**2, "mb": 1000**2,
               "g": 1000**3, "gb": 1000**3}


def parse_log_options(options: dict[str, str]) -> tuple[int | None, int]:
    """``--log-opt max-size=10m max-file=3`` (Docker's units: k, m, g)."""
    for key in options:
        if key not in ("max-size", "max-file", "compress", "mode", "max-buffer-size"):
            raise InvalidArgument(f"unknown log opt '{key}' for json-file log driver")
    max_size: int | None = DEFAULT_LOG_MAX_SIZE
    raw_size = options.get("max-size", "")
    if raw_size:
        if raw_size == "-1":
            max_size = None
        else:
            number = raw_size.rstrip("bBkKmMgG")
            unit = raw_size[len(number):].lower()
            try:
                max_size = int(float(number) * _SIZE_UNITS[unit])
            except (ValueError, KeyError):
                raise InvalidArgument(f"invalid log opt max-size: {raw_size!r}") from None
            if max_size <= 0:
                raise InvalidArgument(f"invalid log opt max-size: {raw_size!r}")
    max_files = DEFAULT_LOG_MAX_FILES
    if "max-file" in options:
        try:
            max_files = int(options["max-file"])
        except ValueError:
            raise InvalidArgument(f"invalid log opt max-file: {options['max-file']!r}") from None
        if max_files < 1:
            raise InvalidArgument("max-file cannot be less than 1")
    return max_size, max_files


class LocalBundles:
    def __init__(self, containers_root: Path, layers: LayerStore) -> None:
        self.root = containers_root
        self.root.mkdir(parents=True, exist_ok=True, mode=0o710)
        self.rootfs = ContainerRootfs(containers_root, layers)

    def _dir(self, container: Container) -> Path:
        return self.root / container.id

    @staticmethod
    def _chain(image: Image) -> list[str]:
        return chain_ids(image.config.rootfs.diff_ids)

    async def create(self, container: Container, image: Image) -> None:
        # Bad options fail docker create, not the later start.
        parse_log_options(container.host_config.log_config.config)
        for entry in container.host_config.extra_hosts or ():
            if entry.partition(":")[2] != HOST_GATEWAY:  # known when the container starts
                parse_extra_host(entry)
        directory = self._dir(container)
        await asyncio.to_thread(self.rootfs.create, container.id, self._chain(image))
        container.hostname_path = str(directory / "hostname")
        container.hosts_path = str(directory / "hosts")
        container.resolv_conf_path = str(directory / "resolv.conf")
        container.log_path = str(directory / "container.log")

    def _hostname(self, container: Container) -> str:
        if container.host_config.network_mode == "host" and not container.config.hostname:
            return socket.gethostname()
        return container.config.hostname

    async def _write_etc(self, container: Container, network: NetworkSetup) -> None:
        host = container.host_config
        await asyncio.to_thread(
            write_etc_files, self._dir(container), hostname=self._hostname(container),
            domainname=container.config.domainname, addresses=network.addresses,
            extra_hosts=network.extra_hosts, dns=host.dns or (),
            dns_search=host.dns_search or (), dns_options=host.dns_options or (),
            host_network=network.netns == "host" and network.shared_with is None,
            resolv_conf=network.resolv_conf)

    async def update_network_files(self, container: Container, network: NetworkSetup) -> None:
        """Rewrite /etc/hosts and /etc/resolv.conf of a running container in place
        (a network was connected or disconnected)."""
        if network.shared_with is None:
            await self._write_etc(container, network)

    async def mount_rootfs(self, container: Container, image: Image) -> Path:
        return await asyncio.to_thread(self.rootfs.mount, container.id, self._chain(image))

    async def prepare(self, container: Container, image: Image,
                      network: NetworkSetup | None = None,
                      mounts: OciMounts | None = None) -> CreateOptions:
        directory = self._dir(container)
        host = container.host_config
        config = container.config
        if network is None:  # no network service: a namespace of its own, loopback only
            network = NetworkSetup("host" if host.network_mode == "host" else "", extra_hosts=tuple(
                parse_extra_host(h) for h in host.extra_hosts or ()))
        shared = network.shared_with
        if shared is not None:  # --network container:X: X's hostname and /etc files
            config.hostname = self._hostname(shared)
            config.domainname = shared.config.domainname
            container.hostname_path = shared.hostname_path
            container.hosts_path = shared.hosts_path
            container.resolv_conf_path = shared.resolv_conf_path
        else:
            container.hostname_path = str(directory / "hostname")
            container.hosts_path = str(directory / "hosts")
            container.resolv_conf_path = str(directory / "resolv.conf")
        merged = await asyncio.to_thread(self.rootfs.mount, container.id, self._chain(image))
        hostname = self._hostname(container)
        if shared is None:
            await self._write_etc(container, network)
        user = await asyncio.to_thread(resolve_user, merged, config.user, host.group_add or ())
        cwd = config.working_dir or "/"
        if cwd != "/":
            await asyncio.to_thread(mkdir_in_root, merged, cwd)
        spec = build_spec(SpecInput(
            container_id=container.id, rootfs=merged, args=[container.path, *container.args],
            hostname=hostname, domainname=config.domainname,
            readonly_rootfs=host.readonly_rootfs, env=config.env or (), cwd=cwd, user=user,
            tty=config.tty, console_size=_console(host.console_size),
            privileged=host.privileged, cap_add=host.cap_add or (), cap_drop=host.cap_drop or (),
            network=network.netns or "none", ipc="host" if host.ipc_mode == "host" else
            "private", pid="host" if host.pid_mode == "host" else "private",
            uts="host" if host.uts_mode == "host" else "private",
            shm_size=host.shm_size or 64 << 20,
            hostname_path=Path(container.hostname_path), hosts_path=Path(container.hosts_path),
            resolv_conf_path=Path(container.resolv_conf_path),
            ulimits=[Ulimit(u.name, u.soft, u.hard) for u in host.ulimits or ()],
            oom_score_adj=host.oom_score_adj,
            resources=Resources(
                memory=host.memory, memory_reservation=host.memory_reservation,
                memory_swap=host.memory_swap, memory_swappiness=host.memory_swappiness,
                oom_kill_disable=bool(host.oom_kill_disable), cpu_shares=host.cpu_shares,
                cpu_period=host.cpu_period, cpu_quota=host.cpu_quota, nano_cpus=host.nano_cpus,
                cpuset_cpus=host.cpuset_cpus, cpuset_mems=host.cpuset_mems,
                pids_limit=host.pids_limit or 0, blkio_weight=host.blkio_weight),
            sysctls=host.sysctls or {},
            no_new_privileges="no-new-privileges" in (host.security_opt or [])
            or "no-new-privileges:true" in (host.security_opt or []),
            seccomp="seccomp=unconfined" not in (host.security_opt or []),
            masked_paths=host.masked_paths, readonly_paths=host.readonly_paths,
            mounts=mounts.mounts if mounts is not None else (),
        ))
        if mounts is not None and mounts.rootfs_propagation:
            spec["linux"]["rootfsPropagation"] = mounts.rootfs_propagation
        bundle = directory / "bundle"
        bundle.mkdir(exist_ok=True, mode=0o700)
        (bundle / "config.json").write_text(json.dumps(spec))
        max_size, max_files = parse_log_options(host.log_config.config)
        return CreateOptions(
            container_id=container.id, bundle=bundle,
            log=LogOptions(path=Path(container.log_path), max_size=max_size,
                           max_files=max_files),
            # Docker closes a container's stdin after the first attach only
            # without a TTY (a terminal session survives its client).
            tty=config.tty, stdin=config.open_stdin,
            stdin_once=config.stdin_once and not config.tty,
            console_size=_console(host.console_size))

    async def exec_process(
        self, container: Container, *, args: list[str], env: list[str], user: str,
        workdir: str, tty: bool, privileged: bool, console_size: list[int] | None,
    ) -> dict[str, object]:
        spec: dict[str, Any] = json.loads(
            (self._dir(container) / "bundle" / "config.json").read_text())
        merged = self.rootfs.paths(container.id).merged
        resolved = await asyncio.to_thread(resolve_user, merged, user) if user else None
        base_env = container_env(container.config.env or (), self._hostname(container), tty)
        return exec_process(
            spec["process"], args=args, env=merge_env(base_env, env),
            cwd=workdir or container.config.working_dir or "/", user=resolved, tty=tty,
            privileged=privileged, console_size=_console(console_size))

    async def release(self, container: Container) -> None:
        await asyncio.to_thread(self.rootfs.unmount, container.id)

    async def destroy(self, container: Container) -> None:
        await asyncio.to_thread(self.rootfs.unmount, container.id)
        await asyncio.to_thread(self.rootfs.remove, container.id)
        await asyncio.to_thread(shutil.rmtree, self._dir(container), True)

    async def size_rw(self, container: Container) -> int:
        return await asyncio.to_thread(self.rootfs.size, container.id)


def _console(size: list[int] | None) -> tuple[int, int] | None:
    if size and len(size) == 2 and size[0] > 0 and size[1] > 0:
        return size[0], size[1]
    return None

