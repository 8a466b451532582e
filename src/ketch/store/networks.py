"""Typed accessors for the ``networks`` and ``endpoints`` tables.

Both hold the object's JSON (``ketch.networks.model``); the columns beside it
are what lookups and constraints need: a network's unique name, and one
endpoint per (network, container).
"""

from __future__ import annotations

import msgspec

from ketch.networks.model import Endpoint, Network
from ketch.store.db import Database

_encoder = msgspec.json.Encoder()
_network = msgspec.json.Decoder(Network)
_endpoint = msgspec.json.Decoder(Endpoint)


class NetworkTable:
    def __init__(self, db: Database) -> None:
        self.db = db

    # -- networks ------------------------------------------------------------

    def get(self, network_id: str) -> Network | None:
        row = self.db.conn.execute(
            "SELECT record FROM networks WHERE id = ?", (network_id,)).fetchone()
        return _network.decode(row[0]) if row else None

    def by_name(self, name: str) -> Network | None:
        row = self.db.conn.execute(
            "SELECT record FROM networks WHERE name = ?", (name,)).fetchone()
        return _network.decode(row[0]) if row else None

    def all(self) -> list[Network]:
        rows = self.db.conn.execute("SELECT record FROM networks ORDER BY created_ns, name")
        return [_network.decode(r[0]) for r in rows]

    def save(self, network: Network) -> None:
        with self.db.transaction() as conn:
            conn.execute(
                "INSERT INTO networks (id, name, created_ns, record) VALUES (?, ?, ?, ?)"
                " ON CONFLICT(id) DO UPDATE SET name = excluded.name, record = excluded.record",
                (network.id, network.name, network.created_ns, _encoder.encode(network)))

    def delete(self, network_id: str) -> None:
        """Remove a network; refused by the caller while endpoints remain."""
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM endpoints WHERE network_id = ?", (network_id,))
            conn.execute("DELETE FROM networks WHERE id = ?", (network_id,))

    # -- endpoints -----------------------------------------------------------

    def endpoint(self, network_id: str, container_id: str) -> Endpoint | None:
        row = self.db.conn.execute(
            "SELECT record FROM endpoints WHERE network_id = ? AND container_id = ?",
            (network_id, container_id)).fetchone()
        return _endpoint.decode(row[0]) if row else None

    def endpoints_of_network(self, network_id: str) -> list[Endpoint]:
        rows = self.db.conn.execute(
            "SELECT record FROM endpoints WHERE network_id = ? ORDER BY rowid", (network_id,))
        return [_endpoint.decode(r[0]) for r in rows]

    def endpoints_of_container(self, container_id: str) -> list[Endpoint]:
        rows = self.db.conn.execute(
            "SELECT record FROM endpoints WHERE container_id = ? ORDER BY rowid",
            (container_id,))
        return [_endpoint.decode(r[0]) for r in rows]

    def all_endpoints(self) -> list[Endpoint]:
        rows = self.db.conn.execute("SELECT record FROM endpoints ORDER BY rowid")
        return [_endpoint.decode(r[0]) for r in rows]

    def save_endpoint(self, endpoint: Endpoint) -> None:
        with self.db.transaction() as conn:
            conn.execute(
                "INSERT INTO endpoints (network_id, container_id, record) VALUES (?, ?, ?)"
                " ON CONFLICT(network_id, container_id) DO UPDATE SET record = excluded.record",
                (endpoint.network_id, endpoint.container_id, _encoder.encode(endpoint)))

    def delete_endpoint(self, network_id: str, container_id: str) -> None:
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM endpoints WHERE network_id = ? AND container_id = ?",
                         (network_id, container_id))
