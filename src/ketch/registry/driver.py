"""The storage driver contract: a tiny key/value file system.

Everything the registry keeps (blobs, upload buffers, manifest links, tags,
referrer links) is a path below the driver's root. The registry logic in
``storage.py`` only speaks this interface, so an object-store driver can be
added without touching it. Paths are ``/``-separated, relative, and already
validated by the caller (never ``..``, never absolute).

Contract per method:

- ``get_content``: the whole value; :class:`PathNotFound` if absent.
- ``put_content``: atomic replace; a reader sees the old or the new value,
  never a mix, and after return the value survives a crash.
- ``append``: open an upload buffer for appending (created if absent); the
  caller writes and closes it. Not visible anywhere but under its own path.
- ``reader``: a binary stream positioned at ``offset``.
- ``stat``: size and modification time; :class:`PathNotFound` if absent.
- ``list``: names directly below a directory ([] if absent).
- ``move``: atomic rename of a finished value into place, replacing any
  existing value (the registry only moves content-addressed data, so a
  replace by a concurrent writer is a replace by equal bytes).
- ``delete``: remove a value or a whole tree; absent is not an error.
- ``local_path``: a local file holding the value, for ``sendfile``; None
  when the driver keeps no local files (an object store), and callers
  then stream through ``reader``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import BinaryIO, Protocol


class PathNotFound(Exception):
    """The driver has no value at the path."""


@dataclass(frozen=True)
class FileInfo:
    size: int
    mtime: float


class StorageDriver(Protocol):
    def get_content(self, path: str) -> bytes: ...
    def put_content(self, path: str, data: bytes) -> None: ...
    def append(self, path: str) -> BinaryIO: ...
    def reader(self, path: str, offset: int = 0) -> BinaryIO: ...
    def stat(self, path: str) -> FileInfo: ...
    def list(self, path: str) -> list[str]: ...
    def move(self, src: str, dst: str) -> None: ...
    def delete(self, path: str) -> None: ...
    def local_path(self, path: str) -> str | None: ...
