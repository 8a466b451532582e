"""Sandboxes: one network namespace per container, kept alive by a bind mount.

A sandbox is the file ``<exec-root>/netns/<container-id>`` on which a network
namespace is bind mounted (``unshare --net=FILE`` does both in a child), so the
namespace outlives every process and the daemon itself, and the OCI spec can
name it by path. ``in_netns`` runs a function on a throw-away thread that has
joined a namespace: ``setns`` changes only the calling thread, so the daemon's
other threads never leave the host's namespace.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from ketch.networks.hostcmd import run

T = TypeVar("T")
CLONE_NEWNET = 0x40000000
MNT_DETACH = 2

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


def _setns(fd: int) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"setns: {os.strerror(err)}")


def _umount(path: Path) -> None:
    if _libc.umount2(str(path).encode(), MNT_DETACH) != 0:
        err = ctypes.get_errno()
        if err not in (errno.EINVAL, errno.ENOENT):
            raise OSError(err, f"umount {path}: {os.strerror(err)}")


def is_netns(path: Path) -> bool:
    """True if *path* has a network namespace mounted on it."""
    try:
        with open("/proc/self/mountinfo") as f:
            target = str(path)
            return any(line.split()[4] == target for line in f)
    except OSError:
        return False


def create(path: Path) -> None:
    """A new network namespace bind mounted at *path* (its loopback still down)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if is_netns(path):
        return
    path.touch(mode=0o444)
    try:
        run(["unshare", f"--net={path}", "true"])
    except BaseException:
        path.unlink(missing_ok=True)
        raise


def destroy(path: Path) -> None:
    """Unmount and remove a sandbox; the namespace dies with its last process."""
    _umount(path)
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def in_netns(path: Path | str, fn: Callable[[], T]) -> T:
    """Run *fn* on a new thread that has entered the namespace at *path*."""
    result: list[T] = []
    failure: list[BaseException] = []

    def body() -> None:
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            try:
                _setns(fd)
            finally:
                os.close(fd)
            result.append(fn())
        except BaseException as exc:  # handed to the caller's thread
            failure.append(exc)
        # The thread ends here, inside the namespace: nothing else ever runs on it.

    thread = threading.Thread(target=body, name="netns", daemon=True)
    thread.start()
    thread.join()
    if failure:
        raise failure[0]
    return result[0]


def nsenter_argv(path: Path | str, argv: list[str]) -> list[str]:
    """A command line that runs *argv* inside the namespace at *path*."""
    return ["nsenter", f"--net={path}", "--", *argv]
