"""Cache digests of COPY sources: content and metadata count, times do not."""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

import pytest

from ketch.build.copy_digest import one_source_digest, source_digest
from ketch.build.copysource import CopySource, resolve_sources

HEX = re.compile(r"[0-9a-f]{64}")


@pytest.fixture
def ctx(tmp_path: Path) -> Path:
    (tmp_path / "app" / "lib").mkdir(parents=True)
    (tmp_path / "app" / "main.py").write_text("print('hi')\n")
    (tmp_path / "app" / "lib" / "util.py").write_text("X = 1\n")
    os.symlink("main.py", tmp_path / "app" / "entry")
    (tmp_path / "file.txt").write_text("hello\n")
    return tmp_path


def _digest(ctx: Path, *paths: str) -> str:
    return source_digest(resolve_sources(ctx, list(paths), "/dst/"))


def test_forms(ctx: Path) -> None:
    file_digest = _digest(ctx, "file.txt")
    kind, _, hexpart = file_digest.partition(":")
    assert kind == "file" and HEX.fullmatch(hexpart)
    assert _digest(ctx, "app").startswith("dir:")
    multi = _digest(ctx, "file.txt", "app")
    # multi: sha256 over the per-source strings joined with "," in order
    expected = hashlib.sha256(
        f"{file_digest},{_digest(ctx, 'app')}".encode()).hexdigest()
    assert multi == f"multi:{expected}"
    assert _digest(ctx, "app", "file.txt") != multi


def test_touch_keeps_digest(ctx: Path) -> None:
    before = (_digest(ctx, "file.txt"), _digest(ctx, "app"))
    for path in (ctx / "file.txt", ctx / "app" / "lib" / "util.py", ctx / "app"):
        os.utime(path, (1, 1))
    assert (_digest(ctx, "file.txt"), _digest(ctx, "app")) == before


@pytest.mark.parametrize(
    "change",
    [
        lambda c: (c / "app" / "main.py").write_text("print('bye')\n"),
        lambda c: (c / "app" / "main.py").chmod(0o755),
        lambda c: (c / "app" / "lib").chmod(0o700),
        lambda c: (c / "app" / "lib" / "new.py").write_text(""),
        lambda c: (c / "app" / "lib" / "util.py").rename(c / "app" / "lib" / "other.py"),
        lambda c: (os.unlink(c / "app" / "entry"), os.symlink("lib", c / "app" / "entry")),
        lambda c: os.mkfifo(c / "app" / "fifo"),
    ],
    ids=["content", "chmod-file", "chmod-dir", "new-file", "rename", "relink", "fifo"],
)
def test_changes_change_the_dir_digest(ctx: Path, change: object) -> None:
    before = _digest(ctx, "app")
    change(ctx)  # type: ignore[operator]
    assert _digest(ctx, "app") != before


def test_file_digest_covers_mode_and_content(ctx: Path) -> None:
    before = _digest(ctx, "file.txt")
    (ctx / "file.txt").chmod(0o600)
    after_chmod = _digest(ctx, "file.txt")
    assert after_chmod != before
    (ctx / "file.txt").write_text("hellO\n")
    assert _digest(ctx, "file.txt") != after_chmod


def test_same_content_elsewhere_same_dir_digest(ctx: Path) -> None:
    """A directory's entries are named relative to it: moving it keeps the digest."""
    before = _digest(ctx, "app")
    os.rename(ctx / "app", ctx / "moved")
    assert _digest(ctx, "moved") == before


def test_symlink_source_is_hashed_as_its_target_under_its_name(ctx: Path) -> None:
    [via_link] = resolve_sources(ctx, ["app/entry"], "/d/")
    [direct] = resolve_sources(ctx, ["app/main.py"], "/d/")
    # Same bytes and metadata, but it lands under a different name in a dir.
    assert one_source_digest(via_link) != one_source_digest(direct)
    renamed = CopySource(root=ctx, path="app/main.py", resolved=via_link.resolved,
                         is_dir=False)
    assert one_source_digest(renamed) == one_source_digest(direct)


def test_owner_counts(ctx: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("chown needs root")
    before = _digest(ctx, "file.txt")
    os.chown(ctx / "file.txt", 1234, 1234)
    assert _digest(ctx, "file.txt") != before
