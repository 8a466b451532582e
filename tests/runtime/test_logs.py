"""Logs conmon writes (k8s-file): filters, follow, rotation."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from ketch.runtime.base import LogEntry
from ketch.runtime.conmon import ConmonRuntime
from ketch.runtime.logfile import follow_log, read_log, read_log_async, remove_logs
from runtime.helpers import Env


async def _run(rt: ConmonRuntime, env: Env, args: list[str], **kw: object) -> Path:
    opts = env.options(args, **kw)  # type: ignore[arg-type]
    await rt.create(opts)
    await rt.start(opts.container_id)
    await asyncio.wait_for(rt.wait_exit(opts.container_id), 30)
    await rt.delete(opts.container_id)
    return opts.log.path


async def test_since_until_tail_and_partial_lines(env: Env) -> None:
    rt = ConmonRuntime(env.root)
    script = ("for i in 1 2 3 4 5; do echo a$i; done; sleep 0.3; "
              "for i in 1 2 3 4 5; do echo b$i >&2; done; sleep 0.1; "
              "printf abc; sleep 0.2; printf 'def\\n'; echo")
    path = await _run(rt, env, ["sh", "-c", script])
    entries = await read_log_async(path)
    data = [(e.stream, e.data, e.partial) for e in entries]
    assert data[:10] == ([("stdout", b"a%d\n" % i, False) for i in range(1, 6)]
                         + [("stderr", b"b%d\n" % i, False) for i in range(1, 6)])
    assert data[10:] == [("stdout", b"abc", True), ("stdout", b"def\n", False),
                         ("stdout", b"\n", False)]
    times = [e.time_ns for e in entries]
    assert times == sorted(times)
    boundary = entries[5].time_ns
    assert [e.data for e in read_log(path, since_ns=boundary)][:5] == [
        b"b%d\n" % i for i in range(1, 6)]
    assert [e.data for e in read_log(path, until_ns=entries[4].time_ns)] == [
        b"a%d\n" % i for i in range(1, 6)]
    assert [e.data for e in read_log(path, tail=1)] == [b"\n"]
    # a line split in records counts once
    assert [e.data for e in read_log(path, tail=2)] == [b"abc", b"def\n", b"\n"]
    assert [e.data for e in read_log(path, tail=3)] == [b"b5\n", b"abc", b"def\n", b"\n"]
    assert read_log(path, tail=0) == []
    assert len(read_log(path, tail=1000)) == len(entries)
    # records from one read of conmon's share its time
    same = [e.data for e in entries if e.time_ns == boundary]
    assert [e.data for e in read_log(path, since_ns=boundary, until_ns=boundary)] == same
    assert [e.data for e in read_log(path, since_ns=boundary, until_ns=boundary,
                                     tail=1)] == same[-1:]
    remove_logs(path)
    assert not path.exists()
    await rt.close()


async def _follow(path: Path, exited: asyncio.Event, **kw: int) -> list[LogEntry]:
    return [e async for e in follow_log(path, exited, **kw)]


async def test_follow_ends_when_the_container_exits(env: Env) -> None:
    rt = ConmonRuntime(env.root)
    opts = env.options(["sh", "-c", "echo first; for i in $(seq 1 10); do echo l$i; "
                        "sleep 0.05; done; echo last >&2"])
    cid = opts.container_id
    exited = asyncio.Event()
    try:
        await rt.create(opts)
        follower = asyncio.ensure_future(_follow(opts.log.path, exited))
        late = None
        await rt.start(cid)
        await asyncio.sleep(0.2)
        late = asyncio.ensure_future(_follow(opts.log.path, exited, tail=1))
        await rt.wait_exit(cid)
        exited.set()
        entries = await asyncio.wait_for(follower, 10)
        assert [e.data for e in entries] == (
            [b"first\n"] + [b"l%d\n" % i for i in range(1, 11)] + [b"last\n"])
        tail_entries = await asyncio.wait_for(late, 10)
        assert tail_entries[-1].data == b"last\n"
        assert len(tail_entries) < 12
        # after the exit, a follow reads what is there and ends
        again = await asyncio.wait_for(_follow(opts.log.path, exited, tail=2), 5)
        assert [e.data for e in again] == [b"l10\n", b"last\n"]
    finally:
        await rt.delete(cid, force=True)
        await rt.close()


async def test_follow_until_stops(env: Env) -> None:
    rt = ConmonRuntime(env.root)
    opts = env.options(["sh", "-c", "echo one; sleep 0.3; echo two; sleep 1000"])
    cid = opts.container_id
    exited = asyncio.Event()
    try:
        await rt.create(opts)
        await rt.start(cid)
        await asyncio.sleep(0.1)
        first = read_log(opts.log.path)
        assert [e.data for e in first] == [b"one\n"]
        got = await asyncio.wait_for(
            _follow(opts.log.path, exited, until_ns=first[0].time_ns + 100_000_000), 5)
        assert [e.data for e in got] == [b"one\n"]
        # an until already past: what is there, then the end at once
        got = await asyncio.wait_for(
            _follow(opts.log.path, exited, until_ns=first[0].time_ns), 1)
        assert [e.data for e in got] == [b"one\n"]
    finally:
        await rt.delete(cid, force=True)
        await rt.close()


async def test_rotation_keeps_max_files_of_max_size(env: Env) -> None:
    rt = ConmonRuntime(env.root)
    max_size, max_files, lines = 2048, 3, 600
    script = f"i=0; while [ $i -lt {lines} ]; do i=$((i+1)); printf 'line-%04d\\n' $i; " \
             "[ $((i % 10)) = 0 ] && usleep 5000; done; true"
    opts = env.options(["sh", "-c", script], max_size=max_size, max_files=max_files)
    cid = opts.container_id
    path = opts.log.path
    exited = asyncio.Event()
    try:
        await rt.create(opts)
        follower = asyncio.ensure_future(_follow(path, exited))
        await rt.start(cid)
        assert (await asyncio.wait_for(rt.wait_exit(cid), 30)).exit_code == 0
        exited.set()
        followed = await asyncio.wait_for(follower, 10)
        # the follower saw every line, across every replacement of the file
        assert [e.data for e in followed] == [b"line-%04d\n" % i for i in range(1, lines + 1)]
        names = sorted(os.listdir(path.parent))
        assert names == ["ctr.log", "ctr.log.1", "ctr.log.2"], names
        for name in names:
            assert os.path.getsize(path.parent / name) <= max_size
        kept = [int(e.data[5:9]) for e in read_log(path)]
        # the newest lines, without a gap, about max_files * max_size bytes of them
        assert kept == list(range(kept[0], lines + 1))
        record = len(b"2026-01-01T00:00:00.000000000+00:00 stdout F line-0000\n")
        assert (max_files - 1) * max_size // record <= len(kept) <= max_files * max_size // record
        assert [int(e.data[5:9]) for e in read_log(path, tail=5)] == list(range(596, 601))
    finally:
        await rt.delete(cid, force=True)
        await rt.close()
    remove_logs(path)
    assert os.listdir(path.parent) == []


async def test_restarted_container_appends_within_max_size(env: Env) -> None:
    """A second conmon on the same log: the file stays within max_size."""
    rt = ConmonRuntime(env.root)
    opts = env.options(["sh", "-c", "seq 1 30"], max_size=1000, max_files=2)
    for _ in range(2):
        await rt.create(opts)
        await rt.start(opts.container_id)
        await rt.wait_exit(opts.container_id)
        await rt.delete(opts.container_id)
    path = opts.log.path
    for name in os.listdir(path.parent):
        assert os.path.getsize(path.parent / name) <= 1000
    data = [e.data for e in read_log(path)]
    assert data[-30:] == [b"%d\n" % i for i in range(1, 31)]
    await rt.close()


async def test_no_rotation_without_max_size(env: Env) -> None:
    rt = ConmonRuntime(env.root)
    path = await _run(rt, env, ["sh", "-c", "seq 1 3000"], max_size=None)
    assert os.listdir(path.parent) == ["ctr.log"]
    entries = read_log(path)
    # conmon reads 8 KiB at a time: a line cut by a read becomes a P record
    assert b"".join(e.data for e in entries) == b"".join(b"%d\n" % i for i in range(1, 3001))
    assert sum(not e.partial for e in entries) == 3000
    assert len(read_log(path, tail=10)) >= 10
    assert b"".join(e.data for e in read_log(path, tail=10)) == b"".join(
        b"%d\n" % i for i in range(2991, 3001))
    await rt.close()
