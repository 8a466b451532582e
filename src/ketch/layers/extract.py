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
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, BinaryIO

from ketch.errors import InternalError, InvalidArgument

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
        pass_fds: tuple[int, ...] = ()
        if split_dir is not None:
            if not whiteouts:
                raise InternalError("a tar-split record is only kept for layers")
            split_fd = os.open(split_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            stack.callback(os.close, split_fd)
            options, pass_fds = ["--split", str(split_fd)], (split_fd,)
        if isinstance(source, Path):
            tar = stack.enter_context(source.open("rb"))
            status = _wait(_spawn(target, tar, out, err, options, pass_fds))
        else:
            status = _feed(_spawn(target, subprocess.PIPE, out, err, options, pass_fds), source)
        return _result(status, out, err)


def _wait(proc: subprocess.Popen[bytes]) -> int:
    """Wait for the child; if we are interrupted, it must not outlive us."""
    try:
        return proc.wait()
    except BaseException:
        proc.kill()
        proc.wait()
        raise


def _spawn(target: Path, stdin: IO[bytes] | int, out: IO[bytes], err: IO[bytes],
           options: list[str], pass_fds: tuple[int, ...]) -> subprocess.Popen[bytes]:
    """Start the chroot'ed unpacker on *target*.

    ``-I -S`` keep the child to the interpreter's own standard library (no
    PYTHONPATH, no site-packages or their ``.pth`` hooks, no script
    directory on sys.path); the empty environment leaves nothing of the
    daemon's behind. Its output goes to temporary files so a chatty child
    can never block on a full pipe while we block on feeding it.
    """
    try:
        return subprocess.Popen(
            [sys.executable, "-I", "-S", str(_CHILD), os.fspath(target), *options],
            stdin=stdin, stdout=out, stderr=err, cwd=target, env={}, close_fds=True,
            pass_fds=pass_fds,
        )
    except OSError as e:
        raise InternalError(f"cannot start the layer unpacker: {e}") from e


def _feed(proc: subprocess.Popen[bytes], source: BinaryIO) -> int:
    """Copy *source* to the child's stdin and wait for it to exit.

    If the child stops reading (it failed, and its status says why), the
    copy stops; if reading *source* fails, the child is killed and the
    source's error propagates.
    """
    stdin = proc.stdin
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
        proc.kill()
        proc.wait()
        with contextlib.suppress(OSError):
            stdin.close()
        raise
    return _wait(proc)


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
