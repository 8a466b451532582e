"""How errors are worded, shared by the entry point and the commands that collect
errors before printing them (rmi, inspect, info)."""

from __future__ import annotations

from ketch.errors import KetchError


def daemon_error_text(exc: KetchError) -> str:
    """The Docker CLI's wording: answers from the daemon get "Error response from daemon: ";
    failures of the connection or inside a stream are printed as they are."""
    from ketch.client.errors import (
        ConnectionFailed,
        LocalError,
        ProtocolError,
        StreamError,
        UnsupportedHost,
        UpgradeFailed,
    )

    if isinstance(exc, ConnectionFailed | StreamError | ProtocolError | UnsupportedHost
                  | LocalError | UpgradeFailed):
        return str(exc)
    return f"Error response from daemon: {exc}"
