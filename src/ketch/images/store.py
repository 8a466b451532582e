"""The image store: the one place that adds and removes images and layers.

Invariants it keeps, whatever crashes in between:

* a layer row exists only once its unpacked snapshot is on disk and its tar
  can be given back byte for byte (verified against the diff ID): either
  as a blob keyed by diff ID (imported and loaded-from-blob layers) or,
  for pulled and committed layers, rebuilt from the snapshot's files and
  its tar-split record, so their bytes are stored once;
* an image row exists only once its config blob and all its layer rows exist;
* anything not reachable from an image row (layers, blobs, snapshot dirs) is
  garbage. ``collect_garbage()`` removes it; the daemon runs it at start-up,
  when no operation is in flight, which is what cleans up after a ``kill -9``
  in the middle of a load.

While an operation runs, the layers it has created but not yet tied to an
image are *leased*, so a concurrent ``rmi`` does not collect them.
"""

from __future__ import annotations

import asyncio
import io
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import BinaryIO, cast

from ketch.content import ContentStore
from ketch.errors import InvalidArgument, NotFound
from ketch.layers.extract import ExtractResult
from ketch.layers.store import LayerStore
from ketch.oci.chain import chain_ids
from ketch.oci.digest import new_hasher
from ketch.oci.image import ImageConfig, decode_config
from ketch.oci.reference import Reference
from ketch.store.images import ImageMetadata, ImageRow, LayerRow, RefRow

log = logging.getLogger(__name__)

#: Opens the uncompressed tar of layer ``i`` of an image being added.
LayerOpener = Callable[[int], BinaryIO]


class ImageStore:
    def __init__(self, meta: ImageMetadata, content: ContentStore, layers: LayerStore) -> None:
        self.meta = meta
        self.content = content
        self.layers = layers
        self._leases: Counter[str] = Counter()
        self._layer_locks: dict[str, asyncio.Lock] = {}
        #: serialises changes to images/refs and garbage collection
        self.lock = asyncio.Lock()

    # -- adding -------------------------------------------------------------------
    @contextmanager
    def lease(self) -> Iterator[Lease]:
        """Protect what the operation adds until the block ends; then remove
        whatever of it no image references (the operation failed part way)."""
        held = Lease()
        try:
            yield held
        finally:
            self._leases.subtract(held.chain_ids)
            for chain_id in held.chain_ids:
                if self._leases[chain_id] <= 0:
                    del self._leases[chain_id]
            self._release(held)

    def hold(self, lease: Lease, chain_ids: list[str]) -> None:
        for chain_id in chain_ids:
            if chain_id not in lease.chain_ids:
                lease.chain_ids.add(chain_id)
                self._leases[chain_id] += 1

    def _release(self, lease: Lease) -> None:
        used = self.referenced_layers()
        orphans = [row for chain_id in lease.chain_ids
                   if chain_id not in used and (row := self.meta.layer(chain_id)) is not None]
        orphans.sort(key=lambda row: len(self.layer_chain(row.chain_id)), reverse=True)
        self._remove_layers(orphans)
        for chain_id in lease.chain_ids - used:  # unpacked, but never given a row
            if self.meta.layer(chain_id) is None:
                self.layers.remove(chain_id)
        for digest in lease.blobs | {row.diff_id for row in orphans}:
            self.discard_blob_if_unused(digest)

    def discard_blob_if_unused(self, digest: str) -> None:
        if self.meta.image(digest) is not None or digest in self._leased_blobs():
            return
        if any(row.diff_id == digest for row in self.meta.layers()):
            return
        self.content.delete(digest)

    def _leased_blobs(self) -> set[str]:
        return {row.diff_id for c in self._leases if (row := self.meta.layer(c)) is not None}

    def chain_lock(self, chain_id: str) -> asyncio.Lock:
        """The lock that serialises adding the layer ``chain_id``.

        Held from "is it there?" until its row is inserted, so that two
        operations adding the same layer do not both unpack it, and neither
        removes the other's snapshot as a leftover.
        """
        return self._layer_locks.setdefault(chain_id, asyncio.Lock())

    async def ensure_layers(
        self, diff_ids: list[str], open_layer: LayerOpener, lease: Lease,
        on_layer: Callable[[int, bool], None] | None = None,
    ) -> list[LayerRow]:
        """Make sure every layer of ``diff_ids`` is stored and unpacked.

        ``on_layer(i, existed)`` is called as each layer is settled, for progress.
        """
        rows: list[LayerRow] = []
        parent: str | None = None
        for index, (diff_id, chain_id) in enumerate(zip(diff_ids, chain_ids(diff_ids),
                                                        strict=True)):
            self.hold(lease, [chain_id])
            lease.blobs.add(diff_id)
            async with self.chain_lock(chain_id):
                row = self.meta.layer(chain_id)
                existed = row is not None
                if row is None:
                    row = await self._add_layer(chain_id, diff_id, parent, index, open_layer)
            if on_layer is not None:
                on_layer(index, existed)
            rows.append(row)
            parent = chain_id
        return rows

    async def _add_layer(
        self, chain_id: str, diff_id: str, parent: str | None, index: int,
        open_layer: LayerOpener,
    ) -> LayerRow:
        if self.content.exists(diff_id):
            if self.layers.exists(chain_id):
                self.layers.remove(chain_id)  # a leftover without a row: redo it
            blob = self.content.path(diff_id)
            result = await asyncio.to_thread(self.layers.create, chain_id, blob)
        else:
            def unpack() -> ExtractResult:
                # The same layer on another parent: copied locally, not fetched.
                local = self.find_layer_tar(diff_id)
                with local[0] if local else open_layer(index) as source:
                    return self.store_and_unpack(chain_id, diff_id, source, f"layer {index + 1}")
            result = await asyncio.to_thread(unpack)
        return self.register_layer(chain_id, diff_id, parent, result.size)

    def register_layer(self, chain_id: str, diff_id: str, parent: str | None,
                       size: int) -> LayerRow:
        """Insert the row of a layer whose blob and snapshot are in place.

        Call with the chain's lock held and the parent's row present.
        """
        row = LayerRow(chain_id=chain_id, diff_id=diff_id, parent=parent, size=size)
        with self.meta.db.transaction() as conn:
            self.meta.insert_layer(conn, row)
        return row

    def store_and_unpack(self, chain_id: str, diff_id: str, source: BinaryIO,
                         what: str) -> ExtractResult:
        """Unpack the uncompressed layer tar ``source`` as snapshot ``chain_id``
        with its tar-split record, checking on the way that it is ``diff_id``.

        The tar itself is not stored: :meth:`open_layer_tar` rebuilds it from
        the snapshot. The snapshot is only kept once the content proved to be
        ``diff_id``; even then it has no layer row until :meth:`register_layer`,
        so nothing can use it before. Blocks: call from a worker thread, with
        the chain's lock held and ``chain_id`` leased. ``what`` names the
        layer in errors.
        """
        if self.layers.exists(chain_id):
            self.layers.remove(chain_id)  # a leftover without a row: redo it
        hashed = _Hashing(source, diff_id)
        result = self.layers.create(chain_id, cast(BinaryIO, hashed), split=True)
        if (actual := hashed.digest()) != diff_id:
            self.layers.remove(chain_id)
            raise InvalidArgument(
                f"{what}: digest mismatch: expected {diff_id}, content is {actual}")
        return result

    def open_layer_tar(self, diff_id: str) -> tuple[BinaryIO, int]:
        """The uncompressed tar of layer ``diff_id`` and its length.

        From its blob if there is one, else rebuilt from a snapshot with a
        tar-split record (verified as it is read: the last read fails if the
        files no longer hash to ``diff_id``). NotFound when neither exists.
        Blocks.
        """
        found = self.find_layer_tar(diff_id)
        if found is None:
            raise NotFound(f"the content of layer {diff_id} is not available")
        return found

    def find_layer_tar(self, diff_id: str) -> tuple[BinaryIO, int] | None:
        """As :meth:`open_layer_tar`, but None when the tar is not available."""
        if self.content.exists(diff_id):
            return self.content.open(diff_id), self.content.size(diff_id)
        for row in self.meta.layers():
            if row.diff_id == diff_id and (rebuilt := self.layers.open_tar(
                    row.chain_id, expected=diff_id)) is not None:
                return rebuilt
        return None

    def put_config(self, raw: bytes) -> tuple[str, ImageConfig]:
        config = decode_config(raw)
        return self.content.put(raw), config

    async def commit_image(
        self, raw_config: bytes, layers: list[LayerRow], refs: list[Reference],
        parent: str = "",
    ) -> tuple[str, list[tuple[Reference, str]]]:
        """Store the config and the image row, then point ``refs`` at it.

        Returns the image ID and, for each ref that pointed at another image
        before, that ref and the old image ID.
        """
        image_id, config = await asyncio.to_thread(self.put_config, raw_config)
        if config.rootfs.diff_ids != [layer.diff_id for layer in layers]:
            raise InvalidArgument("image config does not match its layers (rootfs.diff_ids)")
        row = ImageRow(
            id=image_id, created=config.created or "", size=sum(layer.size for layer in layers),
            top_layer=layers[-1].chain_id if layers else None, parent=parent,
            added_ns=time.time_ns(),
        )
        replaced: list[tuple[Reference, str]] = []
        async with self.lock:
            with self.meta.db.transaction() as conn:
                self.meta.insert_image(conn, row)
                for ref in refs:
                    old = self.meta.set_ref(conn, _ref_row(ref, image_id))
                    if old is not None:
                        replaced.append((ref, old))
        return image_id, replaced

    # -- removing -----------------------------------------------------------------
    def layer_chain(self, top: str | None) -> list[LayerRow]:
        """Layers of a stack, bottom first."""
        chain: list[LayerRow] = []
        while top is not None:
            row = self.meta.layer(top)
            if row is None:
                break
            chain.append(row)
            top = row.parent
        chain.reverse()
        return chain

    def referenced_layers(self) -> set[str]:
        by_id = {row.chain_id: row for row in self.meta.layers()}
        used: set[str] = set(self._leases)
        for image in self.meta.images():
            top = image.top_layer
            while top is not None and top not in used:
                used.add(top)
                row = by_id.get(top)
                top = row.parent if row else None
        return used

    def delete_image(self, image_id: str) -> list[LayerRow]:
        """Remove an image row, its refs, and the layers only it used.

        Call with ``self.lock`` held. Returns the removed layers, top first.
        """
        image = self.meta.image(image_id)
        if image is None:
            return []
        with self.meta.db.transaction() as conn:
            self.meta.delete_image(conn, image_id)
        used = self.referenced_layers()
        removed = [row for row in reversed(self.layer_chain(image.top_layer))
                   if row.chain_id not in used]
        self._remove_layers(removed)
        still_used_blobs = {row.diff_id for row in self.meta.layers()}
        for row in removed:
            if row.diff_id not in still_used_blobs:
                self.content.delete(row.diff_id)
        self.content.delete(image_id)
        return removed

    def _remove_layers(self, top_first: list[LayerRow]) -> None:
        for row in top_first:
            with self.meta.db.transaction() as conn:
                self.meta.delete_layer(conn, row.chain_id)
            self.layers.remove(row.chain_id)

    def collect_garbage(self) -> dict[str, int]:
        """Remove everything no image references. Only safe with nothing in flight."""
        removed_ingests = self.content.cleanup_ingests()
        self.layers.cleanup_incomplete()
        used = self.referenced_layers()
        rows = self.meta.layers()
        by_id = {row.chain_id: row for row in rows}
        depth = {row.chain_id: _depth(row, by_id) for row in rows}
        orphans = sorted((r for r in rows if r.chain_id not in used),
                         key=lambda r: depth[r.chain_id], reverse=True)
        self._remove_layers(orphans)
        known = {row.chain_id for row in self.meta.layers()}
        stray_dirs = [c for c in self.layers.list() if c not in known]
        for chain_id in stray_dirs:
            self.layers.remove(chain_id)
        live_blobs = {row.diff_id for row in self.meta.layers()}
        live_blobs.update(image.id for image in self.meta.images())
        stray_blobs = [d for d in self.content.list() if d not in live_blobs]
        for digest in stray_blobs:
            self.content.delete(digest)
        stats = {"ingests": removed_ingests, "layers": len(orphans),
                 "snapshots": len(stray_dirs), "blobs": len(stray_blobs)}
        if any(stats.values()):
            log.info("garbage collected %s", stats)
        return stats


def _depth(row: LayerRow, by_id: dict[str, LayerRow]) -> int:
    depth = 0
    parent = row.parent
    while parent is not None and parent in by_id:
        depth += 1
        parent = by_id[parent].parent
    return depth


class _Hashing(io.RawIOBase):
    """Reads from ``source``, hashing what it read with ``digest``'s algorithm."""

    def __init__(self, source: BinaryIO, digest: str) -> None:
        self._source = source
        self._algorithm = digest.split(":", 1)[0]
        self._hasher = new_hasher(self._algorithm)

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1, /) -> bytes:
        chunk = self._source.read(size)
        if chunk:
            self._hasher.update(chunk)
        return chunk

    def digest(self) -> str:
        return f"{self._algorithm}:{self._hasher.hexdigest()}"


@dataclass
class Lease:
    chain_ids: set[str] = field(default_factory=set)
    blobs: set[str] = field(default_factory=set)


def _ref_row(ref: Reference, image_id: str) -> RefRow:
    return RefRow(ref=str(ref), image_id=image_id,
                  kind="digest" if ref.digest else "tag", added_ns=time.time_ns())
