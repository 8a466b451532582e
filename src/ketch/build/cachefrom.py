"""``--cache-from``: Docker 20.10's history-based build cache.

Without ``--cache-from`` a step is cached when the parent image has a
child made by the same step (:mod:`ketch.build.cache`). A pulled or loaded
image has no such children here, only its history; so, given cache-from
sources, Docker 20.10's classic builder (``image/cache/cache.go``,
``ImageCache.GetCache``) also accepts a step when a source image *continues*
the current parent: the parent's history and layers are a prefix of the
source's, and the source's next history entry was made by the same
command (its ``created_by`` equals the step's Cmd joined by spaces; nothing
else of the run config is compared there). The rules, kept here:

* a hit of the local cache only counts if it is an ancestor (through
  parent links) of a source; any other local hit is ignored, so with
  ``--cache-from`` of an unrelated image nothing is cached at all;
* sources are tried in the order given; the first that continues the
  parent wins. If its next entry is its last, the source image itself is
  the step's image (and the parent becomes its parent). Otherwise an
  intermediate image is made, as Docker's ``restoreCachedImage`` does: the
  parent's history and layers plus the source's next entry and, unless
  that entry is an empty layer, the source's next layer (already in the
  store: the source has it); its config is the step's run config, its
  creation time that of the history entry, its parent the current parent.
  From then on only that source is tried, until the next FROM;
* the first miss ends all cache use (hits and misses alike) until the
  next FROM, when every source is tried again (Docker's ``imageProber``).

A source that cannot be found is left out (the daemon logs it), as Docker
does; the build goes on.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ketch.errors import KetchError, NotFound
from ketch.images.service import ImageService
from ketch.oci.chain import chain_ids
from ketch.oci.image import ImageConfig, decode_config
from ketch.system import ENGINE_VERSION

log = logging.getLogger(__name__)

#: Go's zero time, what Docker writes as ``created`` for an entry without one.
_ZERO_TIME = "0001-01-01T00:00:00Z"


@dataclass(frozen=True)
class _Image:
    """An image as the history cache looks at it: parsed, and its raw JSON."""

    id: str
    config: ImageConfig
    raw: dict[str, Any]


class CacheFrom:
    """The cache-from sources of one build, probed step by step."""

    def __init__(self, images: ImageService, source_ids: Sequence[str]) -> None:
        self.images = images
        self._all = list(source_ids)
        self.sources = list(source_ids)
        self.busted = False

    @classmethod
    def resolve(cls, images: ImageService, refs: Sequence[str]) -> CacheFrom:
        """The sources named by ``refs`` (references or IDs); unknown ones are skipped."""
        found: list[str] = []
        for ref in refs:
            try:
                found.append(images.resolve_id(ref))
            except KetchError as exc:
                log.warning("Could not look up %s for cache resolution, skipping: %s",
                            ref, exc.message)
        return cls(images, found)

    def reset(self) -> None:
        """A new stage (FROM): every source again, cache use resumed."""
        self.sources = list(self._all)
        self.busted = False

    async def probe(self, parent_id: str, cmd: Sequence[str], config: dict[str, Any],
                    local_hit: str | None) -> str | None:
        """The image of this step, or None on a miss.

        ``parent_id`` is the current image ("" for FROM scratch), ``cmd``
        the step's cache Cmd, ``config`` its run config in Docker's Config
        shape (what a restored image gets), ``local_hit`` what the local
        cache found for the step, if anything.
        """
        if self.busted:
            return None
        found = await self._probe(parent_id, cmd, config, local_hit)
        if found is None:
            self.busted = True
        return found

    async def _probe(self, parent_id: str, cmd: Sequence[str], config: dict[str, Any],
                     local_hit: str | None) -> str | None:
        if local_hit is not None and any(self._is_ancestor(local_hit, source)
                                         for source in self.sources):
            return local_hit
        parent = self._load(parent_id) if parent_id else None
        done = len(parent.config.history) if parent is not None else 0
        created_by = " ".join(cmd)
        for source_id in self.sources:
            try:
                target = self._load(source_id)
            except NotFound:  # removed since the build started
                continue
            if not _continues(target.config, parent.config if parent else None):
                continue
            if (target.config.history[done].created_by or "") != created_by:
                continue
            if len(target.config.history) - 1 == done:
                if parent is not None:
                    self._set_parent(target.id, parent.id)
                return target.id
            restored = await self._restore(parent, target, config)
            if restored is None:
                continue
            self.sources = [target.id]
            return restored
        return None

    # -- images ------------------------------------------------------------------------
    def _load(self, image_id: str) -> _Image:
        if self.images.meta.image(image_id) is None:
            raise NotFound(f"No such image: {image_id}")
        data = self.images.store.content.read(image_id)
        raw: dict[str, Any] = json.loads(data)
        return _Image(image_id, decode_config(data), raw)

    def _is_ancestor(self, image_id: str, of: str) -> bool:
        """Whether ``image_id`` is a (strict) ancestor of ``of`` through parent links."""
        seen = {of}
        row = self.images.meta.image(of)
        while row is not None and row.parent and row.parent not in seen:
            if row.parent == image_id:
                return True
            seen.add(row.parent)
            row = self.images.meta.image(row.parent)
        return False

    def _set_parent(self, image_id: str, parent_id: str) -> None:
        with self.images.meta.db.transaction() as conn:
            self.images.meta.set_parent(conn, image_id, parent_id)

    async def _restore(self, parent: _Image | None, target: _Image,
                       config: dict[str, Any]) -> str | None:
        """Make the intermediate image ``parent`` + the next step of ``target``.

        None if ``target``'s history does not tell which layer that step
        made (more non-empty entries than layers: a broken image).
        """
        done = len(parent.config.history) if parent is not None else 0
        entry = target.config.history[done]
        diff_ids = list(parent.config.rootfs.diff_ids) if parent is not None else []
        if not entry.empty_layer:
            index = sum(1 for h in target.config.history[:done] if not h.empty_layer)
            if index >= len(target.config.rootfs.diff_ids):
                return None
            diff_ids.append(target.config.rootfs.diff_ids[index])
        history = list(parent.raw.get("history") or []) if parent is not None else []
        history.append((target.raw.get("history") or [])[done])
        rootfs = dict(parent.raw.get("rootfs") or {}) if parent is not None else {}
        rootfs.update({"type": rootfs.get("type") or "layers", "diff_ids": diff_ids})
        image: dict[str, Any] = {
            "architecture": target.config.architecture,
            "config": config,
            "created": entry.created or _ZERO_TIME,
            "docker_version": ENGINE_VERSION,
            "history": history,
            "os": target.config.os,
            "rootfs": rootfs,
        }
        for key in ("author", "os.version", "os.features"):
            if target.raw.get(key):
                image[key] = target.raw[key]
        raw = json.dumps(dict(sorted(image.items())), separators=(",", ":")).encode()
        store = self.images.store
        with store.lease() as lease:
            rows = store.layer_chain(chain_ids(diff_ids)[-1]) if diff_ids else []
            if [row.diff_id for row in rows] != diff_ids:
                return None  # the source's layers are not all here
            store.hold(lease, [row.chain_id for row in rows])
            image_id, _ = await store.commit_image(raw, rows, [],
                                                   parent=parent.id if parent else "")
        return image_id


def _continues(target: ImageConfig, parent: ImageConfig | None) -> bool:
    """Whether ``target``'s history and layers start with all of ``parent``'s
    and go on (Docker's ``isValidParent``)."""
    if not target.history:
        return False
    if parent is None or (not parent.history and not parent.rootfs.diff_ids):
        return True
    if len(parent.history) >= len(target.history):
        return False
    if len(parent.rootfs.diff_ids) > len(target.rootfs.diff_ids):
        return False
    if any(mine != theirs for mine, theirs in zip(parent.history, target.history,
                                                  strict=False)):
        return False
    return target.rootfs.diff_ids[:len(parent.rootfs.diff_ids)] == parent.rootfs.diff_ids


__all__ = ["CacheFrom"]
