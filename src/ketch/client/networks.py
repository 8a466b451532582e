"""Network endpoints of the Engine API: create, list, inspect, remove, prune,
connect and disconnect.

Methods return the daemon's JSON as plain dicts and send what the Docker Go
client sends for ``docker network ...``.
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping, Sequence

from ketch.client.client import encode_filters

TYPE_CHECKING = False  # typing is not imported at run time: it costs startup time
if TYPE_CHECKING:
    from typing import Any

    from ketch.client.client import Client


class NetworksAPI:
    def __init__(self, client: Client) -> None:
        self.client = client

    def create(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """``POST /networks/create`` with Docker's CreateRequest; ``{"Id","Warning"}``."""
        result: dict[str, Any] = self.client.post_json("/networks/create",
                                                       body=dict(body)) or {}
        return result

    def list(self, filters: Mapping[str, Sequence[str]] | None = None,
             ) -> builtins.list[dict[str, Any]]:
        """``GET /networks``."""
        result: list[dict[str, Any]] = self.client.get_json(
            "/networks", {"filters": encode_filters(filters)}) or []
        return result

    def inspect(self, name: str, *, verbose: bool = False) -> dict[str, Any]:
        result: dict[str, Any] = self.client.get_json(
            f"/networks/{name}", {"verbose": "true"} if verbose else None)
        return result

    def inspect_raw(self, name: str, *, verbose: bool = False) -> bytes:
        """``GET /networks/{name}`` as the daemon's JSON bytes."""
        return self.client.get_raw(f"/networks/{name}",
                                   {"verbose": "true"} if verbose else None)

    def remove(self, name: str) -> None:
        """``DELETE /networks/{name}``."""
        self.client.request("DELETE", f"/networks/{name}").read()

    def prune(self, filters: Mapping[str, Sequence[str]] | None = None) -> dict[str, Any]:
        """``POST /networks/prune``: ``{"NetworksDeleted": [...]}``."""
        result: dict[str, Any] = self.client.post_json(
            "/networks/prune", {"filters": encode_filters(filters)}) or {}
        return result

    def connect(self, network: str, container: str,
                endpoint_config: Mapping[str, Any] | None = None) -> None:
        """``POST /networks/{id}/connect``."""
        body: dict[str, Any] = {"Container": container}
        if endpoint_config is not None:
            body["EndpointConfig"] = dict(endpoint_config)
        self.client.post_json(f"/networks/{network}/connect", body=body)

    def disconnect(self, network: str, container: str, *, force: bool = False) -> None:
        """``POST /networks/{id}/disconnect``."""
        self.client.post_json(f"/networks/{network}/disconnect",
                              body={"Container": container, "Force": force})
