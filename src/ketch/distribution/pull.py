"""Pulling one image: manifest (and platform selection), config, layers.

Layers download in parallel (a bounded number at a time) into temporary
files, verified against their compressed digest while they stream; they are
then stored and unpacked in order through :class:`ImageStore`, which checks
each uncompressed tar against the diff ID in the config. Layer ``i`` is
unpacked while later layers are still downloading. Everything added is
leased until the image row exists, so a failure part way keeps nothing.
"""

from __future__ import annotations

import asyncio
import io
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from ketch.distribution.client import RegistryClient
from ketch.distribution.layercache import LayerCache
from ketch.distribution.messages import Emit, Message
from ketch.errors import InvalidArgument, NotFound
from ketch.images.service import ImageService
from ketch.images.store import Lease
from ketch.layers.compression import open_decompressed
from ketch.oci import mediatypes
from ketch.oci.chain import chain_ids
from ketch.oci.digest import short_id
from ketch.oci.image import Descriptor, Manifest, decode_config, decode_index, decode_manifest
from ketch.oci.reference import Reference
from ketch.store.images import LayerRow

#: seconds between two "Downloading" messages of one layer
_PROGRESS_INTERVAL = 0.1


@dataclass(frozen=True)
class PlatformWanted:
    os: str
    architecture: str
    variant: str = ""


@dataclass(frozen=True)
class ResolvedManifest:
    """The manifest to pull, and the digest the reference points at (a RepoDigest)."""

    manifest: Manifest
    repo_digest: str


def select_platform(raw: bytes, wanted: PlatformWanted) -> Descriptor:
    index = decode_index(raw)
    candidates = [d for d in index.manifests
                  if d.platform is not None and d.platform.os == wanted.os
                  and d.platform.architecture == wanted.architecture
                  and d.media_type in mediatypes.MANIFESTS]
    if wanted.variant:
        exact = [d for d in candidates if (d.platform and d.platform.variant) == wanted.variant]
        candidates = exact or candidates
    if not candidates:
        target = f"{wanted.os}/{wanted.architecture}"
        raise NotFound(f"no matching manifest for {target} in the manifest list entries")
    return candidates[0]


async def resolve_manifest(client: RegistryClient, repo: str, reference: str,
                           wanted: PlatformWanted) -> ResolvedManifest:
    raw, media_type, digest = await client.get_manifest(repo, reference)
    if media_type in mediatypes.INDEXES or (not media_type and b'"manifests"' in raw):
        chosen = select_platform(raw, wanted)
        child, _, _ = await client.get_manifest(repo, chosen.digest)
        return ResolvedManifest(decode_manifest(child), digest)
    if media_type and media_type not in mediatypes.MANIFESTS:
        raise InvalidArgument(f"unsupported manifest media type {media_type!r}")
    return ResolvedManifest(decode_manifest(raw), digest)


class LayerPull:
    """Download state of one layer."""

    def __init__(self, descriptor: Descriptor, file: Path) -> None:
        self.descriptor = descriptor
        self.file = file
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()


class Puller:
    def __init__(
        self, images: ImageService, client: RegistryClient, ref: Reference, repo: str,
        tmp_dir: Path, cache: LayerCache, concurrency: int,
    ) -> None:
        self.images = images
        self.store = images.store
        self.client = client
        self.ref = ref
        self.repo = repo
        self.tmp_dir = tmp_dir
        self.cache = cache
        self.concurrency = max(1, concurrency)

    async def pull(self, resolved: ResolvedManifest, emit: Emit) -> str:
        """Pull the image; returns its ID. ``emit`` gets Docker's progress messages."""
        manifest = resolved.manifest
        config_digest = manifest.config.digest
        existing = self.store.meta.image(config_digest)
        raw_config = (self.store.content.read(config_digest) if existing is not None
                      else await self.client.get_blob(self.repo, config_digest,
                                                 manifest.config.size))
        config = decode_config(raw_config)
        diff_ids = config.rootfs.diff_ids
        if len(diff_ids) != len(manifest.layers):
            raise InvalidArgument(
                f"image config lists {len(diff_ids)} layers, manifest {len(manifest.layers)}")
        refs = [self.ref.repository().with_digest(resolved.repo_digest)]
        if self.ref.tag is not None:
            refs.insert(0, self.ref)
        with self.store.lease() as lease:
            if existing is not None:
                rows = self.store.layer_chain(existing.top_layer)
            else:
                rows = await self._layers(manifest.layers, diff_ids, lease, emit)
            image_id, _ = await self.store.commit_image(raw_config, rows, refs)
        return image_id

    async def _layers(self, layers: list[Descriptor], diff_ids: list[str], lease: Lease,
                      emit: Emit) -> list[LayerRow]:
        chains = chain_ids(diff_ids)
        present = [self.store.meta.layer(chain) is not None for chain in chains]
        # Held at once (no await since the check): a concurrent rmi keeps them.
        self.store.hold(lease, [chain for chain, there in zip(chains, present, strict=True)
                                if there])
        pulls: dict[int, LayerPull] = {}
        for index, descriptor in enumerate(layers):
            layer_id = short_id(descriptor.digest)
            if present[index]:
                emit(Message("Already exists", layer_id, None, None))
                continue
            if descriptor.media_type == mediatypes.DOCKER_FOREIGN_LAYER:
                raise InvalidArgument("foreign layers are not supported")
            emit(Message("Pulling fs layer", layer_id))
            fd, name = tempfile.mkstemp(dir=self.tmp_dir, suffix=".layer")
            _close(fd)
            pulls[index] = LayerPull(descriptor, Path(name))
        try:
            return await self._download_and_store(pulls, diff_ids, lease, emit)
        finally:
            for pull in pulls.values():
                pull.file.unlink(missing_ok=True)

    async def _download_and_store(self, pulls: dict[int, LayerPull], diff_ids: list[str],
                                  lease: Lease, emit: Emit) -> list[LayerRow]:
        slots = asyncio.Semaphore(self.concurrency)
        for position, pull in enumerate(pulls.values()):
            if position >= self.concurrency:
                emit(Message("Waiting", short_id(pull.descriptor.digest)))
        tasks = [asyncio.create_task(self._download(pull, slots, emit))
                 for pull in pulls.values()]
        try:
            rows = []
            for index in range(len(diff_ids)):
                current = pulls.get(index)
                if current is not None:
                    await current.done
                    emit(Message("Extracting", short_id(current.descriptor.digest),
                                  current.descriptor.size, current.descriptor.size))
                rows = await self.store.ensure_layers(
                    diff_ids[:index + 1], self._opener(pulls), lease)
                if current is not None:
                    self.cache.record(diff_ids[index], current.descriptor.digest,
                                      current.descriptor.size, current.descriptor.media_type,
                                      source=f"{self.client.endpoint.host}/{self.repo}")
                    emit(Message("Pull complete", short_id(current.descriptor.digest)))
            return rows
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for pull in pulls.values():  # failures after the first are not news
                if pull.done.done() and not pull.done.cancelled():
                    pull.done.exception()

    def _opener(self, pulls: dict[int, LayerPull]) -> Callable[[int], BinaryIO]:
        def open_layer(index: int) -> BinaryIO:
            raw = pulls[index].file.open("rb")
            return io.BufferedReader(_Closing(open_decompressed(raw), raw), 1 << 16)
        return open_layer

    async def _download(self, pull: LayerPull, slots: asyncio.Semaphore, emit: Emit) -> None:
        descriptor = pull.descriptor
        layer_id = short_id(descriptor.digest)
        try:
            async with slots:
                last = 0.0

                def progress(received: int) -> None:
                    nonlocal last
                    now = time.monotonic()
                    if now - last >= _PROGRESS_INTERVAL or received == descriptor.size:
                        last = now
                        emit(Message("Downloading", layer_id, received, descriptor.size))

                with pull.file.open("wb") as sink:
                    await self.client.download_blob(self.repo, descriptor.digest,
                                                    descriptor.size, sink, progress)
                emit(Message("Verifying Checksum", layer_id))
                emit(Message("Download complete", layer_id))
        except asyncio.CancelledError:
            pull.done.cancel()
            raise
        except Exception as exc:
            if not pull.done.done():
                pull.done.set_exception(exc)
            raise
        else:
            pull.done.set_result(None)


def _close(fd: int) -> None:
    os.close(fd)


class _Closing(io.RawIOBase):
    """A decompressing reader that also closes the file under it."""

    def __init__(self, reader: BinaryIO, raw: BinaryIO) -> None:
        self._reader = reader
        self._raw = raw

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        data = self._reader.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self._reader.close()
            self._raw.close()
        super().close()
