"""The daemon's tmpfs for build contexts: ``<exec-root>/build-scratch``.

A build context is scratch data: unpacked once, read by the build's COPY
and ADD steps, deleted when the build ends, never needed after a crash.
On a journalling filesystem every file created costs a metadata write
(about 0.2 ms each on the disks this was measured on, against a few
microseconds on tmpfs), so a context of thousands of small files spent
most of a build being created and then deleted. Docker unpacks contexts
into its data root; ketch unpacks them into a private, size-capped tmpfs
and falls back to the data root for a context that does not fit
(:func:`ketch.build.context.receive_context`).

The tmpfs is mounted when the daemon starts (replacing one that a killed
daemon left) and unmounted when it stops. ``build-scratch-size`` (bytes,
or ``512m``/``2g``) sets the cap; 0 turns the tmpfs off. Mounting needs
CAP_SYS_ADMIN, which the daemon has; if the mount fails anyway, contexts
simply go to the data root.
"""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path

from ketch.volumes import sysmount

log = logging.getLogger(__name__)

#: The default cap: contexts are usually megabytes; a bigger one uses the disk.
DEFAULT_SIZE = 1 << 30
DIRECTORY = "build-scratch"
_FLAGS = sysmount.MS_NOSUID | sysmount.MS_NODEV | sysmount.MS_NOEXEC


class BuildScratch:
    """The tmpfs at ``<exec_root>/build-scratch``, or nothing if it is off."""

    def __init__(self, exec_root: Path, size: int = DEFAULT_SIZE) -> None:
        self.path = exec_root / DIRECTORY
        self.size = size
        self.mounted = False

    def mount(self) -> Path | None:
        """Mount a fresh tmpfs; the directory for contexts, or None if off."""
        self.unmount()  # a killed daemon's tmpfs: whatever it holds is stale
        if self.size <= 0:
            return None
        self.path.mkdir(mode=0o700, parents=True, exist_ok=True)
        code = sysmount.sys_mount("tmpfs", self.path, "tmpfs", _FLAGS,
                                  f"size={self.size},mode=0700")
        if code:
            log.warning("no tmpfs for build contexts (mount %s: %s); using the data root",
                        self.path, os.strerror(code))
            return None
        self.mounted = True
        return self.path

    def unmount(self) -> None:
        """Unmount every tmpfs stacked at the path (idempotent)."""
        while sysmount.umount2(self.path, sysmount.MNT_DETACH) == 0:
            pass
        self.mounted = False
        with contextlib.suppress(FileNotFoundError, OSError):
            self.path.rmdir()


__all__ = ["DEFAULT_SIZE", "DIRECTORY", "BuildScratch"]
