"""Volume subpaths (``--mount type=volume,volume-subpath=a/b``), resolved safely.

The volume's contents belong to whoever has it mounted: a container may have
replaced ``a`` by a symlink to ``/etc``. So, as Docker does, the subpath is
opened one component at a time below the volume's ``_data`` with
``O_NOFOLLOW`` (a symlink anywhere is refused), and what was opened is
pinned by bind-mounting the descriptor (``/proc/self/fd/N``) onto a
temporary mount point: the runtime is handed that mount point, which keeps
pointing at the checked file or directory whatever happens to the path
afterwards. The pin is removed (:meth:`PinnedPath.close`) once the
container's mounts exist.

Blocking (mount): call from a worker thread.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from ketch.errors import InvalidArgument, NotFound
from ketch.volumes import sysmount
from ketch.volumes.sysmount import go_errno_text


def is_local(path: str) -> bool:
    """Go's ``filepath.IsLocal`` (Unix): relative, and not leaving its base lexically."""
    if not path or path.startswith("/"):
        return False
    if any(part in (".", "..") for part in path.split("/")):
        path = os.path.normpath(path)
    return not (path == ".." or path.startswith("../"))


@dataclass
class PinnedPath:
    """A bind mount of a resolved subpath; ``path`` is what the runtime mounts."""

    path: Path
    _closed: bool = field(default=False, repr=False)

    def close(self) -> None:
        """Unmount and delete the temporary mount point (idempotent)."""
        if self._closed:
            return
        sysmount.unmount(self.path)
        with contextlib.suppress(FileNotFoundError):
            if self.path.is_dir() and not self.path.is_symlink():
                self.path.rmdir()
            else:
                self.path.unlink()
        self._closed = True


def _not_accessible(path: str, code: int) -> NotFound:
    return NotFound(f"cannot access path {path}: {go_errno_text(code)}")


def open_beneath(base: Path, subpath: str) -> int:
    """An ``O_PATH`` descriptor of *subpath* below *base*, no symlink followed."""
    if not is_local(subpath):
        raise InvalidArgument(
            f"path concatenation escapes the base directory, base: {base}, subpath: {subpath}")
    try:
        fd = os.open(base, os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:
        raise _not_accessible(str(base), exc.errno or errno.EIO) from None
    full = os.path.join(str(base), subpath)
    parts = [p for p in os.path.normpath(subpath).split("/") if p not in ("", ".")]
    try:
        for i, part in enumerate(parts):
            try:
                child = os.open(part, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
            except OSError as exc:
                raise _not_accessible(full, exc.errno or errno.EIO) from None
            os.close(fd)
            fd = child
            mode = os.fstat(fd).st_mode
            if stat.S_ISLNK(mode):
                raise _not_accessible(full, errno.ELOOP)
            if i < len(parts) - 1 and not stat.S_ISDIR(mode):
                raise _not_accessible(full, errno.ENOTDIR)
    except BaseException:
        os.close(fd)
        raise
    return fd


def pin_subpath(base: Path, subpath: str, pin_dir: Path) -> PinnedPath:
    """Resolve *subpath* below *base* and pin it on a fresh mount point in *pin_dir*."""
    fd = open_beneath(base, subpath)
    try:
        pin_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        if stat.S_ISDIR(os.fstat(fd).st_mode):
            target = Path(tempfile.mkdtemp(prefix="subpath-", dir=pin_dir))
        else:
            handle, name = tempfile.mkstemp(prefix="subpath-", dir=pin_dir)
            os.close(handle)
            target = Path(name)
        pinned = PinnedPath(target)
        try:
            sysmount.bind(f"/proc/self/fd/{fd}", target)
        except BaseException:
            with contextlib.suppress(OSError):
                target.rmdir() if target.is_dir() else target.unlink()
            raise
        return pinned
    finally:
        os.close(fd)
