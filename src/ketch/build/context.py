"""Receive a build context (the body of ``POST /build``) into a private directory.

The client sends the context as a tar, possibly compressed; Docker's daemon
unpacks it into a temporary directory (``builder/remotecontext``), finds the
Dockerfile there, and reads ``.dockerignore`` for one purpose only: the CLI
always sends the Dockerfile and ``.dockerignore`` even when they are
ignored, so the daemon deletes them from the context if ``.dockerignore``
excludes them (everything else was already filtered by the client).

The tar is unpacked by :func:`ketch.layers.extract.extract_layer`, in a
chroot'ed child: whatever names, links or symlinks the client put in it
stay inside the directory. Every later lookup (the Dockerfile, the
``.dockerignore``, COPY sources) resolves symlinks scoped to the context.

Beyond Docker's daemon, a body that is not an archive but text is taken as
the Dockerfile itself, with an otherwise empty context (what ``docker build
- < Dockerfile`` means; the Docker CLI makes that tar on its side).

Blocking; run in a worker thread.
"""

from __future__ import annotations

import contextlib
import errno
import io
import logging
import os
import shutil
import stat
import tarfile
import tempfile
from pathlib import Path
from types import TracebackType
from typing import IO, BinaryIO, cast

from ketch.build.copy_scope import ScopeError, Tree, lexical_rel
from ketch.build.dockerignore import BadPattern, IgnoreMatcher
from ketch.errors import InvalidArgument
from ketch.layers.compression import Replay, open_decompressed
from ketch.layers.extract import NoSpaceLeft, extract_layer

log = logging.getLogger(__name__)

DEFAULT_DOCKERFILE = "Dockerfile"
DOCKERIGNORE = ".dockerignore"
#: A Dockerfile (or .dockerignore) larger than this is refused.
MAX_DOCKERFILE_SIZE = 16 << 20

_SPOOL_CHUNK = 1 << 20
#: How much of the body is looked at to tell an archive from a Dockerfile
#: (two tar blocks, as the Docker CLI does).
_PEEK = 1024
_COMPRESSED_MAGIC = (
    b"\x1f\x8b\x08",  # gzip
    b"BZh",  # bzip2
    b"\xfd7zXZ\x00",  # xz
    b"\x28\xb5\x2f\xfd",  # zstd
)


class BuildContext:
    """An unpacked build context and its Dockerfile; remove it with :meth:`close`.

    ``root`` is the context directory (untrusted contents: resolve paths in
    it with :class:`ketch.build.copy_scope.Tree`), ``dockerfile_name`` the
    Dockerfile's path in it as found (``dockerfile`` if the lowercase
    fallback applied), ``dockerfile_text`` its bytes.
    """

    def __init__(self, root: Path, dockerfile_text: bytes, dockerfile_name: str) -> None:
        self.root = root
        self.dockerfile_text = dockerfile_text
        self.dockerfile_name = dockerfile_name

    def close(self) -> None:
        """Delete the context directory. Idempotent."""
        if self.root.exists():
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> BuildContext:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def _read_head(body: BinaryIO, size: int) -> bytes:
    chunks: list[bytes] = []
    have = 0
    while have < size:
        chunk = body.read(size - have)
        if not chunk:
            break
        chunks.append(chunk)
        have += len(chunk)
    return b"".join(chunks)


def _is_tar_header(block: bytes) -> bool:
    if len(block) < tarfile.BLOCKSIZE:
        return False
    try:
        tarfile.TarInfo.frombuf(block[: tarfile.BLOCKSIZE], "utf-8", "surrogateescape")
    except tarfile.HeaderError:
        return False
    return True


def classify_body(head: bytes) -> str:
    """``"archive"``, ``"empty"`` or ``"dockerfile"`` for a body starting with *head*.

    An archive is compressed (gzip, bzip2, xz, zstd) or starts with a valid
    tar header; zero blocks only are an empty archive. Anything else must
    be text to be a Dockerfile; binary garbage is refused here with a
    message that says what was expected.
    """
    if not head:
        return "empty"
    if head.startswith(_COMPRESSED_MAGIC):
        return "archive"
    if not head.strip(b"\x00"):
        return "empty"
    if _is_tar_header(head):
        return "archive"
    if b"\x00" in head or not _is_text(head):
        shown = head[:8].hex(" ")
        raise InvalidArgument(
            "the build context is neither a tar archive (plain, gzip, bzip2, xz or zstd) "
            f"nor a text Dockerfile: it starts with {shown}"
        )
    return "dockerfile"


def _is_text(head: bytes) -> bool:
    """UTF-8 text, allowing a character cut in two at the end of the peek."""
    for cut in range(4):
        try:
            head[: len(head) - cut].decode("utf-8")
        except UnicodeDecodeError:
            continue
        return True
    return False


def _unpack(head: bytes, body: BinaryIO, root: Path) -> None:
    # The peeked head is at least the 512 bytes open_decompressed peeks in
    # turn (or the whole body), so a read error of the body can only come
    # through its checked reader, which unwraps Replay's wrapped OSError.
    replay = io.BufferedReader(Replay(head, body), buffer_size=1 << 16)
    try:
        with open_decompressed(replay) as stream:
            extract_layer(stream, root, whiteouts=False)
    except InvalidArgument as e:
        detail = e.message.removeprefix("invalid layer archive: ")
        detail = detail.replace(" layer stream", " stream")
        detail = detail.replace("the layer root", "the build context")
        raise InvalidArgument(f"invalid build context: {detail}") from None


def _too_large(name: str, max_size: int) -> InvalidArgument:
    """Ours: Docker has no such limit (only 64 KiB per line), but a
    Dockerfile is held in memory and parsed whole, so its size is capped."""
    return InvalidArgument(f"the Dockerfile ({name}) is larger than {max_size} bytes, "
                           "the most this daemon accepts")


def _write_dockerfile(head: bytes, body: BinaryIO, root: Path, max_size: int) -> None:
    data = head + _read_head(body, max_size + 1 - len(head))
    if len(data) > max_size or body.read(1):
        raise _too_large(DEFAULT_DOCKERFILE, max_size)
    fd = os.open(root / DEFAULT_DOCKERFILE, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC,
                 0o644)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def _locate_dockerfile(tree: Tree, name: str) -> tuple[str, str]:
    """(name used, resolved path) of the Dockerfile, with Docker's errors."""
    if lexical_rel(name) is None:
        raise InvalidArgument(f"forbidden path outside the build context: {name} ()")
    try:
        found = tree.resolve(name)
        if found.exists:
            return name, found.rel
        if name == DEFAULT_DOCKERFILE:
            lower = tree.resolve(name.lower())
            if lower.exists:
                return name.lower(), lower.rel
    except ScopeError as e:
        raise InvalidArgument(str(e)) from None
    raise InvalidArgument(f"Cannot locate specified Dockerfile: {name}")


def _read_dockerfile(tree: Tree, name: str, rel: str, max_size: int) -> bytes:
    try:
        text = tree.read_file(rel, max_size)
    except IsADirectoryError:
        raise InvalidArgument(
            f"unexpected error reading Dockerfile: read {name}: is a directory") from None
    except OSError as e:
        if e.errno == errno.EFBIG:
            raise _too_large(name, max_size) from None
        raise InvalidArgument(
            f"unexpected error reading Dockerfile: {name}: {e.strerror or e}") from None
    if not text:
        raise InvalidArgument(f"the Dockerfile ({name}) cannot be empty")
    return text


def _remove(tree: Tree, path: str) -> None:
    """Delete what *path* leads to in the tree (Docker's ``Remove``), never the root."""
    try:
        found = tree.resolve(path)
    except ScopeError:
        return
    if not found.rel or found.st is None:
        return
    parent = tree.open_parent(found.rel)
    name = found.rel.rsplit("/", 1)[-1]
    try:
        if stat.S_ISDIR(found.st.st_mode):
            shutil.rmtree(name, dir_fd=parent)
        else:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(name, dir_fd=parent)
    finally:
        os.close(parent)


def _drop_ignored_build_files(tree: Tree, dockerfile: str, max_size: int) -> None:
    """Delete ``.dockerignore`` and the Dockerfile if ``.dockerignore`` excludes them."""
    try:
        found = tree.resolve(DOCKERIGNORE)
        if not found.exists:
            return
        text = tree.read_file(found.rel, max_size)
    except (ScopeError, OSError):
        return  # Docker ignores an unreadable .dockerignore here too
    try:
        matcher = IgnoreMatcher.from_dockerignore(text)
    except BadPattern:
        return  # Docker's daemon ignores a pattern error at this point
    for path in (DOCKERIGNORE, dockerfile):
        if matcher.matches(path):
            _remove(tree, path)


def receive_context(
    body: BinaryIO,
    workdir: Path,
    dockerfile: str = "",
    *,
    scratch: Path | None = None,
    max_dockerfile_size: int = MAX_DOCKERFILE_SIZE,
) -> BuildContext:
    """Unpack the request body *body* into a new directory under *scratch*
    (the daemon's tmpfs, :mod:`ketch.build.scratch`) or, without one or
    when the context does not fit there, under *workdir*.

    *dockerfile* is the ``dockerfile`` query parameter (default
    ``Dockerfile``, with Docker's fallback to ``dockerfile``). An archive
    body is read to its end. Raises InvalidArgument with Docker's messages
    (``Cannot locate specified Dockerfile: Dockerfile``, ``the Dockerfile
    (Dockerfile) cannot be empty``, ``forbidden path outside the build
    context: ../Dockerfile ()``) or ours for a corrupt or unrecognisable
    body; the directory is gone when it raises.
    """
    if scratch is None:
        return _receive_into(workdir, body, dockerfile, max_dockerfile_size)
    # The body is also kept on disk as it goes by: if the tmpfs fills up,
    # the context is unpacked again from there, under workdir.
    with tempfile.TemporaryFile(dir=workdir) as spool:
        try:
            return _receive_into(scratch, cast(BinaryIO, _Spooling(body, spool)), dockerfile,
                                 max_dockerfile_size)
        except NoSpaceLeft:
            log.info("build context larger than the build tmpfs; unpacking it on disk")
        while chunk := body.read(_SPOOL_CHUNK):
            spool.write(chunk)
        spool.seek(0)
        return _receive_into(workdir, cast(BinaryIO, spool), dockerfile, max_dockerfile_size)


def _receive_into(parent: Path, body: BinaryIO, dockerfile: str,
                  max_dockerfile_size: int) -> BuildContext:
    name = dockerfile or DEFAULT_DOCKERFILE
    root = Path(tempfile.mkdtemp(prefix="context-", dir=parent))
    try:
        head = _read_head(body, _PEEK)
        kind = classify_body(head)
        if kind == "dockerfile":
            _write_dockerfile(head, body, root, max_dockerfile_size)
            name = DEFAULT_DOCKERFILE
        elif head:
            _unpack(head, body, root)
        with Tree(root) as tree:
            name, rel = _locate_dockerfile(tree, name)
            text = _read_dockerfile(tree, name, rel, max_dockerfile_size)
            _drop_ignored_build_files(tree, name, max_dockerfile_size)
        return BuildContext(root, text, name)
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise


class _Spooling(io.RawIOBase):
    """Reads *source*, writing what it read to *spool* too."""

    def __init__(self, source: BinaryIO, spool: IO[bytes]) -> None:
        self._source = source
        self._spool = spool

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1, /) -> bytes:
        data = self._source.read(size)
        if data:
            self._spool.write(data)
        return data


__all__ = [
    "DEFAULT_DOCKERFILE",
    "MAX_DOCKERFILE_SIZE",
    "BuildContext",
    "classify_body",
    "receive_context",
]
