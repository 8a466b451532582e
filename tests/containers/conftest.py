"""Fixtures for the ketch.containers tests: a busybox layer and its rootfs.

The busybox image is the offline one every test uses (``offline_images``),
unpacked once per test by the real LayerStore and mounted by the real
ContainerRootfs; each fixture unmounts and removes what it made.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from support.images import OfflineImages

from ketch.containers.rootfs import ContainerRootfs
from ketch.layers.store import LayerStore


def require_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root (overlay mounts, layer extraction, runc)")


@dataclass
class Busybox:
    store: LayerStore
    rootfs: ContainerRootfs
    chain_id: str


@pytest.fixture
def busybox(tmp_path: Path, offline_images: OfflineImages) -> Busybox:
    """The busybox image as one layer in a fresh LayerStore, and a ContainerRootfs."""
    require_root()
    store = LayerStore(tmp_path / "layers")
    tar = offline_images.busybox
    chain_id = "sha256:" + hashlib.sha256(tar.read_bytes()).hexdigest()
    store.create(chain_id, tar)
    return Busybox(store, ContainerRootfs(tmp_path / "containers", store), chain_id)


@pytest.fixture
def busybox_root(busybox: Busybox) -> Iterator[Path]:
    """A mounted busybox root filesystem (container id ``c1``)."""
    busybox.rootfs.create("c1", [busybox.chain_id])
    merged = busybox.rootfs.mount("c1", [busybox.chain_id])
    try:
        yield merged
    finally:
        busybox.rootfs.remove("c1")
