"""Errors the client raises besides the engine's own kinds.

Daemon error responses become the kinds of ``ketch.errors`` (via
``error_for_status``), so callers can catch ``NotFound`` whatever the transport.
The classes here cover what is not a daemon answer: the daemon cannot be
reached, a streamed operation reported a failure mid-stream, or the response
made no sense. The CLI prints these messages as they are, without docker's
"Error response from daemon:" prefix, as the Docker CLI does.
"""

from __future__ import annotations

from ketch.errors import KetchError, Unavailable


class ConnectionFailed(Unavailable):
    """The daemon's socket is missing, refuses connections, or is not ours to open."""


class StreamError(KetchError):
    """An ``errorDetail``/``error`` item inside a JSON message stream (load, import, pull)."""

    def __init__(self, message: str, code: int = 0) -> None:
        super().__init__(message)
        self.code = code


class ProtocolError(KetchError):
    """The daemon answered something that is not valid HTTP or JSON for the request."""


class UnsupportedHost(KetchError):
    """A ``-H`` / ``KETCH_HOST`` value this client cannot dial (for now: anything but unix)."""


class LocalError(KetchError):
    """A mistake the client finds before asking the daemon (an empty container name,
    a bad ``--since`` value); printed as it is, as docker prints its client-side errors."""


class UpgradeFailed(KetchError):
    """The daemon would not switch a request to a raw stream (attach, exec start)."""
