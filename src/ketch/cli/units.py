"""Human-readable sizes, durations and times, printed exactly as the Docker CLI prints them.

The Docker CLI formats through the go-units package and Go's ``time`` and ``fmt``
packages; users and scripts compare that text, so these functions reproduce the
same rounding, unit names and layouts rather than Python's defaults.
"""

from __future__ import annotations

import time

from ketch.timeutil import human_duration

_DECIMAL_UNITS = ("B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB")
_BINARY_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB")


def _scale(size: float, base: float, units: tuple[str, ...]) -> tuple[float, str]:
    i = 0
    while size >= base and i < len(units) - 1:
        size /= base
        i += 1
    return size, units[i]


def human_size_with_precision(size: float, precision: int) -> str:
    """Decimal units with ``precision`` significant digits: ``4.27MB``, ``1.24kB``, ``0B``."""
    value, unit = _scale(float(size), 1000.0, _DECIMAL_UNITS)
    return f"{value:.{precision}g}{unit}"


def human_size(size: float) -> str:
    """go-units ``HumanSize``: four significant digits (``1.982MB``)."""
    return human_size_with_precision(size, 4)


def bytes_size(size: float) -> str:
    """go-units ``BytesSize``: binary units, four significant digits (``23.54GiB``)."""
    value, unit = _scale(float(size), 1024.0, _BINARY_UNITS)
    return f"{value:.4g}{unit}"


def since(unix_seconds: float, now: float | None = None) -> str:
    """``<duration> ago`` as in the CREATED columns."""
    current = time.time() if now is None else now
    return human_duration(current - unix_seconds) + " ago"


def _zone_offset(tm: time.struct_time) -> str:
    off = tm.tm_gmtoff or 0
    sign = "+" if off >= 0 else "-"
    off = abs(off)
    return f"{sign}{off // 3600:02d}{off % 3600 // 60:02d}"


def go_time_string(unix_seconds: int, nanos: int = 0) -> str:
    """Go's ``time.Time.String()`` in the local zone: ``2024-01-02 15:04:05 +0000 UTC``."""
    tm = time.localtime(unix_seconds)
    frac = ""
    if nanos:
        frac = ("." + f"{nanos:09d}").rstrip("0")
    return (
        time.strftime("%Y-%m-%d %H:%M:%S", tm) + frac + f" {_zone_offset(tm)} {tm.tm_zone}"
    )


def _rfc3339_zone(tm: time.struct_time) -> str:
    off = tm.tm_gmtoff or 0
    if off == 0:
        return "Z"
    sign = "+" if off > 0 else "-"
    off = abs(off)
    return f"{sign}{off // 3600:02d}:{off % 3600 // 60:02d}"


def rfc3339(unix_seconds: int) -> str:
    """Go's ``time.RFC3339`` layout in the local zone (``2024-01-02T15:04:05Z``)."""
    tm = time.localtime(unix_seconds)
    return time.strftime("%Y-%m-%dT%H:%M:%S", tm) + _rfc3339_zone(tm)


def rfc3339_nano_fixed(unix_nanos: int) -> str:
    """The events timestamp layout ``2006-01-02T15:04:05.000000000Z07:00`` (local zone)."""
    secs, nanos = divmod(unix_nanos, 1_000_000_000)
    tm = time.localtime(secs)
    return time.strftime("%Y-%m-%dT%H:%M:%S", tm) + f".{nanos:09d}" + _rfc3339_zone(tm)


def reformat_date(value: str) -> str:
    """Docker's ``reformatDate``: an RFC 3339 time re-printed in Go's ANSIC layout
    (``Mon Jan  2 15:04:05 2006``) in its own zone; anything unparsable is returned as is."""
    from datetime import datetime

    try:
        dt = datetime.fromisoformat(value)
    except ValueError:
        return value
    return dt.strftime("%a %b ") + f"{dt.day:2d}" + dt.strftime(" %H:%M:%S %Y")
