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


def _without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


__all__ = ["GoDecoder"]
