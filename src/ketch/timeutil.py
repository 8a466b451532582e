"""Time formats of the Engine API: RFC 3339 strings, unix seconds, Go durations."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime

from ketch.errors import InvalidArgument

_FRACTION = re.compile(r"\.(\d+)")
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_UNIT_SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}


def now_rfc3339() -> str:
    """Current UTC time with nanoseconds, as Go's RFC3339Nano prints it."""
    ns = time.time_ns()
    return format_ns(ns)


def format_ns(ns: int) -> str:
    seconds, frac = divmod(ns, 1_000_000_000)
    base = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    fraction = f"{frac:09d}".rstrip("0")
    return f"{base}.{fraction}Z" if fraction else f"{base}Z"


def format_ns_fixed(ns: int) -> str:
    """RFC 3339 with exactly nine fraction digits, as Docker stamps log lines."""
    seconds, frac = divmod(ns, 1_000_000_000)
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S") + f".{frac:09d}Z"


def parse_rfc3339_ns(value: str) -> int:
    """Unix nanoseconds of an RFC 3339 timestamp (any fraction length)."""
    match = _FRACTION.search(value)
    nanos = 0
    trimmed = value
    if match:
        digits = match.group(1)[:9].ljust(9, "0")
        nanos = int(digits)
        trimmed = value[: match.start()] + value[match.end():]
    trimmed = trimmed.replace("Z", "+00:00").replace("z", "+00:00")
    try:
        parsed = datetime.fromisoformat(trimmed)
    except ValueError:
        raise InvalidArgument(f'failed to parse value as time or duration: "{value}"') from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp()) * 1_000_000_000 + nanos


def parse_rfc3339(value: str) -> int:
    try:
        return parse_rfc3339_ns(value) // 1_000_000_000
    except InvalidArgument:
        return 0


def parse_timestamp(value: str, now: float | None = None) -> int:
    """Docker's filter/query timestamps: unix seconds (``123`` or ``123.45``),
    RFC 3339 dates, or a Go duration (``10m``) meaning that long ago."""
    return parse_timestamp_ns(value, now) // 1_000_000_000


def parse_timestamp_ns(value: str, now: float | None = None) -> int:
    value = value.strip()
    if re.fullmatch(r"\d+(\.\d+)?", value):
        seconds, _, frac = value.partition(".")
        return int(seconds) * 1_000_000_000 + int(frac[:9].ljust(9, "0") if frac else 0)
    if _DURATION.fullmatch(value) or re.fullmatch(rf"(?:{_DURATION.pattern})+", value):
        total = sum(float(n) * _UNIT_SECONDS[u] for n, u in _DURATION.findall(value))
        return int(((now if now is not None else time.time()) - total) * 1_000_000_000)
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        value += "T00:00:00Z"
    return parse_rfc3339_ns(value)


def parse_go_duration(value: str) -> int:
    """A Go duration (``30s``, ``1m30s``, ``500ms``) in nanoseconds."""
    if not re.fullmatch(rf"(?:{_DURATION.pattern})+", value):
        raise InvalidArgument(f"time: invalid duration {value!r}")
    return int(sum(float(n) * _UNIT_SECONDS[u] for n, u in _DURATION.findall(value)) * 1e9)


def human_duration(seconds: float) -> str:
    """go-units ``HumanDuration`` of a duration given in seconds ("About an hour")."""
    secs = int(seconds)
    if secs < 1:
        return "Less than a second"
    if secs == 1:
        return "1 second"
    if secs < 60:
        return f"{secs} seconds"
    minutes = int(seconds / 60)
    if minutes == 1:
        return "About a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    hours = int(seconds / 3600 + 0.5)
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    if hours < 24 * 7 * 2:
        return f"{hours // 24} days"
    if hours < 24 * 30 * 2:
        return f"{hours // 24 // 7} weeks"
    if hours < 24 * 365 * 2:
        return f"{hours // 24 // 30} months"
    return f"{int(seconds / 3600) // 24 // 365} years"
