"""Fixtures for the build tests that need root or the reference Docker.

Everything here unpacks through the chroot'ed extractor (root only) or runs
Docker 20.10's classic builder, so the whole directory is skipped, not
failed, where the tests run unprivileged.
"""

from __future__ import annotations

import os

import pytest
from support.engines import Engine
from support.images import OfflineImages, import_offline_images


@pytest.fixture(autouse=True)
def _need_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("build context extraction needs root (chroot, chown)")


@pytest.fixture(scope="session")
def ref_busybox(refdocker: Engine, offline_images: OfflineImages) -> Engine:
    """The reference Docker with the offline ``busybox:latest`` imported."""
    import_offline_images(refdocker.env, offline_images, ("busybox",))
    return refdocker
