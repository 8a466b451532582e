"""A recording proxy between a CLI and an engine's unix socket.

Comparing what ``docker`` and ``ketch`` *send* catches differences that the
output alone may hide (a flag that changes the create body, a wait asked
after the start instead of before). The proxy forwards bytes both ways
unchanged and parses the client's side into requests: method, path, headers
and body. After an upgrade request (attach, exec start) the connection
carries raw stream bytes, which are not parsed.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit


@dataclass
class Request:
    method: str
    target: str
    headers: dict[str, str]
    body: bytes
    when: float = field(default_factory=time.monotonic)

    @property
    def path(self) -> str:
        """The path without the ``/v1.xx`` prefix."""
        path = urlsplit(self.target).path
        parts = path.split("/", 2)
        if len(parts) > 2 and parts[1].startswith("v1."):
            return "/" + parts[2]
        return path

    @property
    def query(self) -> dict[str, str]:
        return dict(parse_qsl(urlsplit(self.target).query, keep_blank_values=True))

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None

    @property
    def upgrade(self) -> bool:
        return self.headers.get("upgrade", "").lower() == "tcp"


class RecordingProxy:
    """Listens on ``path`` and forwards every connection to ``target`` (a socket path)."""

    def __init__(self, path: Path, target: str) -> None:
        self.path = path
        self.target = target
        self.requests: list[Request] = []
        self._lock = threading.Lock()
        self._server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._server.bind(str(path))
        self._server.listen(32)
        self._open: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def host(self) -> str:
        return f"unix://{self.path}"

    def clear(self) -> None:
        with self._lock:
            self.requests.clear()

    def taken(self) -> list[Request]:
        """The requests recorded so far (and forget them)."""
        with self._lock:
            out, self.requests = self.requests, []
        return out

    def close(self) -> None:
        self._server.close()
        for sock in list(self._open):
            with contextlib.suppress(OSError):
                sock.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            upstream.connect(self.target)
            self._open += [client, upstream]
            threading.Thread(target=self._client_side, args=(client, upstream),
                             daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        while True:
            try:
                data = src.recv(65536)
            except OSError:
                data = b""
            if not data:
                with contextlib.suppress(OSError):
                    dst.shutdown(socket.SHUT_WR)
                return
            try:
                dst.sendall(data)
            except OSError:
                return

    def _client_side(self, client: socket.socket, upstream: socket.socket) -> None:
        buf = b""
        raw = False
        while True:
            try:
                data = client.recv(65536)
            except OSError:
                data = b""
            if not data:
                with contextlib.suppress(OSError):
                    upstream.shutdown(socket.SHUT_WR)
                return
            try:
                upstream.sendall(data)
            except OSError:
                return
            if raw:
                continue
            buf += data
            while not raw:
                head_end = buf.find(b"\r\n\r\n")
                if head_end < 0:
                    break
                lines = buf[:head_end].decode("latin-1").split("\r\n")
                method, target, _ = lines[0].split(" ", 2)
                headers = {}
                for line in lines[1:]:
                    key, _, value = line.partition(":")
                    headers[key.strip().lower()] = value.strip()
                length = int(headers.get("content-length") or 0)
                if len(buf) < head_end + 4 + length:
                    break
                body = buf[head_end + 4:head_end + 4 + length]
                buf = buf[head_end + 4 + length:]
                request = Request(method, target, headers, body)
                with self._lock:
                    self.requests.append(request)
                raw = request.upgrade
