"""How long create + start + wait of ``true`` takes through the driver (the
runtime's share of ``docker run --rm busybox true``). Prints the figures;
fails only on an order-of-magnitude regression."""

from __future__ import annotations

import asyncio
import statistics
import time

from ketch.runtime.base import CreateOptions
from ketch.runtime.conmon import ConmonRuntime
from runtime.helpers import Env


async def test_create_start_wait_true(env: Env) -> None:
    rt = ConmonRuntime(env.root)
    phases: dict[str, list[float]] = {"create": [], "start": [], "wait": [], "delete": [],
                                      "total": []}
    for _ in range(15):
        opts = env.options(["true"])
        t0 = time.perf_counter()
        await rt.create(opts)
        t1 = time.perf_counter()
        await rt.start(opts.container_id)
        t2 = time.perf_counter()
        assert (await rt.wait_exit(opts.container_id)).exit_code == 0
        t3 = time.perf_counter()
        await rt.delete(opts.container_id)
        t4 = time.perf_counter()
        for name, value in zip(phases, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t4 - t0),
                               strict=True):
            phases[name].append(value * 1000)
    medians = {k: statistics.median(v) for k, v in phases.items()}
    print("\ndriver latency, median of 15 (ms): " +
          ", ".join(f"{k} {v:.1f}" for k, v in medians.items()))
    assert medians["total"] < 500

    # 20 at once: the driver does not serialise containers
    many = [env.options(["true"]) for _ in range(20)]

    async def one(o: CreateOptions) -> None:
        cid = o.container_id
        await rt.create(o)
        await rt.start(cid)
        await rt.wait_exit(cid)
        await rt.delete(cid)

    t0 = time.perf_counter()
    await asyncio.gather(*(one(o) for o in many))
    print(f"20 in parallel: {(time.perf_counter() - t0) * 1000:.0f} ms")
    await rt.close()
