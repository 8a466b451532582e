"""The client side of a build context: the tar ``docker build DIR`` sends.

The Docker CLI reads ``DIR/.dockerignore``, adds exceptions so that the
Dockerfile and ``.dockerignore`` themselves are always sent, and writes a
tar of the files the patterns leave (``archive.TarWithOptions`` with
``ChownOpts 0:0``): every entry owned by 0:0, modes and whole-second
mtimes kept, hard links as links, symlinks as symlinks, sockets left out.
The daemon then drops the Dockerfile and ``.dockerignore`` again if they
are excluded (:mod:`ketch.build.context`).

Standard library only (plus :mod:`ketch.build.dockerignore`), so the CLI
can import it cheaply.
"""

from __future__ import annotations

import os
import stat
import tarfile
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO

from ketch.build.dockerignore import (
    IgnoreMatcher,
    keep_build_files,
    read_ignore_lines,
    validate_context,
    walk_context,
)

_TYPES = {
    stat.S_IFDIR: tarfile.DIRTYPE,
    stat.S_IFLNK: tarfile.SYMTYPE,
    stat.S_IFIFO: tarfile.FIFOTYPE,
    stat.S_IFCHR: tarfile.CHRTYPE,
    stat.S_IFBLK: tarfile.BLKTYPE,
    stat.S_IFREG: tarfile.REGTYPE,
}


def context_matcher(context_dir: Path, dockerfile: str = "Dockerfile",
                    dockerfile_from_stdin: bool = False) -> IgnoreMatcher:
    """The matcher for what ``docker build`` sends from *context_dir*.

    *dockerfile* is the Dockerfile's path relative to the context with
    ``/`` separators. Raises OSError if ``.dockerignore`` exists but cannot
    be read, BadPattern (an InvalidArgument) for a malformed pattern.
    """
    try:
        text = (context_dir / ".dockerignore").read_bytes()
    except FileNotFoundError:
        text = b""
    patterns = keep_build_files(read_ignore_lines(text), dockerfile, dockerfile_from_stdin)
    return IgnoreMatcher(patterns)


def write_context_tar(context_dir: Path, paths: Iterable[str], out: BinaryIO) -> int:
    """Write the tar of *paths* (from :func:`walk_context`) to *out*; entries written.

    Files that vanish or cannot be read meanwhile are skipped, as the
    Docker CLI does after its own up-front check.
    """
    links: dict[tuple[int, int], str] = {}
    count = 0
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT,
                      encoding="utf-8", errors="surrogateescape") as tar:
        for rel in paths:
            host = os.path.join(context_dir, rel)
            try:
                st = os.lstat(host)
            except OSError:
                continue
            kind = _TYPES.get(stat.S_IFMT(st.st_mode))
            if kind is None:
                continue  # a socket
            info = tarfile.TarInfo(rel)
            info.type = kind
            info.mode = stat.S_IMODE(st.st_mode)
            info.uid = info.gid = 0
            info.mtime = st.st_mtime_ns // 1_000_000_000
            if kind == tarfile.SYMTYPE:
                info.linkname = os.readlink(host)
            elif kind in (tarfile.CHRTYPE, tarfile.BLKTYPE):
                info.devmajor, info.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
            if kind != tarfile.DIRTYPE and st.st_nlink > 1:
                key = (st.st_dev, st.st_ino)
                if key in links:
                    info.type, info.linkname = tarfile.LNKTYPE, links[key]
                    kind = tarfile.LNKTYPE
                else:
                    links[key] = rel
            if kind != tarfile.REGTYPE:
                tar.addfile(info)
                count += 1
                continue
            info.size = st.st_size
            try:
                fd = os.open(host, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
            except OSError:
                links.pop((st.st_dev, st.st_ino), None)
                continue
            with os.fdopen(fd, "rb") as f:
                tar.addfile(info, f)
            count += 1
    return count


def send_context(context_dir: Path, out: BinaryIO, dockerfile: str = "Dockerfile",
                 dockerfile_from_stdin: bool = False) -> int:
    """Everything ``docker build CONTEXT_DIR`` does to make its context tar.

    Like the CLI, first fails (InvalidArgument) if a file that would be sent
    cannot be read, so a build does not start with a partial context.
    """
    try:
        text = (context_dir / ".dockerignore").read_bytes()
    except FileNotFoundError:
        text = b""
    validate_context(context_dir, IgnoreMatcher(read_ignore_lines(text)))
    matcher = context_matcher(context_dir, dockerfile, dockerfile_from_stdin)
    return write_context_tar(context_dir, walk_context(context_dir, matcher), out)


__all__ = ["context_matcher", "send_context", "write_context_tar"]
