"""Filesystem implementation of :class:`ketch.registry.driver.StorageDriver`.

Atomicity comes from the POSIX rename: values are written to a temporary
file in the destination directory, fsynced, then renamed over the target,
and the directory is fsynced so the rename itself survives a crash.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from typing import BinaryIO

from ketch.registry.driver import FileInfo, PathNotFound


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class FilesystemDriver:
    """Stores every value as a file below ``root``."""

    def __init__(self, root: str) -> None:
        self.root = os.path.abspath(root)
        os.makedirs(self.root, exist_ok=True)

    def _full(self, path: str) -> str:
        full = os.path.normpath(os.path.join(self.root, path))
        if full != self.root and not full.startswith(self.root + os.sep):
            raise ValueError(f"path escapes the storage root: {path!r}")
        return full

    def get_content(self, path: str) -> bytes:
        try:
            with open(self._full(path), "rb") as f:
                return f.read()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            raise PathNotFound(path) from None

    def put_content(self, path: str, data: bytes) -> None:
        full = self._full(path)
        directory = os.path.dirname(full)
        os.makedirs(directory, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, full)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        _fsync_dir(directory)

    def append(self, path: str) -> BinaryIO:
        full = self._full(path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        return open(full, "ab")

    def reader(self, path: str, offset: int = 0) -> BinaryIO:
        try:
            f = open(self._full(path), "rb")
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            raise PathNotFound(path) from None
        if offset:
            f.seek(offset)
        return f

    def stat(self, path: str) -> FileInfo:
        try:
            st = os.stat(self._full(path))
        except (FileNotFoundError, NotADirectoryError):
            raise PathNotFound(path) from None
        return FileInfo(size=st.st_size, mtime=st.st_mtime)

    def list(self, path: str) -> list[str]:
        try:
            return sorted(n for n in os.listdir(self._full(path)) if not n.startswith(".tmp-"))
        except (FileNotFoundError, NotADirectoryError):
            return []

    def move(self, src: str, dst: str) -> None:
        full_src, full_dst = self._full(src), self._full(dst)
        if not os.path.exists(full_src):
            raise PathNotFound(src)
        with open(full_src, "rb") as f:
            os.fsync(f.fileno())
        os.makedirs(os.path.dirname(full_dst), exist_ok=True)
        os.replace(full_src, full_dst)
        _fsync_dir(os.path.dirname(full_dst))

    def delete(self, path: str) -> None:
        full = self._full(path)
        if os.path.isdir(full) and not os.path.islink(full):
            shutil.rmtree(full, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError, NotADirectoryError):
                os.unlink(full)

    def local_path(self, path: str) -> str | None:
        return self._full(path)
