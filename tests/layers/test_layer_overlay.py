"""Smoke test: unpacked layers really work as overlayfs lower dirs.

Two layers go through LayerStore; the upper one whites out a file and makes
a directory opaque. A real overlay mount, made the way a container's root
will be (``lower_dirs`` relative to the store root), must show the merged
view Docker would show.
"""

from __future__ import annotations

import io
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from ketch.layers.store import LayerStore

from .tars import TarBuilder, require_root

BASE = "sha256:" + "1" * 64
TOP = "sha256:" + "2" * 64


@pytest.fixture
def merged(tmp_path: Path) -> Iterator[Path]:
    require_root()
    store = LayerStore(tmp_path / "layers")
    base = (
        TarBuilder()
        .dir("etc").file("etc/motd", b"base motd").file("etc/hostname", b"base")
        .dir("opt").dir("opt/app").file("opt/app/old1", b"1").file("opt/app/old2", b"2")
        .dir("var").file("var/keep", b"keep")
    )
    top = (
        TarBuilder()
        .dir("etc").whiteout("etc/motd").file("etc/hostname", b"top")
        .dir("opt").dir("opt/app").opaque("opt/app").file("opt/app/new", b"new")
    )
    store.create(BASE, io.BytesIO(base.data()))
    store.create(TOP, io.BytesIO(top.data()))
    upper, work, mnt = tmp_path / "upper", tmp_path / "work", tmp_path / "merged"
    for d in (upper, work, mnt):
        d.mkdir()
    lower = store.lower_dirs([BASE, TOP])
    options = f"lowerdir={lower},upperdir={upper},workdir={work}"
    subprocess.run(["mount", "-t", "overlay", "overlay", "-o", options, str(mnt)],
                   cwd=store.root, check=True, capture_output=True)
    try:
        yield mnt
    finally:
        subprocess.run(["umount", str(mnt)], check=True)


def test_whiteout_and_opaque_dir_shape_the_merged_view(merged: Path) -> None:
    assert sorted(os.listdir(merged / "etc")) == ["hostname"]
    assert not (merged / "etc/motd").exists()
    assert (merged / "etc/hostname").read_bytes() == b"top"
    assert sorted(os.listdir(merged / "opt/app")) == ["new"]
    assert (merged / "var/keep").read_bytes() == b"keep"


def test_writes_go_to_the_upper_dir(merged: Path, tmp_path: Path) -> None:
    (merged / "etc/motd").write_bytes(b"container")
    os.unlink(merged / "var/keep")
    assert (tmp_path / "upper/etc/motd").read_bytes() == b"container"
    assert not (merged / "var/keep").exists()
    # the layers themselves are untouched
    base_diff = LayerStore(tmp_path / "layers").diff_dir(BASE)
    assert (base_diff / "var/keep").read_bytes() == b"keep"
