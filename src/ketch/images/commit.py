"""Making a new image from a parent image plus a filesystem diff.

``docker commit`` and every step of a build do the same thing: take the
parent's config, put a new container config in it, append one history
entry, and — if the container changed any file — one layer. Like Docker
(``image.NewChildImage``), a diff with no entries adds no layer and marks
its history entry ``empty_layer``, so config-only steps and commits of
untouched containers cost no disk.

The layer tar is written to a temporary file by the caller's ``write_diff``
(normally :func:`ketch.layers.diff.write_layer_tar` over an upper dir) and
then stored like any pulled or loaded layer: blob and snapshot, verified,
leased until the image row exists.

A build step that wrote into an overlay of its own (no container, no
engine-made files: :mod:`ketch.build.steproot`) has a cheaper way,
:meth:`ImageCommitter.commit_tree`: the tar goes straight into the content
store (push and save read it from there), and the upper dir itself
becomes the layer's snapshot, moved into the layer store rather than
unpacked a second time from the tar it was just written to.
"""

from __future__ import annotations

import asyncio
import errno
import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, cast

from ketch.content.store import Ingest
from ketch.errors import InternalError
from ketch.images.service import ImageService
from ketch.images.store import Lease
from ketch.images.transfer import host_architecture
from ketch.layers.diff import LayerDiff, write_layer_tar
from ketch.oci.chain import chain_ids
from ketch.oci.reference import Reference
from ketch.store.images import LayerRow
from ketch.system import ENGINE_VERSION
from ketch.timeutil import now_rfc3339

#: Writes a layer tar to the file it is given and says what it wrote.
DiffWriter = Callable[[BinaryIO], LayerDiff]


@dataclass
class ChildImage:
    """What a new image gets on top of its parent."""

    config: dict[str, Any]
    created_by: str = ""
    comment: str = ""
    author: str = ""
    container_id: str = ""
    #: the legacy ``container_config`` Docker still writes for commits and builds
    container_config: dict[str, Any] | None = None
    refs: list[Reference] = field(default_factory=list)


class _BlobWriter:
    """The one file method a tar writer uses, ``write``, onto a blob being ingested."""

    def __init__(self, ingest: Ingest) -> None:
        self.ingest = ingest

    def write(self, data: bytes) -> int:
        self.ingest.write(data)
        return len(data)


@dataclass(frozen=True)
class Committed:
    image_id: str
    #: False when the diff was empty and no layer was added
    added_layer: bool


class ImageCommitter:
    def __init__(self, images: ImageService, tmp_dir: Path) -> None:
        self.images = images
        self.store = images.store
        self.tmp_dir = tmp_dir

    def parent_config(self, parent_id: str | None) -> dict[str, Any]:
        """The parent's config as raw JSON (unknown fields kept), or a fresh one."""
        if not parent_id:
            return {"architecture": host_architecture(), "os": "linux",
                    "rootfs": {"type": "layers", "diff_ids": []}}
        parsed: dict[str, Any] = json.loads(self.store.content.read(parent_id))
        return parsed

    async def commit(self, parent_id: str | None, child: ChildImage,
                     write_diff: DiffWriter | None) -> Committed:
        """Store the child of ``parent_id`` described by ``child``.

        ``write_diff`` is called in a worker thread; None means "no file
        changes" (a config-only build step).
        """
        base = self.parent_config(parent_id)
        parent_diff_ids: list[str] = list(base.get("rootfs", {}).get("diff_ids") or [])
        with tempfile.TemporaryFile(dir=self.tmp_dir) as tar:
            diff = await asyncio.to_thread(write_diff, tar) if write_diff else None
            added = diff is not None and not diff.empty
            diff_ids = parent_diff_ids + ([diff.diff_id] if diff is not None and added else [])
            raw = self._config_bytes(base, child, diff_ids, empty_layer=not added)
            with self.store.lease() as lease:
                rows = self.store.layer_chain(self._top(parent_diff_ids))
                self.store.hold(lease, [row.chain_id for row in rows])
                if diff is not None and added:
                    tar.seek(0)
                    rows.append(await self._store_layer(diff, parent_diff_ids, tar, lease))
                image_id, _ = await self.store.commit_image(raw, rows, child.refs,
                                                            parent=parent_id or "")
        return Committed(image_id, added)

    async def commit_tree(self, parent_id: str | None, child: ChildImage,
                          tree: Path) -> Committed:
        """Store the child of ``parent_id`` whose layer is the directory ``tree``.

        ``tree`` is an unmounted overlay upper dir holding only the step's
        changes (nothing excluded, nothing the engine made), on the layer
        store's filesystem. Its tar is written straight into the content
        store and ``tree`` is moved into the layer store as the snapshot
        (settled first to what unpacking the tar would give). If the layer
        exists already, or nothing changed, ``tree`` stays where it is for
        the caller to delete.
        """
        base = self.parent_config(parent_id)
        parent_diff_ids: list[str] = list(base.get("rootfs", {}).get("diff_ids") or [])
        with self.store.lease() as lease:
            rows = self.store.layer_chain(self._top(parent_diff_ids))
            self.store.hold(lease, [row.chain_id for row in rows])
            diff = await asyncio.to_thread(self._write_blob, tree, lease)
            added = not diff.empty
            if added:
                rows.append(await self._adopt_layer(diff, parent_diff_ids, tree, lease))
            diff_ids = parent_diff_ids + ([diff.diff_id] if added else [])
            raw = self._config_bytes(base, child, diff_ids, empty_layer=not added)
            image_id, _ = await self.store.commit_image(raw, rows, child.refs,
                                                        parent=parent_id or "")
        return Committed(image_id, added)

    def _write_blob(self, tree: Path, lease: Lease) -> LayerDiff:
        """The layer tar of ``tree`` as a blob (none for an empty diff)."""
        with self.store.content.writer() as ingest:
            diff = write_layer_tar(tree, cast(BinaryIO, _BlobWriter(ingest)), snapshot=True)
            if diff.empty:
                return diff
            lease.blobs.add(diff.diff_id)  # before it is visible to a collection
            digest = ingest.commit()
        if digest != diff.diff_id:
            raise InternalError(f"layer tar digest {digest} differs from its diff ID "
                                f"{diff.diff_id}")
        return diff

    async def _adopt_layer(self, diff: LayerDiff, parent_diff_ids: list[str], tree: Path,
                           lease: Lease) -> LayerRow:
        chain_id = chain_ids([*parent_diff_ids, diff.diff_id])[-1]
        self.store.hold(lease, [chain_id])
        async with self.store.chain_lock(chain_id):
            row = self.store.meta.layer(chain_id)
            if row is not None:
                return row
            await asyncio.to_thread(self._place_snapshot, chain_id, diff.diff_id, tree)
            return self.store.register_layer(chain_id, diff.diff_id,
                                             self._top(parent_diff_ids), diff.size)

    def _place_snapshot(self, chain_id: str, diff_id: str, tree: Path) -> None:
        layers = self.store.layers
        if layers.exists(chain_id):
            layers.remove(chain_id)  # a leftover without a row: redo it
        try:
            layers.adopt(chain_id, tree)
        except OSError as exc:
            if exc.errno != errno.EXDEV:
                raise
            # another filesystem: unpack the blob just written, as for any layer
            with self.store.content.open(diff_id) as blob:
                layers.create(chain_id, blob)

    def _top(self, diff_ids: list[str]) -> str | None:
        return chain_ids(diff_ids)[-1] if diff_ids else None

    async def _store_layer(self, diff: LayerDiff, parent_diff_ids: list[str],
                           tar: BinaryIO, lease: Lease) -> LayerRow:
        chain_id = chain_ids([*parent_diff_ids, diff.diff_id])[-1]
        parent_chain = self._top(parent_diff_ids)
        self.store.hold(lease, [chain_id])
        lease.blobs.add(diff.diff_id)
        async with self.store.chain_lock(chain_id):
            row = self.store.meta.layer(chain_id)
            if row is not None:
                return row
            result = await asyncio.to_thread(self.store.store_and_unpack, chain_id,
                                             diff.diff_id, tar, "committed layer")
            return self.store.register_layer(chain_id, diff.diff_id, parent_chain, result.size)

    @staticmethod
    def _config_bytes(base: dict[str, Any], child: ChildImage, diff_ids: list[str],
                      empty_layer: bool) -> bytes:
        now = now_rfc3339()
        config = dict(base)
        config["config"] = child.config
        config["created"] = now
        config["docker_version"] = ENGINE_VERSION
        if child.container_id:
            config["container"] = child.container_id
        else:
            config.pop("container", None)
        if child.container_config is not None:
            config["container_config"] = child.container_config
        else:
            config.pop("container_config", None)
        if child.author:
            config["author"] = child.author
        else:
            config.pop("author", None)
        if child.comment:
            config["comment"] = child.comment
        else:
            config.pop("comment", None)
        entry: dict[str, Any] = {"created": now}
        if child.author:
            entry["author"] = child.author
        if child.created_by:
            entry["created_by"] = child.created_by
        if child.comment:
            entry["comment"] = child.comment
        if empty_layer:
            entry["empty_layer"] = True
        config["history"] = [*(base.get("history") or []), entry]
        config["rootfs"] = {"type": "layers", "diff_ids": diff_ids}
        return json.dumps(dict(sorted(config.items())), separators=(",", ":")).encode()
