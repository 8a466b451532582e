"""The k8s-file reader and the rotation keeper on files written here, in
conmon's format and with conmon's rename-over replacement."""

from __future__ import annotations

import asyncio
import calendar
import os
import time
from pathlib import Path

import pytest

from ketch.runtime import logrotate
from ketch.runtime.logfile import (
    follow_log,
    hold_path,
    parse_line,
    parse_time,
    read_log,
    remove_logs,
    rotated_path,
)
from ketch.runtime.logrotate import LogKeeper

BASE = calendar.timegm((2024, 3, 1, 12, 0, 0)) * 1_000_000_000


def record(i: int, text: str, stream: str = "stdout", tag: str = "F") -> bytes:
    secs, nanos = divmod(BASE + i * 1_000_000, 1_000_000_000)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs))
    return f"{stamp}.{nanos:09d}+00:00 {stream} {tag} {text}\n".encode()


def replace_like_conmon(path: Path, content: bytes) -> None:
    """What conmon does at --log-size-max: new file, renamed over the log."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(content)
    os.rename(tmp, path)


def test_parse_time_offsets_and_precision() -> None:
    assert parse_time(b"2024-03-01T12:00:00.000000001+00:00") == BASE + 1
    assert parse_time(b"2024-03-01T14:00:00.500000000+02:00") == BASE + 500_000_000
    assert parse_time(b"2024-03-01T07:30:00.000000000-04:30") == BASE
    assert parse_time(b"2024-03-01T12:00:00Z") == BASE
    assert parse_time(b"2024-03-01T12:00:00.25Z") == BASE + 250_000_000
    with pytest.raises(ValueError):
        parse_time(b"yesterday")


def test_parse_line() -> None:
    e = parse_line(record(0, "hello").rstrip(b"\n"))
    assert e is not None and (e.stream, e.data, e.partial) == ("stdout", b"hello\n", False)
    e = parse_line(record(0, "half", "stderr", "P").rstrip(b"\n"))
    assert e is not None and (e.stream, e.data, e.partial) == ("stderr", b"half", True)
    e = parse_line(record(0, "").rstrip(b"\n"))
    assert e is not None and e.data == b"\n"
    e = parse_line(record(0, "with  spaces ").rstrip(b"\n"))
    assert e is not None and e.data == b"with  spaces \n"
    assert parse_line(b"garbage") is None
    assert parse_line(b"2024-03-01T12:00:00Z stdin F x") is None


def test_files_are_read_oldest_first_and_tail_spans_them(tmp_path: Path) -> None:
    log = tmp_path / "ctr.log"
    rotated_path(log, 2).write_bytes(record(0, "a") + record(1, "b"))
    rotated_path(log, 1).write_bytes(record(2, "c") + record(3, "d", tag="P"))
    log.write_bytes(record(4, "e") + record(5, "f"))
    # a torn record at the end (conmon mid-write) is not read yet
    with open(log, "ab") as f:
        f.write(record(6, "g")[:20])
    assert [e.data for e in read_log(log)] == [b"a\n", b"b\n", b"c\n", b"d", b"e\n", b"f\n"]
    assert [e.data for e in read_log(log, tail=2)] == [b"d", b"e\n", b"f\n"]
    assert [e.data for e in read_log(log, tail=4)] == [b"b\n", b"c\n", b"d", b"e\n", b"f\n"]
    assert [e.data for e in read_log(log, since_ns=BASE + 2_000_000)][:2] == [b"c\n", b"d"]
    assert [e.data for e in read_log(log, until_ns=BASE + 1_000_000)] == [b"a\n", b"b\n"]
    remove_logs(log)
    assert os.listdir(tmp_path) == []


def test_unhandled_replacement_is_read_through_hold(tmp_path: Path) -> None:
    """The driver was down when conmon replaced the log: the held file sits
    between the rotated ones and the new log."""
    log = tmp_path / "ctr.log"
    rotated_path(log, 1).write_bytes(record(0, "one"))
    log.write_bytes(record(1, "two"))
    os.link(log, hold_path(log))
    assert [e.data for e in read_log(log)] == [b"one\n", b"two\n"]  # hold == log: once
    replace_like_conmon(log, record(2, "three"))
    assert [e.data for e in read_log(log)] == [b"one\n", b"two\n", b"three\n"]
    logrotate.settle(log, max_files=3)
    assert sorted(os.listdir(tmp_path)) == ["ctr.log", "ctr.log.1", "ctr.log.2"]
    assert [e.data for e in read_log(log)] == [b"one\n", b"two\n", b"three\n"]


async def test_keeper_files_away_each_replacement(tmp_path: Path) -> None:
    log = tmp_path / "ctr.log"
    log.write_bytes(record(0, "r0"))
    keeper = LogKeeper()
    keeper.add(log, max_files=3)
    assert os.stat(hold_path(log)).st_ino == os.stat(log).st_ino
    for i in range(1, 5):
        replace_like_conmon(log, record(i, f"r{i}"))
        await asyncio.sleep(0.05)  # the keeper reacts to inotify
    assert sorted(os.listdir(tmp_path)) == ["ctr.log", "ctr.log.1", "ctr.log.2", "ctr.log.hold"]
    assert [e.data for e in read_log(log)] == [b"r2\n", b"r3\n", b"r4\n"]
    keeper.remove(log)
    assert not hold_path(log).exists()
    keeper.close()


def test_prepare_for_a_new_conmon(tmp_path: Path) -> None:
    log = tmp_path / "ctr.log"
    assert logrotate.prepare(log, 1000, 3) == 1000  # nothing there yet
    log.write_bytes(b"x" * 300)
    assert logrotate.prepare(log, 1000, 3) == 1000
    assert not log.exists() and rotated_path(log, 1).stat().st_size == 300
    log.write_bytes(b"y" * 300)  # a second short run joins the first
    assert logrotate.prepare(log, 1000, 3) == 1000
    assert rotated_path(log, 1).read_bytes() == b"x" * 300 + b"y" * 300
    log.write_bytes(b"z" * 600)  # does not fit: rotated on its own
    logrotate.prepare(log, 1000, 3)
    assert rotated_path(log, 1).read_bytes() == b"z" * 600
    assert rotated_path(log, 2).stat().st_size == 600
    # one file only: conmon gets the room that is left
    single = tmp_path / "single.log"
    single.write_bytes(b"a" * 400)
    assert logrotate.prepare(single, 1000, 1) == 600
    assert logrotate.prepare(single, None, 1) is None


async def test_follow_across_replacements(tmp_path: Path) -> None:
    log = tmp_path / "ctr.log"
    log.write_bytes(record(0, "old"))
    exited = asyncio.Event()
    got: list[bytes] = []

    async def consume() -> None:
        async for e in follow_log(log, exited):
            got.append(e.data)

    task = asyncio.ensure_future(consume())
    await asyncio.sleep(0.05)
    with open(log, "ab") as f:
        f.write(record(1, "appended"))
    await asyncio.sleep(0.05)
    keeper = LogKeeper()
    keeper.add(log, max_files=5)
    # two replacements in a row, faster than the follower looks
    with open(log, "ab") as f:
        f.write(record(2, "before-replace"))
    replace_like_conmon(log, record(3, "second-file"))
    await asyncio.sleep(0.02)
    replace_like_conmon(log, record(4, "third-file"))
    await asyncio.sleep(0.1)
    exited.set()
    await asyncio.wait_for(task, 5)
    assert got == [b"old\n", b"appended\n", b"before-replace\n", b"second-file\n",
                   b"third-file\n"]
    keeper.close()
