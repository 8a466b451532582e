"""Copying between the local terminal or pipes and a hijacked container stream.

This is what ``run``, ``start -a``, ``attach`` and ``exec`` share (docker's
``hijackedIOStreamer``). Two threads do the copying, so that neither
direction can block the other: one reads the connection and writes the
container's output locally (demultiplexing stdout and stderr from the frame
headers when there is no TTY), the other reads local stdin and sends it. On
stdin EOF the connection is half-closed and output is read until the daemon
closes it. With a TTY, stdin is put in raw mode, and the detach keys (ctrl-p
ctrl-q unless told otherwise) end the session instead of being sent.

The session ends when the output ends, when the user detaches, when stdin
ends and there is no output to wait for, or when it is cancelled.
"""

from __future__ import annotations

import contextlib
import os
import select
import threading

from ketch.cli.terminal import RawMode, fd_of, is_terminal

TYPE_CHECKING = False  # typing is not imported at run time: it costs startup time
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import IO, Any

    from ketch.client.hijack import HijackedStream

    Writer = Callable[[bytes], None]

#: ctrl-p ctrl-q
DEFAULT_DETACH_KEYS = b"\x10\x11"

_CTRL_NAMES = ["ctrl-@"] + [f"ctrl-{chr(c)}" for c in range(ord("a"), ord("z") + 1)] + [
    "ctrl-[", "ctrl-\\", "ctrl-]", "ctrl-^", "ctrl-_"]


def detach_key_bytes(spec: str) -> bytes:
    """moby/term ``ToBytes``: ``ctrl-p,ctrl-q`` -> ``b"\\x10\\x11"``; ValueError if bad."""
    out = bytearray()
    for key in spec.split(","):
        if len(key) == 1:
            out += key.encode()[:1]
        elif key in _CTRL_NAMES:
            out.append(_CTRL_NAMES.index(key))
        elif key == "DEL":
            out.append(127)
        else:
            raise ValueError(f"Unknown character: '{key}'")
    return bytes(out)


class EscapeDetector:
    """Finds the detach key sequence in typed input, across reads.

    Bytes that may start the sequence are held back until the next byte tells;
    if the sequence does not complete they are passed on, in order.
    """

    def __init__(self, keys: bytes) -> None:
        self.keys = keys
        self._pos = 0

    def feed(self, data: bytes) -> tuple[bytes, bool]:
        """(bytes to send now, whether the full sequence was typed)."""
        if not self.keys:
            return data, False
        out = bytearray()
        for byte in data:
            if byte == self.keys[self._pos]:
                self._pos += 1
                if self._pos == len(self.keys):
                    self._pos = 0
                    return bytes(out), True
                continue
            if self._pos:
                out += self.keys[:self._pos]
                self._pos = 0
                if byte == self.keys[0]:
                    self._pos = 1
                    continue
            out.append(byte)
        return bytes(out), False


class Detached(Exception):
    """The user typed the detach keys (docker's ``EscapeError``)."""

    def __init__(self) -> None:
        super().__init__("read escape sequence")


def stream_writer(stream: Any) -> Writer:
    """A function writing bytes to a text stream's binary side, flushed at once."""
    buffer = getattr(stream, "buffer", None)
    with contextlib.suppress(AttributeError, OSError, ValueError):
        stream.flush()
    if buffer is not None:
        def write(data: bytes) -> None:
            buffer.write(data)
            buffer.flush()
        return write

    def write_text(data: bytes) -> None:
        stream.write(data.decode(errors="replace"))
        stream.flush()
    return write_text


class Streamer:
    """One attached session over a hijacked connection."""

    def __init__(self, conn: HijackedStream, *, stdin: IO[Any] | None,
                 stdout: Writer | None, stderr: Writer | None, tty: bool,
                 detach_keys: bytes = DEFAULT_DETACH_KEYS,
                 notify: threading.Event | None = None) -> None:
        """``notify`` is set when the session ends (for callers watching other things)."""
        self.conn = conn
        self.stdin = stdin
        self.stdout = stdout
        self.stderr = stderr
        self.tty = tty
        self.detach_keys = detach_keys
        self.raw: RawMode | None = None
        self._notify = notify
        self._done = threading.Event()
        self._finish_lock = threading.Lock()
        self._result: BaseException | None = None
        # Wakes the input thread out of its wait on stdin; the thread closes it on exit.
        self._stop_read_r, self._stop_read_w = os.pipe()
        self._pipe_lock = threading.Lock()
        self._pipe_open = True
        self._threads: list[threading.Thread] = []

    # -- control ------------------------------------------------------------------

    def start(self) -> None:
        """Raw mode (TTY with stdin), then the copying threads."""
        if self.stdin is not None and self.tty:
            fd = fd_of(self.stdin)
            if fd is not None and is_terminal(fd):
                self.raw = RawMode(fd)
                self.raw.enter()
        if self.stdout is not None or self.stderr is not None:
            self._spawn(self._copy_output, "output")
        self._spawn(self._copy_input, "input")

    def _spawn(self, target: Callable[[], None], name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        self._threads.append(thread)
        thread.start()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the session ended (True) or ``timeout`` passed (False)."""
        return self._done.wait(timeout)

    @property
    def done(self) -> bool:
        return self._done.is_set()

    @property
    def result(self) -> BaseException | None:
        """None for a normal end, ``Detached``, or the error that ended the output."""
        return self._result

    def cancel(self) -> None:
        """End the session now (docker cancels its context)."""
        self._finish(None)
        self.conn.close()

    def close(self) -> None:
        """Restore the terminal and release everything; the session must have ended."""
        self.restore_terminal()
        self._stop_input()
        self.conn.close()

    def restore_terminal(self) -> None:
        if self.raw is not None:
            self.raw.restore()

    def _finish(self, result: BaseException | None) -> None:
        """Record how the session ended; the first of the threads to get here wins."""
        with self._finish_lock:
            if self._done.is_set():
                return
            self._result = result
            self._done.set()
        if self._notify is not None:
            self._notify.set()

    def _stop_input(self) -> None:
        with self._pipe_lock:
            if self._pipe_open:
                os.write(self._stop_read_w, b"x")

    def _close_pipe(self) -> None:
        with self._pipe_lock:
            if self._pipe_open:
                self._pipe_open = False
                os.close(self._stop_read_r)
                os.close(self._stop_read_w)

    # -- the two directions ---------------------------------------------------------

    def _copy_output(self) -> None:
        error: BaseException | None = None
        try:
            if self.tty:
                self._copy_raw_output()
            else:
                self._copy_framed_output()
        except Exception as exc:  # reported as the session's result
            error = exc
        # Restore the terminal as soon as the output ends, before anything else prints.
        self.restore_terminal()
        self._finish(error)

    def _copy_raw_output(self) -> None:
        write = self.stdout or self.stderr
        while True:
            data = self.conn.recv()
            if not data:
                return
            if write is not None:
                write(data)

    def _copy_framed_output(self) -> None:
        from ketch.client.stdcopy import STDERR, FrameDecoder

        decoder = FrameDecoder()
        while True:
            data = self.conn.recv()
            if not data:
                return
            for stream, payload in decoder.feed(data):
                write = self.stderr if stream == STDERR else self.stdout
                if write is not None:
                    write(payload)

    def _copy_input(self) -> None:
        try:
            self._copy_input_until_done()
        finally:
            self._close_pipe()

    def _copy_input_until_done(self) -> None:
        detached = False
        if self.stdin is not None:
            with contextlib.suppress(OSError):  # the output side reports connection errors
                detached = self._pump_stdin()
            self.restore_terminal()
        if detached:
            self._finish(Detached())
            return
        self.conn.close_write()
        if self.stdout is None and self.stderr is None:
            self._finish(None)

    def _pump_stdin(self) -> bool:
        """Copy stdin to the connection until EOF (False) or the detach keys (True)."""
        escape = EscapeDetector(self.detach_keys) if self.tty else None
        fd = fd_of(self.stdin)
        while not self._done.is_set():
            data = self._read_stdin(fd)
            if data is None:
                return False  # stopped
            if not data:
                return False
            if escape is not None:
                data, detach = escape.feed(data)
                if data:
                    self.conn.sendall(data)
                if detach:
                    return True
            else:
                self.conn.sendall(data)
        return False

    def _read_stdin(self, fd: int | None) -> bytes | None:
        """The next bytes of stdin; b"" at EOF, None when the session asks to stop."""
        if fd is None:
            buffer: Any = getattr(self.stdin, "buffer", self.stdin)
            data = buffer.read1(65536) if hasattr(buffer, "read1") else buffer.read(65536)
            return data.encode() if isinstance(data, str) else bytes(data)
        poller = select.poll()
        poller.register(fd, select.POLLIN | select.POLLHUP | select.POLLERR)
        poller.register(self._stop_read_r, select.POLLIN)
        while True:
            events = dict(poller.poll())
            if self._stop_read_r in events:
                return None
            if fd in events:
                try:
                    return os.read(fd, 65536)
                except BlockingIOError:
                    continue
                except OSError:
                    return b""
