"""Content digests of COPY/ADD sources, the build cache's key for them.

The classic builder caches a COPY by a string like ``COPY file:<hex> in
/dst`` (also what ``docker history`` shows), where the hex digest covers
what the copy depends on and nothing else. Like Docker's tarsum-based
hashes (``builder/remotecontext``), it covers each entry's name, mode,
owner, size, type, link target, device numbers and contents, but not its
times: touching a file keeps the cache, changing a byte or a mode bit does
not.

The forms are Docker's: ``file:<hex>`` for a single file (its digest as an
entry), ``dir:<hex>`` for a directory (sha256 of its entries' digests,
sorted, joined with ``,``), and for several sources ``multi:<hex>`` (the
same over the per-source strings, in instruction order).

Names: a single file is hashed under its source path as named (the name
it gets in a destination directory), a directory's entries under their
paths relative to it (``.`` for itself), so a directory copied from
elsewhere with the same content hits the cache.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Sequence

from ketch.build.copy_scope import Tree
from ketch.build.copy_walk import Entry, walk_source
from ketch.build.copysource import CopySource

_CHUNK = 1 << 20


def typeflag(mode: int) -> str:
    """The tar type flag for a file mode (``0`` regular, ``5`` directory, ...)."""
    if stat.S_ISDIR(mode):
        return "5"
    if stat.S_ISLNK(mode):
        return "2"
    if stat.S_ISCHR(mode):
        return "3"
    if stat.S_ISBLK(mode):
        return "4"
    if stat.S_ISFIFO(mode):
        return "6"
    return "0"


def entry_digest(name: str, entry: Entry) -> str:
    """Hex sha256 of one entry's header fields (tarsum v1 order, no mtime) and data."""
    st = entry.st
    is_reg = stat.S_ISREG(st.st_mode)
    is_dev = stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode)
    fields = (
        ("name", name),
        ("mode", str(stat.S_IMODE(st.st_mode))),
        ("uid", str(st.st_uid)),
        ("gid", str(st.st_gid)),
        ("size", str(st.st_size if is_reg else 0)),
        ("typeflag", typeflag(st.st_mode)),
        ("linkname", entry.linkname),
        ("uname", ""),
        ("gname", ""),
        ("devmajor", str(os.major(st.st_rdev) if is_dev else 0)),
        ("devminor", str(os.minor(st.st_rdev) if is_dev else 0)),
    )
    h = hashlib.sha256()
    for key, value in fields:
        h.update((key + value).encode("utf-8", "surrogateescape"))
    if is_reg and st.st_size:
        with entry.open() as f:
            while chunk := f.read(_CHUNK):
                h.update(chunk)
    return h.hexdigest()


def _hash_list(prefix: str, items: Sequence[str]) -> str:
    return f"{prefix}:{hashlib.sha256(','.join(items).encode()).hexdigest()}"


def one_source_digest(source: CopySource) -> str:
    """``file:<hex>`` or ``dir:<hex>`` for one source."""
    with Tree(source.root) as tree:
        if not source.is_dir:
            walker = walk_source(tree, source.resolved)
            try:
                entry = next(walker, None)
                if entry is None:
                    # A socket: never copied, and nothing to hash.
                    raise FileNotFoundError(f"{source.path} is not a file that can be copied")
                return "file:" + entry_digest(source.path, entry)
            finally:
                walker.close()
        digests = [entry_digest(entry.rel or ".", entry)
                   for entry in walk_source(tree, source.resolved)]
    return _hash_list("dir", sorted(digests))


def source_digest(sources: Sequence[CopySource]) -> str:
    """The cache digest of an instruction's sources (Docker's ``multi:`` for several)."""
    digests = [one_source_digest(s) for s in sources]
    if len(digests) == 1:
        return digests[0]
    return _hash_list("multi", digests)


__all__ = ["entry_digest", "one_source_digest", "source_digest", "typeflag"]
