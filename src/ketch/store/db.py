"""The metadata database (``<data-root>/ketch.db``).

One connection, WAL journal, ``synchronous=FULL`` so a committed transaction
survives a power cut. The schema version is SQLite's ``user_version``;
``MIGRATIONS[i]`` takes the schema from version ``i`` to ``i + 1`` and runs in
the same transaction as the version bump, so a crash mid-migration leaves the
old schema intact.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

MIGRATIONS: list[str] = [
    # 1: images, their references and their layers.
    """
    CREATE TABLE images (
        id          TEXT PRIMARY KEY,        -- digest of the config blob
        created     TEXT NOT NULL,           -- RFC 3339 from the config ('' if none)
        size        INTEGER NOT NULL,        -- sum of the layers' content sizes
        top_layer   TEXT,                    -- chain ID of the top layer, NULL if none
        parent      TEXT NOT NULL DEFAULT '',-- local parent image (builds, commits)
        added_ns    INTEGER NOT NULL         -- when the image entered this store
    );
    CREATE TABLE image_refs (
        ref         TEXT PRIMARY KEY,        -- docker.io/library/busybox:latest or name@digest
        image_id    TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
        kind        TEXT NOT NULL CHECK (kind IN ('tag', 'digest')),
        added_ns    INTEGER NOT NULL
    );
    CREATE INDEX image_refs_by_image ON image_refs(image_id);
    CREATE TABLE layers (
        chain_id    TEXT PRIMARY KEY,
        diff_id     TEXT NOT NULL,           -- also the digest of the layer tar blob
        parent      TEXT REFERENCES layers(chain_id),
        size        INTEGER NOT NULL
    );
    """,
    # 2: containers; the record is the container's JSON (config, host config, state).
    """
    CREATE TABLE containers (
        id          TEXT PRIMARY KEY,
        name        TEXT NOT NULL UNIQUE,
        image_id    TEXT NOT NULL,
        created_ns  INTEGER NOT NULL,
        record      BLOB NOT NULL
    );
    CREATE INDEX containers_by_image ON containers(image_id);
    """,
    # 3: volumes and networks; each record is the object's JSON.
    """
    CREATE TABLE volumes (
        name        TEXT PRIMARY KEY,
        driver      TEXT NOT NULL,
        anonymous   INTEGER NOT NULL DEFAULT 0,
        created_ns  INTEGER NOT NULL,
        record      BLOB NOT NULL
    );
    CREATE TABLE networks (
        id          TEXT PRIMARY KEY,
        name        TEXT NOT NULL UNIQUE,
        created_ns  INTEGER NOT NULL,
        record      BLOB NOT NULL
    );
    CREATE TABLE endpoints (
        network_id   TEXT NOT NULL REFERENCES networks(id),
        container_id TEXT NOT NULL,
        record       BLOB NOT NULL,
        PRIMARY KEY (network_id, container_id)
    );
    CREATE INDEX endpoints_by_container ON endpoints(container_id);
    """,
    # 4: the classic builder's cache: (parent image, step key) -> image made by that step.
    """
    CREATE TABLE build_cache (
        parent_id     TEXT NOT NULL,          -- '' for a step on scratch
        step_key      TEXT NOT NULL,          -- digest of the step's run config
        image_id      TEXT NOT NULL,
        created_ns    INTEGER NOT NULL,
        last_used_ns  INTEGER NOT NULL,
        PRIMARY KEY (parent_id, step_key)
    );
    CREATE INDEX build_cache_by_image ON build_cache(image_id);
    """,
    # 5: how often a cached step was used, and the steps' images that no lookup
    # finds any more (a prune with `all` kept them under a tag, a rebuild
    # replaced their entry) but that stay the cache's to list and reclaim.
    """
    ALTER TABLE build_cache ADD COLUMN usage_count INTEGER NOT NULL DEFAULT 1;
    CREATE TABLE build_cache_retired (
        image_id      TEXT PRIMARY KEY,
        created_ns    INTEGER NOT NULL,
        last_used_ns  INTEGER NOT NULL,
        usage_count   INTEGER NOT NULL
    );
    """,
]


class Database:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.conn.row_factory = sqlite3.Row
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=FULL")
        self.conn.execute("PRAGMA foreign_keys=ON")
        self.migrate()

    @property
    def version(self) -> int:
        return int(self.conn.execute("PRAGMA user_version").fetchone()[0])

    def migrate(self) -> None:
        while self.version < len(MIGRATIONS):
            target = self.version + 1
            with self.transaction() as conn:
                for statement in MIGRATIONS[target - 1].split(";"):
                    if statement.strip():
                        conn.execute(statement)
                conn.execute(f"PRAGMA user_version={target}")

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE ... COMMIT, rolled back on any exception."""
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    def close(self) -> None:
        self.conn.close()
