"""Request bodies decoded as Go's ``encoding/json`` fills Docker's structs.

Go leaves a field at its zero value when the JSON says ``null``; msgspec
refuses ``null`` for a field typed ``int`` or ``str``. Real clients send
such nulls (docker-compose 1.29 sends ``"Timeout": null`` in a
healthcheck), so a body that fails validation and contains a null is
decoded again with every null object member dropped: the field then takes
its default, which is the zero value Docker would have used.
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar

import msgspec
from aiohttp import web

from ketch.errors import InvalidArgument

T = TypeVar("T")


class GoDecoder(Generic[T]):
    """``decode(body)`` into ``T``; raises msgspec's errors like a Decoder."""

    def __init__(self, type_: type[T]) -> None:
        self._type = type_
        self._decoder = msgspec.json.Decoder(type_)

    def decode(self, body: bytes) -> T:
        try:
            return self._decoder.decode(body)
        except msgspec.ValidationError:
            if b"null" not in body:
                raise
        return msgspec.convert(_without_nulls(msgspec.json.decode(body)), self._type)


async def read_body(request: web.Request, decoder: GoDecoder[T], empty: T, what: str) -> T:
    """The request's JSON body as ``T`` (``empty`` for no body); a 400 naming
    *what* for a body that does not fit, or for one that is not JSON."""
    body = await request.read()
    if not body.strip():
        return empty
    try:
        return decoder.decode(body)
    except msgspec.ValidationError as exc:
        raise InvalidArgument(f"invalid {what}: {exc}") from None
    except msgspec.DecodeError as exc:
        raise InvalidArgument(f"invalid JSON: {exc}") from None


def _without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


__all__ = ["GoDecoder", "read_body"]
