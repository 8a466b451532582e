"""Image operations with Docker's user-visible rules.

Name resolution follows Docker: a full or short image ID, a name with tag
(``busybox`` means ``busybox:latest``) or digest; a name is tried before an
ID prefix. Removal follows Docker's conflict rules: a hard conflict (running
container, dependent child image) can never be forced; a soft one (other
repositories reference the image, a stopped container uses it) needs force.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass

from ketch.errors import Conflict, InvalidArgument, NotFound
from ketch.events import EventBus
from ketch.images.filters import (
    LIST_FILTERS,
    PRUNE_FILTERS,
    ImagePredicate,
    only_matching_references,
    parse_bool_filter,
)
from ketch.images.model import (
    DeleteRecord,
    DiskUsage,
    HistoryEntry,
    Image,
    ImageUsers,
    NoImageUsers,
    PruneReport,
)
from ketch.images.store import ImageStore
from ketch.oci.digest import is_digest, short_id
from ketch.oci.image import decode_config
from ketch.oci.reference import (
    Reference,
    looks_like_id_prefix,
    parse_normalized,
    parse_with_default_tag,
    validate_tag,
)
from ketch.store.images import ImageRow, RefRow
from ketch.timeutil import parse_rfc3339


@dataclass
class _Conflict:
    message: str
    hard: bool
    used_by_container: bool = False


class ImageService:
    def __init__(self, store: ImageStore, events: EventBus) -> None:
        self.store = store
        self.meta = store.meta
        self.events = events
        self.users: ImageUsers = NoImageUsers()

    # -- lookup --------------------------------------------------------------------
    def _load(self, row: ImageRow, refs: list[RefRow] | None = None) -> Image:
        config = decode_config(self.store.content.read(row.id))
        refs = self.meta.refs(row.id) if refs is None else refs
        tags = [parse_normalized(r.ref) for r in refs if r.kind == "tag"]
        digests = [parse_normalized(r.ref) for r in refs if r.kind == "digest"]
        last_tag = max((r.added_ns for r in refs if r.kind == "tag"), default=0)
        return Image(row=row, config=config, tags=tags, digests=digests, last_tag_ns=last_tag)

    def resolve_id(self, ref_or_id: str) -> str:
        """The image ID ``ref_or_id`` names, or NotFound with Docker's message."""
        if is_digest(ref_or_id) and ref_or_id.startswith("sha256:"):
            if self.meta.image(ref_or_id):
                return ref_or_id
            raise NotFound(f"No such image: {ref_or_id}")
        ref: Reference | None = None
        try:
            ref = parse_with_default_tag(ref_or_id)
        except InvalidArgument:
            if len(ref_or_id) == 64 and looks_like_id_prefix(ref_or_id):
                ref = None
            elif not looks_like_id_prefix(ref_or_id):
                raise
        if ref is not None:
            image_id = self.meta.resolve_ref(str(ref))
            if image_id is not None:
                return image_id
        if looks_like_id_prefix(ref_or_id):
            matches = self.meta.image_ids_with_prefix(ref_or_id.removeprefix("sha256:"))
            if len(matches) == 1:
                return matches[0]
        shown = ref.familiar if ref is not None else ref_or_id
        raise NotFound(f"No such image: {shown}")

    def get(self, ref_or_id: str) -> Image:
        row = self.meta.image(self.resolve_id(ref_or_id))
        if row is None:
            raise NotFound(f"No such image: {ref_or_id}")
        return self._load(row)

    def all_images(self) -> list[Image]:
        refs_by_image: dict[str, list[RefRow]] = {}
        for ref in self.meta.refs():
            refs_by_image.setdefault(ref.image_id, []).append(ref)
        return [self._load(row, refs_by_image.get(row.id, [])) for row in self.meta.images()]

    # -- list / inspect / history ---------------------------------------------------
    def list_images(self, filters: Mapping[str, list[str]], all_: bool = False) -> list[Image]:
        predicate = ImagePredicate.compile(filters, LIST_FILTERS, self.get)
        images = self.all_images()
        parents = {image.row.parent for image in images if image.row.parent}
        result = []
        for image in images:
            # Untagged images that are parents of others are intermediate build
            # steps: Docker hides them unless -a.
            if not all_ and image.dangling and image.id in parents:
                continue
            if predicate(image):
                if predicate.references:
                    image = only_matching_references(image, predicate.references)
                result.append(image)
        return newest_first(result)

    def history(self, ref_or_id: str) -> list[HistoryEntry]:
        image = self.get(ref_or_id)
        layers = self.store.layer_chain(image.row.top_layer)
        entries: list[HistoryEntry] = []
        layer_index = 0
        for item in image.config.history:
            size = 0
            if not item.empty_layer and layer_index < len(layers):
                size = layers[layer_index].size
                layer_index += 1
            entries.append(HistoryEntry(
                id="<missing>", created=parse_rfc3339(item.created) if item.created else 0,
                created_by=item.created_by or "", tags=[], size=size,
                comment=item.comment or "",
            ))
        entries.reverse()
        if entries:
            top = entries[0]
            entries[0] = HistoryEntry(
                id=image.id, created=top.created, created_by=top.created_by,
                tags=[t.familiar for t in image.tags], size=top.size, comment=top.comment,
            )
        self._name_parent_entries(image, entries)
        return entries

    def _name_parent_entries(self, image: Image, entries: list[HistoryEntry]) -> None:
        """Entries that are local parent images get their ID and tags (builds)."""
        parent_id = image.row.parent
        depth = len(image.config.history)
        while parent_id:
            row = self.meta.image(parent_id)
            if row is None:
                break
            parent = self._load(row)
            position = depth - len(parent.config.history)
            if 0 < position < len(entries):
                old = entries[position]
                entries[position] = HistoryEntry(
                    id=parent.id, created=old.created, created_by=old.created_by,
                    tags=[t.familiar for t in parent.tags], size=old.size, comment=old.comment,
                )
            parent_id = row.parent

    # -- tag --------------------------------------------------------------------------
    async def tag(self, source: str, repo: str, tag: str) -> Reference:
        image_id = self.resolve_id(source)
        target = parse_normalized(repo)
        if target.digest is not None:
            raise InvalidArgument("refusing to create a tag with a digest reference")
        if tag:
            if target.tag is not None:
                raise InvalidArgument("invalid reference format")
            target = target.with_tag(validate_tag(tag))
        elif target.tag is None:
            target = target.with_tag("latest")
        async with self.store.lock:
            with self.meta.db.transaction() as conn:
                self.meta.set_ref(conn, RefRow(str(target), image_id, "tag", time.time_ns()))
        self.events.emit("image", "tag", image_id, name=target.familiar)
        return target

    # -- delete -----------------------------------------------------------------------
    async def delete(self, ref_or_id: str, force: bool = False,
                     prune: bool = True) -> list[DeleteRecord]:
        async with self.store.lock:
            return self._delete_locked(ref_or_id, force, prune)

    def _delete_locked(self, ref_or_id: str, force: bool, prune: bool) -> list[DeleteRecord]:
        image_id = self.resolve_id(ref_or_id)
        records: list[DeleteRecord] = []
        refs = self.meta.refs(image_id)
        by_id = _is_id_prefix(image_id, ref_or_id)
        if not by_id:
            named = parse_with_default_tag(ref_or_id)
            if not force and _single_repository(refs):
                users = self.users.users_of(image_id)
                if users:
                    raise Conflict(
                        f'conflict: unable to remove repository reference "{ref_or_id}" '
                        f"(must force) - container {short_id(users[0].container_id)} is using "
                        f"its referenced image {short_id(image_id)}"
                    )
            records.append(self._untag(str(named), image_id))
            refs = self.meta.refs(image_id)
            if named.digest is None:
                refs = self._drop_orphan_digests(named, refs, image_id, records)
            if refs:
                return records
        elif _single_repository(refs):
            conflict = self._conflict(image_id, hard_only=force, check_references=False)
            if conflict is not None:
                raise Conflict(_conflict_message(image_id, conflict))
            for ref in refs:
                records.append(self._untag(ref.ref, image_id))
        self._delete_image(image_id, records, force, prune, quiet=not by_id)
        return records

    def _drop_orphan_digests(self, named: Reference, refs: list[RefRow], image_id: str,
                             records: list[DeleteRecord]) -> list[RefRow]:
        """Removing the last tag of a repository also removes its digest references."""
        same_repo_tag = any(
            r.kind == "tag" and parse_normalized(r.ref).name == named.name for r in refs
        )
        if same_repo_tag:
            return refs
        remaining = []
        for ref in refs:
            if ref.kind == "digest" and parse_normalized(ref.ref).name == named.name:
                records.append(self._untag(ref.ref, image_id))
            else:
                remaining.append(ref)
        return remaining

    def _untag(self, ref: str, image_id: str) -> DeleteRecord:
        with self.meta.db.transaction() as conn:
            self.meta.delete_ref(conn, ref)
        self.events.emit("image", "untag", image_id, name=image_id)
        return DeleteRecord(untagged=parse_normalized(ref).familiar)

    def _conflict(self, image_id: str, hard_only: bool,
                  check_references: bool = True) -> _Conflict | None:
        if self.meta.children(image_id):
            return _Conflict("image has dependent child images", hard=True)
        users = self.users.users_of(image_id)
        running = [u for u in users if u.running]
        if running:
            return _Conflict(
                f"image is being used by running container {short_id(running[0].container_id)}",
                hard=True, used_by_container=True,
            )
        if hard_only:
            return None
        if check_references and self.meta.refs(image_id):
            return _Conflict("image is referenced in multiple repositories", hard=False)
        if users:
            return _Conflict(
                f"image is being used by stopped container {short_id(users[0].container_id)}",
                hard=False, used_by_container=True,
            )
        return None

    def _delete_image(self, image_id: str, records: list[DeleteRecord], force: bool,
                      prune: bool, quiet: bool) -> None:
        conflict = self._conflict(image_id, hard_only=force)
        if conflict is not None:
            # moby's imageIsDangling: no reference and no child image
            dangling = not self.meta.refs(image_id) and not self.meta.children(image_id)
            if quiet and (not dangling or conflict.used_by_container):
                return
            raise Conflict(_conflict_message(image_id, conflict))
        row = self.meta.image(image_id)
        parent = row.parent if row else ""
        for ref in self.meta.refs(image_id):
            records.append(self._untag(ref.ref, image_id))
        removed_layers = self.store.delete_image(image_id)
        self.events.emit("image", "delete", image_id, name=image_id)
        records.append(DeleteRecord(deleted=image_id))
        records.extend(DeleteRecord(deleted=layer.chain_id) for layer in removed_layers)
        if prune and parent and self.meta.image(parent):
            self._delete_image(parent, records, force=False, prune=True, quiet=True)

    # -- prune --------------------------------------------------------------------------
    async def prune(self, filters: Mapping[str, list[str]]) -> PruneReport:
        dangling_only = parse_bool_filter("dangling", filters.get("dangling", []))
        if dangling_only is None:
            dangling_only = True
        rest = {k: v for k, v in filters.items() if k != "dangling"}
        predicate = ImagePredicate.compile(rest, PRUNE_FILTERS, self.get)
        records: list[DeleteRecord] = []
        reclaimed = 0
        async with self.store.lock:
            layer_sizes = {row.chain_id: row.size for row in self.meta.layers()}
            images = self.all_images()
            parents = {i.row.parent for i in images if i.row.parent}
            for image in images:
                if self.meta.image(image.id) is None:
                    continue  # removed as the parent of an earlier one
                if dangling_only and (not image.dangling or image.id in parents):
                    continue
                if self.users.users_of(image.id) or not predicate(image):
                    continue
                before = len(records)
                try:
                    if image.dangling:
                        self._delete_image(image.id, records, force=False, prune=True,
                                           quiet=False)
                    else:
                        for ref in image.tags + image.digests:
                            records.extend(self._delete_locked(str(ref), False, True))
                        if self.meta.image(image.id) is not None:
                            self._delete_image(image.id, records, False, True, quiet=True)
                except Conflict:
                    continue
                reclaimed += sum(layer_sizes.get(r.deleted, 0) for r in records[before:])
        self.events.emit("image", "prune", "", reclaimed=str(reclaimed))
        return PruneReport(records=records, space_reclaimed=reclaimed)

    # -- disk usage -----------------------------------------------------------------------
    def disk_usage(self) -> DiskUsage:
        images = newest_first(self.all_images())
        layer_users: dict[str, int] = {}
        chains: dict[str, list[str]] = {}
        sizes = {row.chain_id: row.size for row in self.meta.layers()}
        for image in images:
            chain = [row.chain_id for row in self.store.layer_chain(image.row.top_layer)]
            chains[image.id] = chain
            for chain_id in chain:
                layer_users[chain_id] = layer_users.get(chain_id, 0) + 1
        shared = {
            image.id: sum(sizes[c] for c in chains[image.id] if layer_users[c] > 1)
            for image in images
        }
        containers = {image.id: len(self.users.users_of(image.id)) for image in images}
        return DiskUsage(layers_size=sum(sizes.values()), images=images, shared_size=shared,
                         containers_per_image=containers)


def newest_first(images: list[Image]) -> list[Image]:
    """Docker's listing order: by creation time, newest first."""
    return sorted(images, key=lambda i: (parse_rfc3339(i.row.created), i.row.added_ns),
                  reverse=True)


def _is_id_prefix(image_id: str, value: str) -> bool:
    return image_id.startswith(value) or image_id.removeprefix("sha256:").startswith(value)


def _single_repository(refs: list[RefRow]) -> bool:
    """At most one tag, and every digest reference is of that tag's repository."""
    if len(refs) <= 1:
        return len(refs) == 1
    tag_refs = [r for r in refs if r.kind == "tag"]
    if len(tag_refs) > 1:
        return False
    digest_repos = {parse_normalized(r.ref).name for r in refs if r.kind == "digest"}
    single = tag_refs[0] if tag_refs else refs[0]
    return len(digest_repos) == 1 and parse_normalized(single.ref).name in digest_repos


def _conflict_message(image_id: str, conflict: _Conflict) -> str:
    how = "cannot be forced" if conflict.hard else "must be forced"
    return f"conflict: unable to delete {short_id(image_id)} ({how}) - {conflict.message}"
