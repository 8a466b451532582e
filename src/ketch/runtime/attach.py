"""A process's stdio through conmon's attach socket.

conmon listens on a SOCK_SEQPACKET unix socket (``attach`` in the
container's directory). Every message it sends is one chunk of output
whose first byte names the stream (2 stdout, 3 stderr; a TTY's output is
all stdout); every message we send is written to the process's stdin (conmon
reads at most 32 KiB - 1 per message, so writes are cut smaller). Shutting
down our sending side makes conmon close the process's stdin, unless it
runs with ``--leave-stdin-open``; conmon closes the connection once the
process exited and its output was drained.

The socket's path can exceed the 108 bytes of ``sun_path``: it is opened
with O_PATH and connected to through ``/proc/self/fd/N``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from pathlib import Path

_STDOUT_TAG = 2
_STDERR_TAG = 3
_MAX_IN = 32 * 1024 - 1
_RECV = 64 * 1024


async def connect(path: Path) -> socket.socket:
    """Connect to a conmon attach socket (FileNotFoundError if absent,
    ConnectionRefusedError if its conmon is gone)."""
    fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    sock.setblocking(False)
    try:
        for _ in range(200):
            try:
                sock.connect(f"/proc/self/fd/{fd}")
                return sock
            except BlockingIOError:
                # the listen backlog is full (many attaches at once): retry
                await asyncio.sleep(0.005)
        raise ConnectionRefusedError(f"attach socket {path} does not accept connections")
    except BaseException:
        sock.close()
        raise
    finally:
        os.close(fd)


class AttachIO:
    """``ketch.runtime.base.ProcessIO`` over one attach connection."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._loop = asyncio.get_running_loop()
        self._stdin_closed = False
        self._eof = False

    async def read(self) -> tuple[int, bytes] | None:
        while not self._eof:
            try:
                data = await self._loop.sock_recv(self._sock, _RECV)
            except (ConnectionResetError, OSError):
                if self._sock.fileno() < 0:
                    return None
                raise
            if not data:
                self._eof = True
                break
            tag, payload = data[0], data[1:]
            if not payload:
                continue
            return (2 if tag == _STDERR_TAG else 1), payload
        return None

    async def write(self, data: bytes) -> None:
        if self._stdin_closed:
            raise BrokenPipeError("stdin is closed")
        view = memoryview(data)
        for start in range(0, len(view), _MAX_IN):
            await self._loop.sock_sendall(self._sock, view[start:start + _MAX_IN])

    async def close_stdin(self) -> None:
        if not self._stdin_closed:
            self._stdin_closed = True
            with contextlib.suppress(OSError):
                self._sock.shutdown(socket.SHUT_WR)

    async def close(self) -> None:
        self._stdin_closed = True
        self._sock.close()
