"""Typed accessors for the images, image_refs and layers tables."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from ketch.store.db import Database


@dataclass(frozen=True)
class ImageRow:
    id: str
    created: str
    size: int
    top_layer: str | None
    parent: str
    added_ns: int


@dataclass(frozen=True)
class RefRow:
    ref: str
    image_id: str
    kind: str  # "tag" or "digest"
    added_ns: int


@dataclass(frozen=True)
class LayerRow:
    chain_id: str
    diff_id: str
    parent: str | None
    size: int


class ImageMetadata:
    """Reads and writes of image metadata. Writes take the connection of an
    open transaction, so that callers group them atomically."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # -- images ---------------------------------------------------------------
    def image(self, image_id: str) -> ImageRow | None:
        row = self.db.conn.execute("SELECT * FROM images WHERE id = ?", (image_id,)).fetchone()
        return ImageRow(**dict(row)) if row else None

    def images(self) -> list[ImageRow]:
        rows = self.db.conn.execute("SELECT * FROM images ORDER BY added_ns").fetchall()
        return [ImageRow(**dict(r)) for r in rows]

    def image_ids_with_prefix(self, prefix: str) -> list[str]:
        """IDs whose hex part starts with ``prefix`` (hex, no algorithm)."""
        rows = self.db.conn.execute(
            "SELECT id FROM images WHERE substr(id, 8, ?) = ?", (len(prefix), prefix)
        ).fetchall()
        return [r[0] for r in rows]

    def children(self, image_id: str) -> list[str]:
        rows = self.db.conn.execute("SELECT id FROM images WHERE parent = ?", (image_id,))
        return [r[0] for r in rows]

    @staticmethod
    def insert_image(conn: sqlite3.Connection, row: ImageRow) -> None:
        conn.execute(
            "INSERT OR IGNORE INTO images (id, created, size, top_layer, parent, added_ns)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (row.id, row.created, row.size, row.top_layer, row.parent, row.added_ns),
        )

    @staticmethod
    def set_parent(conn: sqlite3.Connection, image_id: str, parent: str) -> None:
        conn.execute("UPDATE images SET parent = ? WHERE id = ?", (parent, image_id))

    @staticmethod
    def delete_image(conn: sqlite3.Connection, image_id: str) -> None:
        conn.execute("DELETE FROM images WHERE id = ?", (image_id,))

    # -- references -------------------------------------------------------------
    def refs(self, image_id: str | None = None) -> list[RefRow]:
        if image_id is None:
            rows = self.db.conn.execute("SELECT * FROM image_refs ORDER BY ref").fetchall()
        else:
            rows = self.db.conn.execute(
                "SELECT * FROM image_refs WHERE image_id = ? ORDER BY ref", (image_id,)
            ).fetchall()
        return [RefRow(**dict(r)) for r in rows]

    def resolve_ref(self, ref: str) -> str | None:
        row = self.db.conn.execute(
            "SELECT image_id FROM image_refs WHERE ref = ?", (ref,)
        ).fetchone()
        return str(row[0]) if row else None

    @staticmethod
    def set_ref(conn: sqlite3.Connection, row: RefRow) -> str | None:
        """Point ``row.ref`` at ``row.image_id``; returns the image it pointed at before."""
        previous = conn.execute(
            "SELECT image_id FROM image_refs WHERE ref = ?", (row.ref,)
        ).fetchone()
        conn.execute(
            "INSERT INTO image_refs (ref, image_id, kind, added_ns) VALUES (?, ?, ?, ?)"
            " ON CONFLICT(ref) DO UPDATE SET image_id = excluded.image_id,"
            " added_ns = excluded.added_ns",
            (row.ref, row.image_id, row.kind, row.added_ns),
        )
        return str(previous[0]) if previous and previous[0] != row.image_id else None

    @staticmethod
    def delete_ref(conn: sqlite3.Connection, ref: str) -> None:
        conn.execute("DELETE FROM image_refs WHERE ref = ?", (ref,))

    # -- layers -----------------------------------------------------------------
    def layer(self, chain_id: str) -> LayerRow | None:
        row = self.db.conn.execute(
            "SELECT * FROM layers WHERE chain_id = ?", (chain_id,)
        ).fetchone()
        return LayerRow(**dict(row)) if row else None

    def layers(self) -> list[LayerRow]:
        return [LayerRow(**dict(r)) for r in self.db.conn.execute("SELECT * FROM layers")]

    @staticmethod
    def insert_layer(conn: sqlite3.Connection, row: LayerRow) -> None:
        conn.execute(
            "INSERT OR IGNORE INTO layers (chain_id, diff_id, parent, size) VALUES (?, ?, ?, ?)",
            (row.chain_id, row.diff_id, row.parent, row.size),
        )

    @staticmethod
    def delete_layer(conn: sqlite3.Connection, chain_id: str) -> None:
        conn.execute("DELETE FROM layers WHERE chain_id = ?", (chain_id,))
