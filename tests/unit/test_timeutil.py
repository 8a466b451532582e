from __future__ import annotations

import pytest

from ketch.errors import InvalidArgument
from ketch.timeutil import format_ns, parse_rfc3339_ns, parse_timestamp


def test_rfc3339_round_trip() -> None:
    ns = 1_700_000_000_123_456_789
    text = format_ns(ns)
    assert text == "2023-11-14T22:13:20.123456789Z"
    assert parse_rfc3339_ns(text) == ns


def test_whole_seconds_have_no_fraction() -> None:
    assert format_ns(1_700_000_000 * 10**9) == "2023-11-14T22:13:20Z"


@pytest.mark.parametrize("value, expected", [
    ("1700000000", 1_700_000_000),
    ("1700000000.5", 1_700_000_000),
    ("2023-11-14T22:13:20Z", 1_700_000_000),
    ("2023-11-14T23:13:20+01:00", 1_700_000_000),
    ("2023-11-14", 1_699_920_000),
])
def test_timestamps(value: str, expected: int) -> None:
    assert parse_timestamp(value) == expected


def test_durations_are_relative_to_now() -> None:
    assert parse_timestamp("10m", now=10_000) == 9_400
    assert parse_timestamp("1h30m", now=10_000) == 10_000 - 5_400


def test_garbage() -> None:
    with pytest.raises(InvalidArgument):
        parse_timestamp("yesterday-ish")
