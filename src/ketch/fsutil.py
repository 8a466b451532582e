"""Filesystem measurements shared by the container and volume code.

Docker reports two sizes measured the same way (moby's
``directory.Size``): a container's ``SizeRw`` (its overlay upper dir) and a
volume's ``UsageData.Size`` (its ``_data`` dir). Both come from
:func:`tree_size`, so ``docker ps -s`` and ``docker system df -v`` agree
with each other and with Docker on the same files.

It blocks (a tree walk); call it from a worker thread.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path


def tree_size(top: Path) -> int:
    """Bytes under *top* as Docker counts them: every non-directory's lstat
    size (file sizes plus symlink lengths), each inode once (hard links).

    Entries that vanish during the walk are skipped, since the tree may be
    in use; *top* itself missing raises FileNotFoundError, so callers can
    tell "empty" from "gone" (a volume reports -1, a container 0).
    """
    seen: set[tuple[int, int]] = set()
    total = 0
    os.lstat(top)
    pending = [str(top)]
    while pending:
        current = pending.pop()
        try:
            entries = os.scandir(current)
        except (FileNotFoundError, NotADirectoryError):
            continue
        with entries:
            for entry in entries:
                try:
                    st = entry.stat(follow_symlinks=False)
                except FileNotFoundError:
                    continue
                if stat.S_ISDIR(st.st_mode):
                    pending.append(entry.path)
                    continue
                key = (st.st_dev, st.st_ino)
                if st.st_size == 0 or key in seen:
                    continue
                seen.add(key)
                total += st.st_size
    return total


__all__ = ["tree_size"]
