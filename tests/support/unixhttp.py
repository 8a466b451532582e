"""Minimal HTTP/1.1 client over a unix socket, standard library only.

Tests use it to talk to an engine below any client library: to wait for
``/_ping``, and to send requests that no well-behaved client would (bad
JSON, truncated bodies) and read the exact status, headers and body.
"""

from __future__ import annotations

import http.client
import json
import socket
from dataclasses import dataclass, field
from typing import Any


class UnixHTTPConnection(http.client.HTTPConnection):
    """``http.client`` connection whose transport is a unix socket."""

    def __init__(self, path: str, timeout: float = 30.0) -> None:
        super().__init__("localhost", timeout=timeout)
        self._unix_path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self._unix_path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


@dataclass
class Response:
    status: int
    reason: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


def request(
    socket_path: str,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 30.0,
) -> Response:
    """Send one request and read the whole response (chunked or not).

    Header names in the result are lower-cased; repeated headers are joined
    with ", " as HTTP allows.
    """
    conn = UnixHTTPConnection(socket_path, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        data = resp.read()
        hdrs: dict[str, str] = {}
        for name, value in resp.getheaders():
            key = name.lower()
            hdrs[key] = f"{hdrs[key]}, {value}" if key in hdrs else value
        return Response(resp.status, resp.reason, hdrs, data)
    finally:
        conn.close()


def ping(socket_path: str, timeout: float = 2.0) -> bool:
    """True when ``GET /_ping`` answers 200 with body ``OK``."""
    try:
        resp = request(socket_path, "GET", "/_ping", timeout=timeout)
    except (OSError, http.client.HTTPException):
        return False
    return resp.status == 200 and resp.body == b"OK"
