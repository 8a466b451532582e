"""A minimal inotify binding for asyncio (Linux only).

The log readers and the log rotation keeper must learn promptly that conmon
wrote to or replaced a log file, without polling loops. The standard library
has no inotify, so this binds the libc calls with ctypes.

One inotify instance serves every subscriber of an event loop (the kernel
allows only 128 instances per user by default, and a daemon may follow many
logs at once); a directory's watch asks only for the events its current
subscribers want, so a log nobody follows costs no wake-up per write. The
instance lives as long as its loop: closing an inotify descriptor waits for
an RCU grace period (5-20 ms here), too long for the exit path of a
container, so it is closed only when the loop is garbage-collected.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import itertools
import os
import struct
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

IN_MODIFY = 0x00000002
IN_MOVED_TO = 0x00000080
IN_CREATE = 0x00000100
IN_Q_OVERFLOW = 0x00004000
IN_IGNORED = 0x00008000

_HEADER = struct.Struct("iIII")

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
_libc.inotify_init1.argtypes = [ctypes.c_int]
_libc.inotify_init1.restype = ctypes.c_int
_libc.inotify_add_watch.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
_libc.inotify_add_watch.restype = ctypes.c_int
_libc.inotify_rm_watch.argtypes = [ctypes.c_int, ctypes.c_int]
_libc.inotify_rm_watch.restype = ctypes.c_int


def _check(ret: int, what: str) -> int:
    if ret < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err), what)
    return ret


@dataclass(frozen=True)
class Event:
    mask: int
    #: name of the entry in the watched directory; "" after a queue overflow
    #: (then anything may have happened: re-check)
    name: str


Callback = Callable[[Event], None]


@dataclass
class _Dir:
    path: Path
    wd: int
    subs: dict[int, tuple[int, Callback]] = field(default_factory=dict)


class _Instance:
    """The inotify descriptor of one event loop and its watched directories."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.fd = _check(_libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC), "inotify_init1")
        self.dirs: dict[Path, _Dir] = {}
        self.by_wd: dict[int, _Dir] = {}
        loop.add_reader(self.fd, self._readable)
        weakref.finalize(self, os.close, self.fd)

    def _set_mask(self, d: _Dir) -> None:
        mask = 0
        for m, _ in d.subs.values():
            mask |= m
        wd = _check(_libc.inotify_add_watch(self.fd, os.fsencode(d.path), mask), str(d.path))
        if wd != d.wd:
            self.by_wd.pop(d.wd, None)
            d.wd = wd
            self.by_wd[wd] = d

    def add(self, path: Path, token: int, mask: int, callback: Callback) -> None:
        d = self.dirs.get(path)
        if d is None:
            d = _Dir(path, -1)
            d.subs[token] = (mask, callback)
            self._set_mask(d)  # raises if the directory is missing
            self.dirs[path] = d
        else:
            d.subs[token] = (mask, callback)
            self._set_mask(d)

    def remove(self, path: Path, token: int) -> None:
        d = self.dirs.get(path)
        if d is None or d.subs.pop(token, None) is None:
            return
        if d.subs:
            with contextlib.suppress(OSError):
                self._set_mask(d)
            return
        del self.dirs[path]
        self.by_wd.pop(d.wd, None)
        _libc.inotify_rm_watch(self.fd, d.wd)  # fails harmlessly if already gone

    def _readable(self) -> None:
        try:
            data = os.read(self.fd, 65536)
        except BlockingIOError:
            return
        pos = 0
        calls: list[tuple[Callback, Event]] = []
        while pos + _HEADER.size <= len(data):
            wd, mask, _cookie, length = _HEADER.unpack_from(data, pos)
            pos += _HEADER.size
            name = os.fsdecode(data[pos:pos + length].rstrip(b"\0"))
            pos += length
            if mask & IN_Q_OVERFLOW:
                overflow = Event(mask, "")
                calls = [(cb, overflow) for d in self.by_wd.values() for _, cb in d.subs.values()]
                break
            d = self.by_wd.get(wd)
            if d is None:
                continue
            calls += [(cb, Event(mask, name)) for m, cb in d.subs.values() if mask & m]
        for cb, ev in calls:
            cb(ev)


_instances: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Instance] = (
    weakref.WeakKeyDictionary())
_tokens = itertools.count(1)


class Subscription:
    """Calls ``callback`` from the event loop for each event in ``directory``
    matching ``mask`` (and once with an empty name after an overflow) until
    ``close()``."""

    def __init__(self, directory: Path, mask: int, callback: Callback) -> None:
        self._loop = asyncio.get_running_loop()
        self._path = Path(directory).resolve()  # one watch per directory
        self._token = next(_tokens)
        inst = _instances.get(self._loop)
        if inst is None:
            inst = _instances[self._loop] = _Instance(self._loop)
        inst.add(self._path, self._token, mask, callback)
        self._open = True

    def close(self) -> None:
        if not self._open:
            return
        self._open = False
        inst = _instances.get(self._loop)
        if inst is not None:
            inst.remove(self._path, self._token)


class Changes:
    """Wake-ups for one reader: ``await changed()`` returns once something
    happened in the watched directory since the last call (or after
    ``timeout``, as a safety net)."""

    def __init__(self, directory: Path, mask: int = IN_MODIFY | IN_MOVED_TO | IN_CREATE) -> None:
        self._flag = asyncio.Event()
        self._sub = Subscription(directory, mask, lambda _ev: self._flag.set())

    async def changed(self, timeout: float | None = None) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._flag.wait(), timeout)
        self._flag.clear()

    def close(self) -> None:
        self._sub.close()
