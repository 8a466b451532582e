"""Registry storage: blobs, uploads, manifests, tags and referrers over a driver.

On-disk layout below the driver root (digests are ``<alg>/<hex>``)::

    <root>/
    ├── blobs/
    │   └── sha256/
    │       └── ab/
    │           └── ab12…/
    │               └── data                 blob bytes; written once, verified first
    └── repositories/
        └── <name component>/…/              one directory per name component
            ├── _layers/
            │   └── sha256/ab12…             link: the blob belongs to this repository
            ├── _manifests/
            │   ├── revisions/
            │   │   └── sha256/ab12…         link: digest and media type of a manifest
            │   └── tags/
            │       └── <tag>                link: digest the tag points to
            ├── _referrers/
            │   └── sha256/<subject hex>/
            │       └── sha256/<referrer hex>  descriptor (JSON) of a referrer
            └── _uploads/
                └── <uuid>/
                    ├── data                 bytes received so far
                    └── startedat            creation time (for the purge)

Why it is safe under concurrency and crashes: blob bytes only reach
``blobs/`` by an atomic rename after their digest has been checked, so a
visible blob is always complete and correct, and two pushes of the same blob
rename equal bytes. Links and tags are single small values replaced
atomically (last writer wins, never a torn value). A link is written only
after the content it names, so a crash leaves at most unreferenced blobs,
which ``gc`` sweeps.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any, BinaryIO

import msgspec

from ketch.oci import mediatypes
from ketch.oci.digest import algorithm_of, digest_bytes, hex_of, is_digest
from ketch.registry.driver import PathNotFound, StorageDriver
from ketch.registry.errcodes import ErrorCode, RegistryError

_CHUNK = 1 << 20


def blob_path(digest: str) -> str:
    hexpart = hex_of(digest)
    return f"blobs/{algorithm_of(digest)}/{hexpart[:2]}/{hexpart}/data"


def _repo(name: str) -> str:
    return f"repositories/{name}"


def _digest_path(digest: str) -> str:
    return f"{algorithm_of(digest)}/{hex_of(digest)}"


@dataclass(frozen=True)
class UploadState:
    uuid: str
    offset: int
    started_at: float


@dataclass(frozen=True)
class StoredManifest:
    digest: str
    media_type: str
    content: bytes


class _Progress:
    """Running sha256 of an upload, so finishing it needs no second read."""

    def __init__(self) -> None:
        self.hasher = hashlib.sha256()
        self.offset = 0


class RegistryStorage:
    """The registry's data model on top of a :class:`StorageDriver`."""

    def __init__(self, driver: StorageDriver) -> None:
        self.driver = driver
        self._progress: dict[str, _Progress] = {}
        self._lock = threading.Lock()

    # -- blobs -----------------------------------------------------------
    def blob_size(self, digest: str) -> int | None:
        try:
            return self.driver.stat(blob_path(digest)).size
        except PathNotFound:
            return None

    def repo_blob_size(self, name: str, digest: str) -> int | None:
        """Size of a blob visible in ``name`` (linked there), else None."""
        try:
            self.driver.stat(f"{_repo(name)}/_layers/{_digest_path(digest)}")
        except PathNotFound:
            # Manifests are blobs of the repository too.
            if self._revision(name, digest) is None:
                return None
        return self.blob_size(digest)

    def blob_file(self, digest: str) -> str | None:
        """A local file with the blob's bytes, if the driver has one."""
        return self.driver.local_path(blob_path(digest))

    def open_blob(self, digest: str, offset: int = 0) -> BinaryIO:
        return self.driver.reader(blob_path(digest), offset)

    def link_blob(self, name: str, digest: str) -> None:
        self.driver.put_content(f"{_repo(name)}/_layers/{_digest_path(digest)}", digest.encode())

    def unlink_blob(self, name: str, digest: str) -> bool:
        path = f"{_repo(name)}/_layers/{_digest_path(digest)}"
        try:
            self.driver.stat(path)
        except PathNotFound:
            return False
        self.driver.delete(path)
        return True

    def put_blob_bytes(self, name: str, data: bytes, algorithm: str = "sha256") -> str:
        """Store small content (manifests) directly; returns its digest."""
        digest = digest_bytes(data, algorithm)
        if self.blob_size(digest) is None:
            self.driver.put_content(blob_path(digest), data)
        return digest

    # -- uploads ---------------------------------------------------------
    def _upload_dir(self, name: str, upload_id: str) -> str:
        return f"{_repo(name)}/_uploads/{upload_id}"

    def start_upload(self, name: str) -> UploadState:
        upload_id = str(uuid.uuid4())
        now = time.time()
        base = self._upload_dir(name, upload_id)
        self.driver.put_content(f"{base}/startedat", repr(now).encode())
        self.driver.append(f"{base}/data").close()
        with self._lock:
            self._progress[upload_id] = _Progress()
        return UploadState(upload_id, 0, now)

    def upload_state(self, name: str, upload_id: str) -> UploadState:
        base = self._upload_dir(name, upload_id)
        try:
            started = float(self.driver.get_content(f"{base}/startedat"))
            size = self.driver.stat(f"{base}/data").size
        except (PathNotFound, ValueError):
            raise RegistryError(ErrorCode.BLOB_UPLOAD_UNKNOWN, detail={"uuid": upload_id}) from None
        return UploadState(upload_id, size, started)

    def open_upload_writer(self, name: str, upload_id: str) -> UploadWriter:
        """A writer for streaming chunks into the upload (see UploadWriter)."""
        state = self.upload_state(name, upload_id)
        with self._lock:
            progress = self._progress.get(upload_id)
            if progress is None or progress.offset != state.offset:
                progress = None
                self._progress.pop(upload_id, None)
        f = self.driver.append(f"{self._upload_dir(name, upload_id)}/data")
        return UploadWriter(f, progress, state.offset)

    def cancel_upload(self, name: str, upload_id: str) -> None:
        self.upload_state(name, upload_id)
        with self._lock:
            self._progress.pop(upload_id, None)
        self.driver.delete(self._upload_dir(name, upload_id))

    def finish_upload(self, name: str, upload_id: str, digest: str) -> int:
        """Verify the upload against ``digest`` and make it a blob of ``name``.

        The upload is removed whatever the outcome: a mismatched upload is
        useless. Returns the blob size.
        """
        base = self._upload_dir(name, upload_id)
        state = self.upload_state(name, upload_id)
        with self._lock:
            progress = self._progress.pop(upload_id, None)
        if (progress is not None and progress.offset == state.offset
                and algorithm_of(digest) == "sha256"):
            actual = f"sha256:{progress.hasher.hexdigest()}"
        else:
            hasher = hashlib.new(algorithm_of(digest))
            with self.driver.reader(f"{base}/data") as f:
                while block := f.read(_CHUNK):
                    hasher.update(block)
            actual = f"{algorithm_of(digest)}:{hasher.hexdigest()}"
        if actual != digest:
            self.driver.delete(base)
            raise RegistryError(ErrorCode.DIGEST_INVALID,
                                detail={"expected": digest, "actual": actual})
        if self.blob_size(digest) is None:
            self.driver.move(f"{base}/data", blob_path(digest))
        self.driver.delete(base)
        self.link_blob(name, digest)
        return state.offset

    def purge_uploads(self, max_age: float, now: float | None = None) -> list[str]:
        """Remove uploads started more than ``max_age`` seconds ago."""
        now = time.time() if now is None else now
        removed: list[str] = []
        for name in self.repositories(include_empty=True):
            base = f"{_repo(name)}/_uploads"
            for upload_id in self.driver.list(base):
                try:
                    started = float(self.driver.get_content(f"{base}/{upload_id}/startedat"))
                except (PathNotFound, ValueError):
                    started = 0.0
                if now - started > max_age:
                    self.driver.delete(f"{base}/{upload_id}")
                    with self._lock:
                        self._progress.pop(upload_id, None)
                    removed.append(f"{name}/{upload_id}")
        return removed

    # -- manifests -------------------------------------------------------
    def _revision(self, name: str, digest: str) -> tuple[str, str] | None:
        try:
            raw = self.driver.get_content(
                f"{_repo(name)}/_manifests/revisions/{_digest_path(digest)}")
        except PathNotFound:
            return None
        link_digest, _, media_type = raw.decode().partition("\n")
        return link_digest, media_type

    def has_manifest(self, name: str, digest: str) -> bool:
        return self._revision(name, digest) is not None

    def put_manifest(self, name: str, content: bytes, media_type: str, algorithm: str,
                     tag: str | None, subject: dict[str, Any] | None,
                     descriptor: dict[str, Any]) -> str:
        digest = self.put_blob_bytes(name, content, algorithm)
        if subject is not None:
            self.driver.put_content(
                f"{_repo(name)}/_referrers/{_digest_path(subject['digest'])}/"
                f"{_digest_path(digest)}",
                msgspec.json.encode({**descriptor, "digest": digest}))
        self.driver.put_content(f"{_repo(name)}/_manifests/revisions/{_digest_path(digest)}",
                                f"{digest}\n{media_type}".encode())
        if tag is not None:
            self.driver.put_content(f"{_repo(name)}/_manifests/tags/{tag}", digest.encode())
        return digest

    def resolve(self, name: str, reference: str) -> str | None:
        """Digest named by a tag or digest reference in ``name``, if present."""
        if is_digest(reference):
            return reference if self.has_manifest(name, reference) else None
        try:
            return self.driver.get_content(f"{_repo(name)}/_manifests/tags/{reference}").decode()
        except PathNotFound:
            return None

    def get_manifest(self, name: str, reference: str) -> StoredManifest | None:
        digest = self.resolve(name, reference)
        if digest is None:
            return None
        revision = self._revision(name, digest)
        if revision is None:
            return None
        try:
            content = self.driver.get_content(blob_path(digest))
        except PathNotFound:
            return None
        return StoredManifest(digest, revision[1], content)

    def delete_manifest(self, name: str, digest: str) -> bool:
        stored = self.get_manifest(name, digest)
        if stored is None:
            return False
        for tag in self.tags(name):
            if self.resolve(name, tag) == digest:
                self.driver.delete(f"{_repo(name)}/_manifests/tags/{tag}")
        with contextlib.suppress(msgspec.DecodeError):
            doc = msgspec.json.decode(stored.content)
            subject = doc.get("subject") if isinstance(doc, dict) else None
            if isinstance(subject, dict) and is_digest(str(subject.get("digest", ""))):
                self.driver.delete(f"{_repo(name)}/_referrers/"
                                   f"{_digest_path(subject['digest'])}/{_digest_path(digest)}")
        self.driver.delete(f"{_repo(name)}/_manifests/revisions/{_digest_path(digest)}")
        return True

    def manifest_digests(self, name: str) -> list[str]:
        base = f"{_repo(name)}/_manifests/revisions"
        return [f"{alg}:{h}" for alg in self.driver.list(base)
                for h in self.driver.list(f"{base}/{alg}")]

    def layer_digests(self, name: str) -> list[str]:
        base = f"{_repo(name)}/_layers"
        return [f"{alg}:{h}" for alg in self.driver.list(base)
                for h in self.driver.list(f"{base}/{alg}")]

    # -- tags ------------------------------------------------------------
    def tags(self, name: str) -> list[str]:
        return self.driver.list(f"{_repo(name)}/_manifests/tags")

    def delete_tag(self, name: str, tag: str) -> bool:
        path = f"{_repo(name)}/_manifests/tags/{tag}"
        try:
            self.driver.stat(path)
        except PathNotFound:
            return False
        self.driver.delete(path)
        return True

    def repo_exists(self, name: str) -> bool:
        return bool(self.driver.list(_repo(name)))

    # -- referrers -------------------------------------------------------
    def referrers(self, name: str, subject: str) -> list[dict[str, Any]]:
        base = f"{_repo(name)}/_referrers/{_digest_path(subject)}"
        out: list[dict[str, Any]] = []
        for alg in self.driver.list(base):
            for h in self.driver.list(f"{base}/{alg}"):
                try:
                    desc = msgspec.json.decode(self.driver.get_content(f"{base}/{alg}/{h}"))
                except (PathNotFound, msgspec.DecodeError):
                    continue
                if isinstance(desc, dict) and self.has_manifest(name, f"{alg}:{h}"):
                    out.append(desc)
        return out

    # -- catalog ---------------------------------------------------------
    def repositories(self, include_empty: bool = False) -> list[str]:
        """Every repository name, sorted; only those with content unless asked."""
        found: list[str] = []

        def walk(prefix: str) -> None:
            children = self.driver.list(f"repositories/{prefix}" if prefix else "repositories")
            if any(c.startswith("_") for c in children):
                marks = {"_manifests", "_layers"} | ({"_uploads"} if include_empty else set())
                if marks & set(children):
                    found.append(prefix)
            for child in children:
                if not child.startswith("_"):
                    walk(f"{prefix}/{child}" if prefix else child)

        walk("")
        return sorted(found)


class UploadWriter:
    """Appends streamed chunks to an upload, keeping the running hash if valid."""

    def __init__(self, f: BinaryIO, progress: _Progress | None, offset: int) -> None:
        self._f = f
        self._progress = progress
        self.offset = offset

    def write(self, data: bytes) -> None:
        self._f.write(data)
        self.offset += len(data)
        if self._progress is not None:
            self._progress.hasher.update(data)
            self._progress.offset += len(data)

    def close(self) -> None:
        self._f.flush()
        self._f.close()


def descriptor_media_type(doc: dict[str, Any], content_type: str) -> str:
    """Media type of a manifest: its own field, the request's, or by shape."""
    field = doc.get("mediaType")
    if isinstance(field, str) and field:
        return field
    if content_type in mediatypes.MANIFESTS | mediatypes.INDEXES:
        return content_type
    return mediatypes.OCI_INDEX if "manifests" in doc else mediatypes.OCI_MANIFEST
