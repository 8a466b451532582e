"""Sizes written as people write them: go-units ``RAMInBytes`` (``512m``, ``1.5g``).

One parser for every place Docker accepts such a size (``--memory``,
``--shm-size``, ``volume create -o size=``, daemon settings), with go-units'
error messages, which users see verbatim in Docker.
"""

from __future__ import annotations

import re

_RAM_UNITS = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}


def ram_in_bytes(value: str) -> int:
    """go-units ``RAMInBytes``: ``512m``, ``1.5g``, ``10KiB`` (binary multiples), with its
    error messages."""
    sep = max(value.rfind(c) for c in "0123456789. ")
    if sep == -1:
        raise ValueError(f"invalid size: '{value}'")
    if value[sep] != " ":
        number, suffix = value[:sep + 1], value[sep + 1:]
    else:
        number, suffix = value[:sep], value[sep + 1:]
    if not re.fullmatch(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?", number):
        raise ValueError(f'strconv.ParseFloat: parsing "{number}": invalid syntax')
    size = float(number)
    if size < 0:
        raise ValueError(f"invalid size: '{value}'")
    if not suffix:
        return int(size)
    lowered = suffix.lower()
    if len(suffix) > 3:
        raise ValueError(f"invalid suffix: '{suffix}'")
    if lowered[0] == "b":
        if len(lowered) > 1:
            raise ValueError(f"invalid suffix: '{lowered}'")
        return int(size)
    multiplier = _RAM_UNITS.get(lowered[0])
    if multiplier is None or (len(lowered) == 2 and lowered[1] != "b") or (
            len(lowered) == 3 and lowered[1:] != "ib"):
        raise ValueError(f"invalid suffix: '{lowered}'")
    return int(size * multiplier)


__all__ = ["ram_in_bytes"]
