"""The registry's error codes, each with its HTTP status, and the one writer.

Handlers never build error bodies: they raise :class:`RegistryError` with a
code from :class:`ErrorCode`; the middleware in ``app.py`` turns it into the
distribution spec's envelope ``{"errors": [{"code", "message", "detail"}]}``
through :func:`error_response`. Keeping status next to code means a code can
never be answered with two different statuses.
"""

from __future__ import annotations

import enum
from typing import Any

import msgspec
from aiohttp import web


class ErrorCode(enum.Enum):
    """Every error the registry answers with: (wire code, HTTP status, message).

    The wire code is always one of the spec's codes (4xx bodies must use
    them); a few cases the spec gives their own status (416 for a chunk out
    of order, 413 for a huge manifest) get their own member so that each
    member still has exactly one status.
    """

    BLOB_UNKNOWN = ("BLOB_UNKNOWN", 404, "blob unknown to registry")
    BLOB_UPLOAD_INVALID = ("BLOB_UPLOAD_INVALID", 400, "blob upload invalid")
    BLOB_UPLOAD_UNKNOWN = ("BLOB_UPLOAD_UNKNOWN", 404, "blob upload unknown to registry")
    DIGEST_INVALID = ("DIGEST_INVALID", 400, "provided digest did not match uploaded content")
    MANIFEST_BLOB_UNKNOWN = ("MANIFEST_BLOB_UNKNOWN", 404,
                             "manifest references a manifest or blob unknown to registry")
    MANIFEST_INVALID = ("MANIFEST_INVALID", 400, "manifest invalid")
    MANIFEST_UNKNOWN = ("MANIFEST_UNKNOWN", 404, "manifest unknown to registry")
    NAME_INVALID = ("NAME_INVALID", 400, "invalid repository name")
    NAME_UNKNOWN = ("NAME_UNKNOWN", 404, "repository name not known to registry")
    SIZE_INVALID = ("SIZE_INVALID", 400, "provided length did not match content length")
    UNAUTHORIZED = ("UNAUTHORIZED", 401, "authentication required")
    DENIED = ("DENIED", 403, "requested access to the resource is denied")
    UNSUPPORTED = ("UNSUPPORTED", 405, "the operation is unsupported")
    TOOMANYREQUESTS = ("TOOMANYREQUESTS", 429, "too many requests")
    # Cases with a status of their own, reported under the closest spec code.
    TAG_INVALID = ("MANIFEST_INVALID", 400, "invalid tag")
    RANGE_INVALID = ("BLOB_UPLOAD_INVALID", 416,
                     "upload chunk is out of order or its range is invalid")
    MANIFEST_TOO_LARGE = ("SIZE_INVALID", 413, "manifest is larger than the registry accepts")
    PAGINATION_NUMBER_INVALID = ("UNSUPPORTED", 400, "invalid number of results requested")
    UNKNOWN = ("UNKNOWN", 500, "unknown error")

    @property
    def wire(self) -> str:
        return self.value[0]

    @property
    def status(self) -> int:
        return self.value[1]

    @property
    def message(self) -> str:
        return self.value[2]


class RegistryError(Exception):
    """Raised by handlers and storage; rendered once by :func:`error_response`."""

    def __init__(
        self,
        code: ErrorCode,
        message: str | None = None,
        detail: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message or code.message)
        self.code = code
        self.message = message or code.message
        self.detail = detail
        self.headers = headers or {}
        self.status = code.status


def error_response(err: RegistryError) -> web.Response:
    """The spec's error envelope with the code's status (aiohttp drops it for HEAD)."""
    entry: dict[str, Any] = {"code": err.code.wire, "message": err.message}
    if err.detail is not None:
        entry["detail"] = err.detail
    body = msgspec.json.encode({"errors": [entry]})
    headers = {"Docker-Distribution-API-Version": "registry/2.0", **err.headers}
    return web.Response(status=err.status, body=body, headers=headers,
                        content_type="application/json")
