"""The classic builder's cache: which image a step made on which parent.

Docker's classic builder finds a cached step by scanning the children of
the parent image for one whose container config equals the step's. We
keep that rule but index it: the key of a step is a digest of the parts of
its run config that Docker compares (the command, which for COPY/ADD holds
the sources' content hash, and the environment, labels, user, working dir
and the rest), stored with the parent image ID in SQLite, so a lookup is
one query and the cache survives daemon restarts. An entry whose image
was removed is a miss (and is dropped).

:func:`prune_cache` (``POST /build/prune``, ``docker builder prune``)
removes the intermediate images that only the cache still holds.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ketch.errors import KetchError
from ketch.images.service import ImageService
from ketch.store.db import Database

#: The run-config fields that make two steps the same step (Docker's compare()).
_KEY_FIELDS = ("Cmd", "Entrypoint", "Env", "Labels", "ExposedPorts", "Volumes", "User",
               "WorkingDir", "OnBuild", "Healthcheck", "StopSignal", "Shell", "OpenStdin",
               "Tty")


def step_key(run_config: Mapping[str, Any]) -> str:
    """The cache key of a step: a digest of its run config's compared fields."""
    wanted = {name: run_config.get(name) for name in _KEY_FIELDS}
    text = json.dumps(wanted, sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class CacheEntry:
    parent_id: str
    step_key: str
    image_id: str
    created_ns: int
    last_used_ns: int


class BuildCache:
    """The cache entries in SQLite.

    A hit is only a read: when it was last used is noted in memory and
    written with the next change to the table (:meth:`record`) or before
    the entries are listed (prune, disk usage), instead of one transaction
    and fsync per cached step of a rebuild. A crash loses nothing but
    some "last used" times, which then read older than they were.
    """

    def __init__(self, db: Database) -> None:
        self.db = db
        self._used: dict[tuple[str, str], int] = {}

    def lookup(self, parent_id: str, key: str) -> str | None:
        """The image a cached step made (marked used now); None on a miss."""
        row = self.db.conn.execute(
            "SELECT image_id FROM build_cache WHERE parent_id = ? AND step_key = ?",
            (parent_id, key)).fetchone()
        if row is None:
            return None
        self._used[(parent_id, key)] = time.time_ns()
        return str(row["image_id"])

    def flush_used(self) -> None:
        """Write the last-used times of the hits noted since the previous flush."""
        if self._used:
            with self.db.transaction() as conn:
                self._write_used(conn)

    def _write_used(self, conn: sqlite3.Connection) -> None:
        used, self._used = self._used, {}
        conn.executemany(
            "UPDATE build_cache SET last_used_ns = ? WHERE parent_id = ? AND step_key = ?",
            [(when, parent, key) for (parent, key), when in used.items()])

    def record(self, parent_id: str, key: str, image_id: str) -> None:
        now = time.time_ns()
        with self.db.transaction() as conn:
            self._write_used(conn)
            conn.execute(
                "INSERT OR REPLACE INTO build_cache (parent_id, step_key, image_id, created_ns,"
                " last_used_ns) VALUES (?, ?, ?, ?, ?)", (parent_id, key, image_id, now, now))

    def forget(self, parent_id: str, key: str) -> None:
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM build_cache WHERE parent_id = ? AND step_key = ?",
                         (parent_id, key))

    def forget_images(self, image_ids: set[str]) -> None:
        """Drop the entries that made or start from these (removed) images."""
        with self.db.transaction() as conn:
            for image_id in image_ids:
                conn.execute("DELETE FROM build_cache WHERE image_id = ? OR parent_id = ?",
                             (image_id, image_id))

    def entries(self) -> list[CacheEntry]:
        self.flush_used()
        rows = self.db.conn.execute(
            "SELECT parent_id, step_key, image_id, created_ns, last_used_ns FROM build_cache "
            "ORDER BY created_ns").fetchall()
        return [CacheEntry(str(r["parent_id"]), str(r["step_key"]), str(r["image_id"]),
                           int(r["created_ns"]), int(r["last_used_ns"])) for r in rows]


async def prune_cache(cache: BuildCache, images: ImageService,
                      everything: bool) -> tuple[list[str], int]:
    """Remove the build's intermediate images nothing needs any more.

    A cached step image goes when it has no tag, no container uses it and no
    image is built on it (leaves first, so a whole unused chain goes).
    ``everything`` (``all``) also drops tagged results' cache entries (not
    their images). Returns the removed image IDs and the bytes freed.
    """
    deleted: list[str] = []
    reclaimed = 0
    changed = True
    while changed:
        changed = False
        cached = {entry.image_id for entry in cache.entries()}
        parents = {row.parent for row in images.meta.images() if row.parent}
        for image_id in sorted(cached):
            row = images.meta.image(image_id)
            if row is None:
                cache.forget_images({image_id})
                continue
            if image_id in parents or images.meta.refs(image_id) or images.users.users_of(
                    image_id):
                continue
            try:
                await images.delete(image_id, force=False, prune=False)
            except KetchError:  # a conflict or a concurrent removal: keep it
                continue
            cache.forget_images({image_id})
            deleted.append(image_id)
            parent = images.meta.image(row.parent) if row.parent else None
            reclaimed += row.size - (parent.size if parent else 0)
            changed = True
    if everything:
        cache.forget_images({entry.image_id for entry in cache.entries()})
    return deleted, reclaimed
