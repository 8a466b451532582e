"""Process plumbing for the driver: running commands, watching pids, pipes.

Everything here is asyncio-friendly: commands run as asyncio subprocesses,
process exits are watched through a pidfd registered with the event loop
(a pidfd becomes readable when the process has exited, zombie or reaped,
whoever its parent is), and pipes from conmon are read with ``add_reader``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Result:
    returncode: int
    stdout: bytes
    stderr: bytes


async def run(*argv: str, stdin: bytes | None = None) -> Result:
    """Run a command to completion; output captured."""
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate(stdin)
    assert proc.returncode is not None
    return Result(proc.returncode, out, err)


def proc_state(pid: int) -> str | None:
    """The state letter in /proc/PID/stat (R, S, D, Z, ...), None if gone.

    A zombie counts as dead: on hosts whose PID 1 reaps slowly, a dead
    monitor can stay a zombie for a long time and ``kill(pid, 0)`` still
    succeeds on it.
    """
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = stat.rpartition(b")")[2].split()
    return fields[0].decode() if fields else None


def alive(pid: int) -> bool:
    return pid > 0 and proc_state(pid) not in (None, "Z", "X")


def cmdline(pid: int) -> list[bytes]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().split(b"\0")
    except (FileNotFoundError, ProcessLookupError):
        return []


def read_pid(path: Path) -> int:
    """A pid file's number, 0 if missing or unreadable."""
    try:
        return int(path.read_text().strip() or 0)
    except (FileNotFoundError, ValueError):
        return 0


async def wait_pid(pid: int) -> None:
    """Return once process ``pid`` has exited (immediately if it is gone)."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()

    def readable() -> None:
        if not done.done():
            done.set_result(None)

    loop.add_reader(fd, readable)
    try:
        await done
    finally:
        loop.remove_reader(fd)
        os.close(fd)


async def wait_pid_timeout(pid: int, timeout: float) -> bool:
    """True if ``pid`` exited within ``timeout`` seconds."""
    try:
        await asyncio.wait_for(wait_pid(pid), timeout)
    except TimeoutError:
        return False
    return True


class PipeReader:
    """Reads newline-terminated JSON messages that conmon writes on a pipe."""

    def __init__(self, fd: int) -> None:
        os.set_blocking(fd, False)
        self.fd = fd
        self._buf = b""
        self._eof = False

    async def message(self) -> dict[str, Any] | None:
        """The next message, None at end of file (conmon closed the pipe)."""
        while b"\n" not in self._buf and not self._eof:
            await self._fill()
        if b"\n" in self._buf:
            line, _, self._buf = self._buf.partition(b"\n")
            try:
                value = json.loads(line)
            except ValueError:
                return {"data": -1, "message": line.decode(errors="replace")}
            return value if isinstance(value, dict) else {"data": value}
        return None

    async def _fill(self) -> None:
        loop = asyncio.get_running_loop()
        ready: asyncio.Future[None] = loop.create_future()

        def readable() -> None:
            if not ready.done():
                ready.set_result(None)

        loop.add_reader(self.fd, readable)
        try:
            await ready
        finally:
            loop.remove_reader(self.fd)
        try:
            chunk = os.read(self.fd, 65536)
        except BlockingIOError:
            return
        if chunk:
            self._buf += chunk
        else:
            self._eof = True

    def close(self) -> None:
        if self.fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self.fd)
            self.fd = -1
