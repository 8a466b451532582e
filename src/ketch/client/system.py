"""System endpoints of the Engine API: ping, version, info, disk usage, events."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

from ketch.client.client import encode_filters

TYPE_CHECKING = False  # typing is not imported at run time: it costs startup time
if TYPE_CHECKING:
    from typing import Any

    from ketch.client.client import Client


class SystemAPI:
    def __init__(self, client: Client) -> None:
        self.client = client

    def ping(self) -> Mapping[str, str]:
        """Headers of ``/_ping`` (``Api-Version``, ``Ostype``, ...)."""
        return self.client.ping_headers()

    def version(self) -> dict[str, Any]:
        """``GET /version``."""
        result: dict[str, Any] = self.client.get_json("/version")
        return result

    def info(self) -> dict[str, Any]:
        """``GET /info``."""
        result: dict[str, Any] = self.client.get_json("/info")
        return result

    def df(self) -> dict[str, Any]:
        """``GET /system/df``: images, containers, volumes and build cache usage."""
        result: dict[str, Any] = self.client.get_json("/system/df")
        return result

    def events(self, *, since: str | None = None, until: str | None = None,
               filters: Mapping[str, Sequence[str]] | None = None,
               ) -> Iterator[dict[str, Any]]:
        """``GET /events``: yields events as they happen; ends at ``until`` if given.

        ``since``/``until`` are already in the daemon's form (unix seconds, optionally
        with a ``.nanoseconds`` part); see ``ketch.cli.timestamps`` for the user forms.
        """
        params = {"since": since, "until": until, "filters": encode_filters(filters)}
        resp = self.client.request("GET", "/events", params=params)
        return resp.iter_json()

    def login(self, auth: Mapping[str, str]) -> dict[str, Any]:
        """``POST /auth``: the daemon checks the credentials against the registry.

        Answers ``{"Status": "Login Succeeded", "IdentityToken": ...}``; wrong
        credentials raise ``Unauthorized`` with the daemon's message.
        """
        result: dict[str, Any] = self.client.post_json("/auth", body=dict(auth)) or {}
        return result
