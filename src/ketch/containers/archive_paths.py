"""``docker cp`` paths and stats as the Docker client and moby see them.

Path strings follow Go's ``filepath`` and moby's archive package (a
trailing ``/`` or ``/.`` means "a directory, following a last symlink");
a path's stat travels in the ``X-Docker-Container-Path-Stat`` header as
base64 of JSON with Go ``os.FileMode`` bits. Pure functions: nothing here
touches the filesystem.
"""

from __future__ import annotations

import base64
import json
import posixpath
import stat
from dataclasses import dataclass
from typing import Any

from ketch.timeutil import format_ns

#: The response header carrying a path's stat (base64 of JSON).
STAT_HEADER = "X-Docker-Container-Path-Stat"

# Go's os.FileMode type bits.
_GO_DIR = 1 << 31
_GO_SYMLINK = 1 << 27
_GO_DEVICE = 1 << 26
_GO_PIPE = 1 << 25
_GO_SOCKET = 1 << 24
_GO_SETUID = 1 << 23
_GO_SETGID = 1 << 22
_GO_CHARDEV = 1 << 21
_GO_STICKY = 1 << 20


# -- paths as Go's filepath and moby's archive package see them ------------------------


def go_base(path: str) -> str:
    """``filepath.Base``: the last element, trailing slashes ignored; ``/`` for root."""
    if not path:
        return "."
    path = path.rstrip("/")
    return path.rsplit("/", 1)[-1] if path else "/"


def asserts_dir(path: str) -> bool:
    """The path ends in ``/`` or ``/.``: it names a directory, following a last symlink."""
    return path.endswith("/") or go_base(path) == "."


def container_path(path: str) -> str:
    """*path* made absolute and cleaned, keeping a trailing ``/`` or ``/.``
    (moby's ``PreserveTrailingDotOrSeparator(filepath.Join("/", path), path)``)."""
    cleaned = posixpath.normpath("/" + path.lstrip("/"))
    if go_base(cleaned) != "." and go_base(path) == ".":
        cleaned = cleaned.rstrip("/") + "/."
    if not cleaned.endswith("/") and path.endswith("/"):
        cleaned += "/"
    return cleaned


def components(path: str) -> list[str]:
    """The names in *path*, without empty and ``.`` ones (``..`` kept)."""
    return [p for p in path.split("/") if p not in ("", ".")]


def inside(path: str, top: str) -> bool:
    """Clean absolute *path* is *top* or below it."""
    return top == "/" or path == top or path.startswith(top + "/")


# -- stat -------------------------------------------------------------------------------


def go_file_mode(mode: int) -> int:
    """A ``st_mode`` as Go's ``os.FileMode`` (what the stat header carries)."""
    out = mode & 0o777
    fmt = stat.S_IFMT(mode)
    out |= {stat.S_IFDIR: _GO_DIR, stat.S_IFLNK: _GO_SYMLINK, stat.S_IFBLK: _GO_DEVICE,
            stat.S_IFCHR: _GO_DEVICE | _GO_CHARDEV, stat.S_IFIFO: _GO_PIPE,
            stat.S_IFSOCK: _GO_SOCKET}.get(fmt, 0)
    for bit, go_bit in ((stat.S_ISUID, _GO_SETUID), (stat.S_ISGID, _GO_SETGID),
                        (stat.S_ISVTX, _GO_STICKY)):
        if mode & bit:
            out |= go_bit
    return out


@dataclass(frozen=True)
class PathStat:
    """moby's ``container.PathStat``: what ``docker cp`` learns about a path."""

    name: str
    size: int
    #: Go ``os.FileMode`` bits (directory ``1<<31``, symlink ``1<<27``, ...)
    mode: int
    mtime_ns: int
    link_target: str = ""

    @property
    def is_dir(self) -> bool:
        return bool(self.mode & _GO_DIR)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "size": self.size, "mode": self.mode,
                "mtime": format_ns(self.mtime_ns), "linkTarget": self.link_target}

    def header_value(self) -> str:
        """The ``X-Docker-Container-Path-Stat`` value: base64 of compact JSON."""
        raw = json.dumps(self.to_json(), separators=(",", ":"), ensure_ascii=False)
        return base64.b64encode(raw.encode()).decode()


__all__ = [
    "STAT_HEADER",
    "PathStat",
    "asserts_dir",
    "components",
    "container_path",
    "go_base",
    "go_file_mode",
    "inside",
]
