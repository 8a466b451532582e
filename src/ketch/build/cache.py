"""The classic builder's cache: which image a step made on which parent.

Docker's classic builder finds a cached step by scanning the children of
the parent image for one whose container config equals the step's. We
keep that rule but index it: the key of a step is a digest of the parts of
its run config that Docker compares (the command, which for COPY/ADD holds
the sources' content hash, and the environment, labels, user, working dir
and the rest), stored with the parent image ID in SQLite, so a lookup is
one query and the cache survives daemon restarts. An entry whose image
was removed is a miss (and is dropped).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

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
    def __init__(self, db: Database) -> None:
        self.db = db

    def lookup(self, parent_id: str, key: str) -> str | None:
        """The image a cached step made, marked used now; None on a miss."""
        row = self.db.conn.execute(
            "SELECT image_id FROM build_cache WHERE parent_id = ? AND step_key = ?",
            (parent_id, key)).fetchone()
        if row is None:
            return None
        with self.db.transaction() as conn:
            conn.execute("UPDATE build_cache SET last_used_ns = ? WHERE parent_id = ? "
                         "AND step_key = ?", (time.time_ns(), parent_id, key))
        return str(row["image_id"])

    def record(self, parent_id: str, key: str, image_id: str) -> None:
        now = time.time_ns()
        with self.db.transaction() as conn:
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
        rows = self.db.conn.execute(
            "SELECT parent_id, step_key, image_id, created_ns, last_used_ns FROM build_cache "
            "ORDER BY created_ns").fetchall()
        return [CacheEntry(str(r["parent_id"]), str(r["step_key"]), str(r["image_id"]),
                           int(r["created_ns"]), int(r["last_used_ns"])) for r in rows]
