"""Keeping several log files although conmon keeps only one.

conmon 2.1.6 enforces ``--log-size-max`` by replacing the log with a new,
empty file (``<log>.tmp`` renamed over ``<log>``); the old data is gone
unless another name still links the old inode. The keeper gives conmon's
current file a second name, ``<log>.hold``. When conmon replaces ``<log>``
(inotify reports the rename), the keeper renames ``.hold`` to ``<log>.1``
after shifting ``.1`` to ``.2`` and so on (the oldest beyond ``max_files -
1`` is dropped), then links the new file as ``.hold``. ``logfile`` explains
what the readers make of these names and what is lost while no keeper runs.

A container started again appends to its old log with a new conmon, whose
byte count starts from zero: ``prepare`` therefore either rotates the old file
at once (when it is at least half full) or gives conmon only the room left in
it, so that no file grows past ``max_size``.
"""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path

from ketch.runtime.inotify import IN_MOVED_TO, Event, Inotify
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
    """Before a new conmon opens ``path`` (appending): the ``--log-size-max``
    to give it, after rotating the existing file if it is half full."""
    release(path, max_files)
    if max_size is None:
        return None
    try:
        size = os.stat(path).st_size
    except FileNotFoundError:
        return max_size
    if size == 0:
        return max_size
    if size * 2 >= max_size:
        with file_lock(path):
            _shift_in(path, path, max_files)
        return max_size
    return max_size - size


class LogKeeper:
    """Watches the logs of running containers and preserves the files conmon
    replaces. One per runtime; needs a running event loop."""

    def __init__(self) -> None:
        self._inotify: Inotify | None = None
        self._logs: dict[Path, int] = {}  # log path -> max_files
        self._dirs: dict[Path, int] = {}  # watched dir -> wd
        self._wd_dirs: dict[int, Path] = {}

    def add(self, path: Path, max_files: int) -> None:
        """Start keeping ``path`` (conmon already opened it)."""
        if max_files <= 1:
            return  # nothing to keep: conmon's own truncation is the behaviour
        if self._inotify is None:
            self._inotify = Inotify(self._on_events)
        directory = path.parent
        if directory not in self._dirs:
            wd = self._inotify.watch(directory, IN_MOVED_TO)
            self._dirs[directory] = wd
            self._wd_dirs[wd] = directory
        self._logs[path] = max_files
        settle(path, max_files)
        hold(path)
        settle(path, max_files)  # conmon may have replaced it in between
        hold(path)

    def remove(self, path: Path) -> None:
        """Stop keeping ``path``: its conmon exited (or the container is gone)."""
        max_files = self._logs.pop(path, None)
        if max_files is not None:
            release(path, max_files)
        directory = path.parent
        if self._inotify is not None and directory in self._dirs and not any(
                p.parent == directory for p in self._logs):
            wd = self._dirs.pop(directory)
            self._wd_dirs.pop(wd, None)
            self._inotify.unwatch(wd)

    def close(self) -> None:
        """Stop watching (the daemon shuts down); the held links stay, so the
        next keeper finds every replacement that happens meanwhile."""
        if self._inotify is not None:
            self._inotify.close()
            self._inotify = None
        self._logs.clear()
        self._dirs.clear()
        self._wd_dirs.clear()

    def _on_events(self, events: list[Event]) -> None:
        if not events:  # queue overflow: look at everything
            paths = list(self._logs)
        else:
            paths = []
            for ev in events:
                directory = self._wd_dirs.get(ev.wd)
                if directory is not None and (directory / ev.name) in self._logs:
                    paths.append(directory / ev.name)
        for path in paths:
            max_files = self._logs.get(path)
            if max_files is None:
                continue
            try:
                settle(path, max_files)
                hold(path)
            except OSError:
                log.exception("rotating %s failed", path)
