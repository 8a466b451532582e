"""ContainerRootfs: real overlay mounts over layers made by LayerStore.

Every test that mounts removes (and so unmounts) in a finally block; the
session's leak check fails the run if a mount survives anyway.
"""

from __future__ import annotations

import io
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from layers.tars import TarBuilder

from ketch.containers.rootfs import ContainerRootfs
from ketch.errors import InvalidArgument, NotFound
from ketch.layers.store import LayerStore

from .conftest import Busybox, require_root


def chain(n: int) -> str:
    return f"sha256:{n:064x}"


@pytest.fixture
def store(tmp_path: Path) -> LayerStore:
    require_root()
    return LayerStore(tmp_path / "layers")


@pytest.fixture
def rootfs(tmp_path: Path, store: LayerStore) -> Iterator[ContainerRootfs]:
    r = ContainerRootfs(tmp_path / "containers", store)
    try:
        yield r
    finally:
        for cid in os.listdir(r.containers_root) if r.containers_root.exists() else []:
            r.remove(cid)


def _mountinfo_line(path: Path) -> str:
    with open("/proc/self/mountinfo") as f:
        return next((line for line in f if line.split()[4] == str(path)), "")


def test_layers_whiteouts_and_upper(store: LayerStore, rootfs: ContainerRootfs) -> None:
    store.create(chain(1), io.BytesIO(
        TarBuilder().dir("etc").file("etc/hosts", b"image hosts").file("etc/motd", b"hi")
        .dir("proc").dir("data").file("data/a", b"a").data()))
    store.create(chain(2), io.BytesIO(
        TarBuilder().dir("etc").whiteout("etc/motd").dir("data").file("data/b", b"b").data()))
    paths = rootfs.create("c1", [chain(1), chain(2)])
    merged = rootfs.mount("c1", [chain(1), chain(2)])
    assert merged == paths.merged and rootfs.is_mounted("c1")
    assert sorted(os.listdir(merged / "data")) == ["a", "b"]
    assert not (merged / "etc/motd").exists()
    assert (merged / "etc/hosts").read_bytes() == b"image hosts"
    # mount targets the image lacks are made in the upper dir, the rest left alone
    upper = sorted(str(p.relative_to(paths.upper)) for p in paths.upper.rglob("*"))
    assert upper == ["dev", "etc", "etc/hostname", "etc/resolv.conf", "sys"]
    assert (paths.upper / "etc/hostname").read_bytes() == b""
    (merged / "data/new").write_bytes(b"x" * 1000)
    os.link(merged / "data/new", merged / "data/new2")
    (merged / "data/link").symlink_to("new")
    assert rootfs.size("c1") == 1000 + len("new")
    line = _mountinfo_line(merged)
    assert f"lowerdir={store.root}/l/" in line and f"upperdir={paths.upper}" in line
    rootfs.mount("c1", [chain(1), chain(2)])  # already mounted: nothing happens
    assert _mountinfo_line(merged).split()[0] == line.split()[0]
    rootfs.unmount("c1")
    assert not rootfs.is_mounted("c1")
    assert (paths.upper / "data/new").exists()
    rootfs.unmount("c1")  # idempotent
    rootfs.remove("c1")
    assert not paths.root.exists()
    rootfs.remove("c1")


def test_scratch_image(rootfs: ContainerRootfs) -> None:
    rootfs.create("scratch", [])
    merged = rootfs.mount("scratch", [])
    assert sorted(os.listdir(merged)) == ["dev", "etc", "proc", "sys"]
    assert sorted(os.listdir(merged / "etc")) == ["hostname", "hosts", "resolv.conf"]
    assert rootfs.size("scratch") == 0


def test_hostile_etc_symlink_targets_stay_inside(
    store: LayerStore, rootfs: ContainerRootfs, tmp_path: Path
) -> None:
    outside = tmp_path / "host-etc"
    outside.mkdir()
    store.create(chain(3), io.BytesIO(
        TarBuilder().symlink("etc", "../../../../../../../.." + str(outside))
        .symlink("proc", "/" + str(outside / "proc").lstrip("/")).data()))
    rootfs.create("evil", [chain(3)])
    merged = rootfs.mount("evil", [chain(3)])
    assert list(outside.iterdir()) == []
    inside = merged / str(outside).lstrip("/")
    assert sorted(os.listdir(inside)) == ["hostname", "hosts", "resolv.conf"]
    assert (merged / "proc").is_symlink()  # an existing entry is left to the runtime


def test_many_layers_use_relative_lower_dirs(store: LayerStore, rootfs: ContainerRootfs) -> None:
    ids = [chain(100 + i) for i in range(90)]
    for i, cid in enumerate(ids):
        store.create(cid, io.BytesIO(TarBuilder().dir("l").file(f"l/{i}", b"%d" % i).data()))
    assert len(f"lowerdir={':'.join(str(store.root / 'l' / ('X' * 26)) for _ in ids)}") > 4096
    cwd = os.getcwd()
    rootfs.create("tall", ids)
    merged = rootfs.mount("tall", ids)
    assert os.getcwd() == cwd
    assert len(os.listdir(merged / "l")) == 90
    assert (merged / "l/89").read_bytes() == b"89"
    assert "lowerdir=l/" in _mountinfo_line(merged)


def test_unmount_of_a_busy_rootfs_is_lazy(busybox: Busybox) -> None:
    busybox.rootfs.create("busy", [busybox.chain_id])
    merged = busybox.rootfs.mount("busy", [busybox.chain_id])
    holder = subprocess.Popen(["sleep", "60"], cwd=merged)
    try:
        time.sleep(0.1)
        busybox.rootfs.unmount("busy")
        assert not busybox.rootfs.is_mounted("busy")
        assert not _mountinfo_line(merged)
    finally:
        holder.kill()
        holder.wait()
        busybox.rootfs.remove("busy")


def test_bad_ids_and_missing_layers(rootfs: ContainerRootfs) -> None:
    for bad in ("", "..", "a/b"):
        with pytest.raises(InvalidArgument):
            rootfs.paths(bad)
    with pytest.raises(NotFound):
        rootfs.create("c2", [chain(999)])
