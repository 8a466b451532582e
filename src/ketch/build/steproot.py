"""A build step's own root filesystem, mounted without a container.

COPY and ADD need the parent image's files with a fresh upper dir on
top, to unpack the copy into; ``COPY --from`` and ``--chown`` only need to
read an image's files. None of that needs a container (a record, events,
a bundle): the overlay alone does. So a step root is the containers'
overlay layout (:class:`ketch.containers.rootfs.ContainerRootfs`) under a
``build-<hex>`` name, mounted without the engine's mount targets
(/etc/hosts, /proc, ...), which no process will ever use here. Its upper
dir therefore holds exactly what the step wrote, in the form an overlay
lower dir needs (whiteouts, opaque dirs): the committer can make it the
new layer's snapshot as it is (:meth:`ketch.images.commit.ImageCommitter.commit_tree`).

Step roots live next to the containers' roots, on the layer store's
filesystem, so that adopting an upper dir is a rename. One left by a
crash is removed (unmounted, deleted) when the builder starts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from ketch.containers.rootfs import ContainerRootfs, RootfsPaths

log = logging.getLogger(__name__)

_PREFIX = "build-"


@dataclass(frozen=True)
class StepRoot:
    """A mounted step root: ``merged`` to read and write, ``upper`` for the changes.

    ``id`` (64 hex digits) stands for the step container Docker would
    have made: the committed image records it as its ``container``.
    """

    id: str
    paths: RootfsPaths

    @property
    def name(self) -> str:
        return _PREFIX + self.id

    @property
    def merged(self) -> Path:
        return self.paths.merged

    @property
    def upper(self) -> Path:
        return self.paths.upper


class StepRoots:
    """Makes, mounts and discards step roots."""

    def __init__(self, rootfs: ContainerRootfs) -> None:
        self.rootfs = rootfs

    @contextlib.asynccontextmanager
    async def mounted(self, chain: list[str]) -> AsyncIterator[StepRoot]:
        """A step root over the layers *chain* (base first), mounted while the block runs.

        On exit it is unmounted and deleted (in the background), except
        for an upper dir the committer took as a snapshot meanwhile.
        """
        step_id = secrets.token_hex(32)
        name = _PREFIX + step_id

        def setup() -> RootfsPaths:
            paths = self.rootfs.create(name, chain)
            try:
                self.rootfs.mount(name, chain, engine_targets=False)
            except BaseException:
                self._discard(name)
                raise
            return paths

        paths = await asyncio.to_thread(setup)
        try:
            yield StepRoot(step_id, paths)
        finally:
            await asyncio.to_thread(self._discard, name)

    async def unmount(self, root: StepRoot) -> None:
        """Unmount *root* early: its upper dir is then complete and stable."""
        await asyncio.to_thread(self.rootfs.unmount, root.name)

    def remove_leftovers(self) -> int:
        """Remove the step roots a crash left behind; how many. Blocks."""
        removed = 0
        try:
            names = os.listdir(self.rootfs.containers_root)
        except FileNotFoundError:
            return 0
        for name in names:
            if name.startswith(_PREFIX):
                try:
                    self._discard(name)
                    removed += 1
                except OSError as exc:
                    log.warning("cannot remove build step root %s: %s", name, exc)
        return removed

    def _discard(self, name: str) -> None:
        """Unmount, trash the overlay dirs, drop the step's (then empty) directory."""
        self.rootfs.remove(name)
        with contextlib.suppress(OSError):
            os.rmdir(self.rootfs.containers_root / name)


__all__ = ["StepRoot", "StepRoots"]
