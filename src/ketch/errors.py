"""The engine's error kinds, defined once.

Services raise these with a message that is already what a Docker user
would read (``No such image: busybox:latest``). ``ketch.api.errors`` maps
each kind to an HTTP status in one place, and ``ketch.client`` maps statuses
back to these kinds, so the CLI and the daemon agree on what went wrong.
"""

from __future__ import annotations


class KetchError(Exception):
    """Base of every error the engine reports to a client."""

    #: HTTP status the API answers with; the mapping lives here so that the
    #: client can invert it without importing the API layer.
    status: int = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidArgument(KetchError):
    """The request is malformed: a bad field, parameter or archive."""

    status = 400


class Unauthorized(KetchError):
    status = 401


class Forbidden(KetchError):
    status = 403


class NotFound(KetchError):
    """The object named by the request does not exist."""

    status = 404


class Conflict(KetchError):
    """The request contradicts the current state (name in use, image in use)."""

    status = 409


class NotModified(KetchError):
    """Nothing to do: the object is already in the requested state."""

    status = 304


class Unavailable(KetchError):
    status = 503


class InternalError(KetchError):
    """An internal failure; the message still says what failed."""

    status = 500


_BY_STATUS: dict[int, type[KetchError]] = {
    cls.status: cls
    for cls in (InvalidArgument, Unauthorized, Forbidden, NotFound, Conflict, NotModified,
                Unavailable, InternalError)
}


def error_for_status(status: int, message: str) -> KetchError:
    """The error kind a client should raise for an HTTP error status."""
    return _BY_STATUS.get(status, KetchError)(message)
