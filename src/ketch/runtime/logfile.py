"""Reading container logs that conmon writes in the k8s-file format.

Format: one record per line, ``<RFC 3339 time with nanoseconds and offset>
<stdout|stderr> <F|P> <bytes>\\n``. ``F`` closes a line (the record's data is
the bytes plus the newline); ``P`` is a partial line (conmon read output
without a newline, or more than 8 KiB of one line): the data is the bytes
alone and the newline after them is only the record separator.

Rotation, and what conmon 2.1.6 does at ``--log-size-max``: when the next
record would push the file past the limit, conmon opens ``<log>.tmp``
(truncated), renames it over ``<log>`` and goes on there. It keeps no older
file: the previous file's inode is simply unlinked. Docker's
``max-size``/``max-file`` keep several files, so the driver keeps a second
hard link, ``<log>.hold``, to the file conmon is writing (see
``logrotate.LogKeeper``): when conmon replaces ``<log>``, the old data
survives under ``.hold`` and the keeper shifts it to ``<log>.1`` (``.1`` to
``.2``, ..., dropping ``.<max-file - 1>``) and links the new file again.

So the files of one log, oldest first, are ``<log>.N`` ... ``<log>.1``, then
``<log>.hold`` if it is not the same inode as ``<log>`` (a replacement the
keeper has not handled yet, e.g. while the daemon was down), then ``<log>``.
While no driver process is alive, conmon keeps writing and rotating: the
file held when the daemon stopped survives, but any file conmon replaces
after that one is lost, exactly as conmon alone would lose it. ``.tmp`` is
conmon's and never read.

Readers here never block the event loop on a large file: ``read_log`` is
synchronous (run it in a thread), ``read_log_async`` and ``follow_log`` are
the asyncio front ends.
"""

from __future__ import annotations

import asyncio
import calendar
import contextlib
import os
import re
import threading
import time
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Literal

from ketch.runtime.base import LogEntry
from ketch.runtime.inotify import Changes

HOLD_SUFFIX = ".hold"
_CHUNK = 1 << 20
_BACK_CHUNK = 64 << 10
#: follow reads this much on the event loop; more goes to a thread
_INLINE_READ = 64 << 10

_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()


def file_lock(path: Path) -> threading.Lock:
    """Serialises the rotation keeper's renames with readers opening a log's
    files, so that a reader never sees a file twice or misses one."""
    key = str(path)
    with _locks_guard:
        lock = _locks.get(key)
        if lock is None:
            lock = _locks[key] = threading.Lock()
        return lock


def hold_path(path: Path) -> Path:
    return path.with_name(path.name + HOLD_SUFFIX)


def rotated_path(path: Path, index: int) -> Path:
    return path.with_name(f"{path.name}.{index}")


def rotated_indexes(path: Path) -> list[int]:
    """Numbers of the rotated files that exist, in ascending order."""
    prefix = path.name + "."
    found: list[int] = []
    try:
        names = os.listdir(path.parent)
    except FileNotFoundError:
        return []
    for name in names:
        if name.startswith(prefix) and name[len(prefix):].isdigit():
            found.append(int(name[len(prefix):]))
    return sorted(found)


def remove_logs(path: Path) -> None:
    """Remove a log and every file that belongs to it (docker rm)."""
    with file_lock(path):
        for index in rotated_indexes(path):
            with contextlib.suppress(FileNotFoundError):
                rotated_path(path, index).unlink()
        for p in (path, hold_path(path), path.with_name(path.name + ".tmp")):
            with contextlib.suppress(FileNotFoundError):
                p.unlink()


# -- parsing -------------------------------------------------------------------------

_TS = re.compile(rb"^(\d{4,})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?"
                 rb"(Z|[+-]\d\d:\d\d)$")
_second_cache: dict[bytes, int] = {}


def parse_time(ts: bytes) -> int:
    """Unix nanoseconds of conmon's timestamp (local time with offset)."""
    if len(ts) == 35 and ts[19:20] == b".":
        # conmon's own layout: fixed width, so cache the seconds part
        key = ts[:19] + ts[29:]
        secs = _second_cache.get(key)
        if secs is None:
            secs = _seconds(ts[:19], ts[29:])
            if len(_second_cache) > 4096:
                _second_cache.clear()
            _second_cache[key] = secs
        return secs * 1_000_000_000 + int(ts[20:29])
    m = _TS.match(ts)
    if m is None:
        raise ValueError(f"bad log timestamp {ts!r}")
    frac = (m.group(7) or b"").ljust(9, b"0")
    base = b"%s-%s-%sT%s:%s:%s" % m.group(1, 2, 3, 4, 5, 6)
    return _seconds(base, m.group(8)) * 1_000_000_000 + int(frac)


def _seconds(base: bytes, offset: bytes) -> int:
    date, _, clock = base.partition(b"T")
    y, mo, d = (int(x) for x in date.split(b"-"))
    h, mi, s = (int(x) for x in clock.split(b":"))
    secs = calendar.timegm((y, mo, d, h, mi, s, 0, 0, 0))
    if offset != b"Z":
        sign = -1 if offset[:1] == b"-" else 1
        secs -= sign * (int(offset[1:3]) * 3600 + int(offset[4:6]) * 60)
    return secs


_STREAMS: dict[bytes, Literal["stdout", "stderr"]] = {b"stdout": "stdout", b"stderr": "stderr"}


def parse_line(line: bytes) -> LogEntry | None:
    """One record (without its newline); None for anything malformed."""
    parts = line.split(b" ", 3)
    if len(parts) < 3:
        return None
    stream = _STREAMS.get(parts[1])
    if stream is None or parts[2] not in (b"F", b"P"):
        return None
    try:
        t = parse_time(parts[0])
    except ValueError:
        return None
    data = parts[3] if len(parts) == 4 else b""
    partial = parts[2] == b"P"
    return LogEntry(t, stream, data if partial else data + b"\n", partial)


# -- the set of files ------------------------------------------------------------------

@dataclass
class _Segment:
    f: BinaryIO
    end: int  # bytes of whole records to read from this file


def _open_files(path: Path) -> list[BinaryIO]:
    """Open every file of the log, oldest first (the current one last)."""
    files: list[BinaryIO] = []
    inodes: set[int] = set()
    with file_lock(path):
        current: BinaryIO | None = None
        with contextlib.suppress(FileNotFoundError):
            current = open(path, "rb")
            inodes.add(os.fstat(current.fileno()).st_ino)
        candidates = [rotated_path(path, i) for i in reversed(rotated_indexes(path))]
        candidates.append(hold_path(path))
        for p in candidates:
            try:
                f = open(p, "rb")
            except FileNotFoundError:
                continue
            ino = os.fstat(f.fileno()).st_ino
            if ino in inodes:
                f.close()
                continue
            inodes.add(ino)
            files.append(f)
        if current is not None:
            files.append(current)
    return files


def _open_segments(path: Path) -> tuple[list[_Segment], BinaryIO | None]:
    """The log's files as segments of whole records, and the current file."""
    files = _open_files(path)
    current = files[-1] if files and _same_file(path, files[-1]) else None
    return [_Segment(f, _whole_records_end(f)) for f in files], current


def _open_newer(path: Path, f: BinaryIO) -> list[BinaryIO]:
    """The log's files newer than ``f``, oldest first. If ``f`` is no longer
    among them (dropped by rotation), every file left is newer."""
    files = _open_files(path)
    ino = os.fstat(f.fileno()).st_ino
    for i, g in enumerate(files):
        if os.fstat(g.fileno()).st_ino == ino:
            for old in files[:i + 1]:
                old.close()
            return files[i + 1:]
    return files


def _whole_records_end(f: BinaryIO) -> int:
    """Offset just after the last complete record (a writer may be mid-way)."""
    size = os.fstat(f.fileno()).st_size
    pos = size
    while pos > 0:
        start = max(0, pos - 4096)
        f.seek(start)
        chunk = f.read(pos - start)
        nl = chunk.rfind(b"\n")
        if nl >= 0:
            return start + nl + 1
        pos = start
    return 0


def _forward(seg: _Segment, start: int = 0) -> Iterator[LogEntry]:
    seg.f.seek(start)
    left = seg.end - start
    rest = b""
    while left > 0:
        chunk = seg.f.read(min(_CHUNK, left))
        if not chunk:
            break
        left -= len(chunk)
        lines = (rest + chunk).split(b"\n")
        rest = lines.pop()
        for line in lines:
            entry = parse_line(line)
            if entry is not None:
                yield entry


def _backward(seg: _Segment) -> Iterator[LogEntry]:
    pos = seg.end
    rest = b""
    while pos > 0:
        start = max(0, pos - _BACK_CHUNK)
        seg.f.seek(start)
        chunk = seg.f.read(pos - start)
        pos = start
        lines = (chunk + rest).split(b"\n")
        rest = lines[0]
        for line in reversed(lines[1:]):
            if line:
                entry = parse_line(line)
                if entry is not None:
                    yield entry
    if rest:
        entry = parse_line(rest)
        if entry is not None:
            yield entry


def _select(segments: list[_Segment], since_ns: int | None, until_ns: int | None,
            tail: int | None) -> Iterator[LogEntry]:
    if tail is None:
        for seg in segments:
            for entry in _forward(seg):
                if since_ns is not None and entry.time_ns < since_ns:
                    continue
                if until_ns is not None and entry.time_ns > until_ns:
                    return
                yield entry
        return
    yield from reversed(_tail(segments, since_ns, until_ns, tail))


def _tail(segments: list[_Segment], since_ns: int | None, until_ns: int | None,
          tail: int) -> list[LogEntry]:
    """The last ``tail`` lines (a line ends with an F record; trailing P
    records count as one line), newest first."""
    picked: list[LogEntry] = []
    lines = 0
    started = False
    if tail <= 0:
        return picked
    for seg in reversed(segments):
        for entry in _backward(seg):
            if until_ns is not None and entry.time_ns > until_ns:
                continue
            if since_ns is not None and entry.time_ns < since_ns:
                return picked
            if not entry.partial or not started:
                if lines == tail:
                    return picked
                lines += 1
            started = True
            picked.append(entry)
    return picked


def read_log(path: Path, since_ns: int | None = None, until_ns: int | None = None,
             tail: int | None = None) -> list[LogEntry]:
    """Every entry of the log (all its files) with time in [since, until],
    then only the last ``tail`` lines. Blocking: call it from a thread."""
    segments, _ = _open_segments(path)
    try:
        return list(_select(segments, since_ns, until_ns, tail))
    finally:
        for seg in segments:
            seg.f.close()


async def read_log_async(path: Path, since_ns: int | None = None,
                         until_ns: int | None = None,
                         tail: int | None = None) -> list[LogEntry]:
    return await asyncio.to_thread(read_log, path, since_ns, until_ns, tail)


# -- follow ----------------------------------------------------------------------------

def _history(path: Path, since_ns: int | None, until_ns: int | None,
             tail: int | None) -> tuple[list[LogEntry], BinaryIO | None, int]:
    """Entries already written, plus the current file (kept open) and the
    offset up to which it was read."""
    segments, current = _open_segments(path)
    try:
        entries = list(_select(segments, since_ns, until_ns, tail))
    except BaseException:
        for seg in segments:
            seg.f.close()
        raise
    offset = 0
    for seg in segments:
        if seg.f is current:
            offset = seg.end
        else:
            seg.f.close()
    return entries, current, offset


def _read_new(f: BinaryIO, offset: int, limit: int = _CHUNK) -> tuple[list[LogEntry], int]:
    """Whole records written after ``offset``; returns them and the new offset."""
    f.seek(offset)
    data = f.read(limit)
    end = data.rfind(b"\n")
    if end < 0:
        return [], offset
    entries = [e for e in (parse_line(line) for line in data[:end].split(b"\n"))
               if e is not None]
    return entries, offset + end + 1


def _filtered(entries: Iterable[LogEntry], since_ns: int | None,
              until_ns: int | None) -> tuple[list[LogEntry], bool]:
    out: list[LogEntry] = []
    for e in entries:
        if since_ns is not None and e.time_ns < since_ns:
            continue
        if until_ns is not None and e.time_ns > until_ns:
            return out, True
        out.append(e)
    return out, False


def _same_file(path: Path, f: BinaryIO) -> bool:
    try:
        return os.stat(path).st_ino == os.fstat(f.fileno()).st_ino
    except FileNotFoundError:
        return True  # removed, not replaced: nothing newer to switch to


async def follow_log(path: Path, exited: asyncio.Event, since_ns: int | None = None,
                     until_ns: int | None = None,
                     tail: int | None = None) -> AsyncIterator[LogEntry]:
    """Entries already in the log (as ``read_log``), then new ones as conmon
    writes them, across rotations. Ends once ``exited`` is set (set it when
    the container's exit is recorded: conmon has drained the output by then)
    and everything was read, or once ``until_ns`` has passed."""
    changes = Changes(path.parent)
    current: BinaryIO | None = None
    queue: list[BinaryIO] = []  # files after ``current``, oldest first
    try:
        entries, current, offset = await asyncio.to_thread(
            _history, path, since_ns, until_ns, tail)
        for e in entries:
            yield e
        while True:
            done = exited.is_set()  # before reading: all output is in the file by then
            if current is None:
                with contextlib.suppress(FileNotFoundError):
                    current, offset = open(path, "rb"), 0
            if current is not None:
                if os.fstat(current.fileno()).st_size - offset > _INLINE_READ:
                    new, moved = await asyncio.to_thread(_read_new, current, offset)
                else:
                    new, moved = _read_new(current, offset)
                if moved != offset:
                    offset = moved
                    out, past_until = _filtered(new, since_ns, until_ns)
                    for e in out:
                        yield e
                    if past_until:
                        return
                    continue
                if not queue and not _same_file(path, current):
                    # conmon moved on (maybe more than once): this one is drained
                    queue = _open_newer(path, current)
                if queue:
                    current.close()
                    current, offset = queue.pop(0), 0
                    continue
            if done:
                return
            timeout = 2.0
            if until_ns is not None:
                left = (until_ns - time.time_ns()) / 1e9
                if left < 0:
                    return  # whatever comes now is later than until
                timeout = min(timeout, left + 0.01)
            await _wait_any(changes, exited, timeout)
    finally:
        changes.close()
        for f in [*queue, *([current] if current is not None else [])]:
            f.close()


async def _wait_any(changes: Changes, exited: asyncio.Event, timeout: float) -> None:
    waiters = {asyncio.ensure_future(changes.changed(timeout=timeout)),
               asyncio.ensure_future(exited.wait())}
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waiters:
            w.cancel()
