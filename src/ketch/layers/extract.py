"""Unpack an image layer tar into a directory usable as an overlayfs lower dir.

The work happens in a child process (``_unpack_child.py``) that chroots into
the target before it reads the archive, so no entry of a hostile layer can
reach a path outside the target whatever names, symlinks or hard links it
uses. The daemon itself is a multi-threaded asyncio process, so it never
forks to do this: it starts a fresh interpreter and streams the tar to it
over a pipe (or hands it the file directly).

:func:`extract_layer` blocks until the layer is unpacked; call it from a
worker thread, never on the event loop.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import IO, BinaryIO, Protocol, cast

from ketch.errors import InternalError, InvalidArgument

log = logging.getLogger(__name__)

_CHILD = Path(__file__).with_name("_unpack_child.py")
_EXIT_BAD_ARCHIVE = 2
_EXIT_NO_SPACE = 4
_CHUNK = 1 << 20


class NoSpaceLeft(InternalError):
    """The target's filesystem filled up: the archive may fit elsewhere."""


@dataclass(frozen=True, slots=True)
class ExtractResult:
    """What unpacking a layer produced.

    ``size`` is the sum of the sizes of the regular files in the tar, which
    is what Docker reports as a layer's size. ``warnings`` lists xattrs that
    could not be applied or were dropped (at most a few, for the log).
    """

    size: int
    entries: int
    warnings: tuple[str, ...] = ()
    #: with a tar-split record: the tar's length and the spilled file indexes
    tar_size: int | None = None
    spilled: tuple[int, ...] = ()


def extract_layer(source: Path | BinaryIO, target: Path, *,
                  whiteouts: bool = True, split_dir: Path | None = None) -> ExtractResult:
    """Unpack the uncompressed layer tar *source* into the directory *target*.

    With ``whiteouts=False`` the tar is a plain tree (a build context, the
    files of a COPY): ``.wh.`` names are ordinary files, not deletions.
    With *split_dir* (an existing directory outside *target*, on the same
    filesystem) the tar-split record is written there, so the tar can be
    rebuilt from *target* later (:mod:`ketch.layers.tarsplit`).

    *source* is a path to a tar file or a binary stream positioned at the
    start of the tar; a stream is read to its end (so a caller hashing it as
    it goes sees every byte) unless extraction fails first. *target* must be
    an existing directory, normally empty; entries replace what is there.

    Raises InvalidArgument naming the problem when the archive is corrupt,
    truncated or tries to write outside *target* (the caller then deletes
    *target*: it may hold part of the layer), NoSpaceLeft when the target's
    filesystem is full, InternalError when the host fails otherwise (I/O
    error, not root). Errors raised while opening or reading
    *source* propagate unchanged.
    """
    if not target.is_dir():
        raise InternalError(f"layer target {target} is not a directory")
    options = [] if whiteouts else ["--plain"]
    with contextlib.ExitStack() as stack:
        out = stack.enter_context(tempfile.TemporaryFile())
        err = stack.enter_context(tempfile.TemporaryFile())
        extra_fds: tuple[int, ...] = ()
        if split_dir is not None:
            if not whiteouts:
                raise InternalError("a tar-split record is only kept for layers")
            split_fd = os.open(split_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            stack.callback(os.close, split_fd)
            options, extra_fds = ["--split", str(split_fd)], (split_fd,)
        tar = stack.enter_context(source.open("rb")) if isinstance(source, Path) else None
        child = _start(target, tar, out, err, options, extra_fds)
        status = child.wait() if tar is not None else _feed(child, cast(BinaryIO, source))
        return _result(status, out, err)


class _Child(Protocol):
    """A running unpacker: its stdin (when it reads a pipe), its end, its stop."""

    stdin: IO[bytes] | None

    def wait(self) -> int: ...
    def kill(self) -> None: ...


def _start(target: Path, tar: IO[bytes] | None, out: IO[bytes], err: IO[bytes],
           options: list[str], extra_fds: tuple[int, ...]) -> _Child:
    """The unpacker for *target*, forked by the zygote, or started afresh if
    the zygote cannot be used. It reads *tar*, or a pipe if *tar* is None."""
    forked = _ZYGOTE.fork(target, tar, out, err, options, extra_fds)
    if forked is not None:
        return forked
    return _Spawned(target, tar, out, err, options, extra_fds)


class _Spawned:
    """An unpacker in a new interpreter.

    ``-I -S`` keep the child to the interpreter's own standard library (no
    PYTHONPATH, no site-packages or their ``.pth`` hooks, no script
    directory on sys.path); the empty environment leaves nothing of the
    daemon's behind. Its output goes to temporary files so a chatty child
    can never block on a full pipe while we block on feeding it.
    """

    def __init__(self, target: Path, tar: IO[bytes] | None, out: IO[bytes], err: IO[bytes],
                 options: list[str], extra_fds: tuple[int, ...]) -> None:
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-I", "-S", str(_CHILD), os.fspath(target), *options],
                stdin=tar if tar is not None else subprocess.PIPE, stdout=out, stderr=err,
                cwd=target, env={}, close_fds=True, pass_fds=extra_fds,
            )
        except OSError as e:
            raise InternalError(f"cannot start the layer unpacker: {e}") from e
        self.stdin = self._proc.stdin

    def wait(self) -> int:
        """Wait for the child; if we are interrupted, it must not outlive us."""
        try:
            return self._proc.wait()
        except BaseException:
            self.kill()
            raise

    def kill(self) -> None:
        self._proc.kill()
        self._proc.wait()


class _Forked:
    """An unpacker forked by the zygote; its status comes on a pipe."""

    def __init__(self, stdin: IO[bytes] | None, status_fd: int) -> None:
        self.stdin = stdin
        self._status_fd = status_fd

    def wait(self) -> int:
        try:
            data = os.read(self._status_fd, 1)
        finally:
            os.close(self._status_fd)
        # No byte: the child died before it could say (a signal).
        return data[0] if data else -signal.SIGKILL

    def kill(self) -> None:
        """Cut its input: the child fails at once on the short stream."""
        if self.stdin is not None:
            with contextlib.suppress(OSError):
                self.stdin.close()
        self.wait()


class _Zygote:
    """One pre-started unpacker process that forks a child per extraction.

    Starting an interpreter and importing tarfile costs ~20 ms per layer,
    build context or COPY; a fork of a process that has imported them
    costs ~1 ms (``_unpack_child.serve`` says how). Started on first use;
    it exits when the daemon closes the socket (also when the daemon
    dies). If it cannot be reached, extractions start their own process.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._sock: socket.socket | None = None

    def fork(self, target: Path, tar: IO[bytes] | None, out: IO[bytes], err: IO[bytes],
             options: list[str], extra_fds: tuple[int, ...]) -> _Forked | None:
        sock = self._socket()
        if sock is None:
            return None
        status_r, status_w = os.pipe2(os.O_CLOEXEC)
        pipe_r, pipe_w = os.pipe2(os.O_CLOEXEC) if tar is None else (-1, -1)
        target_fd = os.open(target, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        stdin_fd = tar.fileno() if tar is not None else pipe_r
        try:
            socket.send_fds(sock, [json.dumps(options).encode()],
                            [stdin_fd, out.fileno(), err.fileno(), status_w, target_fd,
                             *extra_fds])
        except OSError as e:
            log.warning("layer unpacker zygote unreachable (%s); starting one per layer", e)
            self._forget(sock)
            for fd in (status_r, pipe_w):
                if fd >= 0:
                    os.close(fd)
            return None
        finally:
            for fd in (status_w, target_fd, pipe_r):
                if fd >= 0:
                    os.close(fd)
        return _Forked(open(pipe_w, "wb") if pipe_w >= 0 else None, status_r)

    def _socket(self) -> socket.socket | None:
        with self._lock:
            if self._sock is not None and self._proc is not None and self._proc.poll() is None:
                return self._sock
            if self._sock is not None:
                self._sock.close()
            ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            try:
                self._proc = subprocess.Popen(
                    [sys.executable, "-I", "-S", str(_CHILD), "--serve", str(theirs.fileno())],
                    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, env={},
                    close_fds=True, pass_fds=(theirs.fileno(),), cwd="/",
                )
            except OSError as e:
                log.warning("cannot start the layer unpacker zygote: %s", e)
                ours.close()
                return None
            finally:
                theirs.close()
            self._sock = ours
            return ours

    def _forget(self, sock: socket.socket) -> None:
        with self._lock:
            if self._sock is sock:
                sock.close()
                self._sock = None


_ZYGOTE = _Zygote()


def _feed(child: _Child, source: BinaryIO) -> int:
    """Copy *source* to the child's stdin and wait for it to exit.

    If the child stops reading (it failed, and its status says why), the
    copy stops; if reading *source* fails, the child is stopped and the
    source's error propagates.
    """
    stdin = child.stdin
    assert stdin is not None
    with contextlib.suppress(OSError):
        # A bigger pipe means fewer context switches per megabyte.
        fcntl.fcntl(stdin.fileno(), fcntl.F_SETPIPE_SZ, _CHUNK)
    try:
        with contextlib.suppress(BrokenPipeError):
            while chunk := source.read(_CHUNK):
                stdin.write(chunk)
        with contextlib.suppress(BrokenPipeError):
            stdin.close()
    except BaseException:
        child.kill()
        with contextlib.suppress(OSError):
            stdin.close()
        raise
    return child.wait()


def _result(status: int, out: IO[bytes], err: IO[bytes]) -> ExtractResult:
    err.seek(0)
    message = err.read(4096).decode("utf-8", "replace").strip().splitlines()
    problem = message[-1] if message else ""
    if status == _EXIT_BAD_ARCHIVE:
        raise InvalidArgument(f"invalid layer archive: {problem or 'rejected'}")
    if status == _EXIT_NO_SPACE:
        raise NoSpaceLeft(f"layer extraction failed: {problem}")
    if status != 0:
        detail = problem or (f"killed by signal {-status}" if status < 0 else f"status {status}")
        raise InternalError(f"layer extraction failed: {detail}")
    out.seek(0)
    try:
        report = json.loads(out.read())
        split = report.get("split")
        return ExtractResult(size=int(report["size"]), entries=int(report["entries"]),
                             warnings=tuple(str(w) for w in report["warnings"]),
                             tar_size=int(split["size"]) if split else None,
                             spilled=tuple(int(i) for i in split["spilled"]) if split else ())
    except (ValueError, KeyError, TypeError) as e:
        raise InternalError(f"layer unpacker gave an unreadable report: {e}") from e


__all__ = ["ExtractResult", "NoSpaceLeft", "extract_layer"]
