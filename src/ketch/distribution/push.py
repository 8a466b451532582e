"""Pushing one tag: layers (skipped, mounted or compressed and uploaded), the
config, then a Docker schema2 manifest.

A layer the registry may already hold is looked up first through the
:class:`LayerCache` (HEAD in the target repository, then a cross-repository
mount from a repository known to hold it); only then is it gzip-compressed,
deterministically (no timestamp), so the same layer always compresses to the
same digest and the digest is recorded for the next push.
"""

from __future__ import annotations

import asyncio
import gzip
import io
import json
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Protocol

from ketch.distribution.auth import repository_scope
from ketch.distribution.client import RegistryClient
from ketch.distribution.layercache import LayerCache
from ketch.distribution.messages import Emit, Message
from ketch.images.model import Image
from ketch.images.store import ImageStore
from ketch.oci import mediatypes
from ketch.oci.digest import digest_bytes, new_hasher, short_id

_GZIP_TYPES = (mediatypes.DOCKER_LAYER_GZIP, mediatypes.OCI_LAYER_GZIP)
_PROGRESS_INTERVAL = 0.1


@dataclass(frozen=True)
class PushedManifest:
    digest: str
    size: int


def compress_layer(store: ImageStore, diff_id: str, tmp_dir: Path) -> tuple[Path, str, int]:
    """Gzip a layer tar to a temporary file; returns ``(path, digest, size)``."""
    fd, name = tempfile.mkstemp(dir=tmp_dir, suffix=".tar.gz")
    path = Path(name)
    try:
        hasher = new_hasher()
        with os.fdopen(fd, "wb") as raw:
            tee = _HashingWriter(raw, hasher)
            with store.open_layer_tar(diff_id)[0] as source, \
                    gzip.GzipFile(fileobj=tee, mode="wb", mtime=0, compresslevel=6) as out:
                while chunk := source.read(1 << 20):
                    out.write(chunk)
        return path, f"sha256:{hasher.hexdigest()}", path.stat().st_size
    except BaseException:
        path.unlink(missing_ok=True)
        raise


class _Update(Protocol):
    def update(self, data: bytes, /) -> None: ...


class _HashingWriter(io.RawIOBase):
    """Hashes what the compressor writes on its way to the file."""

    def __init__(self, raw: IO[bytes], hasher: _Update) -> None:
        self._raw = raw
        self._hasher = hasher

    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:  # type: ignore[override]
        self._hasher.update(data)
        self._raw.write(data)
        return len(data)

    def flush(self) -> None:
        self._raw.flush()


class Pusher:
    def __init__(self, store: ImageStore, client: RegistryClient, repo: str,
                 cache: LayerCache, tmp_dir: Path, concurrency: int) -> None:
        self.store = store
        self.client = client
        self.repo = repo
        self.cache = cache
        self.tmp_dir = tmp_dir
        self.concurrency = max(1, concurrency)
        self.host = client.endpoint.host

    async def push(self, image: Image, tag: str, emit: Emit) -> PushedManifest:
        diff_ids = image.config.rootfs.diff_ids
        for diff_id in reversed(diff_ids):
            emit(Message("Preparing", short_id(diff_id)))
        for position, diff_id in enumerate(reversed(diff_ids)):
            if position >= self.concurrency:
                emit(Message("Waiting", short_id(diff_id)))
        slots = asyncio.Semaphore(self.concurrency)
        # Mounts widen the token: do them one at a time, before parallel uploads.
        tasks = [asyncio.create_task(self._layer(diff_id, slots, emit))
                 for diff_id in reversed(diff_ids)]
        try:
            pushed = await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        layers = list(reversed(pushed))
        raw_config = self.store.content.read(image.id)
        if await self.client.blob_exists(self.repo, image.id) is None:
            await self.client.upload_bytes(self.repo, image.id, raw_config)
        manifest = {
            "schemaVersion": 2, "mediaType": mediatypes.DOCKER_MANIFEST,
            "config": {"mediaType": mediatypes.DOCKER_CONFIG, "size": len(raw_config),
                       "digest": image.id},
            "layers": [{"mediaType": mediatypes.DOCKER_LAYER_GZIP, "size": size,
                        "digest": digest} for digest, size in layers],
        }
        raw = json.dumps(manifest, indent=3).encode()
        await self.client.put_manifest(self.repo, tag, raw, mediatypes.DOCKER_MANIFEST)
        return PushedManifest(digest_bytes(raw), len(raw))

    async def _layer(self, diff_id: str, slots: asyncio.Semaphore,
                     emit: Emit) -> tuple[str, int]:
        layer_id = short_id(diff_id)
        async with slots:
            forms = [f for f in self.cache.forms(diff_id) if f.media_type in _GZIP_TYPES]
            for form in forms:
                if await self.client.blob_exists(self.repo, form.digest) is not None:
                    emit(Message("Layer already exists", layer_id))
                    return form.digest, form.size
            here = f"{self.host}/{self.repo}"
            for form in forms:
                for source in form.sources:
                    host, _, source_repo = source.partition("/")
                    if host != self.host or source == here:
                        continue
                    await self.client.add_scope(repository_scope(source_repo, "pull"))
                    if await self.client.mount_blob(self.repo, form.digest, source_repo):
                        self.cache.record(diff_id, form.digest, form.size, form.media_type,
                                          source=here)
                        emit(Message(f"Mounted from {source_repo}", layer_id))
                        return form.digest, form.size
            return await self._upload(diff_id, emit)

    async def _upload(self, diff_id: str, emit: Emit) -> tuple[str, int]:
        layer_id = short_id(diff_id)
        path, digest, size = await asyncio.to_thread(
            compress_layer, self.store, diff_id, self.tmp_dir)
        try:
            here = f"{self.host}/{self.repo}"
            if await self.client.blob_exists(self.repo, digest) is None:
                last = 0.0

                def progress(sent: int) -> None:
                    nonlocal last
                    now = time.monotonic()
                    if now - last >= _PROGRESS_INTERVAL or sent == size:
                        last = now
                        emit(Message("Pushing", layer_id, sent, size))

                progress(0)
                await self.client.upload_blob(self.repo, digest, size, path, progress)
                self.cache.record(diff_id, digest, size, mediatypes.DOCKER_LAYER_GZIP,
                                  source=here)
                emit(Message("Pushed", layer_id))
            else:
                self.cache.record(diff_id, digest, size, mediatypes.DOCKER_LAYER_GZIP,
                                  source=here)
                emit(Message("Layer already exists", layer_id))
            return digest, size
        finally:
            path.unlink(missing_ok=True)
