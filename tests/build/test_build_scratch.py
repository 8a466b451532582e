"""Build contexts are unpacked in the daemon's own tmpfs, and a context that
does not fit there is unpacked on disk instead: the build is the same."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

from support.dockercli import docker
from support.engines import Engine
from support.images import OfflineImages, import_offline_images


def _scratch_mounts(engine: Engine) -> list[str]:
    target = str(engine.exec_root / "build-scratch")
    with open("/proc/self/mountinfo") as mounts:
        return [line for line in mounts if line.split()[4] == target]


def _build(engine: Engine, context: Path, tag: str) -> str:
    env = dict(engine.env, DOCKER_BUILDKIT="0")
    docker(env, "build", "-q", "-t", tag, str(context)).ok()
    return docker(engine.env, "run", "--rm", tag, "sh", "-c",
                  "md5sum /data/big /data/small | cut -d' ' -f1").ok().stdout


def _context(root: Path, big_bytes: int) -> Path:
    (root / "data").mkdir(parents=True)
    (root / "data" / "big").write_bytes(os.urandom(big_bytes))
    (root / "data" / "small").write_text("small\n")
    (root / "Dockerfile").write_text("FROM busybox\nCOPY data /data\n")
    return root


def _expected(context: Path) -> str:
    import hashlib

    return "".join(hashlib.md5((context / "data" / name).read_bytes()).hexdigest() + "\n"
                   for name in ("big", "small"))


def test_contexts_go_to_the_tmpfs_and_big_ones_to_disk(
    make_ketchd: Callable[..., Engine], offline_images: OfflineImages, tmp_path: Path,
) -> None:
    engine = make_ketchd(config={"build-scratch-size": "1m"})
    import_offline_images(engine.env, offline_images, ("busybox",))
    mounts = _scratch_mounts(engine)
    assert len(mounts) == 1 and " - tmpfs " in mounts[0], mounts

    fits = _context(tmp_path / "fits", 100_000)
    assert _build(engine, fits, "fits:1") == _expected(fits)
    assert "unpacking it on disk" not in engine.log.read_text()
    too_big = _context(tmp_path / "big", 3 << 20)  # three times the tmpfs
    assert _build(engine, too_big, "big:1") == _expected(too_big)
    assert "unpacking it on disk" in engine.log.read_text()
    # nothing of either context is left in the tmpfs or on disk
    assert os.listdir(engine.exec_root / "build-scratch") == []
    leftovers = [p for p in (engine.data_root / "tmp").rglob("context-*")]
    assert leftovers == []

    engine.stop()
    assert _scratch_mounts(engine) == []


def test_a_tmpfs_left_by_a_killed_daemon_is_replaced(
        make_ketchd: Callable[..., Engine]) -> None:
    engine = make_ketchd(start=False)
    stale = engine.exec_root / "build-scratch"
    stale.mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(stale)], check=True)
    try:
        (stale / "context-old").mkdir()
        engine.start()
        assert len(_scratch_mounts(engine)) == 1
        assert os.listdir(stale) == []
    finally:
        engine.stop()
        while subprocess.run(["umount", str(stale)], capture_output=True).returncode == 0:
            pass
    assert _scratch_mounts(engine) == []


def test_zero_turns_the_tmpfs_off(
    make_ketchd: Callable[..., Engine], offline_images: OfflineImages, tmp_path: Path,
) -> None:
    engine = make_ketchd(config={"build-scratch-size": 0})
    import_offline_images(engine.env, offline_images, ("busybox",))
    assert _scratch_mounts(engine) == []
    context = _context(tmp_path / "ctx", 10_000)
    assert _build(engine, context, "off:1") == _expected(context)
