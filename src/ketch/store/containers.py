"""Typed accessors for the containers table."""

from __future__ import annotations

import msgspec

from ketch.containers.model import Container
from ketch.store.db import Database

_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(Container)


class ContainerTable:
    def __init__(self, db: Database) -> None:
        self.db = db

    def get(self, container_id: str) -> Container | None:
        row = self.db.conn.execute(
            "SELECT record FROM containers WHERE id = ?", (container_id,)).fetchone()
        return _decoder.decode(row[0]) if row else None

    def by_name(self, name: str) -> Container | None:
        row = self.db.conn.execute(
            "SELECT record FROM containers WHERE name = ?", (name,)).fetchone()
        return _decoder.decode(row[0]) if row else None

    def ids_with_prefix(self, prefix: str) -> list[str]:
        rows = self.db.conn.execute(
            "SELECT id FROM containers WHERE substr(id, 1, ?) = ?", (len(prefix), prefix))
        return [r[0] for r in rows]

    def all(self) -> list[Container]:
        rows = self.db.conn.execute("SELECT record FROM containers ORDER BY created_ns")
        return [_decoder.decode(r[0]) for r in rows]

    def using_image(self, image_id: str) -> list[Container]:
        rows = self.db.conn.execute(
            "SELECT record FROM containers WHERE image_id = ?", (image_id,))
        return [_decoder.decode(r[0]) for r in rows]

    def save(self, container: Container) -> None:
        """Insert or replace; callers serialise writes to one container."""
        with self.db.transaction() as conn:
            conn.execute(
                "INSERT INTO containers (id, name, image_id, created_ns, record)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET"
                " name = excluded.name, record = excluded.record",
                (container.id, container.name, container.image_id, container.created_ns,
                 _encoder.encode(container)),
            )

    def delete(self, container_id: str) -> None:
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM containers WHERE id = ?", (container_id,))
