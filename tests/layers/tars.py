"""Build layer tars in memory for the ketch.layers tests.

Python's tarfile writes exactly what a TarInfo says (``../x`` names,
absolute names, hard links to anything), which is what we need to forge
hostile layers as well as ordinary ones. PAX format throughout, so
fractional mtimes and ``SCHILY.xattr.*`` records survive.
"""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

#: A fixed, fractional mtime (PAX keeps the nanoseconds).
MTIME = 1_600_000_000.25
MTIME_NS = 1_600_000_000_250_000_000


def require_root() -> None:
    """Skip (not fail) where chroot and mknod are impossible."""
    import pytest

    if os.geteuid() != 0:
        pytest.skip("layer extraction needs root (chroot, mknod, chown)")


class TarBuilder:
    """Append entries, then take ``.data()`` once."""

    def __init__(self) -> None:
        self._buf = io.BytesIO()
        self._tar = tarfile.open(fileobj=self._buf, mode="w", format=tarfile.PAX_FORMAT)

    def _add(self, info: tarfile.TarInfo, data: bytes | None = None,
             xattrs: dict[str, bytes] | None = None) -> TarBuilder:
        if xattrs:
            info.pax_headers = {
                f"SCHILY.xattr.{k}": v.decode("utf-8", "surrogateescape")
                for k, v in xattrs.items()
            }
        self._tar.addfile(info, io.BytesIO(data) if data is not None else None)
        return self

    @staticmethod
    def _info(name: str, kind: bytes, mode: int, uid: int, gid: int,
              mtime: float) -> tarfile.TarInfo:
        info = tarfile.TarInfo(name)
        info.type = kind
        info.mode = mode
        info.uid, info.gid = uid, gid
        info.mtime = mtime
        return info

    def dir(self, name: str, mode: int = 0o755, uid: int = 0, gid: int = 0,
            mtime: float = MTIME, xattrs: dict[str, bytes] | None = None) -> TarBuilder:
        return self._add(self._info(name, tarfile.DIRTYPE, mode, uid, gid, mtime), xattrs=xattrs)

    def file(self, name: str, data: bytes = b"", mode: int = 0o644, uid: int = 0,
             gid: int = 0, mtime: float = MTIME,
             xattrs: dict[str, bytes] | None = None) -> TarBuilder:
        info = self._info(name, tarfile.REGTYPE, mode, uid, gid, mtime)
        info.size = len(data)
        return self._add(info, data, xattrs)

    def symlink(self, name: str, target: str, uid: int = 0, gid: int = 0,
                mtime: float = MTIME) -> TarBuilder:
        info = self._info(name, tarfile.SYMTYPE, 0o777, uid, gid, mtime)
        info.linkname = target
        return self._add(info)

    def hardlink(self, name: str, target: str) -> TarBuilder:
        info = self._info(name, tarfile.LNKTYPE, 0o644, 0, 0, MTIME)
        info.linkname = target
        return self._add(info)

    def device(self, name: str, kind: bytes, major: int, minor: int, mode: int = 0o660,
               uid: int = 0, gid: int = 0) -> TarBuilder:
        info = self._info(name, kind, mode, uid, gid, MTIME)
        info.devmajor, info.devminor = major, minor
        return self._add(info)

    def fifo(self, name: str, mode: int = 0o600) -> TarBuilder:
        return self._add(self._info(name, tarfile.FIFOTYPE, mode, 0, 0, MTIME))

    def whiteout(self, name: str, uid: int = 0, gid: int = 0) -> TarBuilder:
        """The ``.wh.`` marker for *name* (``dir/x`` -> ``dir/.wh.x``)."""
        head, _, base = name.rpartition("/")
        return self.file(f"{head}/.wh.{base}" if head else f".wh.{base}", uid=uid, gid=gid)

    def opaque(self, directory: str) -> TarBuilder:
        return self.file(f"{directory}/.wh..wh..opq")

    def data(self) -> bytes:
        self._tar.close()
        return self._buf.getvalue()

    def write(self, path: Path) -> Path:
        path.write_bytes(self.data())
        return path


def tree(root: Path) -> list[str]:
    """Every path below *root*, relative and sorted (symlinks not followed)."""
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))
