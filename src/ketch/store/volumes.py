"""Typed accessors for the volumes table (``record`` is the VolumeRecord's JSON)."""

from __future__ import annotations

import msgspec

from ketch.store.db import Database
from ketch.volumes.model import VolumeRecord

_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(VolumeRecord)


class VolumeTable:
    def __init__(self, db: Database) -> None:
        self.db = db

    def get(self, name: str) -> VolumeRecord | None:
        row = self.db.conn.execute(
            "SELECT record FROM volumes WHERE name = ?", (name,)).fetchone()
        return _decoder.decode(row[0]) if row else None

    def all(self) -> list[VolumeRecord]:
        rows = self.db.conn.execute("SELECT record FROM volumes ORDER BY created_ns, name")
        return [_decoder.decode(r[0]) for r in rows]

    def names(self) -> list[str]:
        return [r[0] for r in self.db.conn.execute("SELECT name FROM volumes ORDER BY name")]

    def insert(self, volume: VolumeRecord) -> bool:
        """Add a new volume; False (and nothing written) if the name is taken."""
        with self.db.transaction() as conn:
            cur = conn.execute(
                "INSERT INTO volumes (name, driver, anonymous, created_ns, record)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT(name) DO NOTHING",
                (volume.name, volume.driver, int(volume.anonymous), volume.created_ns,
                 _encoder.encode(volume)),
            )
            return cur.rowcount == 1

    def save(self, volume: VolumeRecord) -> None:
        """Insert or replace; callers serialise writes to one volume."""
        with self.db.transaction() as conn:
            conn.execute(
                "INSERT INTO volumes (name, driver, anonymous, created_ns, record)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT(name) DO UPDATE SET"
                " driver = excluded.driver, anonymous = excluded.anonymous,"
                " record = excluded.record",
                (volume.name, volume.driver, int(volume.anonymous), volume.created_ns,
                 _encoder.encode(volume)),
            )

    def delete(self, name: str) -> None:
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM volumes WHERE name = ?", (name,))
