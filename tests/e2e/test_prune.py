"""`docker image prune`: dangling versus all, filters, reclaimed space.

Docker lists what it deleted in no defined order, so those lines are
compared sorted; the reclaimed space is the size of the layers freed.
"""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

from support.conformance import Conform, Session


def small_rootfs(path: Path, text: str) -> Path:
    """A one-file rootfs tar with fixed metadata: a layer no other image has."""
    with tarfile.open(path, "w", format=tarfile.USTAR_FORMAT) as tar:
        data = text.encode()
        info = tarfile.TarInfo("note.txt")
        info.size, info.mtime, info.mode = len(data), 1704067200, 0o644
        tar.addfile(info, io.BytesIO(data))
    return path


def test_prune_dangling(conform: Conform) -> None:
    def scenario(s: Session) -> None:
        r = s.docker("image", "prune", "-f").ok()
        assert r.stdout == "Total reclaimed space: 0B\n"
        own = small_rootfs(s.tmp / "own.tar", "a layer of its own\n" * 50)
        s.docker("import", str(own), "mine:1").ok()
        s.docker("import", "-m", "again", str(own), "mine:1").ok()  # the first now dangles
        s.docker("import", str(s.images.hello_world)).ok()  # untagged from the start
        s.docker("images", "-a", stdout="rows").ok()
        r = s.docker("image", "prune", "--force", stdout="sorted").ok()
        assert "Total reclaimed space: 0B" in r.stdout  # their layers are still used
        s.docker("images", "-a", stdout="rows").ok()
        s.docker("rmi", "mine:1").ok()
        s.docker("import", str(own)).ok()
        r = s.docker("image", "prune", "-f", stdout="sorted").ok()
        assert "Total reclaimed space: 950B" in r.stdout  # the layer went with it
        s.docker("system", "df").ok()

    conform(scenario)


def test_prune_all(conform: Conform) -> None:
    def scenario(s: Session) -> None:
        s.docker("tag", "busybox", "bb:more").ok()
        s.docker("image", "prune", "-a", "-f", stdout="sorted").ok()
        r = s.docker("images", "-a").ok()
        assert r.stdout.count("\n") == 1
        s.docker("system", "df").ok()
        s.docker("image", "prune", "-a", "-f").ok()

    conform(scenario)


def test_prune_filters(conform: Conform) -> None:
    def scenario(s: Session) -> None:
        s.docker("import", "-c", "LABEL keep=yes", str(s.images.hello_world), "kept:1").ok()
        s.docker("import", "-c", "LABEL keep=no", str(s.images.hello_world), "gone:1").ok()
        s.docker("image", "prune", "-a", "-f", "--filter", "label=keep=no", stdout="sorted").ok()
        # until= prunes what was created before the limit: the 2024 baseline.
        s.docker(
            "image", "prune", "-a", "-f", "--filter", "until=2025-01-01T00:00:00Z", stdout="sorted"
        ).ok()
        s.docker("images").ok()
        s.docker("import", str(s.images.busybox), "plain:1").ok()
        s.docker("image", "prune", "-a", "-f", "--filter", "label!=keep", stdout="sorted").ok()
        s.docker("images").ok()
        s.docker("image", "prune", "-f", "--filter", "bogus=1").fails(1)
        s.docker("image", "prune", "-f", "--filter", "until=notatime").fails(1)

    conform(scenario)


def test_prune_asks_first(conform: Conform) -> None:
    """Without -f the CLI asks; only "y" goes on to the daemon."""

    def scenario(s: Session) -> None:
        s.docker("import", str(s.images.hello_world)).ok()
        s.docker("image", "prune", input="n\n").ok()
        s.docker("images", "-q").ok()
        s.docker("image", "prune", "-a", input="y\n", stdout="sorted").ok()
        s.docker("images", "-q").ok()

    conform(scenario)
