"""Query parameters, parsed and validated the way the Engine API defines them.

Every parser names the parameter in its error, so a client learns which
field was wrong (``400 invalid value for "force": ...``).
"""

from __future__ import annotations

import json

from aiohttp import web

from ketch.errors import InvalidArgument

_FALSE = frozenset({"", "0", "no", "false", "none"})


def query_bool(request: web.Request, name: str, default: bool = False) -> bool:
    """Docker's rule: "", 0, no, false, none (any case) are false, anything else true."""
    value = request.query.get(name)
    if value is None:
        return default
    return value.strip().lower() not in _FALSE


def query_str(request: web.Request, name: str, default: str = "") -> str:
    return request.query.get(name, default)


def query_list(request: web.Request, name: str) -> list[str]:
    return [v for v in request.query.getall(name, []) if v != ""]


def query_int(request: web.Request, name: str, default: int | None = None) -> int | None:
    value = request.query.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise InvalidArgument(f'invalid value for "{name}": {value!r} is not an integer') from None


def query_filters(request: web.Request, name: str = "filters") -> dict[str, list[str]]:
    """``filters`` as the Go CLI sends them (``{"k":{"v":true}}``) or docker-py
    (``{"k":["v"]}``); the result maps each key to its values."""
    raw = request.query.get(name)
    if not raw:
        return {}
    try:
        decoded = json.loads(raw)
    except ValueError as exc:
        raise InvalidArgument(f"invalid filters: {exc}") from None
    if not isinstance(decoded, dict):
        raise InvalidArgument("invalid filters: expected a JSON object")
    result: dict[str, list[str]] = {}
    for key, value in decoded.items():
        if isinstance(value, dict):
            result[key] = [str(k) for k, enabled in value.items() if enabled]
        elif isinstance(value, list):
            result[key] = [_filter_value(v) for v in value]
        elif isinstance(value, str | bool | int):
            result[key] = [_filter_value(value)]
        else:
            raise InvalidArgument(f"invalid filters: bad value for {key!r}")
    return result


def _filter_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int):
        return str(value)
    raise InvalidArgument(f"invalid filters: bad value {value!r}")
