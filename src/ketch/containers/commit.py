"""A container's filesystem as an image (commit), a change list (diff) or a tar (export).

All three read the container's overlay: its upper dir holds what the
container changed, the image's layer dirs (top first) what it started
from. The engine's own mount targets (/etc/hosts, /proc, ...) sit in the
upper dir too, where Docker keeps them in a per-container "init" layer
that never shows in a diff or a commit; they are passed as exclusions.

Commit follows moby's ``CreateImageFromContainer``: the container is
paused unless the client says not to (and only if it is running and not
paused already), the new config is the body's config (or the
container's) with the ``--change`` instructions applied (by the builder's
instruction code, :func:`ketch.build.config.apply_changes`), then filled from
the container's config with Docker's commit ``merge`` rules; the history
entry's ``created_by`` is the container's Cmd. Docker emits the events
of that pause and unpause, an image ``tag`` event when a name is given,
and a container ``commit`` event.

Export streams the merged tree. A stopped container's overlay is mounted
for the export and unmounted after it unless the container was started
meanwhile (or another export still reads it); exports are counted per
container so that two at once do not unmount under each other.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import msgspec

from ketch.build.config import apply_changes
from ketch.containers.model import Container, ContainerConfig
from ketch.containers.rootfs import MOUNT_TARGETS, ContainerRootfs
from ketch.containers.service import ContainerService
from ketch.errors import Conflict, InternalError, InvalidArgument, KetchError
from ketch.images.commit import ChildImage, ImageCommitter
from ketch.layers.diff import Change, LayerDiff, changes, write_layer_tar
from ketch.layers.export import export_tree
from ketch.oci.chain import chain_ids
from ketch.oci.reference import Reference, repo_tag_reference
from ketch.threadstream import stream_from_thread

#: Engine-made mount targets: never part of a diff or a committed layer.
ENGINE_PATHS: tuple[str, ...] = tuple(path for path, _ in MOUNT_TARGETS)

#: ``container.Config`` as Go encodes it: field order, ``omitempty``, zero value.
_GO_CONFIG_FIELDS: tuple[tuple[str, bool, Any], ...] = (
    ("Hostname", False, ""), ("Domainname", False, ""), ("User", False, ""),
    ("AttachStdin", False, False), ("AttachStdout", False, False),
    ("AttachStderr", False, False), ("ExposedPorts", True, None), ("Tty", False, False),
    ("OpenStdin", False, False), ("StdinOnce", False, False), ("Env", False, None),
    ("Cmd", False, None), ("Healthcheck", True, None), ("ArgsEscaped", True, None),
    ("Image", False, ""), ("Volumes", False, None), ("WorkingDir", False, ""),
    ("Entrypoint", False, None), ("NetworkDisabled", True, None),
    ("MacAddress", True, None), ("OnBuild", False, None), ("Labels", False, None),
    ("StopSignal", True, None), ("StopTimeout", True, None), ("Shell", True, None),
)
#: Fields Go encodes as JSON objects from maps: keys come out sorted.
_MAP_FIELDS = ("ExposedPorts", "Volumes", "Labels")
_HEALTH_FIELDS = ("Test", "Interval", "Timeout", "StartPeriod", "StartInterval", "Retries")


@dataclass
class CommitOptions:
    """``POST /commit``: which container, the new name, and what to change."""

    container: str
    repo: str = ""
    tag: str = ""
    comment: str = ""
    author: str = ""
    pause: bool = True
    changes: list[str] = field(default_factory=list)
    #: the request body's config; None means "the container's own"
    config: ContainerConfig | None = None


# -- config as Docker writes it ---------------------------------------------------------


def go_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """A PascalCase config dict shaped as Go's ``json.Marshal(container.Config)``.

    Fields in struct order, ``omitempty`` fields left out when empty,
    missing (or None) fields at their zero value, map keys sorted. Keeping this shape
    makes committed configs read back the way Docker's do (``Labels: {}``,
    no ``ExposedPorts`` when there are none).
    """
    out: dict[str, Any] = {}
    for name, omitempty, zero in _GO_CONFIG_FIELDS:
        value = config.get(name)
        if value is None:
            value = zero
        if name == "Healthcheck" and isinstance(value, dict):
            value = {k: value[k] for k in _HEALTH_FIELDS if value.get(k)} or None
            if value is None and omitempty:
                continue
        if omitempty and not value:
            continue
        if name in _MAP_FIELDS and isinstance(value, dict):
            value = dict(sorted(value.items()))
        out[name] = value
    return out


def config_dict(config: ContainerConfig) -> dict[str, Any]:
    """A container's config as Go's ``container.Config`` JSON."""
    raw: dict[str, Any] = msgspec.to_builtins(config)
    return go_config(raw)


def merge_commit_config(user: dict[str, Any], base: dict[str, Any]) -> dict[str, Any]:
    """moby's commit ``merge``: fill what *user* leaves unset from *base* (the container's).

    Unlike the create-time merge, Labels always end up an object (``{}``),
    ports and volumes are unions, and a healthcheck is merged field by field.
    """
    if not user.get("User"):
        user["User"] = base.get("User") or ""
    base_ports = base.get("ExposedPorts") or {}
    if not user.get("ExposedPorts"):
        user["ExposedPorts"] = base.get("ExposedPorts")
    else:
        user["ExposedPorts"] = {**{p: {} for p in base_ports}, **user["ExposedPorts"]}
    base_env: list[str] = list(base.get("Env") or [])
    if not user.get("Env"):
        user["Env"] = base.get("Env")
    else:
        keys = {item.split("=", 1)[0] for item in user["Env"]}
        user["Env"] = [*user["Env"], *(e for e in base_env if e.split("=", 1)[0] not in keys)]
    user["Labels"] = {**(base.get("Labels") or {}), **(user.get("Labels") or {})}
    if not user.get("Entrypoint"):
        if not user.get("Cmd"):
            user["Cmd"] = base.get("Cmd")
        if user.get("Entrypoint") is None:
            user["Entrypoint"] = base.get("Entrypoint")
    base_health = base.get("Healthcheck")
    if base_health:
        health = user.get("Healthcheck")
        if not health:
            user["Healthcheck"] = dict(base_health)
        else:
            for key in _HEALTH_FIELDS:
                if not health.get(key) and base_health.get(key):
                    health[key] = base_health[key]
    if not user.get("WorkingDir"):
        user["WorkingDir"] = base.get("WorkingDir") or ""
    if not user.get("Volumes"):
        # an empty map is null: what Docker's create-time merge leaves for "no volumes"
        user["Volumes"] = base.get("Volumes") or None
    else:
        user["Volumes"] = {**user["Volumes"], **(base.get("Volumes") or {})}
    if not user.get("StopSignal"):
        user["StopSignal"] = base.get("StopSignal")
    return go_config(user)


def change_json_path(path: str) -> str:
    """A change's path as Go's JSON encoder writes it: each byte that is not
    UTF-8 (a surrogate escape here) becomes U+FFFD."""
    return "".join("\ufffd" if "\udc80" <= ch <= "\udcff" else ch for ch in path)


# -- the service ------------------------------------------------------------------------

#: Exports under way, per container service and container: a stopped
#: container's overlay stays mounted until the last one ends.
_EXPORTS: weakref.WeakKeyDictionary[ContainerService, dict[str, int]] = \
    weakref.WeakKeyDictionary()


class ContainerFiles:
    """Commit, diff and export of containers managed by one ContainerService."""

    def __init__(self, containers: ContainerService, committer: ImageCommitter) -> None:
        self.containers = containers
        self.committer = committer
        self._exports = _EXPORTS.setdefault(containers, {})

    # -- lookup ---------------------------------------------------------------------
    def get(self, ref: str) -> Container:
        """The container *ref* names (an empty ref is refused as Docker does)."""
        if not ref:
            raise InvalidArgument('invalid name or ID supplied: ""')
        return self.containers.get(ref)

    def rootfs(self) -> ContainerRootfs:
        """The overlay manager behind the service's bundle builder.

        The BundleBuilder protocol does not expose it; the local builder
        (the only one) has it as ``rootfs``.
        """
        rootfs = getattr(self.containers.bundles, "rootfs", None)
        if not isinstance(rootfs, ContainerRootfs):
            raise InternalError("this engine's containers have no overlay root filesystem")
        return rootfs

    def _chain(self, container: Container) -> list[str]:
        image = self.containers.images.get(container.image_id)
        return chain_ids(image.config.rootfs.diff_ids)

    def _lowers(self, rootfs: ContainerRootfs, container: Container) -> list[Path]:
        return [rootfs.layers.diff_dir(c) for c in reversed(self._chain(container))]

    @staticmethod
    def _refuse(container: Container, action: str) -> None:
        if container.state.status == "dead":
            raise Conflict(f"You cannot {action} container {container.id} which is Dead")
        if container.state.removal_in_progress:
            raise Conflict(f"You cannot {action} container {container.id} which is being removed")

    # -- commit ---------------------------------------------------------------------
    async def commit(self, options: CommitOptions) -> str:
        """Make an image of the container; returns its ID (``sha256:...``)."""
        ref = repo_tag_reference(options.repo, options.tag)
        container = self.get(options.container)
        self._refuse(container, "commit")
        paused_here = False
        if options.pause and container.state.status == "running":
            with contextlib.suppress(KetchError):  # Docker ignores a failed pause too
                await self.containers.pause(container.id)
                paused_here = True
        try:
            image_id = await self._commit(container, options, ref)
        finally:
            if paused_here:
                with contextlib.suppress(KetchError):
                    await self.containers.unpause(container.id)
        return image_id

    async def _commit(self, container: Container, options: CommitOptions,
                      ref: Reference | None) -> str:
        own = config_dict(container.config)
        base = config_dict(options.config) if options.config is not None else dict(own)
        config = merge_commit_config(apply_changes(base, options.changes), own)
        rootfs = self.rootfs()
        upper = rootfs.paths(container.id).upper
        lowers = self._lowers(rootfs, container)

        def write_diff(out: BinaryIO) -> LayerDiff:
            return write_layer_tar(upper, out, exclude=ENGINE_PATHS, lowers=lowers)

        child = ChildImage(
            config=config, created_by=" ".join(container.config.cmd or []),
            comment=options.comment, author=options.author, container_id=container.id,
            container_config=own, refs=[ref] if ref is not None else [],
        )
        async with self.containers.lock(container.id):
            # not removed meanwhile: rm waits for this lock before deleting the upper dir
            self.containers.get(container.id)
            committed = await self.committer.commit(container.image_id, child, write_diff)
        image_ref = ""
        if ref is not None:
            image_ref = ref.familiar
            self.containers.events.emit("image", "tag", committed.image_id, name=image_ref)
        self.containers.emit(container, "commit", comment=options.comment,
                             imageID=committed.image_id, imageRef=image_ref)
        return committed.image_id

    # -- diff -----------------------------------------------------------------------
    async def changes(self, ref: str) -> list[Change]:
        """``docker diff``: the container's changes to its image, sorted by path."""
        container = self.get(ref)
        rootfs = self.rootfs()
        upper = rootfs.paths(container.id).upper
        lowers = self._lowers(rootfs, container)
        return await asyncio.to_thread(changes, upper, lowers, exclude=ENGINE_PATHS)

    # -- export ---------------------------------------------------------------------
    async def export(self, ref: str) -> AsyncGenerator[bytes, None]:
        """``docker export``: the container's whole filesystem as a tar stream.

        Lookup and mount happen on the first ``anext``, so their errors come
        before any byte (and can still be an HTTP error); close the iterator
        (``aclose``) to end an export early and release the mount at once.
        """
        container = self.get(ref)
        self._refuse(container, "export")
        rootfs = self.rootfs()
        merged = await self.hold_mount(rootfs, container)

        def produce(out: BinaryIO) -> None:
            export_tree(merged, out)

        stream = stream_from_thread(produce)
        try:
            async for chunk in stream:
                yield chunk
        finally:
            try:
                # stop the producer thread first (the iterator's own clean-up)
                close: Callable[[], Awaitable[None]] | None = getattr(stream, "aclose", None)
                if close is not None:
                    await close()
            finally:
                await self.release_mount(rootfs, container.id)
        self.containers.emit(container, "export")

    async def hold_mount(self, rootfs: ContainerRootfs, container: Container) -> Path:
        """The container's merged root filesystem, mounted until :meth:`release_mount`.

        A stopped container's overlay is mounted here; holds are counted per
        container (exports and ``docker cp`` alike), so that one user's
        release never unmounts under another, nor under a running container.
        """
        async with self.containers.lock(container.id):
            current = self.containers.get(container.id)
            if not _has_process(current):
                await asyncio.to_thread(rootfs.mount, current.id, self._chain(current))
            elif not rootfs.is_mounted(current.id):
                raise InternalError(f"container {current.id} is running without its rootfs")
            self._exports[current.id] = self._exports.get(current.id, 0) + 1
            return rootfs.paths(current.id).merged

    async def release_mount(self, rootfs: ContainerRootfs, container_id: str) -> None:
        """End a :meth:`hold_mount`; the last one unmounts a container without a process."""
        async with self.containers.lock(container_id):
            left = self._exports.get(container_id, 1) - 1
            if left > 0:
                self._exports[container_id] = left
                return
            self._exports.pop(container_id, None)
            current = self.containers.table.get(container_id)
            if current is None or not _has_process(current):
                await asyncio.to_thread(rootfs.unmount, container_id)


def _has_process(container: Container) -> bool:
    """Whether the runtime holds the container's rootfs mounted (not between
    the restarts of a restart policy, whose rootfs is released meanwhile)."""
    return container.state.status in ("running", "paused")


__all__ = [
    "ENGINE_PATHS",
    "CommitOptions",
    "ContainerFiles",
    "change_json_path",
    "config_dict",
    "go_config",
    "merge_commit_config",
]
