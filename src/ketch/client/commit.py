"""Endpoints that read a container's filesystem: commit, changes (diff), export.

They send what Docker's Go client (28) sends: ``/commit`` with every
string parameter present even when empty, ``changes`` repeated, ``pause=0``
only to turn pausing off, and no body unless a config is given; export
streams the tar to the file object it is given.
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping, Sequence

from ketch.client.containers import check_id

TYPE_CHECKING = False  # typing is not imported at run time: it costs startup time
if TYPE_CHECKING:
    from typing import IO, Any

    from ketch.client.client import Client


class CommitAPI:
    def __init__(self, client: Client) -> None:
        self.client = client

    def commit(self, container: str, *, repo: str = "", tag: str = "", comment: str = "",
               author: str = "", changes: Sequence[str] = (), pause: bool = True,
               config: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """``POST /commit``: ``{"Id": "sha256:..."}``. *repo* is the full repository
        name (``docker.io/library/x``), already validated by the caller."""
        params: dict[str, str | Sequence[str] | None] = {
            "container": check_id(container), "repo": repo, "tag": tag, "comment": comment,
            "author": author, "changes": list(changes) or None,
            "pause": None if pause else "0",
        }
        result: dict[str, Any] = self.client.post_json(
            "/commit", params, dict(config) if config is not None else None) or {}
        return result

    def changes(self, container: str) -> builtins.list[dict[str, Any]]:
        """``GET /containers/{id}/changes``: ``[{"Path": ..., "Kind": 0|1|2}]``."""
        return list(self.client.get_json(f"/containers/{check_id(container)}/changes") or [])

    def export(self, container: str, out: IO[bytes]) -> int:
        """``GET /containers/{id}/export`` copied to *out*; returns the byte count."""
        return self.client.download("GET", f"/containers/{check_id(container)}/export", out)
