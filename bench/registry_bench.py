"""Registry benchmark: ketch-registry against Debian's distribution registry,
and ketchd's pull against Docker 20.10's, side by side in one run.

Everything runs on this machine at the same time, on 127.0.0.1 over plain
HTTP, with the same data: a ~200 MB image of 5 layers of random bytes (so
gzip cannot shrink it and the bytes on the wire stay ~200 MB).

1. Registries, same clients: ketchd (driven by the real docker CLI) pushes
   the image to each registry (a new, empty one per timed push, so every
   byte is uploaded) and another ketchd pulls it back; 10 ``skopeo copy``
   run at once from each registry into local directories; and skopeo
   pushes the same image (it uploads with PATCH, ketchd with one PUT).
2. Engines, same registry: ketchd and Debian's dockerd each pull the image
   from ketch-registry, and from distribution.

Figures are medians of several runs, in seconds unless noted; ratio is the
left column over the right one (below 1.0: the left is faster, except for
MB/s rows where above 1.0 is better). Targets from issue 4: ketch-registry
throughput >= 1.0x distribution's; ketchd pull time <= 0.5x Docker's.
Run with ``.venv/bin/python bench/registry_bench.py``; ``--engines-only``
skips part 1 (the registries are still started and filled, untimed).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import shutil
import statistics
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

from common import daemon_pids, print_table, rss_kib, timed
from distribution.registry import REGISTRY_BIN, DistRegistry
from registry.conftest import start_server
from support.dockercli import docker
from support.engines import Engine, EngineSet

LAYERS = 5
LAYER_BYTES = 40 << 20
REPO_NAME = "bench/big"
TAG = "1"
CONCURRENT = 10
RUNS = 3


class Registry:
    """One registry process under test: where it listens and how to stop it."""

    def __init__(self, label: str, addr: str, pid: int, stop: Callable[[], None]) -> None:
        self.label = label
        self.addr = addr
        self.pid = pid
        self.stop = stop

    @property
    def ref(self) -> str:
        return f"{self.addr}/{REPO_NAME}:{TAG}"


def start_ketch_registry(root: Path) -> Registry:
    server = start_server(root, "--delete-enabled")
    return Registry("ketch-registry", server.addr, server.proc.pid, server.stop)


def start_distribution(workdir: Path) -> Registry:
    workdir.mkdir(parents=True, exist_ok=True)
    reg = DistRegistry(workdir).start()
    assert reg.proc is not None
    return Registry("distribution", reg.host, reg.proc.pid, reg.stop)


def _tar_member(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = 0
    tar.addfile(info, io.BytesIO(data))


def write_archive(path: Path) -> None:
    """A ``docker save`` archive of LAYERS layers, each one random file."""
    diff_ids: list[str] = []
    layers: list[tuple[str, bytes]] = []
    for i in range(LAYERS):
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as layer:
            _tar_member(layer, f"data/blob{i}", os.urandom(LAYER_BYTES))
        blob = buf.getvalue()
        diff_ids.append("sha256:" + hashlib.sha256(blob).hexdigest())
        layers.append((f"layer{i}/layer.tar", blob))
    config = json.dumps({
        "architecture": "amd64",
        "os": "linux",
        "created": "2026-01-01T00:00:00Z",
        "config": {"Cmd": ["/data"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [{"created": "2026-01-01T00:00:00Z", "created_by": f"layer {i}"}
                    for i in range(LAYERS)],
    }).encode()
    config_name = hashlib.sha256(config).hexdigest() + ".json"
    manifest = json.dumps([{"Config": config_name, "RepoTags": [f"{REPO_NAME}:{TAG}"],
                            "Layers": [name for name, _ in layers]}]).encode()
    with tarfile.open(path, "w") as tar:
        _tar_member(tar, config_name, config)
        for name, blob in layers:
            _tar_member(tar, name, blob)
        _tar_member(tar, "manifest.json", manifest)


def stored_bytes(reg: Registry) -> int:
    """Bytes of the pushed image as the registry serves them (config + layers)."""
    out = subprocess.run(
        ["skopeo", "inspect", "--raw", "--tls-verify=false", f"docker://{reg.ref}"],
        capture_output=True, check=True, text=True)
    manifest = json.loads(out.stdout)
    return int(manifest["config"]["size"]) + sum(int(lay["size"]) for lay in manifest["layers"])


def remove_image(engine: Engine, ref: str) -> None:
    """rmi ``ref`` and check it is gone, so that the next pull is a full one."""
    docker(engine.env, "rmi", "-f", ref)
    assert docker(engine.env, "image", "inspect", ref).returncode != 0


def pull(engine: Engine, ref: str) -> None:
    """``docker pull``, checked to have downloaded every layer (none reused)."""
    out = docker(engine.env, "pull", ref, timeout=900).ok().stdout
    assert "Already exists" not in out, f"pull of {ref} reused layers:\n{out}"


def concurrent_copies(reg: Registry, workdir: Path) -> float:
    """Wall time of CONCURRENT ``skopeo copy`` of the image at once."""
    dests = [workdir / f"copy{i}" for i in range(CONCURRENT)]
    for dest in dests:
        shutil.rmtree(dest, ignore_errors=True)
        dest.mkdir(parents=True)
    start = time.perf_counter()
    procs = [subprocess.Popen(
        ["skopeo", "copy", "--quiet", "--src-tls-verify=false",
         f"docker://{reg.ref}", f"dir:{dest}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for dest in dests]
    failures = [p.communicate()[1].decode() for p in procs if p.wait() != 0]
    elapsed = time.perf_counter() - start
    for dest in dests:
        shutil.rmtree(dest, ignore_errors=True)
    if failures:
        raise RuntimeError("skopeo copy failed:\n" + "\n".join(failures))
    return elapsed


class FreshRegistries:
    """Registries of one kind, each started empty (untimed) for one timed push.

    A push to an empty registry skips nothing as already there and cannot
    mount from another repository: each one uploads all ~200 MB. Only the
    latest one runs at any time; ``stop_all`` stops it (by pid).
    """

    def __init__(self, start: Callable[[Path], Registry], workdir: Path) -> None:
        self.start = start
        self.workdir = workdir
        self.count = 0
        self.current: Registry | None = None

    def next(self) -> Registry:
        self.stop_all()
        self.count += 1
        self.current = self.start(self.workdir / f"registry{self.count}")
        return self.current

    def stop_all(self) -> None:
        if self.current is not None:
            self.current.stop()
            self.current = None


def time_pushes(fresh: FreshRegistries, push: Callable[[Registry], None]) -> float:
    """Median time of RUNS pushes, each to a new empty registry."""
    targets: list[Registry] = []
    return timed(lambda: push(targets[-1]), RUNS,
                 before=lambda: targets.append(fresh.next()))


def measure_registry(start: Callable[[Path], Registry], pusher: Engine, puller: Engine,
                     workdir: Path, regs: list[Registry]) -> tuple[dict[str, float], Registry]:
    """Pushes, pulls and concurrent pulls against one kind of registry.

    The registry of the last ketchd push serves the pulls; it is returned and
    appended to ``regs`` (the caller stops those).
    """
    fresh = FreshRegistries(start, workdir)
    tagged: list[str] = []

    def ketchd_push(reg: Registry) -> None:
        docker(pusher.env, "tag", f"{REPO_NAME}:{TAG}", reg.ref).ok()
        tagged.append(reg.ref)
        docker(pusher.env, "push", reg.ref, timeout=900).ok()

    results: dict[str, float] = {}
    try:
        results["push 200 MB, 5 layers (ketchd)"] = time_pushes(fresh, ketchd_push)
    except BaseException:
        fresh.stop_all()
        raise
    finally:
        for ref in tagged:
            docker(pusher.env, "rmi", ref).ok()
    reg = fresh.current
    assert reg is not None
    regs.append(reg)
    fresh.current = None  # from now on owned by the caller

    size_mb = stored_bytes(reg) / 1e6
    results["image size in registry (MB)"] = size_mb
    results["pull 200 MB, 5 layers (ketchd)"] = timed(
        lambda: pull(puller, reg.ref), RUNS, before=lambda: remove_image(puller, reg.ref))
    remove_image(puller, reg.ref)

    copies = workdir / "copies"
    wall = statistics.median([concurrent_copies(reg, copies) for _ in range(RUNS)])
    results[f"{CONCURRENT} concurrent pulls (skopeo)"] = wall
    results[f"{CONCURRENT} concurrent pulls (MB/s)"] = CONCURRENT * size_mb / wall

    # The same upload with skopeo as the client, to tell the registry's
    # share of the push time from ketchd's.
    source = workdir / "source"
    skopeo_copy(f"docker://{reg.ref}", f"dir:{source}")
    try:
        results["push 200 MB, 5 layers (skopeo)"] = time_pushes(
            fresh, lambda target: skopeo_copy(f"dir:{source}", f"docker://{target.ref}"))
    finally:
        fresh.stop_all()
        shutil.rmtree(source, ignore_errors=True)
    results["registry RSS after (MiB)"] = rss_kib([reg.pid]) / 1024
    return results, reg


def skopeo_copy(src: str, dest: str) -> None:
    """One ``skopeo copy``, plain HTTP allowed on both sides; checked."""
    subprocess.run(["skopeo", "copy", "--quiet", "--src-tls-verify=false",
                    "--dest-tls-verify=false", src, dest],
                   check=True, stdout=subprocess.DEVNULL)


def measure_engine(engine: Engine, regs: list[Registry]) -> dict[str, float]:
    """The same pulls of the same image, by one engine, from each registry."""
    results: dict[str, float] = {}
    for reg in regs:
        results[f"pull from {reg.label}"] = timed(
            partial(pull, engine, reg.ref), RUNS, before=partial(remove_image, engine, reg.ref))
        remove_image(engine, reg.ref)
    results["daemon RSS after (MiB)"] = rss_kib(daemon_pids(engine)) / 1024
    return results


def fill_registry(start: Callable[[Path], Registry], pusher: Engine, workdir: Path,
                  regs: list[Registry]) -> Registry:
    """A registry holding the image, pushed untimed (for ``--engines-only``)."""
    reg = start(workdir)
    regs.append(reg)
    docker(pusher.env, "tag", f"{REPO_NAME}:{TAG}", reg.ref).ok()
    docker(pusher.env, "push", reg.ref, timeout=900).ok()
    return reg


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engines-only", action="store_true",
                        help="time only the engine pulls (part 2)")
    args = parser.parse_args()
    if not REGISTRY_BIN.exists():
        print(f"{REGISTRY_BIN} is missing: apt-get install -y docker-registry")
        return 2
    root = Path(tempfile.mkdtemp(prefix="krb-", dir="/tmp"))
    engines = EngineSet(root)
    regs: list[Registry] = []
    try:
        pusher = engines.ketchd()
        puller = engines.ketchd()
        dockerd = engines.dockerd()
        archive = root / "big.tar"
        write_archive(archive)
        docker(pusher.env, "load", "-i", str(archive), timeout=900).ok()
        archive.unlink()
        # Untimed warm-up push: ketchd compresses each layer once and keeps
        # the result, so no timed push below pays for gzip and both
        # registries see the same bytes.
        warm = start_ketch_registry(root / "warm")
        try:
            docker(pusher.env, "tag", f"{REPO_NAME}:{TAG}", warm.ref).ok()
            docker(pusher.env, "push", warm.ref, timeout=900).ok()
            docker(pusher.env, "rmi", warm.ref).ok()
        finally:
            warm.stop()
        ours: dict[str, float] = {}
        theirs: dict[str, float] = {}
        if args.engines_only:
            ours_reg = fill_registry(start_ketch_registry, pusher, root / "ketch", regs)
            theirs_reg = fill_registry(start_distribution, pusher, root / "dist", regs)
        else:
            ours, ours_reg = measure_registry(start_ketch_registry, pusher, puller,
                                              root / "ketch", regs)
            theirs, theirs_reg = measure_registry(start_distribution, pusher, puller,
                                                  root / "dist", regs)
        ketchd_pulls = measure_engine(puller, [ours_reg, theirs_reg])
        dockerd_pulls = measure_engine(dockerd, [ours_reg, theirs_reg])
    finally:
        for reg in regs:
            reg.stop()
        problems = engines.stop_all()
        shutil.rmtree(root, ignore_errors=True)
    if ours:
        print("columns: ketch = ketch-registry, docker = Debian's distribution registry")
        print_table("registry (seconds unless noted)", ours, theirs)
        print()
    print("columns: ketch = ketchd, docker = Debian's dockerd 20.10 (same registry)")
    print_table("engine pull of the 200 MB image (seconds)", ketchd_pulls, dockerd_pulls)
    if problems:
        print("engines did not stop cleanly:", *problems, sep="\n")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
