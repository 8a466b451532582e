"""Moving images in and out of the store: load, save and import.

Each operation works on a file the API layer has already spooled to disk
(``<data-root>/tmp``), so that a slow or broken client never holds a lock
and a truncated upload is detected before anything is stored.
"""

from __future__ import annotations

import asyncio
import json
import platform as host_platform
import shutil
import tempfile
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from ketch.errors import InvalidArgument, NotFound
from ketch.images.archive_read import ArchiveImage, ImageArchive
from ketch.images.archive_write import SaveItem, write_archive
from ketch.images.changes import apply_changes
from ketch.images.service import ImageService
from ketch.layers.compression import open_decompressed
from ketch.oci.digest import short_id
from ketch.oci.image import decode_config
from ketch.oci.reference import (
    Reference,
    parse_normalized,
    parse_with_default_tag,
    repo_tag_reference,
)
from ketch.threadstream import stream_from_thread
from ketch.timeutil import now_rfc3339

_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "ppc64le": "ppc64le",
         "s390x": "s390x", "riscv64": "riscv64"}


def host_architecture() -> str:
    machine = host_platform.machine()
    return _ARCH.get(machine, machine)


@dataclass(frozen=True)
class Progress:
    """A JSON-stream message: either a ``stream`` line or a ``status`` with progress."""

    stream: str = ""
    status: str = ""
    id: str = ""
    current: int = 0
    total: int = 0


def decompress_to(source: Path, target_dir: Path) -> Path:
    """Return ``source`` itself if it is a plain tar, else a decompressed copy."""
    with source.open("rb") as raw:
        head = raw.read(6)
    if head[:2] not in (b"\x1f\x8b", b"BZ") and head[:6] != b"\xfd7zXZ\x00" and \
            head[:4] != b"\x28\xb5\x2f\xfd":
        return source
    fd, name = tempfile.mkstemp(dir=target_dir, suffix=".tar")
    with source.open("rb") as raw, open(fd, "wb") as out:
        shutil.copyfileobj(open_decompressed(raw), out, 1 << 20)
    return Path(name)


class ImageTransfer:
    def __init__(self, images: ImageService, tmp_dir: Path) -> None:
        self.images = images
        self.store = images.store
        self.events = images.events
        self.tmp_dir = tmp_dir

    # -- load ----------------------------------------------------------------------
    async def load(self, archive_path: Path, quiet: bool) -> AsyncIterator[Progress]:
        plain = await asyncio.to_thread(decompress_to, archive_path, self.tmp_dir)
        try:
            archive = await asyncio.to_thread(ImageArchive, plain)
            with archive:
                found = await asyncio.to_thread(archive.images)
                if not found:
                    raise InvalidArgument("invalid image archive: it contains no image")
                for item in found:
                    async for message in self._load_one(archive, item, quiet):
                        yield message
        finally:
            if plain != archive_path:
                plain.unlink(missing_ok=True)

    async def _load_one(self, archive: ImageArchive, item: ArchiveImage,
                        quiet: bool) -> AsyncIterator[Progress]:
        config = decode_config(item.config)
        diff_ids = config.rootfs.diff_ids
        if len(diff_ids) != len(item.layers):
            raise InvalidArgument(
                f"invalid image archive: config lists {len(diff_ids)} layers, "
                f"archive has {len(item.layers)}"
            )
        refs = [parse_with_default_tag(tag) for tag in item.repo_tags]
        settled: list[Progress] = []

        def on_layer(index: int, existed: bool) -> None:
            if not quiet and not existed:
                settled.append(Progress(status="Loading layer", id=short_id(diff_ids[index]),
                                        current=1, total=1))

        with self.store.lease() as lease:
            rows = await self.store.ensure_layers(
                diff_ids, lambda i: archive.open_layer(item.layers[i]), lease, on_layer)
            for message in settled:
                yield message
            image_id, replaced = await self.store.commit_image(item.config, rows, refs)
        for ref, old_id in replaced:
            yield Progress(stream=(
                f"The image {ref.familiar} already exists, renaming the old one with ID "
                f"{old_id} to empty string\n"))
        if refs:
            for ref in refs:
                self.events.emit("image", "load", image_id, name=ref.familiar)
                yield Progress(stream=f"Loaded image: {ref.familiar}\n")
        else:
            self.events.emit("image", "load", image_id, name=image_id)
            yield Progress(stream=f"Loaded image ID: {image_id}\n")

    # -- save ----------------------------------------------------------------------
    def save_items(self, names: list[str]) -> list[SaveItem]:
        """Resolve names as ``docker save`` does: a bare repository name saves all its tags."""
        by_image: dict[str, SaveItem] = {}
        for name in names:
            for image_id, tag in self._save_targets(name):
                item = by_image.get(image_id)
                if item is None:
                    image = self.images.get(image_id)
                    item = SaveItem(image.id, image.config.rootfs.diff_ids, image.row.created, [])
                    by_image[image_id] = item
                if tag is not None and tag not in item.tags:
                    item.tags.append(tag)
        return list(by_image.values())

    def _save_targets(self, name: str) -> list[tuple[str, Reference | None]]:
        try:
            ref = parse_normalized(name)
        except InvalidArgument:
            return [(self.images.resolve_id(name), None)]
        if ref.tag is None and ref.digest is None:
            tagged = [(r.image_id, parse_normalized(r.ref)) for r in self.images.meta.refs()
                      if r.kind == "tag" and parse_normalized(r.ref).name == ref.name]
            if tagged:
                return [(image_id, tag) for image_id, tag in tagged]
        try:
            image_id = self.images.resolve_id(name)
        except NotFound:
            if ref.tag is not None:  # Docker's reference store speaks here
                raise NotFound("reference does not exist") from None
            raise NotFound(f"No such image: {name}") from None
        if ref.digest is not None:
            return [(image_id, None)]
        named = ref if ref.tag else ref.with_tag("latest")
        is_tag = self.images.meta.resolve_ref(str(named)) == image_id
        return [(image_id, named if is_tag else None)]

    async def save(self, names: list[str]) -> AsyncIterator[bytes]:
        if not names:
            raise InvalidArgument("no image names given")
        items = self.save_items(names)
        if not items:
            raise NotFound(f"No such image: {names[0]}")
        with self.store.lease() as lease:
            for item in items:  # keep layers from being removed mid-save
                self.store.hold(lease, self._chain_of(item))
            content = self.store.content
            open_layer = self.store.open_layer_tar

            def produce(out: IO[bytes]) -> None:
                write_archive(out, items, content, open_layer)

            async for chunk in stream_from_thread(produce):
                yield chunk
        for item in items:
            self.events.emit("image", "save", item.image_id, name=item.image_id)

    def _chain_of(self, item: SaveItem) -> list[str]:
        row = self.images.meta.image(item.image_id)
        return [layer.chain_id for layer in self.store.layer_chain(row.top_layer if row else None)]

    # -- import ----------------------------------------------------------------------
    async def import_rootfs(
        self, tarball: Path, repo: str, tag: str, changes: list[str], message: str,
        platform: str, source: str = "-",
    ) -> str:
        target = repo_tag_reference(repo, tag)
        os_name, arch, variant = _parse_platform(platform)
        container_config = apply_changes({}, changes)

        def store_layer() -> str:
            with tarball.open("rb") as raw:
                digest, _ = self.store.content.put_stream(open_decompressed(raw))
            return digest

        diff_id = await asyncio.to_thread(store_layer)
        now = now_rfc3339()
        comment = message or f"Imported from {source}"
        config: dict[str, Any] = {
            "architecture": arch, "comment": comment, "config": container_config,
            "created": now, "history": [{"created": now, "comment": comment}], "os": os_name,
            "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        }
        if variant:
            config["variant"] = variant
        raw = json.dumps(config, separators=(",", ":")).encode()
        with self.store.lease() as lease:
            lease.blobs.add(diff_id)
            rows = await self.store.ensure_layers(
                [diff_id], lambda _: self.store.content.open(diff_id), lease)
            image_id, _ = await self.store.commit_image(raw, rows, [target] if target else [])
        self.events.emit("image", "import", image_id, name=image_id)
        if target is not None:
            self.events.emit("image", "tag", image_id, name=target.familiar)
        return image_id


def _parse_platform(value: str) -> tuple[str, str, str]:
    if not value:
        return "linux", host_architecture(), ""
    parts = value.lower().split("/")
    if len(parts) > 3 or not all(parts):
        raise InvalidArgument(f"invalid platform: {value!r}")
    os_name = parts[0]
    if os_name != "linux":
        raise InvalidArgument(f"operating system is not supported: {os_name}")
    arch = parts[1] if len(parts) > 1 else host_architecture()
    return os_name, arch, parts[2] if len(parts) > 2 else ""


ProgressCallback = Callable[[Progress], None]
