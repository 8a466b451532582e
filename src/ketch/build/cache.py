"""The classic builder's cache: which image a step made on which parent.

Docker's classic builder finds a cached step by scanning the children of
the parent image for one whose container config equals the step's. We
keep that rule but index it: the key of a step is a digest of the parts of
its run config that Docker compares (the command, which for COPY/ADD holds
the sources' content hash, and the environment, labels, user, working dir
and the rest), stored with the parent image ID in SQLite, so a lookup is
one query and the cache survives daemon restarts. An entry whose image
was removed is a miss (and is dropped).

A step's image stays the cache's after no lookup finds it any more (a
prune with ``all`` under a tag, a rebuild that replaced the entry): it is
*retired*, so that it is still listed and reclaimed once nothing else
keeps it, instead of lingering as an anonymous dangling image.

:func:`cache_records` lists the cache as Docker's BuildCache records
(``GET /system/df``); :func:`prune_cache` (``POST /build/prune``, ``docker
builder prune``) removes the steps' images that only the cache still
holds, with BuildKit's rules for ``until`` and the space to keep.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ketch.errors import KetchError
from ketch.images.service import ImageService
from ketch.store.db import Database

#: The run-config fields that make two steps the same step (Docker's compare()).
_KEY_FIELDS = ("Cmd", "Entrypoint", "Env", "Labels", "ExposedPorts", "Volumes", "User",
               "WorkingDir", "OnBuild", "Healthcheck", "StopSignal", "Shell", "OpenStdin",
               "Tty")

#: Every record is a step's image: BuildKit's "regular" kind.
RECORD_TYPE = "regular"


def step_key(run_config: Mapping[str, Any]) -> str:
    """The cache key of a step: a digest of its run config's compared fields."""
    wanted = {name: run_config.get(name) for name in _KEY_FIELDS}
    text = json.dumps(wanted, sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class CacheEntry:
    """A row of the cache: a lookup entry, or (``retired``) an image no lookup finds."""

    parent_id: str
    step_key: str
    image_id: str
    created_ns: int
    last_used_ns: int
    usage_count: int = 1
    retired: bool = False


class BuildCache:
    """The cache entries in SQLite.

    A hit is only a read: when it was last used is noted in memory and
    written with the next change to the table (:meth:`record`) or before
    the entries are listed (prune, disk usage), instead of one transaction
    and fsync per cached step of a rebuild. A crash loses nothing but
    some "last used" times and use counts, which then read lower than they were.
    """

    def __init__(self, db: Database) -> None:
        self.db = db
        #: (parent, key) -> (last hit, hits since the last flush)
        self._used: dict[tuple[str, str], tuple[int, int]] = {}

    def lookup(self, parent_id: str, key: str) -> str | None:
        """The image a cached step made (marked used now); None on a miss."""
        row = self.db.conn.execute(
            "SELECT image_id FROM build_cache WHERE parent_id = ? AND step_key = ?",
            (parent_id, key)).fetchone()
        if row is None:
            return None
        _, hits = self._used.get((parent_id, key), (0, 0))
        self._used[(parent_id, key)] = (time.time_ns(), hits + 1)
        return str(row["image_id"])

    def flush_used(self) -> None:
        """Write the last-used times of the hits noted since the previous flush."""
        if self._used:
            with self.db.transaction() as conn:
                self._write_used(conn)

    def _write_used(self, conn: sqlite3.Connection) -> None:
        used, self._used = self._used, {}
        conn.executemany(
            "UPDATE build_cache SET last_used_ns = ?, usage_count = usage_count + ?"
            " WHERE parent_id = ? AND step_key = ?",
            [(when, hits, parent, key) for (parent, key), (when, hits) in used.items()])

    def record(self, parent_id: str, key: str, image_id: str) -> None:
        """Note the image a step made; an image the entry named before is retired."""
        now = time.time_ns()
        with self.db.transaction() as conn:
            self._write_used(conn)
            old = conn.execute(
                "SELECT image_id FROM build_cache WHERE parent_id = ? AND step_key = ?",
                (parent_id, key)).fetchone()
            if old is not None and old["image_id"] != image_id:
                self._retire(conn, "parent_id = ? AND step_key = ?", (parent_id, key))
            conn.execute("DELETE FROM build_cache_retired WHERE image_id = ?", (image_id,))
            conn.execute(
                "INSERT OR REPLACE INTO build_cache (parent_id, step_key, image_id, created_ns,"
                " last_used_ns, usage_count) VALUES (?, ?, ?, ?, ?, 1)",
                (parent_id, key, image_id, now, now))

    def forget(self, parent_id: str, key: str) -> None:
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM build_cache WHERE parent_id = ? AND step_key = ?",
                         (parent_id, key))

    def forget_images(self, image_ids: Iterable[str]) -> None:
        """Drop the entries that made or start from these (removed) images."""
        with self.db.transaction() as conn:
            for image_id in image_ids:
                conn.execute("DELETE FROM build_cache WHERE image_id = ? OR parent_id = ?",
                             (image_id, image_id))
                conn.execute("DELETE FROM build_cache_retired WHERE image_id = ?", (image_id,))

    def retire(self, image_ids: Iterable[str]) -> None:
        """Stop finding these images by lookup; they stay records of the cache."""
        with self.db.transaction() as conn:
            self._write_used(conn)
            for image_id in image_ids:
                self._retire(conn, "image_id = ?", (image_id,))

    @staticmethod
    def _retire(conn: sqlite3.Connection, where: str, args: tuple[str, ...]) -> None:
        conn.execute(
            "INSERT OR IGNORE INTO build_cache_retired (image_id, created_ns, last_used_ns,"
            f" usage_count) SELECT image_id, created_ns, last_used_ns, usage_count"
            f" FROM build_cache WHERE {where}", args)
        conn.execute(f"DELETE FROM build_cache WHERE {where}", args)

    def entries(self) -> list[CacheEntry]:
        """Every entry, lookup ones and retired ones, oldest first."""
        self.flush_used()
        rows = self.db.conn.execute(
            "SELECT parent_id, step_key, image_id, created_ns, last_used_ns, usage_count,"
            " 0 AS retired FROM build_cache UNION ALL"
            " SELECT '', '', image_id, created_ns, last_used_ns, usage_count, 1"
            " FROM build_cache_retired ORDER BY created_ns").fetchall()
        return [CacheEntry(str(r["parent_id"]), str(r["step_key"]), str(r["image_id"]),
                           int(r["created_ns"]), int(r["last_used_ns"]),
                           int(r["usage_count"]), bool(r["retired"])) for r in rows]


# -- records: the cache as Docker lists it -------------------------------------------------


@dataclass
class CacheRecord:
    """One step's image as a build cache record (Docker's ``BuildCache`` object).

    ``size`` is what the step added (its image's size less its parent's).
    ``in_use``: a container uses the image or one built on it in the
    cache. ``shared``: the image is part of one that is not the cache's
    alone (tagged, or the parent of an image that is not a record).
    ``lookup``: a rebuild still finds it (it is not retired).
    """

    id: str
    parent: str  # the parent step's record, '' if the parent is not a record
    size: int
    created_ns: int
    last_used_ns: int
    usage_count: int
    in_use: bool = False
    shared: bool = False
    lookup: bool = True
    description: str = ""
    type: str = RECORD_TYPE
    leaf: bool = field(default=True, repr=False)  # no image is built on it


def cache_records(cache: BuildCache, images: ImageService,
                  describe: bool = True) -> list[CacheRecord]:
    """The cache's records, oldest first; entries whose image is gone are dropped.

    ``describe`` reads each image's config for its step's command (the
    last history entry's ``created_by``), which only a listing needs.
    """
    rows = {row.id: row for row in images.meta.images()}
    entries = cache.entries()
    gone = {e.image_id for e in entries if e.image_id not in rows}
    if gone:
        cache.forget_images(gone)
    merged: dict[str, CacheRecord] = {}
    for entry in entries:
        if entry.image_id in gone:
            continue
        found = merged.get(entry.image_id)
        if found is None:
            row = rows[entry.image_id]
            parent = rows.get(row.parent)
            merged[entry.image_id] = CacheRecord(
                id=row.id, parent="", size=max(0, row.size - (parent.size if parent else 0)),
                created_ns=entry.created_ns, last_used_ns=entry.last_used_ns,
                usage_count=entry.usage_count, lookup=not entry.retired)
        else:  # the same image under more than one entry
            found.created_ns = min(found.created_ns, entry.created_ns)
            found.last_used_ns = max(found.last_used_ns, entry.last_used_ns)
            found.usage_count += entry.usage_count
            found.lookup = found.lookup or not entry.retired
    in_use: set[str] = set()
    shared: set[str] = set()
    for row in rows.values():
        if row.parent in merged:
            merged[row.parent].leaf = False
            if row.id not in merged:
                shared.add(row.parent)
    for record in merged.values():
        record.parent = rows[record.id].parent if rows[record.id].parent in merged else ""
        if images.users.users_of(record.id):
            in_use.add(record.id)
        if images.meta.refs(record.id):
            shared.add(record.id)
    # What keeps an image keeps the steps below it (as BuildKit's parents).
    for marked in (in_use, shared):
        for image_id in list(marked):
            below = merged[image_id].parent
            while below and below not in marked:
                marked.add(below)
                below = merged[below].parent
    for record in merged.values():
        record.in_use = record.id in in_use
        record.shared = record.id in shared
        if describe:
            record.description = _description(images, record.id)
    return sorted(merged.values(), key=lambda r: r.created_ns)


def _description(images: ImageService, image_id: str) -> str:
    try:
        history = images.get(image_id).config.history
    except KetchError:
        return ""
    return (history[-1].created_by or "") if history else ""


# -- prune ---------------------------------------------------------------------------------

#: ``filters`` keys of ``POST /build/prune`` (Docker's): True for those it
#: accepts, False for BuildKit's that Docker refuses. ``label`` filters are
#: accepted and, as in Docker, not applied.
PRUNE_FILTERS: Mapping[str, bool] = {
    "until": True, "unused-for": True, "label": True, "label!": True,
    "id": True, "parent": True, "type": True, "description": True, "inuse": True,
    "shared": True, "private": True, "mutable": False, "immutable": False,
}

#: The filters that select records by a field (at most one value each).
RECORD_FILTERS = ("id", "parent", "type", "description", "inuse", "shared", "private")


@dataclass(frozen=True)
class PruneOptions:
    """What ``POST /build/prune`` asked for, validated.

    ``until_ns``: keep what was used after this instant (``until``).
    The three sizes are BuildKit's: keep at least ``reserved_space`` bytes,
    at most ``max_used_space``, and free steps until the disk has
    ``min_free_space`` (0: not set). ``fields`` are the record filters.
    """

    all: bool = False
    until_ns: int | None = None
    reserved_space: int = 0
    max_used_space: int = 0
    min_free_space: int = 0
    fields: Mapping[str, str] = field(default_factory=dict)


def keep_bytes(total: int, options: PruneOptions, disk_free: int) -> int:
    """How much cache a prune leaves (0: no bound), as BuildKit computes it."""
    if not (options.max_used_space or options.reserved_space or options.min_free_space):
        return 0
    keep = options.max_used_space
    excess = options.min_free_space - disk_free
    if options.min_free_space and excess > 0:
        keep = total - excess if keep == 0 else min(keep, total - excess)
    elif options.min_free_space and keep == 0:
        keep = total + 1  # enough free space already: more than there is, nothing goes
    return max(keep, options.reserved_space)


def _flag(value: str, flag: bool) -> bool:
    if value in ("", "1", "true"):
        return flag
    if value in ("0", "false"):
        return not flag
    return False


def _matches(record: CacheRecord, fields: Mapping[str, str]) -> bool:
    """Whether a record passes the record filters (BuildKit's field rules)."""
    for name, value in fields.items():
        if name == "id":
            ok = value.removeprefix("sha256:") in record.id
        elif name == "parent":
            ok = bool(record.parent) and record.parent.removeprefix("sha256:").startswith(
                value.removeprefix("sha256:"))
        elif name == "type":
            ok = value == record.type
        elif name == "description":
            ok = value == record.description
        elif name == "inuse":
            ok = _flag(value, record.in_use)
        elif name == "shared":
            ok = _flag(value, record.shared)
        elif name == "private":
            ok = _flag(value, not record.shared)
        else:
            ok = True
        if not ok:
            return False
    return True


def _selected(record: CacheRecord, options: PruneOptions) -> bool:
    if record.in_use:
        return False
    if options.until_ns is not None and record.last_used_ns > options.until_ns:
        return False
    return _matches(record, options.fields)


async def prune_cache(cache: BuildCache, images: ImageService, options: PruneOptions,
                      disk_free: int = 0) -> tuple[list[str], int]:
    """Remove the build's step images nothing needs any more.

    A record goes when nothing keeps it (no tag, no container, no image
    built on it but other records), the filters select it and it was not
    used since ``until``; leaves first, so a whole unused chain goes.
    With a space to keep the least recently used goes first, one at a
    time, until the cache is under that bound. ``all`` then retires the
    selected records that must stay (under a tag): a rebuild no longer
    finds them, and they are reclaimed once the tag moves. Returns the
    removed image IDs and the bytes they added.
    """
    deleted: list[str] = []
    reclaimed = 0
    needs_description = "description" in options.fields
    records = cache_records(cache, images, describe=needs_description)
    total = sum(r.size for r in records if not r.shared)
    bound = keep_bytes(total, options, disk_free)
    while not (bound and total < bound):
        chosen = [r for r in records
                  if r.leaf and not r.shared and _selected(r, options)]
        if bound and chosen:
            chosen = [min(chosen, key=lambda r: (r.last_used_ns, r.usage_count))]
        progress = False
        for record in chosen:
            try:
                await images.delete(record.id, force=False, prune=False)
            except KetchError:  # a conflict or a concurrent removal: keep it
                continue
            cache.forget_images({record.id})
            deleted.append(record.id)
            reclaimed += record.size
            total -= record.size
            progress = True
        if not progress:
            break
        records = cache_records(cache, images, describe=needs_description)
    if options.all and not bound:
        cache.retire(r.id for r in records if r.lookup and _selected(r, options))
    return deleted, reclaimed
