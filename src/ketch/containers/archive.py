"""``docker cp`` on the daemon side: stat, archive and extract paths in a container.

Three operations, as moby's archive endpoints do them, each in its module:

* **stat** (``HEAD .../archive``): lstat of the path, its parents resolved
  in the container; a trailing ``/`` or ``/.`` follows the last symlink
  too. A symlink's ``linkTarget`` is its full resolution in the container
  (missing components kept as written). Path rules and the stat header:
  :mod:`ketch.containers.archive_paths`; the lookup:
  :mod:`ketch.containers.archive_view`, which resolves every path in the
  container's files (its root filesystem plus its mounts) without ever
  leaving them.
* **archive** (``GET``): a tar of the path, rebased to its base name
  (:mod:`ketch.containers.archive_tar`).
* **extract** (``PUT``): a tar unpacked *into* a directory, with Docker's
  checks (:mod:`ketch.containers.archive_extract`).

This module is the service the API calls (:class:`ContainerArchive`): it
mounts a stopped container's root filesystem for the operation, runs the
blocking parts in worker threads, and words lookup errors as Docker does.
It also re-exports the pieces the API and tests use.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import BinaryIO

from ketch.containers.archive_extract import (
    ExtractTarget,
    extract_archive,
    extract_target,
    feed_extraction,
)
from ketch.containers.archive_paths import (
    STAT_HEADER,
    PathStat,
    container_path,
    go_base,
    go_file_mode,
)
from ketch.containers.archive_tar import write_archive
from ketch.containers.archive_view import CopyMount, CopyView, copy_mounts
from ketch.containers.commit import ContainerFiles
from ketch.containers.model import Container
from ketch.containers.users import resolve_user
from ketch.errors import InternalError, InvalidArgument, KetchError, NotFound
from ketch.threadstream import stream_from_thread


class ArchiveStream:
    """A path's tar being streamed; :meth:`aclose` releases what it holds,
    whether or not it was read."""

    def __init__(self, stat_: PathStat, chunks: AsyncIterator[bytes],
                 release: Callable[[], Awaitable[None]]) -> None:
        self.stat = stat_
        self._chunks = chunks
        self._release: Callable[[], Awaitable[None]] | None = release

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._chunks

    async def aclose(self) -> None:
        try:
            close: Callable[[], Awaitable[None]] | None = getattr(self._chunks, "aclose", None)
            if close is not None:
                await close()
        finally:
            release, self._release = self._release, None
            if release is not None:
                await release()


def _os_failure(exc: OSError, path: str, container: str) -> KetchError:
    """Docker's answer for a failed lookup of *path* (as the client gave it)."""
    if isinstance(exc, FileNotFoundError):
        return NotFound(f"Could not find the file {path} in container {container}")
    if isinstance(exc, NotADirectoryError):
        return InternalError(f"lstat {container_path(path)}: not a directory")
    return InternalError(f"lstat {container_path(path)}: {(exc.strerror or str(exc)).lower()}")


class ContainerArchive:
    """stat, archive and extract of paths in containers (running or not).

    A stopped container's overlay is mounted for the operation and
    unmounted after it, counted with exports (:class:`ContainerFiles`), so
    concurrent users never unmount under each other.
    """

    def __init__(self, files: ContainerFiles) -> None:
        self.files = files
        self.containers = files.containers

    @staticmethod
    def _check_path(path: str) -> None:
        if not path:
            raise InvalidArgument("bad parameter: path cannot be empty")

    async def _open(self, ref: str) -> tuple[Container, CopyView]:
        container = self.files.get(ref)
        rootfs = self.files.rootfs()
        merged = await self.files.hold_mount(rootfs, container)
        try:
            view = await asyncio.to_thread(lambda: CopyView(merged, copy_mounts(container)))
        except BaseException:
            await self.files.release_mount(rootfs, container.id)
            raise
        return container, view

    async def _close(self, container: Container, view: CopyView) -> None:
        try:
            await asyncio.to_thread(view.close)
        finally:
            await self.files.release_mount(self.files.rootfs(), container.id)

    async def stat(self, ref: str, path: str) -> PathStat:
        """``HEAD /containers/{id}/archive?path=``."""
        self._check_path(path)
        container, view = await self._open(ref)
        try:
            try:
                path_stat, _ = await asyncio.to_thread(view.stat, container_path(path))
            except OSError as exc:
                raise _os_failure(exc, path, ref) from None
            return path_stat
        finally:
            await self._close(container, view)

    async def archive(self, ref: str, path: str) -> ArchiveStream:
        """``GET /containers/{id}/archive?path=``: the stat and the tar stream.

        Lookup errors are raised here, before any byte; close the stream
        (``aclose``) when done, read or not.
        """
        self._check_path(path)
        container, view = await self._open(ref)
        try:
            absolute = container_path(path)
            try:
                path_stat, found = await asyncio.to_thread(view.stat, absolute)
            except OSError as exc:
                raise _os_failure(exc, path, ref) from None
            name = "" if absolute == "/" else go_base(absolute)

            def produce(out: BinaryIO) -> None:
                write_archive(view, found, name, out)

            chunks = stream_from_thread(produce)
        except BaseException:
            await self._close(container, view)
            raise
        self.containers.emit(container, "archive-path")
        return ArchiveStream(path_stat, chunks, lambda: self._close(container, view))

    async def extract(self, ref: str, path: str, body: AsyncIterator[bytes], *,
                      no_overwrite_dir_non_dir: bool, copy_uid_gid: bool) -> None:
        """``PUT /containers/{id}/archive?path=``: unpack the tar in *body* into
        directory *path*. Errors about the target come before the body is read."""
        self._check_path(path)
        container, view = await self._open(ref)
        try:
            try:
                target = await asyncio.to_thread(
                    extract_target, view, container_path(path),
                    readonly_rootfs=container.host_config.readonly_rootfs)
            except OSError as exc:
                raise _os_failure(exc, path, ref) from None
            if copy_uid_gid and container.config.user:
                user = await asyncio.to_thread(resolve_user, view.root, container.config.user)
                target = ExtractTarget(target.path, target.host_top, target.rel,
                                       (user.uid, user.gid))
            await feed_extraction(target, body, no_overwrite_dir_non_dir)
        finally:
            await self._close(container, view)
        self.containers.emit(container, "extract-to-dir")


__all__ = [
    "STAT_HEADER",
    "ArchiveStream",
    "ContainerArchive",
    "CopyMount",
    "CopyView",
    "ExtractTarget",
    "PathStat",
    "container_path",
    "copy_mounts",
    "extract_archive",
    "extract_target",
    "go_file_mode",
]
