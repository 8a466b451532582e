"""Carrying a process's stdio over a hijacked connection.

Output goes client-ward framed (``multiplexed-stream``) unless the process
has a TTY; stdin goes process-ward until the client half-closes or types the
detach keys (default ctrl-p ctrl-q), after which the connection is closed
and the process keeps running.
"""

from __future__ import annotations

import asyncio
import contextlib

from ketch.api.hijack import STDERR, STDOUT, HijackedStream, frame
from ketch.errors import InvalidArgument
from ketch.runtime.base import ProcessIO

DEFAULT_DETACH_KEYS = b"\x10\x11"  # ctrl-p ctrl-q


def parse_detach_keys(value: str) -> bytes:
    """Docker's ``--detach-keys`` syntax: ``ctrl-<x>`` or single characters, comma separated."""
    if not value:
        return DEFAULT_DETACH_KEYS
    keys = bytearray()
    for part in value.split(","):
        if part.startswith("ctrl-") and len(part) == 6:
            char = part[5].lower()
            if char in "abcdefghijklmnopqrstuvwxyz":
                keys.append(ord(char) - ord("a") + 1)
                continue
            if char in "@[\\]^_":
                keys.append("@[\\]^_".index(char) + (0 if char == "@" else 27))
                continue
        elif len(part) == 1:
            keys.append(ord(part))
            continue
        raise InvalidArgument(f"Invalid detach keys ({value}) provided")
    return bytes(keys)


class _DetachDetector:
    """Finds the detach sequence in stdin, across chunk boundaries."""

    def __init__(self, keys: bytes) -> None:
        self.keys = keys
        self._matched = 0

    def feed(self, data: bytes) -> tuple[bytes, bool]:
        """Bytes to forward, and whether the sequence was completed."""
        out = bytearray()
        for byte in data:
            if self.keys and byte == self.keys[self._matched]:
                self._matched += 1
                if self._matched == len(self.keys):
                    return bytes(out), True
                continue
            if self._matched:
                out += self.keys[: self._matched]
                self._matched = 0
                if self.keys and byte == self.keys[0]:
                    self._matched = 1
                    continue
            out.append(byte)
        return bytes(out), False


async def copy_output(io: ProcessIO, stream: HijackedStream, tty: bool, stdout: bool,
                      stderr: bool) -> None:
    while (item := await io.read()) is not None:
        kind, data = item
        if (kind == STDOUT and not stdout) or (kind == STDERR and not stderr):
            continue
        await stream.write(data if tty else frame(kind, data))
        if stream.closed:
            return


async def copy_input(io: ProcessIO, stream: HijackedStream, detach_keys: bytes,
                     close_stdin: bool) -> bool:
    """Forward stdin; True when the client detached with the detach keys
    (only recognised with a TTY, as in Docker: without one, stdin is data)."""
    detector = _DetachDetector(detach_keys)
    while data := await stream.reader.read(64 * 1024):
        forward, detached = detector.feed(data)
        if forward:
            await io.write(forward)
        if detached:
            return True
    if close_stdin:
        await io.close_stdin()
    return False


async def pump(io: ProcessIO, stream: HijackedStream, *, tty: bool, stdin: bool,
               stdout: bool = True, stderr: bool = True, close_stdin: bool = True,
               detach_keys: bytes = DEFAULT_DETACH_KEYS) -> None:
    """Run both directions until the process ends, the client detaches, or
    the client goes away."""
    output = asyncio.ensure_future(copy_output(io, stream, tty, stdout, stderr))
    waiters: set[asyncio.Future[object]] = {output}  # type: ignore[arg-type]
    if stdin:
        keys = detach_keys if tty else b""
        waiters.add(asyncio.ensure_future(copy_input(io, stream, keys, close_stdin)))
    waiters.add(asyncio.ensure_future(stream.wait_closed()))
    try:
        while True:
            done, waiters = await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
            if output in done:
                break
            finished_input = [f for f in done if f is not output and f.result() is not None]
            if any(f.result() is True for f in finished_input):
                break  # detached
            if stream.closed or not waiters - {output}:
                if output not in waiters:
                    break
                if stream.closed:
                    break
    finally:
        for task in waiters:
            task.cancel()
        for task in waiters:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await io.close()
