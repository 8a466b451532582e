"""Image operations, ketchd against Docker 20.10, side by side in one run.

Both engines run on this machine at the same time, each on its own data
root, and every operation is driven by the same real docker CLI 28. Each
figure is the median of several runs; the ratio is ketch / Docker (below
1.0 means ketch is faster). Run with ``make bench``.
"""

from __future__ import annotations

import os
from pathlib import Path

from common import daemon_pids, engine_session, finish, rss_kib, timed
from support.dockercli import docker
from support.engines import Engine
from support.images import build_offline_images


def _big_archive(engine: Engine, workdir: Path, busybox: Path) -> Path:
    """A 3-layer image of ~150 MB made with import + save on the engine."""
    layers = []
    for i in range(3):
        layer = workdir / f"layer{i}.tar"
        data_dir = workdir / f"rootfs{i}"
        data_dir.mkdir()
        (data_dir / f"blob{i}").write_bytes(os.urandom(50 << 20))
        os.system(f"tar -C {data_dir} -cf {layer} .")
        layers.append(layer)
    docker(engine.env, "import", str(layers[0]), "bench/big:1").ok()
    archive = workdir / "big.tar"
    docker(engine.env, "save", "-o", str(archive), "bench/big:1").ok()
    docker(engine.env, "rmi", "bench/big:1").ok()
    return archive


def measure(engine: Engine, images_dir: Path, big: Path, workdir: Path) -> dict[str, float]:
    env = engine.env
    busybox = images_dir / "busybox.tar"
    results: dict[str, float] = {}
    results["version (API round trip)"] = timed(lambda: docker(env, "version").ok(), 15)
    for i in range(20):
        docker(env, "import", str(busybox), f"bench/many:{i}").ok()
    results["images (20 images)"] = timed(lambda: docker(env, "images").ok(), 15)
    results["image inspect"] = timed(lambda: docker(env, "image", "inspect",
                                                     "bench/many:1").ok(), 15)
    counter = iter(range(1000))
    results["import busybox (2 MB)"] = timed(
        lambda: docker(env, "import", str(busybox), f"bench/imp:{next(counter)}").ok(), 5)
    docker(env, "load", "-i", str(big)).ok()
    out = workdir / f"save-{engine.kind}.tar"
    results["save 150 MB image"] = timed(
        lambda: docker(env, "save", "-o", str(out), "bench/big:1").ok(), 3)
    results["load 150 MB image"] = timed(
        lambda: docker(env, "load", "-i", str(big)).ok(), 3,
        before=lambda: docker(env, "rmi", "bench/big:1").ok())
    tags = iter(range(1000))

    def tag_then_rmi() -> None:
        name = f"bench/rmi:{next(tags)}"
        docker(env, "tag", "bench/many:0", name).ok()
        docker(env, "rmi", name).ok()
    results["tag + rmi"] = timed(tag_then_rmi, 10)
    results["daemon RSS (MiB)"] = rss_kib(daemon_pids(engine)) / 1024
    return results


def main() -> int:
    with engine_session() as (root, engines, problems):
        images_dir = root / "images"
        build_offline_images(images_dir)
        ketch = engines.ketchd()
        reference = engines.dockerd()
        work = root / "work"
        work.mkdir()
        big = _big_archive(reference, work, images_dir / "busybox.tar")
        ours = measure(ketch, images_dir, big, work)
        theirs = measure(reference, images_dir, big, work)
    return finish("operation (seconds unless noted)", ours, theirs, problems)


if __name__ == "__main__":
    raise SystemExit(main())
