"""Human sizes, durations and times as go-units and Go's time package print them."""

from __future__ import annotations

import os
import time

import pytest

from ketch.cli import units


@pytest.mark.parametrize(("size", "text"), [
    (0, "0B"),
    (1, "1B"),
    (999, "999B"),
    (1000, "1kB"),
    (1240, "1.24kB"),
    (1245, "1.25kB"),
    (9999, "10kB"),
    (12345, "12.3kB"),
    (999_499, "999kB"),
    (999_999, "1e+03kB"),
    (1_982_291, "1.98MB"),
    (4_270_000, "4.27MB"),
    (23_540_000_000, "23.5GB"),
    (5 * 10**15, "5PB"),
])
def test_human_size_with_precision_3(size: int, text: str) -> None:
    assert units.human_size_with_precision(size, 3) == text


@pytest.mark.parametrize(("size", "text"), [
    (0, "0B"), (1_982_291, "1.982MB"), (1_000, "1kB"), (1_234_567_890, "1.235GB"),
])
def test_human_size(size: int, text: str) -> None:
    assert units.human_size(size) == text


@pytest.mark.parametrize(("size", "text"), [
    (0, "0B"), (1024, "1KiB"), (25_280_000_000, "23.54GiB"), (1536, "1.5KiB"),
])
def test_bytes_size(size: int, text: str) -> None:
    assert units.bytes_size(size) == text


@pytest.mark.parametrize(("seconds", "text"), [
    (0, "Less than a second"),
    (0.999, "Less than a second"),
    (1, "1 second"),
    (59, "59 seconds"),
    (60, "About a minute"),
    (119, "About a minute"),
    (120, "2 minutes"),
    (59 * 60 + 59, "59 minutes"),
    (60 * 60, "About an hour"),
    (90 * 60 - 1, "About an hour"),
    (90 * 60, "2 hours"),
    (47 * 3600 + 1799, "47 hours"),
    (48 * 3600, "2 days"),
    (13 * 86400, "13 days"),
    (14 * 86400, "2 weeks"),
    (59 * 86400, "8 weeks"),
    (60 * 86400, "2 months"),
    (729 * 86400, "24 months"),
    (730 * 86400, "2 years"),
    (6 * 365 * 86400 + 86400, "6 years"),
])
def test_human_duration(seconds: float, text: str) -> None:
    assert units.human_duration(seconds) == text


def test_since_adds_ago() -> None:
    assert units.since(1000, now=1000.5) == "Less than a second ago"
    assert units.since(0, now=3 * 86400) == "3 days ago"


@pytest.fixture
def utc() -> object:
    old = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    yield None
    if old is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = old
    time.tzset()


def test_go_time_layouts_in_utc(utc: object) -> None:
    assert units.go_time_string(1577934245) == "2020-01-02 03:04:05 +0000 UTC"
    assert units.go_time_string(1577934245, 500_000_000) == "2020-01-02 03:04:05.5 +0000 UTC"
    assert units.rfc3339(1577934245) == "2020-01-02T03:04:05Z"
    assert units.rfc3339_nano_fixed(1577934245_000000001) == "2020-01-02T03:04:05.000000001Z"


def test_go_time_layouts_in_another_zone() -> None:
    old = os.environ.get("TZ")
    os.environ["TZ"] = "Asia/Kolkata"
    time.tzset()
    try:
        assert units.rfc3339(1577934245) == "2020-01-02T08:34:05+05:30"
        assert units.go_time_string(1577934245) == "2020-01-02 08:34:05 +0530 IST"
    finally:
        if old is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = old
        time.tzset()


def test_reformat_date() -> None:
    assert units.reformat_date("2026-05-07T21:09:36.000000000+00:00") == "Thu May  7 21:09:36 2026"
    assert units.reformat_date("2025-05-30T12:07:14Z") == "Fri May 30 12:07:14 2025"
    assert units.reformat_date("not a date") == "not a date"
