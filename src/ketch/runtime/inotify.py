"""A minimal inotify binding for asyncio (Linux only).

The log readers and the log rotation keeper must learn promptly that conmon
wrote to or replaced a log file, without polling loops. The standard library
has no inotify, so this binds the three libc calls with ctypes and hands the
decoded events to a callback from the event loop (``loop.add_reader``).
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import os
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

IN_MODIFY = 0x00000002
IN_CLOSE_WRITE = 0x00000008
IN_MOVED_FROM = 0x00000040
IN_MOVED_TO = 0x00000080
IN_CREATE = 0x00000100
IN_DELETE = 0x00000200
IN_DELETE_SELF = 0x00000400
IN_IGNORED = 0x00008000
IN_Q_OVERFLOW = 0x00004000
IN_ONLYDIR = 0x01000000

_IN_NONBLOCK = os.O_NONBLOCK
_IN_CLOEXEC = os.O_CLOEXEC
_HEADER = struct.Struct("iIII")

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
_libc.inotify_init1.argtypes = [ctypes.c_int]
_libc.inotify_init1.restype = ctypes.c_int
_libc.inotify_add_watch.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
_libc.inotify_add_watch.restype = ctypes.c_int
_libc.inotify_rm_watch.argtypes = [ctypes.c_int, ctypes.c_int]
_libc.inotify_rm_watch.restype = ctypes.c_int


@dataclass(frozen=True)
class Event:
    wd: int
    mask: int
    name: str


class Inotify:
    """One inotify instance; ``callback`` gets every batch of events (an
    empty batch after a queue overflow: re-check everything)."""

    def __init__(self, callback: Callable[[list[Event]], None]) -> None:
        fd = _libc.inotify_init1(_IN_NONBLOCK | _IN_CLOEXEC)
        if fd < 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err))
        self.fd = fd
        self._callback = callback
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(fd, self._readable)

    def watch(self, path: Path, mask: int) -> int:
        wd = _libc.inotify_add_watch(self.fd, os.fsencode(path), mask)
        if wd < 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err), str(path))
        return int(wd)

    def unwatch(self, wd: int) -> None:
        _libc.inotify_rm_watch(self.fd, wd)  # fails harmlessly if already gone

    def close(self) -> None:
        if self.fd >= 0:
            self._loop.remove_reader(self.fd)
            os.close(self.fd)
            self.fd = -1

    def _readable(self) -> None:
        try:
            data = os.read(self.fd, 65536)
        except BlockingIOError:
            return
        events: list[Event] = []
        overflow = False
        pos = 0
        while pos + _HEADER.size <= len(data):
            wd, mask, _cookie, length = _HEADER.unpack_from(data, pos)
            pos += _HEADER.size
            raw = data[pos:pos + length].rstrip(b"\0")
            pos += length
            if mask & IN_Q_OVERFLOW:
                overflow = True
            events.append(Event(wd, mask, os.fsdecode(raw)))
        self._callback([] if overflow else events)


class Changes:
    """Wake-ups for one reader: ``await changed()`` returns after something
    happened in the watched directories (or after ``timeout``, as a safety
    net)."""

    def __init__(self, *dirs: Path, mask: int = IN_MODIFY | IN_MOVED_TO | IN_CREATE) -> None:
        self._flag = asyncio.Event()
        self._ino = Inotify(lambda _events: self._flag.set())
        for d in dirs:
            self._ino.watch(d, mask)

    async def changed(self, timeout: float | None = None) -> None:
        try:
            await asyncio.wait_for(self._flag.wait(), timeout)
        except TimeoutError:
            pass
        self._flag.clear()

    def close(self) -> None:
        self._ino.close()
