"""The tar ``GET /containers/{id}/archive`` sends: a path in a container, rebased.

The archive is rebased to the path's base name: a file ``/etc/passwd`` is
the entry ``passwd``; a directory ``/d`` is ``d/`` and ``d/...``; ``/d/.``
gives ``./`` and ``./...``; ``/`` gives ``/`` and ``/bin/...``. The CLI
renames entries itself where it must.

Entries are written as ``docker export`` writes them
(:mod:`ketch.layers.export`: same headers, hard links, xattrs), and read the
same way: through descriptors only, never following a symlink. A mount of
the container met on the way (:class:`ketch.containers.archive_view.CopyMount`)
is shown from its source on the host; below the root filesystem, other
filesystems are not entered (they are the daemon's, not the container's).

It blocks; the service runs it in a worker thread feeding the response.
"""

from __future__ import annotations

import os
import posixpath
import stat
from typing import BinaryIO

from ketch.containers.archive_view import CopyView, Found, close_fds
from ketch.layers.export import HardLinks, TarWriter, WalkEntry, add_entry, walk_open_dir

_DIR_READ = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC


def write_archive(view: CopyView, found: Found, name: str, out: BinaryIO) -> None:
    """Write *found* (and, for a directory, everything below it) as a tar
    whose top entry is *name* ("" for the root: entries ``/``, ``/bin``...)."""
    writer = _ArchiveWriter(view, out)
    writer.write(found, os.fsencode(name))
    writer.tar.close()


class _ArchiveWriter:
    """One archive being written from *view*: the tar and its hard link memory."""

    def __init__(self, view: CopyView, out: BinaryIO) -> None:
        self.view = view
        self.tar = TarWriter(out)
        self.links = HardLinks()

    def write(self, found: Found, name: bytes) -> None:
        """*found* as entry *name*, and, for a directory, its tree."""
        if not stat.S_ISDIR(found.st.st_mode):
            if found.parent_fd >= 0:
                add_entry(self.tar, self.links, WalkEntry(name, os.fsencode(found.name),
                                                          found.st, found.parent_fd))
            return
        dir_fd = os.open(f"/proc/self/fd/{found.fd}", _DIR_READ)
        try:
            st = os.fstat(dir_fd)
            add_entry(self.tar, self.links, WalkEntry(name, os.fsencode(found.name), st,
                                                      found.parent_fd, dir_fd))
            # below the root filesystem, other filesystems are not entered (see export)
            device = self.view.root_dev if found.mount is None else None
            self._tree(dir_fd, found.path, name, device)
        finally:
            os.close(dir_fd)

    def _tree(self, dir_fd: int, path: str, name: bytes, device: int | None) -> None:
        """Everything below open directory *dir_fd* (container path *path*),
        each mount met on the way shown from its source."""
        with walk_open_dir(dir_fd) as entries:
            for entry in entries:
                child = posixpath.join(path, os.fsdecode(entry.path))
                renamed = name + b"/" + entry.path
                mount = self.view.mounts.get(child)
                if mount is not None:
                    entry.descend = False
                    opened: list[int] = []
                    try:
                        self.write(self.view.open_mount(mount, opened), renamed)
                    except (FileNotFoundError, NotADirectoryError):
                        pass  # a source gone meanwhile: nothing to show
                    finally:
                        close_fds(opened)
                    continue
                if entry.dir_fd is not None and device is not None \
                        and entry.st.st_dev != device:
                    entry.descend = False
                entry.path = renamed
                add_entry(self.tar, self.links, entry)


__all__ = ["write_archive"]
