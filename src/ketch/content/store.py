"""Content-addressable blobs under ``<root>/blobs/<alg>/<hex>``.

Content is first written to ``<root>/ingest/`` and hashed while written. Only
when the writer commits, and the digest matches the one expected, is the file
fsync'd and renamed into place: a blob that is visible is always complete and
correct. Leftover ingests (a crash mid-write) are removed at start-up.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

from ketch.errors import InvalidArgument, NotFound
from ketch.oci.digest import new_hasher, parse_digest

CHUNK = 1 << 20


class Ingest:
    """A blob being written. Use as a context manager; call ``commit()`` to keep it."""

    def __init__(self, store: ContentStore, expected: str | None, algorithm: str) -> None:
        self._store = store
        self._expected = parse_digest(expected) if expected else None
        self._algorithm = expected.split(":", 1)[0] if expected else algorithm
        self._hasher = new_hasher(self._algorithm)
        fd, name = tempfile.mkstemp(dir=store.ingest_dir)
        self._file = os.fdopen(fd, "wb")
        self._temp = Path(name)
        self.size = 0
        self._done = False

    def write(self, data: bytes) -> None:
        self._hasher.update(data)
        self._file.write(data)
        self.size += len(data)

    def copy_from(self, source: BinaryIO) -> None:
        while chunk := source.read(CHUNK):
            self.write(chunk)

    def commit(self) -> str:
        """Verify, fsync and publish the blob; returns its digest."""
        digest = f"{self._algorithm}:{self._hasher.hexdigest()}"
        if self._expected is not None and digest != self._expected:
            self.abort()
            raise InvalidArgument(
                f"digest mismatch: expected {self._expected}, content is {digest}"
            )
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        target = self._store.path(digest)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(self._temp, target)
        _fsync_dir(target.parent)
        self._done = True
        return digest

    def abort(self) -> None:
        if not self._done:
            self._file.close()
            self._temp.unlink(missing_ok=True)
            self._done = True

    def __enter__(self) -> Ingest:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.abort()


class ContentStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.blobs_dir = root / "blobs"
        self.ingest_dir = root / "ingest"
        self.blobs_dir.mkdir(parents=True, exist_ok=True)
        self.ingest_dir.mkdir(parents=True, exist_ok=True)

    def path(self, digest: str) -> Path:
        algorithm, hex_part = parse_digest(digest).split(":", 1)
        return self.blobs_dir / algorithm / hex_part

    def exists(self, digest: str) -> bool:
        return self.path(digest).is_file()

    def size(self, digest: str) -> int:
        try:
            return self.path(digest).stat().st_size
        except FileNotFoundError:
            raise NotFound(f"blob not found: {digest}") from None

    def read(self, digest: str) -> bytes:
        try:
            return self.path(digest).read_bytes()
        except FileNotFoundError:
            raise NotFound(f"blob not found: {digest}") from None

    def open(self, digest: str) -> BinaryIO:
        try:
            return self.path(digest).open("rb")
        except FileNotFoundError:
            raise NotFound(f"blob not found: {digest}") from None

    def writer(self, expected: str | None = None, algorithm: str = "sha256") -> Ingest:
        return Ingest(self, expected, algorithm)

    def put(self, data: bytes, expected: str | None = None) -> str:
        with self.writer(expected) as ingest:
            ingest.write(data)
            return ingest.commit()

    def put_stream(self, source: BinaryIO, expected: str | None = None) -> tuple[str, int]:
        with self.writer(expected) as ingest:
            ingest.copy_from(source)
            return ingest.commit(), ingest.size

    def delete(self, digest: str) -> None:
        self.path(digest).unlink(missing_ok=True)

    def list(self) -> Iterator[str]:
        for algorithm_dir in self.blobs_dir.iterdir():
            for blob in algorithm_dir.iterdir():
                yield f"{algorithm_dir.name}:{blob.name}"

    def cleanup_ingests(self) -> int:
        """Remove writes a crash left half done; returns how many."""
        count = 0
        for leftover in self.ingest_dir.iterdir():
            if leftover.is_dir():
                shutil.rmtree(leftover, ignore_errors=True)
            else:
                leftover.unlink(missing_ok=True)
            count += 1
        return count


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
