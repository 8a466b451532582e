"""Heredoc sources of COPY and ADD (``COPY <<EOF /dest``), as BuildKit makes them.

Docker's classic builder ignores heredoc sources; BuildKit's Dockerfile
frontend turns each one into a file named after the heredoc's delimiter
word, holding the heredoc's text (tabs stripped for ``<<-``, variables
expanded unless the delimiter was quoted: both done by the parser and
``expand_instruction``), mode 0644 before ``--chmod``, owned as ``--chown``
says, never unpacked even by ADD, dated when it is written. We follow that.

Rather than a second copy path, the files are written into a small
directory of the build's own and handed to the ordinary COPY machinery as
sources whose tree is that directory (as ``COPY --from`` reads from another
stage's tree). Their content digest, which names the step in the history
and keys the build cache, therefore covers the heredoc text.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from ketch.build.copysource import CopySource
from ketch.build.dockerfile import SourceContent
from ketch.errors import InvalidArgument

#: The mode BuildKit gives a heredoc file (``llb.Mkfile(path, 0644, data)``).
HEREDOC_FILE_MODE = 0o644


def write_heredoc_sources(contents: Sequence[SourceContent], directory: Path,
                          *, cmd: str = "COPY") -> list[CopySource]:
    """Write each heredoc into ``directory`` (empty, the caller's); their sources, in order.

    A delimiter that is not a plain file name (``a/b``, ``..``) cannot name a
    file in a directory of its own: InvalidArgument. Two heredocs with the
    same name are two files in BuildKit, copied one after the other (the
    later wins); here the later one also wins, in a subdirectory of its own.
    Blocks (small writes).
    """
    sources: list[CopySource] = []
    for index, content in enumerate(contents):
        name = content.path
        if not name or "/" in name or name in (".", "..") or "\x00" in name:
            raise InvalidArgument(f"{cmd} failed: invalid heredoc name {name!r}: "
                                  "it must be a plain file name")
        root = directory / str(index)
        root.mkdir(mode=0o700)
        path = root / name
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW,
                     HEREDOC_FILE_MODE)
        with os.fdopen(fd, "wb") as file:
            file.write(content.data.encode("utf-8", "surrogateescape"))
        os.chmod(path, HEREDOC_FILE_MODE)  # whatever the umask
        # ``from_url`` makes ADD copy it as it is, never unpack it.
        sources.append(CopySource(root=root, path=name, resolved=name, is_dir=False,
                                  from_url=True))
    return sources


__all__ = ["HEREDOC_FILE_MODE", "write_heredoc_sources"]
