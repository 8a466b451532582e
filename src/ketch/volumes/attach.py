"""Volumes in a container's life: create, start, stop and remove.

The container service calls these at four moments, in this order:

1. ``docker create``: :func:`register_mount_points` (after
   ``mounts.plan_mount_points``) creates or finds every volume the plan
   names, makes the container reference them, and fills in each mount
   point's volume name and source. With the container's root filesystem
   mounted, :func:`add_image_volumes` gives each ``Config.Volumes``
   destination that is still free an anonymous volume, and
   :func:`populate_volumes` copies the image's content into the new, empty
   volumes (Docker copies at create).
2. ``docker start``: :func:`setup_mounts` mounts the volumes (a tmpfs volume
   gets mounted now), pins volume subpaths, creates missing ``-v`` host
   directories, and returns the host paths for ``mounts.oci_mounts``; call
   :meth:`PreparedMounts.close` once the runtime has made the container's
   mounts (after ``runtime.create``), or on failure.
3. the container stops: :func:`teardown_mounts` (the last user of a tmpfs
   volume unmounts it).
4. ``docker rm``: :func:`release_mount_points` drops the references and,
   with ``-v``, removes the container's anonymous volumes.

Each step undoes its own partial work when it fails, and emits Docker's
``mount``/``unmount`` volume events.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import stat
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from ketch.containers.mounts import (
    BIND,
    TMPFS,
    VOLUME,
    MountPoint,
    ResolvedMount,
    anonymous_volume_point,
    image_volume_destinations,
)
from ketch.containers.rootfs import open_in_root
from ketch.errors import InternalError, InvalidArgument, KetchError, NotFound
from ketch.volumes.model import DEFAULT_DRIVER
from ketch.volumes.service import VolumeService
from ketch.volumes.subpath import PinnedPath, pin_subpath

log = logging.getLogger(__name__)


# -- create ----------------------------------------------------------------------------


async def register_mount_points(volumes: VolumeService, container_id: str,
                                points: Sequence[MountPoint]) -> list[MountPoint]:
    """Create (or find) and reference the volumes of *points*; the points come
    back with ``name``, ``driver``, ``source`` and ``mode`` set as Docker sets
    them. On failure every reference taken is released again."""
    taken: list[str] = []
    out: list[MountPoint] = []
    try:
        for point in points:
            if point.type != VOLUME:
                out.append(point)
                continue
            if point.source and point.name:  # from --volumes-from: the volume exists
                volume = await volumes.acquire(point.name, container_id)
                taken.append(volume.name)
                out.append(point)
                continue
            options = point.spec.volume_options
            driver_opts = labels = None
            if options is not None:
                driver_opts = options.driver_config.options if options.driver_config else None
                labels = options.labels
            volume = await volumes.create(point.name, point.driver, driver_opts, labels,
                                          reference=container_id)
            taken.append(volume.name)
            mode = point.mode or ("z" if volume.driver == DEFAULT_DRIVER else "")
            out.append(msgspec.structs.replace(point, name=volume.name, driver=volume.driver,
                                               source=volume.mountpoint, mode=mode))
    except BaseException:
        for name in taken:
            await volumes.release(name, container_id)
        raise
    return out


async def add_image_volumes(volumes: VolumeService, container_id: str,
                            points: Sequence[MountPoint], config_volumes: Mapping[str, Any] | None,
                            tmpfs: Mapping[str, str] | None, rootfs: Path | None,
                            volume_driver: str = "") -> list[MountPoint]:
    """Anonymous volumes for the ``Config.Volumes`` destinations nothing else
    mounts. With *rootfs* (the mounted root), a destination that is a file in
    the image is refused, as Docker refuses it."""
    out = list(points)
    created: list[str] = []
    try:
        for destination in image_volume_destinations(config_volumes, points, tmpfs):
            if rootfs is not None:
                await asyncio.to_thread(_refuse_file, rootfs, destination)
            volume = await volumes.create("", volume_driver, reference=container_id)
            created.append(volume.name)
            out.append(anonymous_volume_point(destination, volume.name, volume.mountpoint,
                                              volume.driver))
    except BaseException:
        for name in created:
            await volumes.release(name, container_id)
            with contextlib.suppress(KetchError):
                await volumes.remove(name)
        raise
    return out


def _refuse_file(rootfs: Path, destination: str) -> None:
    try:
        fd = open_in_root(rootfs, destination, os.O_PATH)
    except OSError:
        return
    try:
        if not stat.S_ISDIR(os.fstat(fd).st_mode):
            host = os.path.join(str(rootfs), destination.lstrip("/"))
            raise InvalidArgument(
                f"cannot mount volume over existing file, file exists {host}")
    finally:
        os.close(fd)


async def populate_volumes(volumes: VolumeService, points: Sequence[MountPoint],
                           rootfs: Path) -> None:
    """Copy the image's content at each volume's destination into the volume,
    if the volume is empty and the mount allows it (not ``nocopy``)."""
    for point in points:
        if point.type != VOLUME or not point.copy_data or not point.name:
            continue
        try:
            await volumes.copy_up(point.name, rootfs, point.destination)
        except NotFound:
            continue
        except OSError as exc:
            raise InternalError(f"failed to populate volume: {exc}") from None


# -- start / stop ----------------------------------------------------------------------


@dataclass
class PreparedMounts:
    """What :func:`setup_mounts` made: the paths for the spec, and pins to drop."""

    resolved: list[ResolvedMount]
    pins: list[PinnedPath] = field(default_factory=list)

    def close(self) -> None:
        """Drop the subpath pins (blocking; after the runtime made its mounts)."""
        for pin in self.pins:
            try:
                pin.close()
            except OSError as exc:  # pragma: no cover - logged, nothing else to do
                log.warning("could not remove subpath pin %s: %s", pin.path, exc)
        self.pins.clear()


def _mkdir_source(path: str) -> None:
    """``-v /host:/dst`` creates a missing host directory (root-owned, 0755);
    an existing file is left for the runtime to bind."""
    try:
        os.makedirs(path, mode=0o755, exist_ok=True)
    except FileExistsError:
        pass
    except OSError as exc:
        if exc.errno != errno.ENOTDIR:
            raise InternalError(
                f"error while creating mount source path '{path}': {exc.strerror}") from None


async def setup_mounts(volumes: VolumeService, container_id: str,
                       points: Sequence[MountPoint], pin_dir: Path,
                       tmpfs: Mapping[str, str] | None = None) -> PreparedMounts:
    """Mount the container's volumes and resolve every host path (docker start)."""
    tmpfs = tmpfs or {}
    prepared = PreparedMounts([])
    mounted: list[str] = []
    try:
        for point in points:
            if point.destination in tmpfs:
                continue
            if point.type == TMPFS:
                prepared.resolved.append(ResolvedMount(point))
                continue
            if point.type == BIND:
                if not point.skip_mountpoint_creation:
                    await asyncio.to_thread(_mkdir_source, point.source)
                prepared.resolved.append(ResolvedMount(point, point.source))
                continue
            try:
                path = await volumes.mount(point.name, container_id)
            except NotFound:
                raise
            except KetchError as exc:
                raise type(exc)(
                    f"error while mounting volume '{point.source}': {exc.message}") from None
            mounted.append(point.name)
            host = str(path)
            subpath = point.spec.volume_options.subpath if point.spec.volume_options else ""
            if subpath:
                pin = await asyncio.to_thread(pin_subpath, path, subpath, pin_dir)
                prepared.pins.append(pin)
                host = str(pin.path)
            prepared.resolved.append(ResolvedMount(point, host))
            volumes.emit("mount", point.name, **{
                "driver": point.driver, "container": container_id,
                "destination": point.destination, "read/write": str(point.rw).lower(),
                "propagation": point.propagation})
    except BaseException:
        await asyncio.to_thread(prepared.close)
        for name in mounted:
            with contextlib.suppress(KetchError):
                await volumes.unmount(name, container_id)
        raise
    return prepared


async def teardown_mounts(volumes: VolumeService, container_id: str,
                          points: Sequence[MountPoint]) -> list[str]:
    """The container stopped: unmount its volumes; returns the errors met."""
    errors: list[str] = []
    for point in points:
        if point.type != VOLUME or not point.name:
            continue
        try:
            await volumes.unmount(point.name, container_id)
        except KetchError as exc:
            errors.append(exc.message)
            continue
        volumes.emit("unmount", point.name, driver=point.driver, container=container_id)
    return errors


# -- remove ------------------------------------------------------------------------------


async def release_mount_points(volumes: VolumeService, container_id: str,
                               points: Sequence[MountPoint],
                               remove_anonymous: bool = False) -> list[str]:
    """docker rm: drop the container's references; with ``-v`` also remove its
    anonymous volumes (unless another container still uses them). Returns the
    errors met (Docker logs them; the container is removed anyway)."""
    errors: list[str] = []
    for point in points:
        if point.type != VOLUME or not point.name:
            continue
        await volumes.release(point.name, container_id)
        if not remove_anonymous or point.spec.source:
            continue
        try:
            await volumes.remove(point.name)
        except NotFound:
            continue
        except KetchError as exc:
            if "volume is in use" not in exc.message:
                errors.append(exc.message)
    return errors
