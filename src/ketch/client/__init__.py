"""Engine API client for the ``ketch`` CLI (standard library only, to start fast).

``Client(host)`` talks HTTP/1.1 over the daemon's unix socket; ``client.images``,
``client.containers`` and ``client.system`` hold the endpoint methods. Daemon errors
are raised as the kinds of ``ketch.errors``; see ``ketch.client.errors`` for the others.
"""

from ketch.client.client import MAX_API_VERSION, Client, encode_filters
from ketch.client.errors import (
    ConnectionFailed,
    LocalError,
    ProtocolError,
    StreamError,
    UnsupportedHost,
    UpgradeFailed,
)
from ketch.client.transport import DEFAULT_HOST, HOST_ENV

__all__ = [
    "DEFAULT_HOST",
    "HOST_ENV",
    "MAX_API_VERSION",
    "Client",
    "ConnectionFailed",
    "LocalError",
    "ProtocolError",
    "StreamError",
    "UnsupportedHost",
    "UpgradeFailed",
    "encode_filters",
]
