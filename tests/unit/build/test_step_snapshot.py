"""A build step's upper dir used as its layer's snapshot (no second unpack).

The builder commits a COPY by writing its step root's upper dir as the
layer tar and then moving that very directory into the layer store
(``write_layer_tar(snapshot=True)`` + ``LayerStore.adopt``). That is only
right if the directory is what unpacking the tar would have made, and if
it works as a lower dir: both are checked here on a real overlay (root
only), with deletions (whiteouts), a replaced directory (opaque), copy-ups,
links, a FIFO and sub-second times in the step's changes.
"""

from __future__ import annotations

import asyncio
import io
import os
import stat
import tarfile
from pathlib import Path

import pytest

from ketch.build.steproot import StepRoots
from ketch.containers.rootfs import ContainerRootfs
from ketch.layers.diff import OPAQUE_XATTR, write_layer_tar
from ketch.layers.extract import extract_layer
from ketch.layers.store import LayerStore
from ketch.oci.chain import chain_ids

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="overlay mounts need root")

Tree = dict[str, tuple[object, ...]]


def _base_tar() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        def add(name: str, data: bytes | None = None, mode: int = 0o755) -> None:
            info = tarfile.TarInfo(name)
            info.mtime = 1_600_000_000
            info.mode = mode
            if data is None:
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
        for d in ("d", "d/sub", "keep"):
            add(d)
        add("a", b"base a\n", 0o644)
        add("rm.txt", b"gone\n", 0o644)
        add("d/x", b"x\n", 0o644)
        add("d/sub/y", b"y\n", 0o644)
        add("keep/old", b"old\n", 0o644)
    return buf.getvalue()


def _change(merged: Path) -> None:
    (merged / "n" / "deep").mkdir(parents=True)
    (merged / "n" / "deep" / "f").write_bytes(b"new\n")
    os.link(merged / "n" / "deep" / "f", merged / "n" / "hard")
    (merged / "a").write_bytes(b"changed a\n")
    (merged / "rm.txt").unlink()
    for child in (merged / "keep").iterdir():
        child.unlink()
    (merged / "keep").rmdir()
    (merged / "keep").mkdir()
    (merged / "keep" / "new").write_bytes(b"replaced\n")
    os.chmod(merged / "d", 0o700)
    os.chown(merged / "d" / "x", 5, 6)
    os.symlink("a", merged / "l")
    os.mkfifo(merged / "p", 0o640)
    os.utime(merged / "n" / "deep" / "f", ns=(1_700_000_000_123_456_789,) * 2)


def _view(root: Path, *, exact_times: bool) -> Tree:
    """Every entry below root: type, mode, owner, times, content or target, overlay marks.

    All entries are stat'ed before any is read: reading a file (or a
    symlink) moves its atime. Symlink atimes, directory atimes (listing
    moves them) and whiteout times (invisible in a merged view; the
    extractor does not set them) are not compared.
    """
    stats: dict[str, os.stat_result] = {}
    for top, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(top, name)
            stats[str(path.relative_to(root))] = os.lstat(path)
    found: Tree = {}
    for rel, st in stats.items():
        path = root / rel
        mode = st.st_mode
        whiteout = stat.S_ISCHR(mode) and st.st_rdev == 0
        when = None if whiteout else (
            st.st_mtime_ns if exact_times else st.st_mtime_ns // 1_000_000_000)
        atime = st.st_atime_ns if exact_times and (
            stat.S_ISREG(mode) or stat.S_ISFIFO(mode)) else None
        extra: object = None
        if stat.S_ISREG(mode):
            extra = path.read_bytes()
        elif stat.S_ISLNK(mode):
            extra = os.readlink(path)
        elif stat.S_ISCHR(mode):
            extra = st.st_rdev
        elif stat.S_ISDIR(mode):
            try:
                extra = os.getxattr(path, OPAQUE_XATTR, follow_symlinks=False)
            except OSError:
                extra = None
        found[rel] = (stat.S_IFMT(mode), stat.S_IMODE(mode), st.st_uid, st.st_gid, when,
                      atime, extra)
    return found


def test_step_upper_dir_is_its_tar_unpacked_and_works_as_a_lower(tmp_path: Path) -> None:
    layers = LayerStore(tmp_path / "layers")
    base_tar = _base_tar()
    base_id = "sha256:" + "1" * 64
    layers.create(base_id, io.BytesIO(base_tar))
    steps = StepRoots(ContainerRootfs(tmp_path / "containers", layers))

    async def run() -> tuple[Tree, Tree, Tree, Tree]:
        async with steps.mounted([base_id]) as root:
            _change(root.merged)
            before = _view(root.merged, exact_times=False)
            await steps.unmount(root)
            with (tmp_path / "layer.tar").open("w+b") as out:
                diff = write_layer_tar(root.upper, out, snapshot=True)
                upper = _view(root.upper, exact_times=True)
                unpacked = tmp_path / "unpacked"
                unpacked.mkdir()
                out.seek(0)
                extract_layer(out, unpacked, whiteouts=True)
            top_id = chain_ids([base_id, diff.diff_id])[-1]
            layers.adopt(top_id, root.upper)
        assert not diff.empty
        async with steps.mounted([base_id, top_id]) as again:
            after = _view(again.merged, exact_times=False)
        return before, after, upper, _view(unpacked, exact_times=True)

    before, after, upper, unpacked = asyncio.run(run())
    assert upper == unpacked
    assert after == before
    assert "rm.txt" not in after and set(p for p in after if p.startswith("keep/")) == {
        "keep/new"}
    assert upper["n/deep/f"][4] == 1_700_000_000_000_000_000  # the whole second only
    steps.rootfs.trash.wait()
    assert os.listdir(tmp_path / "containers") == [".trash"]  # step roots are gone


def test_engine_mount_targets_stay_out_of_a_step_root(tmp_path: Path) -> None:
    layers = LayerStore(tmp_path / "layers")
    base_id = "sha256:" + "2" * 64
    layers.create(base_id, io.BytesIO(_base_tar()))
    steps = StepRoots(ContainerRootfs(tmp_path / "containers", layers))

    async def run() -> list[str]:
        async with steps.mounted([base_id]) as root:
            assert not (root.merged / "etc" / "hosts").exists()
            await steps.unmount(root)
            return os.listdir(root.upper)

    assert asyncio.run(run()) == []


def test_leftover_step_roots_are_removed(tmp_path: Path) -> None:
    layers = LayerStore(tmp_path / "layers")
    base_id = "sha256:" + "3" * 64
    layers.create(base_id, io.BytesIO(_base_tar()))
    rootfs = ContainerRootfs(tmp_path / "containers", layers)
    rootfs.create("build-" + "a" * 64, [base_id])
    merged = rootfs.mount("build-" + "a" * 64, [base_id], engine_targets=False)
    rootfs.create("notabuild", [base_id])
    try:
        assert StepRoots(rootfs).remove_leftovers() == 1
        assert not os.path.ismount(merged)
        assert sorted(os.listdir(tmp_path / "containers")) == [".trash", "notabuild"]
    finally:
        rootfs.unmount("build-" + "a" * 64)
        rootfs.remove("notabuild")
        rootfs.trash.wait()
