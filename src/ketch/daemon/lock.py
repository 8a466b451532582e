"""One daemon per data root: an exclusive ``flock`` held for the daemon's life.

The kernel drops the lock when the process dies, however it dies, so a
stale lock file never blocks a restart after ``kill -9``.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from ketch.errors import Conflict


class DataRootLock:
    def __init__(self, data_root: Path) -> None:
        self.path = data_root / "ketchd.lock"
        self._fd: int | None = None

    def acquire(self) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise Conflict(
                f"data root {self.path.parent} is in use by another ketchd (pid {holder})"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
