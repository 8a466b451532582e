"""Hijacked connections: an HTTP request that turns into a raw two-way byte stream.

``attach`` and ``exec start`` ask the daemon to upgrade the connection
(``Connection: Upgrade``, ``Upgrade: tcp``); after its ``101 UPGRADED``
answer, the socket carries the process's stdin one way and its output the
other. ``http.client`` has no way to hand the socket over after a 101, so
this module writes the request and reads the status line and headers
itself, keeping any stream bytes that arrived with the headers.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket

from ketch import __version__
from ketch.client.errors import ProtocolError, UpgradeFailed
from ketch.client.transport import connection_error

TYPE_CHECKING = False  # typing is not imported at run time: it costs startup time
if TYPE_CHECKING:
    from typing import Any

    from ketch.client.client import Client, Params

#: Largest response head accepted before the stream starts.
_MAX_HEAD = 64 * 1024


class HijackedStream:
    """The raw stream of an upgraded connection.

    ``recv`` returns the bytes that came with the response headers first;
    ``close_write`` half-closes the socket (stdin EOF) while output keeps
    arriving; ``close`` ends both directions (and wakes a blocked ``recv``).
    """

    def __init__(self, sock: socket.socket, buffered: bytes, content_type: str) -> None:
        self.sock = sock
        self._buffered = buffered
        #: The Content-Type of the 101 answer (multiplexed- or raw-stream).
        self.content_type = content_type
        self._closed = False

    def recv(self, size: int = 65536) -> bytes:
        if self._buffered:
            data, self._buffered = self._buffered, b""
            return data
        try:
            return self.sock.recv(size)
        except OSError:
            if self._closed:
                return b""
            raise

    def sendall(self, data: bytes) -> None:
        self.sock.sendall(data)

    def close_write(self) -> None:
        """Tell the daemon stdin has ended; output may still follow."""
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()


def _read_head(sock: socket.socket) -> tuple[bytes, bytes]:
    """(status line and headers, bytes after them)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            raise ProtocolError("error during connect: connection closed by the daemon")
        data += chunk
        if len(data) > _MAX_HEAD:
            raise ProtocolError("error during connect: response header too long")
    head, _, rest = data.partition(b"\r\n\r\n")
    return head, rest


def hijack(client: Client, path: str, *, params: Params | None = None,
           body: Any = None) -> HijackedStream:
    """``POST path`` with an upgrade request; the stream once the daemon switched."""
    target = client.url(path, params)
    data = b"" if body is None else json.dumps(body, separators=(",", ":")).encode()
    content_type = "application/json" if body is not None else "text/plain"
    request = (
        f"POST {target} HTTP/1.1\r\n"
        f"Host: localhost\r\n"
        f"User-Agent: ketch-client/{__version__} ({os.uname().sysname.lower()})\r\n"
        f"Content-Length: {len(data)}\r\n"
        f"Content-Type: {content_type}\r\n"
        "Connection: Upgrade\r\n"
        "Upgrade: tcp\r\n\r\n"
    ).encode() + data
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(client.socket_path)
    except OSError as exc:
        sock.close()
        raise connection_error(client.host, exc) from None
    try:
        sock.sendall(request)
        head, rest = _read_head(sock)
    except OSError as exc:
        sock.close()
        raise ProtocolError(f"error during connect: {exc}") from None
    except ProtocolError:
        sock.close()
        raise
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    try:
        status = int(parts[1])
    except (IndexError, ValueError):
        sock.close()
        raise ProtocolError(f"malformed HTTP response {lines[0]!r}") from None
    if status != 101:
        sock.close()
        # Docker's client reports only the status here, whatever the body says.
        raise UpgradeFailed(f"unable to upgrade to tcp, received {status}")
    headers = {}
    for line in lines[1:]:
        key, _, value = line.partition(":")
        headers[key.strip().lower()] = value.strip()
    return HijackedStream(sock, rest, headers.get("content-type", ""))
