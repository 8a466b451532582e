"""User time values (``--since``/``--until``) into the daemon's unix-seconds form.

Docker accepts Go durations (``10m``, ``1h30m``: relative to now), RFC 3339
dates and times with or without zone (no zone: local time), plain dates, and
unix timestamps (``1700000000`` or ``1700000000.123``); the client converts
before sending. This mirrors that conversion and its error messages.
"""

from __future__ import annotations

import re
import time
from datetime import datetime, timedelta, timezone

_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_UNIT_SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0,
                 "m": 60.0, "h": 3600.0}


def parse_go_duration(text: str) -> float | None:
    """Go's ``time.ParseDuration`` in seconds, or None if ``text`` is not a duration."""
    if not text:
        return None
    sign = 1.0
    body = text
    if body[0] in "+-":
        sign = -1.0 if body[0] == "-" else 1.0
        body = body[1:]
    if body == "0":
        return 0.0
    if not body:
        return None
    pos = 0
    total = 0.0
    while pos < len(body):
        match = _DURATION_PART.match(body, pos)
        if match is None:
            return None
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        pos = match.end()
    return sign * total


def _local_zone() -> timezone:
    return timezone(timedelta(seconds=time.localtime().tm_gmtoff or 0))


_UNIX_RE = re.compile(r"^\d+(\.\d+)?$")


def get_timestamp(value: str, now: float | None = None) -> str:
    """Docker's ``timetypes.GetTimestamp``; raises ValueError with docker's message."""
    reference = time.time() if now is None else now
    if value != "0":
        duration = parse_go_duration(value)
        if duration is not None:
            return str(int(reference - duration))
    in_location = not any(c in value for c in "zZ+") and value.count("-") != 3
    try:
        parsed = _parse_time(value, in_location)
    except _RangeError as exc:
        raise ValueError(f'parsing time "{value}": {exc}') from None
    if parsed is None:
        if "-" in value:
            raise ValueError(f'parsing time "{value}": cannot parse as a time')
        if not _UNIX_RE.match(value):
            raise ValueError(f'failed to parse value as time or duration: "{value}"')
        return value
    seconds = int(parsed.timestamp() // 1)
    nanos = parsed.microsecond * 1000
    return f"{seconds}.{nanos:09d}"


class _RangeError(ValueError):
    """A well-formed time with a field out of range (Go: "month out of range")."""


_RANGE_WORDS = (("month", "month"), ("day", "day"), ("hour", "hour"), ("minute", "minute"),
                ("second", "second"))


def _parse_time(value: str, in_location: bool) -> datetime | None:
    text = value.replace("z", "Z")
    if "T" not in text and ":" not in text:
        # A plain date: 2006-01-02 (local) or 2006-01-02Z07:00.
        m = re.match(r"^(\d{4}-\d{2}-\d{2})(Z|[+-]\d{2}:\d{2})?$", text)
        if m is None:
            return None
        text = m.group(1) + "T00:00:00" + (m.group(2) or "")
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        message = str(exc)
        if re.match(r"^\d{4}-\d{2}-\d{2}", text):
            for word, go_word in _RANGE_WORDS:
                if message.startswith(word):
                    raise _RangeError(f"{go_word} out of range") from None
        return None
    if parsed.tzinfo is None:
        if not in_location:
            return None
        parsed = parsed.replace(tzinfo=_local_zone())
    return parsed
