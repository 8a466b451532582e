"""``PUT /containers/{id}/archive``: a tar unpacked into a directory of a container.

The tar is unpacked *into* a directory, symlinks of the destination path
followed (:func:`extract_target`); ``noOverwriteDirNonDir`` refuses to
replace a directory by a non-directory and the reverse; ``copyUIDGID``
gives every entry the container user's uid and gid (when it has a
``User``). A read-only mount or root filesystem refuses the upload.

Docker's checks run here, on the stream (:class:`_Rewriter`); the entries,
renamed below the target, are then unpacked by the chroot'ed unpacker of
:mod:`ketch.layers.extract`, rooted at the container's root filesystem (or
at the source of the mount the destination is on), so no entry can land
outside it whatever the container's symlinks say.

Everything here but :func:`feed_extraction` blocks.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import io
import posixpath
import stat
import tarfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, cast

from ketch.chunkio import ChunkReader
from ketch.containers.archive_paths import inside
from ketch.containers.archive_view import CopyView
from ketch.errors import InternalError, InvalidArgument
from ketch.layers.extract import extract_layer
from ketch.threadstream import AsyncPipe

_CHUNK = 1 << 20
_BLOCK = 512


@dataclass(frozen=True)
class ExtractTarget:
    """Where an upload goes: container directory *path*, which is *rel* below
    the host directory *host_top* (the rootfs, or a mount's source)."""

    path: str
    host_top: str
    rel: tuple[str, ...]
    #: (uid, gid) every entry gets, for copyUIDGID with a container user
    owner: tuple[int, int] | None = None


def extract_target(view: CopyView, path: str, *, readonly_rootfs: bool) -> ExtractTarget:
    """Resolve the extraction directory as Docker does: every symlink followed
    (so an upload can go "to" a symlink to a directory), then checked to be a
    directory on a writable filesystem."""
    found = view.lookup(path, follow_last=True)
    if not stat.S_ISDIR(found.st.st_mode):
        raise InvalidArgument("extraction point is not a directory")
    if found.mount is not None:
        if not found.mount.rw:
            raise InvalidArgument("mounted volume is marked read-only")
    elif readonly_rootfs:
        raise InvalidArgument("container rootfs is marked read-only")
    return ExtractTarget(found.path, found.host_top, found.rel)


#: PAX records the rewritten header recomputes from the member itself.
_RECOMPUTED = ("path", "linkpath", "size", "GNU.sparse.")
_OWNER_RECORDS = ("uid", "gid", "uname", "gname")


class _Rewriter:
    """Docker's checks on an uploaded tar, and its entries renamed below the target.

    The unpacker is rooted at ``target.host_top``; each entry ``x`` becomes
    ``<rel>/x``. Names that climb out of the target directory, hard links
    to outside it and relative symlinks pointing above it are refused with
    Docker's messages; with *no_overwrite* so is replacing a directory by a
    non-directory or the reverse (checked against the files already there
    and the entries met before in the same upload).
    """

    def __init__(self, target: ExtractTarget, no_overwrite: bool) -> None:
        self.target = target
        self.no_overwrite = no_overwrite
        self.seen: dict[str, bool] = {}

    def _relative(self, path: str) -> str:
        """Container path *path* (inside the target) below the unpacker's root."""
        below = path[len(self.target.path):].strip("/") if self.target.path != "/" \
            else path.strip("/")
        return "/".join([*self.target.rel, *([below] if below else [])]) or "."

    def _existing_is_dir(self, check: CopyView, rel: str) -> bool | None:
        if rel in self.seen:
            return self.seen[rel]
        try:
            st, _ = check.probe(rel)
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                return None
            raise
        return stat.S_ISDIR(st.st_mode)

    def _check_entry(self, member: tarfile.TarInfo, path: str, rel: str,
                     check: CopyView) -> None:
        dest = self.target.path
        if member.islnk():
            link = posixpath.normpath(dest + "/" + member.linkname)
            if not inside(link, dest):
                raise InternalError(f'invalid hardlink "{link}" -> "{member.linkname}"')
        elif member.issym():
            link = posixpath.normpath(posixpath.dirname(path) + "/" + member.linkname)
            if not member.linkname.startswith("/") and not inside(link, dest):
                raise InternalError(f'invalid symlink "{path}" -> "{member.linkname}"')
        if self.no_overwrite:
            existing = self._existing_is_dir(check, rel)
            if existing is True and not member.isdir():
                raise InternalError(
                    f'cannot overwrite directory "{path}" with non-directory "{dest}"')
            if existing is False and member.isdir():
                raise InternalError(
                    f'cannot overwrite non-directory "{path}" with directory "{dest}"')

    def chunks(self, source: BinaryIO) -> Iterator[bytes]:
        """The rewritten tar, read from (possibly compressed) *source*."""
        buffered = io.BufferedReader(cast(io.RawIOBase, source), _CHUNK)
        if not buffered.peek(1):
            return  # an empty upload extracts nothing, as in Docker
        owner = self.target.owner
        try:
            with tarfile.open(fileobj=buffered, mode="r|*", encoding="utf-8",
                              errors="surrogateescape") as tf, \
                    CopyView(Path(self.target.host_top)) as check:
                for member in tf:
                    name = posixpath.normpath(member.name or ".")
                    path = posixpath.normpath(self.target.path + "/" + name)
                    if not inside(path, self.target.path) or name == "..":
                        raise InternalError(f'"{name}" is outside of "{self.target.path}"')
                    rel = self._relative(path)
                    self._check_entry(member, path, rel, check)
                    if name == "." and member.isdir():
                        continue  # as moby: the target's own metadata is left alone
                    self.seen[rel] = member.isdir()
                    if member.islnk():
                        member.linkname = self._relative(
                            posixpath.normpath(self.target.path + "/" + member.linkname))
                    member.name = rel
                    drop = _RECOMPUTED + (_OWNER_RECORDS if owner is not None else ())
                    member.pax_headers = {k: v for k, v in member.pax_headers.items()
                                          if not k.startswith(drop)}
                    if owner is not None:
                        member.uid, member.gid = owner
                        member.uname = member.gname = ""
                    if member.type == tarfile.GNUTYPE_SPARSE:
                        member.type = tarfile.REGTYPE
                    member.sparse = None
                    yield member.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")
                    if member.isreg() and member.size:
                        yield from _member_data(tf, member)
        except tarfile.TarError as exc:
            raise InvalidArgument(f"Error processing tar file: {exc}") from None
        yield b"\0" * (2 * _BLOCK)


def _member_data(tf: tarfile.TarFile, member: tarfile.TarInfo) -> Iterator[bytes]:
    data = tf.extractfile(member)
    if data is None:
        raise InvalidArgument(f"Error processing tar file: no data for {member.name!r}")
    remaining = member.size
    while remaining:
        chunk = data.read(min(_CHUNK, remaining))
        if not chunk:
            raise InvalidArgument("Error processing tar file: unexpected EOF")
        remaining -= len(chunk)
        yield chunk
    yield b"\0" * (-member.size % _BLOCK)


def extract_archive(target: ExtractTarget, source: BinaryIO, *, no_overwrite: bool) -> None:
    """Unpack the tar *source* into *target*, chroot'ed at its filesystem's top."""
    rewriter = _Rewriter(target, no_overwrite)
    reader = ChunkReader(rewriter.chunks(source))
    try:
        extract_layer(cast(BinaryIO, reader), Path(target.host_top), whiteouts=False)
    except InvalidArgument as exc:
        prefix = "invalid layer archive: "
        message = exc.message.removeprefix(prefix)
        raise InvalidArgument(f"Error processing tar file: {message}") from None



async def feed_extraction(target: ExtractTarget, body: AsyncIterator[bytes],
                           no_overwrite: bool) -> None:
    """Pipe *body* into :func:`extract_archive` running in a worker thread.

    Returns when the extraction has ended; its error, if any, is raised
    here. If *body* fails, the extraction is stopped and the body's error
    raised.
    """
    pipe = AsyncPipe(asyncio.get_running_loop())

    def work() -> None:
        with pipe:
            extract_archive(target, cast(BinaryIO, pipe), no_overwrite=no_overwrite)

    extracting = asyncio.ensure_future(asyncio.to_thread(work))
    try:
        try:
            async for chunk in body:
                await pipe.write_async(chunk)
        except BrokenPipeError:
            pass  # the extraction stopped reading: its own error says why
        except BaseException as exc:
            await pipe.fail(exc if isinstance(exc, Exception) else BrokenPipeError())
            raise
        else:
            await pipe.finish()
        await asyncio.shield(extracting)
    finally:
        if not extracting.done():
            pipe.close()
            with contextlib.suppress(BaseException):
                await extracting


__all__ = ["ExtractTarget", "extract_archive", "extract_target", "feed_extraction"]
