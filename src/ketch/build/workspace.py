"""Where build steps work: containers for RUN, bare step roots for COPY and ADD.

A RUN gets a container created from the step's parent image under the
same runtime as ``docker run`` (conmon + runc, the same spec, the same
isolation); it is started, its output streamed, and the container's upper
directory, which holds exactly what the step changed, is committed.

COPY and ADD run no process, so they get no container: a step root
(:mod:`ketch.build.steproot`) is the parent image's overlay with an upper
dir of its own, into which the copy's tar is unpacked with the chrooted
extractor. Its upper dir then becomes the new layer as it is (tar into the
content store, directory into the layer store), without writing the
files a third time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import tempfile
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, BinaryIO

import msgspec

from ketch.build.copy_tar import MkdirSpec
from ketch.build.steproot import StepRoot, StepRoots
from ketch.containers.model import Container, CreateRequest
from ketch.containers.rootfs import MOUNT_TARGETS, ContainerRootfs, mkdir_in_root
from ketch.containers.service import ContainerService
from ketch.errors import InvalidArgument, KetchError
from ketch.images.commit import ChildImage, Committed, ImageCommitter
from ketch.layers.diff import LayerDiff, write_layer_tar
from ketch.layers.extract import extract_layer
from ketch.layers.store import LayerStore
from ketch.oci.chain import chain_ids

log = logging.getLogger(__name__)

#: Receives the output of a RUN: (1 stdout or 2 stderr, bytes).
OutputSink = Callable[[int, bytes], Awaitable[None]]


class StepFailed(KetchError):
    """A RUN command exited non-zero; ``code`` goes into the errorDetail."""

    status = 500

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


class Workspace:
    """Creates, runs, fills, commits and removes the build's step containers and roots."""

    def __init__(self, containers: ContainerService, rootfs: ContainerRootfs,
                 layers: LayerStore, committer: ImageCommitter) -> None:
        self.containers = containers
        self.rootfs = rootfs
        self.layers = layers
        self.committer = committer
        self.steps = StepRoots(rootfs)
        self.steps.remove_leftovers()

    async def create(self, image_id: str, run_config: dict[str, Any], network_mode: str,
                     extra_hosts: list[str] | None = None) -> Container:
        """A container of ``image_id`` with ``run_config`` (Docker-shaped keys)."""
        body = {key: value for key, value in run_config.items() if value is not None}
        body["Image"] = image_id
        body["HostConfig"] = {"NetworkMode": network_mode or "default",
                              "ExtraHosts": extra_hosts or None}
        try:
            request = msgspec.convert(body, CreateRequest)
        except msgspec.ValidationError as exc:
            raise InvalidArgument(f"invalid build step config: {exc}") from None
        return await self.containers.create(request)

    async def run(self, container: Container, output: OutputSink) -> int:
        """Start the container, stream its output to ``output``; its exit code."""
        stdio = await self.containers.attach(container.id)
        exited = self.containers.wait_future(container.id, "next-exit")
        try:
            await self.containers.start(container.id)
            while (chunk := await stdio.read()) is not None:
                await output(*chunk)
        finally:
            await stdio.close()
        info = await exited
        return info.exit_code

    async def copy_in(self, root: StepRoot, write_tar: Callable[[BinaryIO], Any],
                      mkdirs: Callable[[Path], None]) -> None:
        """Unpack what ``write_tar`` writes into the mounted step root ``root``.

        ``write_tar`` runs in a thread and writes a plain tar whose names are
        relative to the root; ``mkdirs`` then creates missing parent
        directories (it gets the mounted root) before the tar is unpacked.
        """
        def work() -> None:
            with tempfile.TemporaryFile(dir=self.committer.tmp_dir) as tar:
                write_tar(tar)
                mkdirs(root.merged)
                tar.seek(0)
                extract_layer(tar, root.merged, whiteouts=False)
        await asyncio.to_thread(work)

    async def commit_root(self, root: StepRoot, parent_id: str | None,
                          child: ChildImage) -> Committed:
        """Commit the step root's changes on top of ``parent_id``; it is unmounted first."""
        await self.steps.unmount(root)
        child.container_id = root.id
        return await self.committer.commit_tree(parent_id, child, root.upper)

    async def commit(self, container: Container, image_chain: list[str],
                     parent_id: str | None, child: ChildImage) -> Committed:
        """Commit the container's changes on top of ``parent_id``."""
        upper = self.rootfs.paths(container.id).upper
        lowers = [self.layers.diff_dir(c) for c in reversed(image_chain)]
        exclude = [path for path, _ in MOUNT_TARGETS]

        def write(out: BinaryIO) -> LayerDiff:
            return write_layer_tar(upper, out, exclude=exclude, lowers=lowers)

        child.container_id = container.id
        return await self.committer.commit(parent_id, child, write)

    async def remove(self, container: Container) -> None:
        with contextlib.suppress(KetchError):
            await self.containers.remove(container.id, force=True, volumes=True)


def image_chain(diff_ids: list[str]) -> list[str]:
    return chain_ids(diff_ids)


def make_dirs(specs: Sequence[MkdirSpec], root: Path) -> None:
    """Create the parent directories a copy needs (only the missing ones)."""
    for spec in specs:
        mkdir_in_root(root, spec.path, spec.mode, spec.uid, spec.gid)
