"""Layer snapshots on disk, one directory per chainID.

Layout under the store's root (modelled on Docker's overlay2)::

    <root>/<hex>/diff/        the unpacked layer, an overlayfs lower dir
    <root>/<hex>/link         its short id: 26 base32 characters
    <root>/<hex>/tar-split*   for layers unpacked with ``split=True``: what
                              rebuilds their exact tar (:mod:`.tarsplit`)
    <root>/l/<short>          symlink -> ../<hex>/diff
    <root>/tmp/               layers being created or removed

``<hex>`` is the chainID without its ``sha256:`` prefix. The short links
exist because overlay mount options must fit in one page: a container on a
50-layer image names 50 lower dirs, and ``l/XXXXXXXXXXXXXXXXXXXXXXXXXX``
is a quarter the length of an absolute snapshot path.

Everything else about a layer (parent, diffID, size, references) is
metadata kept in SQLite by the image store; this class only keeps the
filesystem consistent with itself:

* creation is atomic: the layer is unpacked under ``tmp/`` and renamed into
  place, and that rename is the commit point, so ``<hex>/`` exists only
  complete (its ``l/`` link is made just before the rename);
* removal first renames ``<hex>/`` into ``tmp/``, so a layer is gone at once
  even if deleting its files is interrupted;
* :meth:`cleanup_incomplete`, run at daemon start, deletes whatever a crash
  left in ``tmp/``, drops dangling short links and recreates missing ones.

The methods block (unpacking and deleting trees take seconds); call them
from a worker thread.
"""

from __future__ import annotations

import base64
import builtins
import contextlib
import io
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO, TypeVar, cast

from ketch.errors import Conflict, InvalidArgument, NotFound
from ketch.layers.extract import ExtractResult, extract_layer
from ketch.layers.tarsplit import SplitTarReader, read_summary, write_summary

_CHAIN_ID = re.compile(r"sha256:([0-9a-f]{64})")
_HEX = re.compile(r"[0-9a-f]{64}")
_SHORT = re.compile(r"[A-Z2-7]{26}")
_LINK_TARGET = re.compile(r"\.\./([0-9a-f]{64})/diff")
_LINKS = "l"
_TMP = "tmp"

_T = TypeVar("_T")
_READ_BUFFER = 1 << 20


def _hex(chain_id: str) -> str:
    """The hex part of a valid chainID; anything else is InvalidArgument.

    Validation is the whole defence against a chainID addressing a path
    outside the root, so it is a full match, lower-case hex only.
    """
    match = _CHAIN_ID.fullmatch(chain_id) if isinstance(chain_id, str) else None
    if match is None:
        raise InvalidArgument(f"invalid layer chain ID {chain_id!r}: expected sha256:<64 hex>")
    return match.group(1)


def _new_short_id() -> str:
    """A random 26-character id, as overlay2 uses (128 bits in base32)."""
    return base64.b32encode(os.urandom(16)).decode("ascii").rstrip("=")


class LayerStore:
    """Unpacked layers keyed by chainID, ready to be overlayfs lower dirs."""

    def __init__(self, root: Path) -> None:
        self.root = root
        for path in (root, root / _LINKS, root / _TMP):
            path.mkdir(mode=0o700, parents=True, exist_ok=True)

    # -- queries -----------------------------------------------------------

    def exists(self, chain_id: str) -> bool:
        """Whether the layer *chain_id* is present (and therefore complete)."""
        return (self.root / _hex(chain_id) / "diff").is_dir()

    def diff_dir(self, chain_id: str) -> Path:
        """The directory holding the layer's files; NotFound if absent."""
        path = self.root / _hex(chain_id) / "diff"
        if not path.is_dir():
            raise NotFound(f"layer {chain_id} does not exist")
        return path

    def list(self) -> builtins.list[str]:
        """The chainIDs (``sha256:<hex>``) of every present layer, sorted."""
        with os.scandir(self.root) as entries:
            return sorted(
                f"sha256:{entry.name}"
                for entry in entries
                if _HEX.fullmatch(entry.name) and os.path.isdir(os.path.join(entry.path, "diff"))
            )

    def short_id(self, chain_id: str) -> str:
        """The layer's short link id; NotFound if the layer is absent."""
        try:
            short = (self.root / _hex(chain_id) / "link").read_text("ascii").strip()
        except FileNotFoundError:
            raise NotFound(f"layer {chain_id} does not exist") from None
        if not _SHORT.fullmatch(short):
            raise NotFound(f"layer {chain_id} has a damaged link file")
        return short

    def lower_dirs(self, chain_ids: builtins.list[str]) -> str:
        """The ``lowerdir=`` value for an overlay mount of these layers.

        *chain_ids* is in image order, base layer first (the order of
        ``rootfs.diff_ids``); the result lists the top layer first, as
        overlayfs wants, as ``l/<short>`` paths relative to the store root,
        so the mount must be made with the store root as working directory.
        """
        if not chain_ids:
            raise InvalidArgument("an overlay mount needs at least one layer")
        return ":".join(f"{_LINKS}/{self.short_id(c)}" for c in reversed(chain_ids))

    def open_tar(self, chain_id: str, expected: str | None = None) -> tuple[BinaryIO, int] | None:
        """The layer's exact tar and its length, rebuilt from its files.

        None when the layer keeps no tar-split record (it was not created
        with ``split=True``) or is absent. With *expected* (the diffID) the
        stream's last read fails if the files no longer give that digest.
        """
        layer_dir = self.root / _hex(chain_id)
        summary = read_summary(layer_dir)
        if summary is None:
            return None
        reader = SplitTarReader(layer_dir, summary, expected)
        return cast(BinaryIO, io.BufferedReader(reader, _READ_BUFFER)), summary.size

    # -- changes -----------------------------------------------------------

    def create(self, chain_id: str, source: Path | BinaryIO, *,
               split: bool = False) -> ExtractResult:
        """Unpack the uncompressed layer tar *source* as layer *chain_id*.

        With *split*, also keep the tar-split record, so :meth:`open_tar`
        can give back the exact tar without the tar being stored.

        Raises Conflict if the layer already exists, also when a concurrent
        create of the same chainID wins the race (callers that only want the
        layer present may treat Conflict as success). Raises InvalidArgument
        for a bad archive. On any failure nothing of the attempt remains.
        """
        def unpack(work: Path) -> ExtractResult:
            diff = work / "diff"
            diff.mkdir(mode=0o755)
            result = extract_layer(source, diff, split_dir=work if split else None)
            if result.tar_size is not None:
                write_summary(work, result.tar_size, result.spilled)
            return result
        return self._publish(chain_id, unpack)

    def adopt(self, chain_id: str, tree: Path) -> None:
        """Make the directory *tree* layer *chain_id*, moving it (no copy).

        For a layer whose files already exist in the form a lower dir needs
        (a build step's upper dir): *tree* must be on the store's
        filesystem, and nothing may write to it any more. Conflict and
        cleanup as :meth:`create`; on failure *tree* is gone too.
        """
        def move(work: Path) -> None:
            os.rename(tree, work / "diff")
        self._publish(chain_id, move)

    def _publish(self, chain_id: str, fill: Callable[[Path], _T]) -> _T:
        """Let *fill* make ``diff/`` in a fresh work dir, then rename it into place.

        The rename is the commit point: ``<hex>/`` exists only complete.
        """
        hex_id = _hex(chain_id)
        final = self.root / hex_id
        if final.exists():
            raise Conflict(f"layer {chain_id} already exists")
        work = Path(tempfile.mkdtemp(prefix=f"{hex_id[:12]}-", dir=self.root / _TMP))
        link: Path | None = None
        try:
            result = fill(work)
            short = _new_short_id()
            (work / "link").write_text(short, "ascii")
            link = self.root / _LINKS / short
            link.symlink_to(f"../{hex_id}/diff")
            try:
                os.rename(work, final)
            except OSError as e:
                if final.exists():
                    raise Conflict(f"layer {chain_id} already exists") from None
                raise e
        except BaseException:
            if link is not None:
                with contextlib.suppress(FileNotFoundError):
                    link.unlink()
            _rmtree(work)
            raise
        return result

    def remove(self, chain_id: str) -> None:
        """Delete layer *chain_id* and its short link.

        Idempotent: an absent layer is not an error, and a half-removed or
        half-created one (missing link file, dangling short link) is cleaned
        up as far as it exists.
        """
        hex_id = _hex(chain_id)
        final = self.root / hex_id
        short: str | None = None
        with contextlib.suppress(OSError):
            text = (final / "link").read_text("ascii").strip()
            short = text if _SHORT.fullmatch(text) else None
        doomed = Path(tempfile.mkdtemp(prefix=f"{hex_id[:12]}-rm-", dir=self.root / _TMP))
        try:
            with contextlib.suppress(FileNotFoundError):
                os.rename(final, doomed / "layer")
            if short is not None:
                with contextlib.suppress(FileNotFoundError):
                    (self.root / _LINKS / short).unlink()
            self._drop_links_to(hex_id)
        finally:
            _rmtree(doomed)

    def cleanup_incomplete(self) -> None:
        """Repair what a crash left behind; call once at daemon start.

        Deletes everything under ``tmp/`` (layers being unpacked or
        removed) and every short link that does not lead to a layer's
        ``diff/``, then makes each layer's link file and short link agree:
        a lost link file is restored from the short link still pointing at
        the layer (or a new id), a lost short link is recreated, and extra
        links to one layer are dropped.
        """
        for path in _children(self.root / _TMP):
            _rmtree(path)
        links: dict[str, str] = {}  # short id -> layer hex
        for path in _children(self.root / _LINKS):
            match = _LINK_TARGET.fullmatch(os.readlink(path)) if path.is_symlink() else None
            if match is not None and _SHORT.fullmatch(path.name) and path.is_dir():
                links[path.name] = match.group(1)
            else:
                _rmtree(path)
        for chain_id in self.list():
            hex_id = _hex(chain_id)
            try:
                short = self.short_id(chain_id)
            except NotFound:
                pointing = [s for s, h in links.items() if h == hex_id]
                short = pointing[0] if pointing else _new_short_id()
                (self.root / hex_id / "link").write_text(short, "ascii")
            for other in [s for s, h in links.items() if h == hex_id and s != short]:
                (self.root / _LINKS / other).unlink()
                del links[other]
            if short not in links:
                link = self.root / _LINKS / short
                with contextlib.suppress(FileNotFoundError):
                    link.unlink()
                link.symlink_to(f"../{hex_id}/diff")
                links[short] = hex_id

    # -- helpers -----------------------------------------------------------

    def _drop_links_to(self, hex_id: str) -> None:
        """Remove every short link pointing at layer *hex_id*.

        Covers a layer whose link file was lost: its short link can only be
        found by reading all of them. There are as many as layers, so this
        is cheap next to deleting the layer's files.
        """
        wanted = f"../{hex_id}/diff"
        for path in _children(self.root / _LINKS):
            with contextlib.suppress(OSError):
                if os.readlink(path) == wanted:
                    path.unlink()


def _children(directory: Path) -> builtins.list[Path]:
    """The entries of *directory*, read fully before the caller changes it."""
    with os.scandir(directory) as entries:
        return [Path(entry.path) for entry in entries]


def _rmtree(path: Path) -> None:
    """Delete *path* (a tree, a file or a symlink) if it exists, never following links."""
    try:
        if path.is_symlink() or not path.is_dir():
            path.unlink()
        else:
            shutil.rmtree(path)
    except FileNotFoundError:
        pass
