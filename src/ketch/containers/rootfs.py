"""A container's root filesystem: an overlay of its image's layers plus its own upper dir.

Layout, per container::

    <containers_root>/<id>/rootfs/upper    the container's changes (docker diff, ps -s)
    <containers_root>/<id>/rootfs/work     overlayfs's scratch dir
    <containers_root>/<id>/rootfs/merged   the mount point: the spec's root.path
    <containers_root>/<id>/rootfs/empty    lower dir for an image with no layers

The lower dirs come from :class:`ketch.layers.store.LayerStore`, top layer
first. They are named by absolute ``<store>/l/<short>`` paths when the
mount options fit in a page (the kernel's limit); otherwise by the relative
``l/<short>`` names, with the mount made by a ``mount`` subprocess whose
working directory is the store root, so the daemon never changes its own.

Docker keeps an "init" layer per container for the mount targets of
/etc/hosts and friends; ketch creates those few targets in the upper dir
when the image lacks them, right after mounting.

This module also holds the helpers that touch paths *inside* a container's
root safely. The image is untrusted: ``/etc/passwd`` may be a symlink to
``../../../../etc/shadow`` of the host. :func:`open_in_root` resolves a
path one component at a time from a directory descriptor, with
``O_NOFOLLOW``, following symlinks itself as if the root were ``/``, so no
``..`` and no absolute link can lead out of it, even if the tree changes
while it walks.

The methods block (mount, tree walks); call them from a worker thread.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import subprocess
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ketch.errors import InternalError, InvalidArgument
from ketch.fsutil import tree_size
from ketch.layers.store import LayerStore
from ketch.trash import Trash
from ketch.volumes import sysmount

_MAX_SYMLINKS = 40
_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


# -- paths inside an untrusted root ------------------------------------------


def _components(path: str) -> list[str]:
    return [p for p in path.split("/") if p not in ("", ".")]


def _open_in_root_fd(
    root_fd: int, path: str, flags: int, mode: int, mkdir: tuple[int, int, int] | None
) -> int:
    """The walk behind :func:`open_in_root`; *mkdir* = (mode, uid, gid) creates dirs."""
    stack = [os.dup(root_fd)]
    parts = deque(_components(path))
    links = 0
    try:
        if not parts:
            return os.open(".", flags | os.O_CLOEXEC, dir_fd=stack[-1])
        while parts:
            name = parts.popleft()
            if name == "..":
                if len(stack) > 1:
                    os.close(stack.pop())
                continue
            last = not parts
            want = (flags | os.O_NOFOLLOW) if last else (os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW)
            try:
                fd = os.open(name, want | os.O_CLOEXEC, mode, dir_fd=stack[-1])
            except FileNotFoundError:
                if mkdir is None:
                    raise
                dmode, uid, gid = mkdir
                with contextlib.suppress(FileExistsError):
                    os.mkdir(name, dmode, dir_fd=stack[-1])
                    os.chown(name, uid, gid, dir_fd=stack[-1], follow_symlinks=False)
                    os.chmod(name, dmode, dir_fd=stack[-1], follow_symlinks=False)
                parts.appendleft(name)
                continue
            except OSError as e:
                if e.errno not in (errno.ELOOP, errno.ENOTDIR):
                    raise
                st = os.stat(name, dir_fd=stack[-1], follow_symlinks=False)
                if not stat.S_ISLNK(st.st_mode):
                    raise
                fd = -1
            if fd >= 0 and last and flags & os.O_PATH and stat.S_ISLNK(os.fstat(fd).st_mode):
                os.close(fd)  # O_PATH|O_NOFOLLOW opens a symlink itself: follow it instead
                fd = -1
            if fd < 0:
                links += 1
                if links > _MAX_SYMLINKS:
                    raise OSError(errno.ELOOP, "too many levels of symbolic links", path) from None
                target = os.readlink(name, dir_fd=stack[-1])
                if target.startswith("/"):
                    while len(stack) > 1:
                        os.close(stack.pop())
                parts.extendleft(reversed(_components(target)))
                continue
            if last:
                return fd
            stack.append(fd)
        # the path ended in ".." (or a symlink to a directory): open what we reached
        return os.open(".", flags | os.O_CLOEXEC, dir_fd=stack[-1])
    finally:
        for fd in stack:
            os.close(fd)


def open_in_root(root: Path, path: str, flags: int = os.O_RDONLY, mode: int = 0o644) -> int:
    """A descriptor for *path* resolved inside *root* as if root were ``/``.

    Symlinks are followed, but ``..`` stops at root and absolute targets
    start again from it, so the result is always inside. *flags* apply to
    the last component (``O_CREAT`` creates it there, even through a
    dangling symlink). Raises OSError like ``open`` (FileNotFoundError, ...).
    """
    root_fd = os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        return _open_in_root_fd(root_fd, path, flags, mode, None)
    finally:
        os.close(root_fd)


def read_file_in_root(root: Path, path: str, max_size: int = 4 << 20) -> bytes | None:
    """The contents of regular file *path* inside *root*, or None if there is none.

    Anything that is not a regular file (a directory, a FIFO that would
    block, a device that never ends) counts as absent; so does a file over
    *max_size* bytes, which no honest /etc/passwd is.
    """
    try:
        fd = open_in_root(root, path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as e:
        if e.errno == errno.ELOOP:
            return None
        raise
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size > max_size:
            return None
        chunks: list[bytes] = []
        total = 0
        while chunk := os.read(fd, 65536):
            total += len(chunk)
            if total > max_size:
                return None
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def mkdir_in_root(root: Path, path: str, mode: int = 0o755, uid: int = 0, gid: int = 0) -> None:
    """``mkdir -p`` of *path* inside *root*; new directories get mode, uid, gid.

    Existing components (and symlinks to directories) are kept as they
    are. Docker creates a missing WorkingDir this way, owned by root.
    """
    root_fd = os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        fd = _open_in_root_fd(root_fd, path, os.O_PATH | os.O_DIRECTORY, 0, (mode, uid, gid))
        os.close(fd)
    finally:
        os.close(root_fd)


def ensure_in_root(root: Path, path: str, directory: bool) -> bool:
    """Create an empty file or dir at *path* inside *root* if nothing is there.

    Anything already there (even a symlink, which the runtime resolves
    inside the root itself) is left alone. True if something was created.
    """
    parent, _, name = path.rstrip("/").rpartition("/")
    if not name or name in (".", ".."):
        return False
    root_fd = os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        dir_fd = _open_in_root_fd(root_fd, parent, os.O_PATH | os.O_DIRECTORY, 0, (0o755, 0, 0))
        try:
            try:
                os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
                return False
            except FileNotFoundError:
                pass
            try:
                if directory:
                    os.mkdir(name, 0o755, dir_fd=dir_fd)
                else:
                    fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
                                 | os.O_CLOEXEC, 0o644, dir_fd=dir_fd)
                    os.close(fd)
            except FileExistsError:
                return False
            return True
        finally:
            os.close(dir_fd)
    finally:
        os.close(root_fd)


# -- mount and unmount ---------------------------------------------------------


def _mount_overlay(target: Path, options: str) -> None:
    err = sysmount.sys_mount("overlay", target, "overlay", 0, options)
    if err:
        raise OSError(err, f"mount overlay on {target}: {os.strerror(err)}")


def _overlay_extra_options() -> str:
    """Docker's overlay2 turns these off when the kernel defaults them on.

    ``index`` breaks mounting one lower dir under several overlays;
    ``metacopy`` would let an upper file borrow a lower file's data.
    """
    extra = ""
    for param in ("index", "metacopy"):
        with contextlib.suppress(OSError):
            if Path(f"/sys/module/overlay/parameters/{param}").read_text().strip() == "Y":
                extra += f",{param}=off"
    return extra


@dataclass(frozen=True)
class RootfsPaths:
    """Where one container's root filesystem lives."""

    root: Path
    upper: Path
    work: Path
    merged: Path
    empty: Path


#: Mount targets the engine needs in every container: (path, is_directory).
MOUNT_TARGETS: tuple[tuple[str, bool], ...] = (
    ("/proc", True),
    ("/sys", True),
    ("/dev", True),
    ("/etc/hostname", False),
    ("/etc/hosts", False),
    ("/etc/resolv.conf", False),
)


class ContainerRootfs:
    """Creates, mounts and removes containers' root filesystems."""

    def __init__(self, containers_root: Path, layers: LayerStore) -> None:
        self.containers_root = containers_root
        self.layers = layers
        self.trash = Trash(containers_root / ".trash")

    def paths(self, container_id: str) -> RootfsPaths:
        if not container_id or "/" in container_id or container_id in (".", ".."):
            raise InvalidArgument(f"invalid container ID {container_id!r}")
        root = self.containers_root / container_id / "rootfs"
        return RootfsPaths(root, root / "upper", root / "work", root / "merged", root / "empty")

    def create(self, container_id: str, chain_ids: Sequence[str]) -> RootfsPaths:
        """Make the container's (empty) upper, work, merged and empty dirs.

        *chain_ids* (the image's layers, base first) are only checked to
        exist (NotFound otherwise), so that a missing layer fails docker
        create, not docker start. Idempotent, so that a create interrupted
        by a crash can be redone.
        """
        paths = self.paths(container_id)
        if chain_ids:
            self.layers.lower_dirs(list(chain_ids))
        paths.root.parent.mkdir(mode=0o710, parents=True, exist_ok=True)
        paths.root.mkdir(mode=0o700, exist_ok=True)
        for d in (paths.upper, paths.work, paths.merged, paths.empty):
            d.mkdir(mode=0o755, exist_ok=True)
        return paths

    def is_mounted(self, container_id: str) -> bool:
        return os.path.ismount(self.paths(container_id).merged)

    def _lower_dirs(self, chain_ids: Sequence[str], paths: RootfsPaths) -> tuple[str, str]:
        """(absolute lowerdir value, relative one) for these layers, base first."""
        if not chain_ids:
            return str(paths.empty), str(paths.empty)
        relative = self.layers.lower_dirs(list(chain_ids))
        absolute = ":".join(str(self.layers.root / rel) for rel in relative.split(":"))
        return absolute, relative

    def mount(self, container_id: str, chain_ids: Sequence[str], *,
              engine_targets: bool = True) -> Path:
        """Mount the overlay (if not mounted yet) and add missing mount targets.

        *chain_ids* are the image's layers, base first (``rootfs.diff_ids``
        order). Returns the merged directory, the spec's ``root.path``.
        ``engine_targets=False`` leaves the mount targets out, for a root
        that no container runs in (a build step's), whose upper dir then
        holds only what is written to it.
        """
        paths = self.paths(container_id)
        if not paths.upper.is_dir():
            raise InternalError(f"container {container_id} has no root filesystem (not created)")
        if not os.path.ismount(paths.merged):
            absolute, relative = self._lower_dirs(chain_ids, paths)
            tail = f",upperdir={paths.upper},workdir={paths.work}{_overlay_extra_options()}"
            for path in (*absolute.split(":"), str(paths.upper), str(paths.work)):
                if "," in path or ":" in path:
                    raise InternalError(f"overlay path {path!r} contains ',' or ':'")
            options = f"lowerdir={absolute}{tail}"
            if len(options) < _PAGE_SIZE:
                _mount_overlay(paths.merged, options)
            else:
                options = f"lowerdir={relative}{tail}"
                if len(options) >= _PAGE_SIZE:
                    raise InternalError(
                        f"too many layers ({len(chain_ids)}) for one overlay mount"
                    )
                proc = subprocess.run(
                    ["mount", "-t", "overlay", "overlay", "-o", options, str(paths.merged)],
                    cwd=self.layers.root, capture_output=True, text=True, check=False,
                )
                if proc.returncode != 0:
                    raise OSError(errno.EIO, f"mount overlay on {paths.merged}: "
                                  f"{proc.stderr.strip() or proc.stdout.strip()}")
        try:
            for target, directory in MOUNT_TARGETS if engine_targets else ():
                ensure_in_root(paths.merged, target, directory)
        except BaseException:
            self.unmount(container_id)
            raise
        return paths.merged

    def unmount(self, container_id: str) -> None:
        """Unmount the overlay; lazily if it is busy. No error if not mounted.

        Loops until the mount point is free, so that stacked mounts (a
        crash between two mounts) do not survive either.
        """
        merged = self.paths(container_id).merged
        for _ in range(16):
            if not os.path.ismount(merged):
                return
            code = sysmount.umount2(merged)
            if code == errno.EBUSY:
                code = sysmount.umount2(merged, sysmount.MNT_DETACH)
            if code not in (0, errno.EINVAL, errno.ENOENT):
                raise OSError(code, f"umount {merged}: {os.strerror(code)}")
        raise InternalError(f"{merged} is still mounted after 16 unmounts")

    def remove(self, container_id: str) -> None:
        """Unmount the container's root filesystem and discard it. Idempotent.

        Its files are deleted in the background (:class:`ketch.trash.Trash`):
        ``docker rm`` of a container that wrote a lot does not wait for it.
        """
        paths = self.paths(container_id)
        self.unmount(container_id)
        self.trash.discard(paths.root)

    def size(self, container_id: str) -> int:
        """Bytes the container wrote (its upper dir): ``SizeRw``."""
        try:
            return tree_size(self.paths(container_id).upper)
        except FileNotFoundError:
            return 0  # not created yet, or being removed
