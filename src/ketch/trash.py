"""Deleting big trees off the request path.

Removing a container's root filesystem or a build context of thousands of
files takes as long as writing them did. A tree handed to :class:`Trash` is
renamed into the trash directory (same filesystem: one syscall, and its old
name is free at once) and deleted later by one background thread, so
``docker rm`` and the end of a build do not wait for it. What a crash or a
shutdown leaves in the trash is deleted when the next Trash on that
directory starts.
"""

from __future__ import annotations

import errno
import os
import queue
import secrets
import shutil
import threading
from pathlib import Path


class Trash:
    def __init__(self, root: Path) -> None:
        self.root = root
        self._pending: queue.Queue[Path] = queue.Queue()
        self._lock = threading.Lock()
        self._worker: threading.Thread | None = None
        if root.is_dir():
            for leftover in sorted(root.iterdir()):
                self._enqueue(leftover)

    def discard(self, path: Path) -> None:
        """Make ``path`` (a tree, a file or a symlink) disappear now; delete it soon.

        A path on another filesystem than the trash is deleted right away.
        A missing path is not an error.
        """
        if not path.exists() and not path.is_symlink():
            return
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)  # made on first use
        target = self.root / secrets.token_hex(8)
        try:
            os.rename(path, target)
        except FileNotFoundError:
            return
        except OSError as exc:
            if exc.errno != errno.EXDEV:
                raise
            _delete(path)
            return
        self._enqueue(target)

    def wait(self) -> None:
        """Block until everything discarded so far is deleted (tests, shutdown)."""
        self._pending.join()

    def _enqueue(self, path: Path) -> None:
        self._pending.put(path)
        with self._lock:
            if self._worker is None:
                self._worker = threading.Thread(target=self._run, name="trash", daemon=True)
                self._worker.start()

    def _run(self) -> None:
        """Delete what comes; stop after a few idle seconds (a new discard restarts it)."""
        while True:
            try:
                path = self._pending.get(timeout=5)
            except queue.Empty:
                with self._lock:
                    if self._pending.empty():
                        self._worker = None
                        return
                continue
            try:
                _delete(path)
            finally:
                self._pending.task_done()


def _delete(path: Path) -> None:
    if path.is_symlink() or not path.is_dir():
        path.unlink(missing_ok=True)
    else:
        shutil.rmtree(path, ignore_errors=True)
