"""Volume endpoints of the Engine API: create, list, inspect, remove, prune.

Methods return the daemon's JSON as plain dicts and send what the Docker Go
client sends (empty fields left out of the create body, ``force=1``).
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping, Sequence

from ketch.client.client import encode_filters

TYPE_CHECKING = False  # typing is not imported at run time: it costs startup time
if TYPE_CHECKING:
    from typing import Any

    from ketch.client.client import Client


class VolumesAPI:
    def __init__(self, client: Client) -> None:
        self.client = client

    def create(self, name: str = "", *, driver: str = "",
               driver_opts: Mapping[str, str] | None = None,
               labels: Mapping[str, str] | None = None,
               cluster_spec: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """``POST /volumes/create``: the new (or existing) volume."""
        body: dict[str, Any] = {}
        if cluster_spec is not None:
            body["ClusterVolumeSpec"] = dict(cluster_spec)
        if driver:
            body["Driver"] = driver
        if driver_opts:
            body["DriverOpts"] = dict(driver_opts)
        if labels:
            body["Labels"] = dict(labels)
        if name:
            body["Name"] = name
        result: dict[str, Any] = self.client.post_json("/volumes/create", body=body) or {}
        return result

    def list(self, filters: Mapping[str, Sequence[str]] | None = None) -> dict[str, Any]:
        """``GET /volumes``: ``{"Volumes": [...], "Warnings": [...] | null}``."""
        result: dict[str, Any] = self.client.get_json(
            "/volumes", {"filters": encode_filters(filters)}) or {}
        return result

    def inspect(self, name: str) -> dict[str, Any]:
        """``GET /volumes/{name}``."""
        result: dict[str, Any] = self.client.get_json(f"/volumes/{name}")
        return result

    def inspect_raw(self, name: str) -> bytes:
        """``GET /volumes/{name}`` as the daemon's JSON bytes."""
        return self.client.get_raw(f"/volumes/{name}")

    def remove(self, name: str, *, force: bool = False) -> None:
        """``DELETE /volumes/{name}``."""
        params = {"force": "1"} if force else None
        self.client.request("DELETE", f"/volumes/{name}", params=params).read()

    def prune(self, filters: Mapping[str, Sequence[str]] | None = None) -> dict[str, Any]:
        """``POST /volumes/prune``: ``{"VolumesDeleted": [...], "SpaceReclaimed": n}``."""
        result: dict[str, Any] = self.client.post_json(
            "/volumes/prune", {"filters": encode_filters(filters)}) or {}
        return result

    def names(self) -> builtins.list[str]:
        """Every volume's name (for completion and tests)."""
        return [v.get("Name", "") for v in self.list().get("Volumes") or []]
