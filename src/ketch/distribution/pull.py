"""Pulling one image: manifest (and platform selection), config, layers.

Layers are fetched in parallel (a bounded number at a time) and never
touch a temporary file: each response body streams through a worker thread
that hashes the compressed bytes, decompresses them and hands the tar to
:class:`ImageStore`, which hashes it against the diff ID of the config while
a chrooted child unpacks the same bytes. A layer counts only once both
digests are proven and its row is in; rows go in base first. Everything
added is leased until the image row exists, so a failure part way keeps
nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import time
from dataclasses import dataclass
from typing import Any, BinaryIO, cast

from ketch.distribution.client import RegistryClient, layer_verification_failed
from ketch.distribution.layercache import LayerCache
from ketch.distribution.messages import Emit, Message
from ketch.errors import InternalError, InvalidArgument, NotFound
from ketch.images.service import ImageService
from ketch.images.store import Lease
from ketch.layers.compression import open_decompressed
from ketch.oci import mediatypes
from ketch.oci.chain import chain_ids
from ketch.oci.digest import algorithm_of, new_hasher, short_id
from ketch.oci.image import Descriptor, Manifest, decode_config, decode_index, decode_manifest
from ketch.oci.reference import Reference
from ketch.store.images import LayerRow
from ketch.threadstream import AsyncPipe

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
    """One layer to fetch: its descriptor, and a future settled with its row."""

    def __init__(self, index: int, descriptor: Descriptor, diff_id: str, chain_id: str) -> None:
        self.index = index
        self.descriptor = descriptor
        self.diff_id = diff_id
        self.chain_id = chain_id
        self.layer_id = short_id(descriptor.digest)
        self.row: asyncio.Future[LayerRow] = asyncio.get_running_loop().create_future()


class Puller:
    def __init__(
        self, images: ImageService, client: RegistryClient, ref: Reference, repo: str,
        cache: LayerCache, concurrency: int,
    ) -> None:
        self.images = images
        self.store = images.store
        self.client = client
        self.ref = ref
        self.repo = repo
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
        """Fetch the missing layers, all at once up to ``concurrency``.

        Each one streams from the registry through a worker thread that hashes
        the compressed bytes, decompresses them and feeds the store, which
        unpacks while it hashes the tar (no temporary file). Rows are inserted
        base first, each once its parent's is in.
        """
        chains = chain_ids(diff_ids)
        present = [self.store.meta.layer(chain) is not None for chain in chains]
        # Held at once (no await since the check): a concurrent rmi keeps them.
        self.store.hold(lease, chains)
        lease.blobs.update(diff_ids)
        pulls: list[LayerPull] = []
        for index, descriptor in enumerate(layers):
            pull = LayerPull(index, descriptor, diff_ids[index], chains[index])
            pulls.append(pull)
            if present[index]:
                emit(Message("Already exists", pull.layer_id, None, None))
                continue
            if descriptor.media_type == mediatypes.DOCKER_FOREIGN_LAYER:
                raise InvalidArgument("foreign layers are not supported")
            emit(Message("Pulling fs layer", pull.layer_id))
        missing = [pull for pull, there in zip(pulls, present, strict=True) if not there]
        for position, pull in enumerate(missing):
            if position >= self.concurrency:
                emit(Message("Waiting", pull.layer_id))
        slots = asyncio.Semaphore(self.concurrency)
        tasks = [asyncio.create_task(self._settle(pull, pulls[:pull.index], slots, emit))
                 for pull in pulls]
        try:
            return list(await asyncio.gather(*tasks))
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _settle(self, pull: LayerPull, below: list[LayerPull],
                      slots: asyncio.Semaphore, emit: Emit) -> LayerRow:
        """Make layer ``pull`` present, then insert its row after its parent's."""
        try:
            async with self.store.chain_lock(pull.chain_id):
                row = self.store.meta.layer(pull.chain_id)
                if row is None:
                    async with slots:
                        size = await self._fetch(pull, emit)
                    parent = await below[-1].row if below else None
                    row = self.store.register_layer(
                        pull.chain_id, pull.diff_id, parent.chain_id if parent else None, size)
                    self.cache.record(pull.diff_id, pull.descriptor.digest, pull.descriptor.size,
                                      pull.descriptor.media_type,
                                      source=f"{self.client.endpoint.host}/{self.repo}")
                    emit(Message("Pull complete", pull.layer_id))
        except BaseException as exc:
            if not pull.row.done():
                if isinstance(exc, asyncio.CancelledError):
                    pull.row.cancel()
                else:
                    pull.row.set_exception(exc)
                    pull.row.exception()  # retrieved: the gather reports it once
            raise
        pull.row.set_result(row)
        return row

    async def _fetch(self, pull: LayerPull, emit: Emit) -> int:
        """Download layer ``pull`` into the store; returns its size."""
        descriptor = pull.descriptor
        loop = asyncio.get_running_loop()
        pipe = AsyncPipe(loop)
        unpacking = asyncio.ensure_future(asyncio.to_thread(self._unpack, pull, pipe))
        last = 0.0

        def progress(received: int) -> None:
            nonlocal last
            now = time.monotonic()
            if now - last >= _PROGRESS_INTERVAL or received == descriptor.size:
                last = now
                emit(Message("Downloading", pull.layer_id, received, descriptor.size))

        try:
            try:
                await self.client.download_blob(self.repo, descriptor.digest, descriptor.size,
                                                pipe.write_async, progress, verify=False)
            except BrokenPipeError:
                pass  # the unpacker stopped reading: its error says why
            except Exception as exc:
                await pipe.fail(exc)
                raise
            else:
                await pipe.finish()
            emit(Message("Verifying Checksum", pull.layer_id))
            size = await asyncio.shield(unpacking)
        finally:
            await _settled(unpacking, pipe)
        emit(Message("Download complete", pull.layer_id))
        emit(Message("Extracting", pull.layer_id, descriptor.size, descriptor.size))
        return size

    def _unpack(self, pull: LayerPull, pipe: AsyncPipe) -> int:
        """Worker thread: verify, decompress and store what the pipe carries.

        A blob that does not match its digest is reported as such even when
        the damage shows first as a corrupt stream or tar, as Docker (which
        verifies before it extracts) reports it.
        """
        with pipe:
            compressed = _Verifying(pipe, pull.descriptor.digest)
            try:
                with open_decompressed(cast(BinaryIO, compressed)) as tar:
                    result = self.store.store_and_unpack(
                        pull.chain_id, pull.diff_id, tar, f"layer {pull.index + 1}")
            except Exception:
                if compressed.drain() and not compressed.matches():
                    raise layer_verification_failed(pull.descriptor.digest) from None
                raise
            if not (compressed.drain() and compressed.matches()):
                self.store.layers.remove(pull.chain_id)
                raise layer_verification_failed(pull.descriptor.digest)
            return result.size


async def _settled(unpacking: asyncio.Future[int], pipe: AsyncPipe) -> None:
    """Wait until the unpacking thread has stopped, whatever happened.

    A thread cannot be cancelled; if the pull is (or failed elsewhere), the
    pipe tells the thread to stop, and we wait for it, so that nothing it
    stores lands after the pull's lease has cleaned up.
    """
    if unpacking.done():
        return
    await pipe.fail(InternalError("the pull was interrupted"))
    while not unpacking.done():
        with contextlib.suppress(BaseException):
            await asyncio.shield(unpacking)


class _Verifying(io.RawIOBase):
    """Hashes a stream as it is read, to check it against ``digest`` at the end."""

    def __init__(self, source: io.RawIOBase, digest: str) -> None:
        self._source = source
        self._digest = digest
        self._hasher = new_hasher(algorithm_of(digest))

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        count = self._source.readinto(buffer) or 0
        if count:
            self._hasher.update(cast(bytes, memoryview(buffer)[:count]))
        return count

    def drain(self) -> bool:
        """Read what is left; False if the stream itself failed (download error)."""
        buffer = bytearray(1 << 16)
        try:
            while self.readinto(buffer):
                pass
        except Exception:
            return False
        return True

    def matches(self) -> bool:
        return f"{algorithm_of(self._digest)}:{self._hasher.hexdigest()}" == self._digest
