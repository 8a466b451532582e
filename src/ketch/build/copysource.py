"""What a COPY or ADD takes from its source tree, decided as Docker's classic builder does.

The source tree is the build context or another stage's root filesystem;
both are untrusted, and every lookup in them goes through
:class:`~ketch.build.copy_scope.Tree`, which keeps symlinks inside.

:func:`resolve_sources` turns the instruction's source arguments into
:class:`CopySource` objects (``builder/dockerfile/copy.go``):

- one leading ``/`` and one leading ``./`` are dropped: sources are
  relative to the tree;
- an argument with an unescaped ``*``, ``?`` or ``[`` is a wildcard,
  matched with Go's ``filepath.Match`` against every path of the tree
  (symlinks are not walked into; a malformed pattern matches nothing), in
  the walk's order;
- anything else is looked up with symlinks followed inside the tree, so
  ``COPY link/passwd`` with ``link -> /etc`` reads the tree's own
  ``etc/passwd``, never the host's;
- a path that climbs out by itself (``../x``) is refused with Docker's
  ``forbidden path outside the build context: ../x ()``.

The checks on the whole instruction (nothing matched, several sources
into a destination without ``/``) are made there too, with Docker's words.

ADD's extras are here as well: whether a local file is an archive that ADD
unpacks instead of copying (:func:`is_archive`, :func:`open_archive`), and
the name, mode and time a downloaded URL source gets (:func:`url_filename`,
:data:`URL_FILE_MODE`, :func:`url_mtime`).
"""

from __future__ import annotations

import email.utils
import errno
import io
import os
import posixpath
import tarfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urlsplit

from ketch.build.copy_scope import Resolved, ScopeError, Tree
from ketch.build.dockerignore import BadPattern, filepath_match, has_wildcards
from ketch.errors import InvalidArgument

#: A downloaded ADD source is written with this mode (Docker's temp file).
URL_FILE_MODE = 0o600
#: The name a download gets when neither the URL nor the server names it.
UNNAMED_FILENAME = "__unnamed__"

_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


@dataclass(frozen=True, slots=True)
class CopySource:
    """One source of a COPY/ADD, found and resolved inside its tree.

    ``path`` is the source as named (the argument, or the path a wildcard
    matched), relative to the tree: its last component names a file copied
    into a directory. ``resolved`` is where it leads after symlinks (``""``
    for the tree root). ``is_dir`` says whether a directory is copied (its
    contents) or a single file. ``from_url`` marks an ADD download, which is
    never unpacked even if it is an archive.
    """

    root: Path
    path: str
    resolved: str
    is_dir: bool
    from_url: bool = False

    @property
    def name(self) -> str:
        """The name a copied file gets inside a destination directory."""
        return posixpath.basename(self.path.rstrip("/")) or self.path


def _instruction_path(orig: str) -> str:
    """The classic builder's trimming: one leading ``/``, then one ``./``."""
    path = orig.removeprefix("/")
    return path.removeprefix("./")


def _not_found(path: str, in_context: bool) -> str:
    message = f"stat {path}: file does not exist"
    if in_context:
        return f"file not found in build context or excluded by .dockerignore: {message}"
    return message


def _source_at(tree: Tree, path: str, in_context: bool, cmd: str) -> CopySource:
    """The single (non-wildcard) source *path*; Docker's errors if it is not there."""
    try:
        found: Resolved = tree.resolve(path)
    except ScopeError as e:
        raise InvalidArgument(f"{cmd} failed: {e}") from None
    if found.st is None:
        raise InvalidArgument(f"{cmd} failed: {_not_found(path, in_context)}")
    return CopySource(root=tree.root, path=path, resolved=found.rel, is_dir=found.is_dir)


def _walk_dir(fd: int, rel: str, depth: int, max_depth: int,
              prefix_parts: Sequence[str]) -> Iterator[str]:
    """The paths below the directory open as *fd* (which this closes), in Go's WalkDir order.

    Depth first, names in byte order, each directory before what it holds;
    symlinks are listed but never entered. No deeper than *max_depth*
    components; at the depths covered by *prefix_parts* (literal leading
    components of a pattern) only the entry with that name is considered.
    """
    try:
        with os.scandir(fd) as it:
            names = sorted((e.name for e in it), key=os.fsencode)
        want = prefix_parts[depth] if depth < len(prefix_parts) else None
        for name in names:
            if want is not None and name != want:
                continue
            path = f"{rel}/{name}" if rel else name
            yield path
            if depth + 1 >= max_depth:
                continue
            try:
                child = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW
                                | os.O_CLOEXEC, dir_fd=fd)
            except OSError:
                continue  # not a directory, a symlink, or gone
            yield from _walk_dir(child, path, depth + 1, max_depth, prefix_parts)
    finally:
        os.close(fd)


def _pattern_shape(pattern: str) -> tuple[int, list[str]]:
    """(deepest path that can match, literal leading components) for a wildcard.

    ``*`` and ``?`` never match ``/``, so a pattern with k slashes matches
    paths of k+1 components; a class (``[/]``) or an escape can hide or
    match a slash, and then only a looser bound is safe.
    """
    if "[" in pattern or "\\" in pattern:
        return pattern.count("/") + pattern.count("[") + 1, []
    parts = pattern.split("/")
    literal: list[str] = []
    for part in parts:
        if has_wildcards(part) or part in ("", ".", ".."):
            break
        literal.append(part)
    return len(parts), literal


def _match_wildcard(tree: Tree, pattern: str) -> list[str]:
    """The tree's paths matching *pattern*, in walk order (none if malformed)."""
    try:
        filepath_match(pattern, "")
    except BadPattern:
        return []  # Docker ignores the error: nothing matches
    max_depth, literal = _pattern_shape(pattern)
    dir_fd = os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=tree.fd)
    return [path for path in _walk_dir(dir_fd, "", 0, max_depth, literal)
            if filepath_match(pattern, path)]


def resolve_sources(
    root: Path,
    sources: Sequence[str],
    dest: str,
    *,
    cmd: str = "COPY",
    in_context: bool = True,
) -> list[CopySource]:
    """The sources of one COPY/ADD in *root*, in the order Docker copies them.

    *sources* are the instruction's source arguments (URLs excluded: the
    caller downloads those, see :func:`url_source`); *dest* is the
    destination as written (only its trailing ``/`` matters here); *cmd*
    is ``COPY`` or ``ADD`` for the messages; *in_context* is false for
    ``--from`` sources, whose "not found" message does not mention the
    build context.

    Raises InvalidArgument with Docker's messages, e.g. ``COPY failed: file
    not found in build context or excluded by .dockerignore: stat x: file
    does not exist``, ``COPY failed: no source files were specified``,
    ``When using COPY with more than one source file, the destination must
    be a directory and end with a /``.
    """
    found: list[CopySource] = []
    with Tree(root) as tree:
        for orig in sources:
            path = _instruction_path(orig)
            if has_wildcards(path):
                for match in _match_wildcard(tree, path):
                    found.append(_source_at(tree, match, in_context, cmd))
            else:
                found.append(_source_at(tree, path, in_context, cmd))
    check_sources(found, dest, cmd=cmd)
    return found


def check_sources(sources: Sequence[CopySource], dest: str, *, cmd: str = "COPY") -> None:
    """Docker's checks on a whole instruction's sources (after downloads)."""
    if not sources:
        raise InvalidArgument(f"{cmd} failed: no source files were specified")
    if len(sources) > 1 and not dest.endswith("/"):
        raise InvalidArgument(
            f"When using {cmd} with more than one source file, "
            "the destination must be a directory and end with a /"
        )


# -- ADD: archives -------------------------------------------------------------------


def _open_source_file(source: CopySource) -> BinaryIO | None:
    """The single-file source opened for reading, or None if not a regular file."""
    with Tree(source.root) as tree:
        try:
            fd = tree.open_regular(source.resolved)
        except OSError as e:
            if e.errno in (errno.EISDIR, errno.EINVAL):
                return None
            raise
    return os.fdopen(fd, "rb")


def _valid_tar_header(block: bytes) -> bool:
    """Whether *block* is a tar header Go's reader would accept as a first entry."""
    if len(block) < tarfile.BLOCKSIZE or not block.strip(b"\x00"):
        return False
    try:
        tarfile.TarInfo.frombuf(block[: tarfile.BLOCKSIZE], "utf-8", "surrogateescape")
    except tarfile.HeaderError:
        return False
    return True


def _read_block(stream: BinaryIO) -> bytes:
    chunks: list[bytes] = []
    have = 0
    while have < tarfile.BLOCKSIZE:
        chunk = stream.read(tarfile.BLOCKSIZE - have)
        if not chunk:
            break
        chunks.append(chunk)
        have += len(chunk)
    return b"".join(chunks)


def is_archive(source: CopySource) -> bool:
    """Whether ADD unpacks this source instead of copying it.

    Docker's ``IsArchivePath``: a local regular file that, after undoing
    gzip, bzip2 or xz compression (not zstd: Docker 20.10 copies those),
    starts with a valid tar header. Empty files, an all-zero tar, a
    corrupt stream and URL downloads are copied as they are.
    """
    if source.is_dir or source.from_url:
        return False
    from ketch.layers.compression import open_decompressed

    f = _open_source_file(source)
    if f is None:
        return False
    with f:
        if f.read(len(_ZSTD_MAGIC)) == _ZSTD_MAGIC:
            return False
        f.seek(0)
        try:
            with open_decompressed(f) as stream:
                return _valid_tar_header(_read_block(stream))
        except (InvalidArgument, OSError, EOFError):
            return False


def open_archive(source: CopySource) -> BinaryIO:
    """The uncompressed tar stream of an archive source (check :func:`is_archive`).

    The caller closes it. Corrupt data raises InvalidArgument from ``read``.
    """
    from ketch.layers.compression import open_decompressed

    f = _open_source_file(source)
    if f is None:
        raise InvalidArgument(f"{source.path} is not a regular file")
    return io.BufferedReader(_Closing(open_decompressed(f), f), buffer_size=1 << 16)


class _Closing(io.RawIOBase):
    """Reads a decompressed stream; closing it also closes the file under it."""

    def __init__(self, stream: BinaryIO, under: BinaryIO) -> None:
        self._stream = stream
        self._under = under

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        data = self._stream.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self._stream.close()
            self._under.close()
        super().close()


# -- ADD: URLs --------------------------------------------------------------------------


def url_filename(url: str, content_disposition: str | None = None) -> str:
    """The name Docker gives a downloaded ADD source, or "" if none can be told.

    The last component of the URL's path, unless the path is empty or ends
    with ``/``; then the ``filename`` of a ``Content-Disposition`` header.
    """
    path = urlsplit(url).path
    if path and not path.endswith("/"):
        name = posixpath.basename(path)
        if name:
            return name
    if content_disposition:
        name = _disposition_filename(content_disposition)
        if name and not name.endswith("/"):
            return posixpath.basename(name)
    return ""


def _disposition_filename(header: str) -> str:
    from email.message import Message

    msg = Message()
    msg["content-disposition"] = header
    value = msg.get_param("filename", header="content-disposition")
    if isinstance(value, tuple):
        value = email.utils.collapse_rfc2231_value(value)
    return value if isinstance(value, str) else ""


def url_mtime(last_modified: str | None) -> int:
    """The mtime (seconds) of a download: its Last-Modified header, else 0."""
    if last_modified:
        try:
            return int(email.utils.parsedate_to_datetime(last_modified).timestamp())
        except (TypeError, ValueError):
            pass
    return 0


def url_source(download_dir: Path, filename: str, url: str, dest: str,
               *, cmd: str = "ADD") -> CopySource:
    """The CopySource for a file the caller downloaded into *download_dir*.

    *filename* is :func:`url_filename`'s answer. The caller writes the body
    to ``download_dir / (filename or UNNAMED_FILENAME)`` with mode
    :data:`URL_FILE_MODE` and mtime :func:`url_mtime` before copying it.
    With no name and a destination ending in ``/`` Docker cannot tell
    what to call the file: InvalidArgument.
    """
    if not filename:
        if dest.endswith("/"):
            raise InvalidArgument(f"{cmd} failed: cannot determine filename for source {url}")
        filename = UNNAMED_FILENAME
    return CopySource(root=download_dir, path=filename, resolved=filename, is_dir=False,
                      from_url=True)


__all__ = [
    "UNNAMED_FILENAME",
    "URL_FILE_MODE",
    "CopySource",
    "check_sources",
    "is_archive",
    "open_archive",
    "resolve_sources",
    "url_filename",
    "url_mtime",
    "url_source",
]
