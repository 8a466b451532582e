"""Waiting until a resize reached the container's terminal.

conmon applies a window size written to its ctl FIFO from its own event
loop, in no fixed order with the input arriving on the attach socket: a
client that resizes and then types (``docker attach`` re-sizing a shell)
could have its first command run at the old size. After asking conmon, the
daemon reads the size back from the process's terminal until it matches
(for at most a quarter of a second), so the resize API returns once the
resize is real.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import stat
import struct
import termios

#: Linux's Unix98 pty slaves (/dev/pts/N) have majors 136 to 143.
_PTS_MAJORS = range(136, 144)
_WAIT_SECONDS = 0.25


def _terminal_size(pid: int) -> tuple[int, int] | None:
    """The size of process ``pid``'s stdin if it is a pty slave, else None.

    Only a pts device is opened: fd 0 of a container process is whatever it
    chose, and the daemon must not open arbitrary files on its behalf.
    """
    path = f"/proc/{pid}/fd/0"
    try:
        info = os.stat(path)
        if not stat.S_ISCHR(info.st_mode) or os.major(info.st_rdev) not in _PTS_MAJORS:
            return None
        fd = os.open(path, os.O_RDONLY | os.O_NOCTTY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        rows, cols, _, _ = struct.unpack("HHHH", fcntl.ioctl(fd, termios.TIOCGWINSZ, bytes(8)))
    except OSError:
        return None
    finally:
        os.close(fd)
    return rows, cols


async def wait_for_size(pid: int, rows: int, cols: int) -> None:
    """Return once ``pid``'s terminal is ``rows`` x ``cols`` (or after a short while)."""
    if pid <= 0:
        return
    loop = asyncio.get_running_loop()
    deadline = loop.time() + _WAIT_SECONDS
    while loop.time() < deadline:
        size = _terminal_size(pid)
        if size is None or size == (rows, cols):
            return
        await asyncio.sleep(0.005)
