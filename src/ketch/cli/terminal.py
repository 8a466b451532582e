"""The local terminal: raw mode for ``-it`` sessions, and its window size.

With a TTY, every key must reach the container's shell as typed (ctrl-c as a
byte, not a signal; no local echo or line editing), so the CLI's stdin
terminal is put in raw mode for the session, with the same settings as
docker's (moby/term ``MakeRaw``), and restored on every way out. ``NORAW``
in the environment keeps the terminal as it is, as with docker.
"""

from __future__ import annotations

import contextlib
import os
import threading

TYPE_CHECKING = False  # typing is not imported at run time: it costs startup time
if TYPE_CHECKING:
    from typing import Any


def fd_of(stream: Any) -> int | None:
    """The file descriptor behind a stream, or None (an in-memory stream)."""
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, ValueError):
        return None
    return fd if isinstance(fd, int) else None


def is_terminal(fd: int | None) -> bool:
    return fd is not None and os.isatty(fd)


def window_size(fd: int | None) -> tuple[int, int]:
    """(rows, columns) of the terminal on ``fd``; (0, 0) when it is not one."""
    if not is_terminal(fd):
        return 0, 0
    import fcntl
    import struct
    import termios

    try:
        packed = fcntl.ioctl(fd, termios.TIOCGWINSZ, b"\0" * 8)  # type: ignore[arg-type]
    except OSError:
        return 0, 0
    rows, cols, _, _ = struct.unpack("HHHH", packed)
    return rows, cols


class RawMode:
    """Raw mode on one terminal, restored once whatever thread asks first."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._saved: list[Any] | None = None
        self._lock = threading.Lock()

    def enter(self) -> None:
        import termios

        if os.environ.get("NORAW"):
            return
        saved = termios.tcgetattr(self.fd)
        mode = list(saved)
        mode[0] &= ~(termios.IGNBRK | termios.BRKINT | termios.PARMRK | termios.ISTRIP
                     | termios.INLCR | termios.IGNCR | termios.ICRNL | termios.IXON)
        mode[1] &= ~termios.OPOST
        mode[3] &= ~(termios.ECHO | termios.ECHONL | termios.ICANON | termios.ISIG
                     | termios.IEXTEN)
        mode[2] &= ~(termios.CSIZE | termios.PARENB)
        mode[2] |= termios.CS8
        cc = list(mode[6])
        cc[termios.VMIN] = 1
        cc[termios.VTIME] = 0
        mode[6] = cc
        termios.tcsetattr(self.fd, termios.TCSANOW, mode)
        with self._lock:
            self._saved = saved

    def restore(self) -> None:
        import termios

        with self._lock:
            saved, self._saved = self._saved, None
        if saved is not None:
            with contextlib.suppress(OSError, termios.error):
                termios.tcsetattr(self.fd, termios.TCSANOW, saved)
