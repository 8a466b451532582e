"""Containers, ketchd against Docker 20.10, side by side in one run.

Measures, through the real docker CLI 28 against each daemon:

* ``docker run --rm busybox true`` (median of several runs);
* 50 containers started in parallel (``docker run -d``) until all run;
* memory per idle running container: host memory in use (``MemAvailable``
  drop) divided by the number of containers, which counts shims, monitors
  and daemon bookkeeping, and also what both engines share (the container's
  own process, page cache, kernel objects);
* the engine's own overhead per container: proportional set size of the
  per-container monitors (conmon / containerd-shim) plus the growth of the
  daemons (ketchd / dockerd + containerd), divided by the count;
* daemon RSS idle and with the 50 containers running.

Both daemons run at the same time on their own data roots; containers use
``--network none`` (the reference runs without a bridge). Run with
``make bench``.
"""

from __future__ import annotations

import concurrent.futures
import time
from pathlib import Path

from common import daemon_pids, engine_session, finish, pss_kib, rss_kib, timed
from support.dockercli import docker
from support.engines import Engine
from support.images import build_offline_images, import_offline_images

PARALLEL = 50


def _mem_available_kib() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1])
    return 0


def _monitor_pids(engine: Engine) -> list[int]:
    """conmon (ketchd) or containerd-shim (Docker) processes of this engine."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        name = Path(argv[0].decode(errors="replace")).name
        if name in ("conmon", "containerd-shim-runc-v2") and \
                str(engine.root).encode() in b" ".join(argv):
            found.append(int(proc.name))
    return found


def measure(engine: Engine) -> dict[str, float]:
    env = engine.env
    results: dict[str, float] = {}
    docker(env, "run", "--rm", "--network", "none", "busybox", "true").ok()  # warm up
    results["run --rm busybox true (s)"] = timed(
        lambda: docker(env, "run", "--rm", "--network", "none", "busybox", "true").ok(), 10)
    results["daemon RSS idle (MiB)"] = rss_kib(daemon_pids(engine)) / 1024

    before = _mem_available_kib()
    daemon_before = pss_kib(daemon_pids(engine))
    start = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(PARALLEL) as pool:
        futures = [pool.submit(docker, env, "run", "-d", "--network", "none", "--name",
                               f"bench{i}", "busybox", "sleep", "600")
                   for i in range(PARALLEL)]
        for future in futures:
            future.result().ok()
    while len(docker(env, "ps", "-q").ok().stdout.split()) < PARALLEL:
        time.sleep(0.05)
    results[f"{PARALLEL} parallel starts (s)"] = time.perf_counter() - start
    time.sleep(2)
    used = before - _mem_available_kib()
    results["memory per idle container (MiB)"] = used / PARALLEL / 1024
    overhead = pss_kib(_monitor_pids(engine)) + pss_kib(daemon_pids(engine)) - daemon_before
    results["engine overhead per container, PSS (MiB)"] = overhead / PARALLEL / 1024
    results[f"daemon RSS, {PARALLEL} running (MiB)"] = rss_kib(daemon_pids(engine)) / 1024
    names = [f"bench{i}" for i in range(PARALLEL)]
    docker(env, "rm", "-f", *names, timeout=300).ok()
    return results


def main() -> int:
    with engine_session() as (root, engines, problems):
        images = build_offline_images(root / "images")
        ketch = engines.ketchd()
        import_offline_images(ketch.env, images)
        ours = measure(ketch)
        problems.extend(engines.stop_all())  # one engine at a time: memory readings
        reference = engines.dockerd()
        import_offline_images(reference.env, images)
        theirs = measure(reference)
    return finish("measure", ours, theirs, problems)


if __name__ == "__main__":
    raise SystemExit(main())
