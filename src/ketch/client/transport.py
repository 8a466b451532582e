"""HTTP/1.1 over the daemon's unix socket, with the standard library only.

The CLI must start fast, so the client uses ``http.client`` with a socket
subclass rather than an async HTTP library. One connection serves one
request: the socket is local, connecting is cheap, and streaming responses
(events, save) hold their connection anyway.
"""

from __future__ import annotations

import errno
import http.client
import os
import socket

from ketch.client.errors import ConnectionFailed, UnsupportedHost

DEFAULT_HOST = "unix:///run/ketch.sock"
HOST_ENV = "KETCH_HOST"

#: Bytes per read/write when streaming bodies (save, load, import).
BLOCK_SIZE = 1 << 20


def resolve_host(host: str | None) -> str:
    """The daemon address: ``-H`` if given, else ``$KETCH_HOST``, else the default socket."""
    return host or os.environ.get(HOST_ENV) or DEFAULT_HOST


def socket_path(host: str) -> str:
    """The filesystem path of a ``unix://`` host; other schemes are not supported yet."""
    if host.startswith("unix://"):
        path = host[len("unix://"):]
        return path or DEFAULT_HOST[len("unix://"):]
    if host.startswith("/"):
        return host
    if host.startswith(("tcp://", "http://", "https://")):
        raise UnsupportedHost(f"{host}: tcp:// hosts are not supported yet; use a unix:// socket")
    scheme = host.split("://", 1)[0] if "://" in host else host
    raise UnsupportedHost(f'unable to parse docker host `{host}`: unsupported scheme "{scheme}"')


class UnixHTTPConnection(http.client.HTTPConnection):
    """An HTTPConnection whose transport is a unix stream socket."""

    def __init__(self, path: str, host_url: str, timeout: float | None = None) -> None:
        super().__init__("localhost", timeout=timeout, blocksize=BLOCK_SIZE)
        self.socket_path = path
        self.host_url = host_url

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            if self.timeout is not None:
                sock.settimeout(self.timeout)
            sock.connect(self.socket_path)
        except OSError as exc:
            sock.close()
            raise connection_error(self.host_url, exc) from None
        self.sock = sock


def connection_error(host: str, exc: OSError) -> ConnectionFailed:
    """The message docker prints for an unreachable daemon, with ketch's names."""
    if exc.errno in (errno.EACCES, errno.EPERM):
        return ConnectionFailed(
            f"permission denied while trying to connect to the ketch daemon socket at {host}: "
            f"{exc.strerror or exc}"
        )
    return ConnectionFailed(
        f"Cannot connect to the ketch daemon at {host}. Is the ketch daemon running?"
    )
