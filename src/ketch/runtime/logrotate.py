"""Keeping several log files although conmon keeps only one.

conmon 2.1.6 enforces ``--log-size-max`` by replacing the log with a new,
empty file (``<log>.tmp`` renamed over ``<log>``); the old data is gone
unless another name still links the old inode. The keeper gives conmon's
current file a second name, ``<log>.hold``. When conmon replaces ``<log>``
(inotify reports the rename), the keeper renames ``.hold`` to ``<log>.1``
after shifting ``.1`` to ``.2`` and so on (the oldest beyond ``max_files -
1`` is dropped), then links the new file as ``.hold``. ``logfile`` explains
what the readers make of these names and what is lost while no keeper runs.

A container started again gets a new conmon, which would append to the old
log but count its bytes from zero: ``prepare`` therefore moves the old file
out of the way first (appending it to ``<log>.1`` when both fit in
``max_size``, so that restart loops do not fill the set with tiny files),
and no file grows past ``max_size``.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import shutil
from pathlib import Path

from ketch.runtime.inotify import IN_MOVED_TO, Event, Subscription
from ketch.runtime.logfile import file_lock, hold_path, rotated_indexes, rotated_path

log = logging.getLogger(__name__)


def _shift_in(path: Path, source: Path, max_files: int) -> None:
    """Make ``source`` the newest rotated file (``<log>.1``), shifting the
    others and dropping those beyond ``max_files - 1``."""
    keep = max_files - 1
    indexes = rotated_indexes(path)
    for index in reversed(indexes):
        if index >= keep:
            with contextlib.suppress(FileNotFoundError):
                rotated_path(path, index).unlink()
        else:
            os.replace(rotated_path(path, index), rotated_path(path, index + 1))
    if keep >= 1:
        os.replace(source, rotated_path(path, 1))
    else:
        with contextlib.suppress(FileNotFoundError):
            source.unlink()


def settle(path: Path, max_files: int) -> None:
    """If conmon replaced the log since ``.hold`` was linked, move the held
    file into the rotated set."""
    hold = hold_path(path)
    with file_lock(path):
        try:
            held = os.stat(hold).st_ino
        except FileNotFoundError:
            return
        try:
            current: int | None = os.stat(path).st_ino
        except FileNotFoundError:
            current = None
        if held != current:
            _shift_in(path, hold, max_files)


def hold(path: Path) -> None:
    """Link the file conmon writes now as ``.hold``."""
    with file_lock(path), contextlib.suppress(FileNotFoundError, FileExistsError):
        os.link(path, hold_path(path))


def release(path: Path, max_files: int) -> None:
    """The writer is gone: keep what it held, drop the extra name."""
    settle(path, max_files)
    hold_file = hold_path(path)
    with file_lock(path), contextlib.suppress(FileNotFoundError):
        hold_file.unlink()


def prepare(path: Path, max_size: int | None, max_files: int) -> int | None:
    """Before a new conmon opens ``path`` (it appends, but counts bytes from
    zero): move the existing data out of its way and return the
    ``--log-size-max`` to give it. Blocking; run it in a thread."""
    release(path, max_files)
    if max_size is None:
        return None
    try:
        size = os.stat(path).st_size
    except FileNotFoundError:
        return max_size
    if size == 0:
        return max_size
    if max_files <= 1:
        # one file only: let conmon fill what is left of it
        if size < max_size:
            return max_size - size
        path.unlink()
        return max_size
    with file_lock(path):
        newest = rotated_path(path, 1)
        try:
            room = max_size - os.stat(newest).st_size
        except FileNotFoundError:
            room = -1
        if size <= room:
            # a short run after a short run (restart loops): merge them, so
            # that tiny files do not push older logs out
            with open(path, "rb") as src, open(newest, "ab") as dst:
                shutil.copyfileobj(src, dst)
            path.unlink()
        else:
            _shift_in(path, path, max_files)
    return max_size


class LogKeeper:
    """Watches the logs of running containers and preserves the files conmon
    replaces. One per runtime; needs a running event loop."""

    def __init__(self) -> None:
        self._logs: dict[Path, int] = {}  # log path -> max_files
        self._dirs: dict[Path, Subscription] = {}

    def add(self, path: Path, max_files: int) -> None:
        """Start keeping ``path`` (conmon already opened it)."""
        if max_files <= 1:
            return  # nothing to keep: conmon's own truncation is the behaviour
        directory = path.parent
        if directory not in self._dirs:
            self._dirs[directory] = Subscription(
                directory, IN_MOVED_TO, functools.partial(self._on_event, directory))
        self._logs[path] = max_files
        self._keep(path, max_files)

    def remove(self, path: Path) -> None:
        """Stop keeping ``path``: its conmon exited (or the container is gone)."""
        max_files = self._logs.pop(path, None)
        if max_files is not None:
            release(path, max_files)
        directory = path.parent
        if directory in self._dirs and not any(p.parent == directory for p in self._logs):
            self._dirs.pop(directory).close()

    def close(self) -> None:
        """Stop watching (the daemon shuts down); the held links stay, so the
        next keeper finds every replacement that happens meanwhile."""
        for sub in self._dirs.values():
            sub.close()
        self._dirs.clear()
        self._logs.clear()

    @staticmethod
    def _keep(path: Path, max_files: int) -> None:
        settle(path, max_files)
        hold(path)
        settle(path, max_files)  # conmon may have replaced it in between
        hold(path)

    def _on_event(self, directory: Path, ev: Event) -> None:
        if ev.name:
            paths = [directory / ev.name]
        else:  # queue overflow: look at everything in that directory
            paths = [p for p in self._logs if p.parent == directory]
        for path in paths:
            max_files = self._logs.get(path)
            if max_files is None:
                continue
            try:
                self._keep(path, max_files)
            except OSError:
                log.exception("rotating %s failed", path)
