"""A container's volumes, binds and tmpfs mounts, seen from the container side.

The volume service (``ketch.volumes``) owns volumes; this module decides,
with Docker's rules and in Docker's order, what a container asks of it:

* at create, before anything exists: the mount points of ``HostConfig``
  (``Binds``, ``Mounts``, ``Tmpfs``, ``VolumesFrom``), checked, so a bad
  request leaves nothing behind;
* at create, once the container's ID and writable layer exist: its volumes
  created or found and referenced, an anonymous volume for every
  ``Config.Volumes`` destination nothing else mounts, and the image's
  content copied into the new, empty volumes (with the root filesystem
  mounted for the time of the copy);
* at start: the volumes mounted and every host path resolved, then the
  runtime spec's mount entries;
* at stop: the volumes unmounted; at ``docker rm``: the references dropped
  and, with ``-v`` (or ``--rm``), the anonymous volumes removed;
* at daemon start: every volume's references and users rebuilt from the
  container records, as Docker does.

Failures at stop and remove are logged, not raised: Docker removes the
container anyway.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path

from ketch.containers.model import Container, HostConfig
from ketch.containers.mounts import (
    VOLUME,
    MountPoint,
    OciMounts,
    image_volume_destinations,
    oci_mounts,
    plan_mount_points,
)
from ketch.volumes import attach
from ketch.volumes.attach import PreparedMounts
from ketch.volumes.service import VolumeService

log = logging.getLogger(__name__)

#: The first kernel with mount_setattr(2), which recursive read-only needs.
_RRO_KERNEL = (5, 12)


def recursive_readonly_supported(runc: str) -> bool:
    """Whether read-only binds can be read-only all the way down (``rro``).

    Docker 25+ uses ``rro`` when the kernel has mount_setattr(2) and the
    runtime lists ``rro`` among its mount options (``runc features``);
    otherwise plain ``ro``, which leaves sub-mounts of the source writable.
    Blocking (runs the runtime once): call it at daemon start.
    """
    release = os.uname().release.split("-", 1)[0].split(".")
    try:
        kernel = (int(release[0]), int(release[1]))
    except (IndexError, ValueError):
        return False
    if kernel < _RRO_KERNEL:
        return False
    try:
        proc = subprocess.run([runc, "features"], capture_output=True, timeout=30,
                              check=False)
        features = json.loads(proc.stdout) if proc.returncode == 0 else {}
    except (OSError, subprocess.SubprocessError, ValueError):
        return False
    return isinstance(features, dict) and "rro" in (features.get("mountOptions") or ())


def volume_names(container: Container) -> list[str]:
    """The volumes a container references (those of its mount points)."""
    return [p.name for p in container.mount_points if p.type == VOLUME and p.name]


class ContainerVolumes:
    """The container service's side of volumes: one call per step of a life."""

    def __init__(self, volumes: VolumeService, daemon_root: Path, pin_dir: Path,
                 recursive_readonly: bool = False) -> None:
        """*daemon_root* is the data root (binds from inside it get ``rslave``
        propagation, as Docker gives them); *pin_dir* holds the mounts that pin
        volume subpaths while a container starts; *recursive_readonly*: see
        :func:`recursive_readonly_supported`."""
        self.volumes = volumes
        self.daemon_root = daemon_root
        self.pin_dir = pin_dir
        self.recursive_readonly = recursive_readonly

    # -- create ------------------------------------------------------------------
    def plan(self, host: HostConfig, api_version: str,
             lookup: Callable[[str], Container]) -> list[MountPoint]:
        """The mount points a new container asks for (InvalidArgument with Docker's
        messages); nothing is created yet. *lookup* finds the containers of
        ``--volumes-from`` (raising NotFound)."""
        return plan_mount_points(
            binds=host.binds, mounts=host.mounts, tmpfs=host.tmpfs,
            volumes_from=host.volumes_from, volume_driver=host.volume_driver,
            container_mounts=lambda ref: lookup(ref).mount_points,
            daemon_root=str(self.daemon_root), api_version=api_version)

    async def attach(self, container: Container, points: list[MountPoint],
                     mount_rootfs: Callable[[], Awaitable[Path]],
                     unmount_rootfs: Callable[[], Awaitable[None]]) -> list[MountPoint]:
        """Create or find and reference the volumes of *points*, add the image's
        anonymous volumes and fill new volumes from the image; the final mount
        points. On failure everything taken here is given back (anonymous
        volumes removed)."""
        service, cid = self.volumes, container.id
        config, host = container.config, container.host_config
        points = await attach.register_mount_points(service, cid, points)
        try:
            copies = any(p.type == VOLUME and p.copy_data for p in points)
            if not copies and not image_volume_destinations(config.volumes, points, host.tmpfs):
                return points  # nothing to read from the image: no need to mount it
            root = await mount_rootfs()
            try:
                points = await attach.add_image_volumes(
                    service, cid, points, config.volumes, host.tmpfs, root, host.volume_driver)
                await attach.populate_volumes(service, points, root)
            finally:
                await unmount_rootfs()
        except BaseException:
            errors = await attach.release_mount_points(service, cid, points,
                                                       remove_anonymous=True)
            for message in errors:
                log.warning("container %s: %s", container.short_id, message)
            raise
        return points

    # -- start / stop --------------------------------------------------------------
    async def setup(self, container: Container) -> PreparedMounts:
        """Mount the container's volumes and resolve every host path (docker
        start); close the result once the runtime has made its mounts."""
        return await attach.setup_mounts(self.volumes, container.id, container.mount_points,
                                         self.pin_dir, container.host_config.tmpfs)

    def oci(self, container: Container, prepared: PreparedMounts) -> OciMounts:
        """The runtime spec's entries for *prepared* and ``HostConfig.Tmpfs``."""
        return oci_mounts(prepared.resolved, container.host_config.tmpfs,
                          daemon_root=str(self.daemon_root),
                          recursive_readonly=self.recursive_readonly)

    @staticmethod
    async def close(prepared: PreparedMounts) -> None:
        await asyncio.to_thread(prepared.close)

    async def teardown(self, container: Container) -> None:
        """The container stopped (or did not start): unmount its volumes."""
        for message in await attach.teardown_mounts(self.volumes, container.id,
                                                    container.mount_points):
            log.warning("container %s: unmounting volumes: %s", container.short_id, message)

    # -- remove ------------------------------------------------------------------------
    async def release(self, container: Container, remove_anonymous: bool) -> None:
        """docker rm: drop the references; with *remove_anonymous* (``-v``,
        ``--rm``) also remove the container's anonymous volumes."""
        for message in await attach.release_mount_points(
                self.volumes, container.id, container.mount_points, remove_anonymous):
            log.warning("container %s: removing volumes: %s", container.short_id, message)

    # -- daemon start ----------------------------------------------------------------------
    async def reconcile(self, containers: Iterable[Container]) -> None:
        """Rebuild every volume's references (all containers) and users (the
        running and paused ones) from the container records."""
        references: dict[str, list[str]] = {}
        mounted: dict[str, list[str]] = {}
        for container in containers:
            names = volume_names(container)
            references[container.id] = names
            if container.state.status in ("running", "paused"):
                mounted[container.id] = names
        await self.volumes.reconcile(references, mounted)
