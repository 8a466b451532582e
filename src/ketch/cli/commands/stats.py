"""``ketch stats``: live resource usage of containers, as ``docker stats`` shows it.

The numbers are the docker CLI's, computed from ``GET /containers/{id}/stats``
the way its ``stats_helpers.go`` does: CPU % from the container's and the
host's CPU time since the previous sample, memory without the page cache
(cgroup v1's ``total_inactive_file``), network and block I/O summed over
interfaces and devices. ``--no-stream`` prints one table; otherwise the
screen is redrawn every second until interrupted.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from ketch.cli import units
from ketch.cli.env import PROG, Env
from ketch.cli.flags import CommandSpec, Flag, Parsed, UsageError
from ketch.cli.goprint import TemplateObject
from ketch.errors import KetchError

STATS_HEADERS = {
    "Container": "CONTAINER", "ID": "CONTAINER ID", "Name": "NAME", "CPUPerc": "CPU %",
    "MemUsage": "MEM USAGE / LIMIT", "MemPerc": "MEM %", "NetIO": "NET I/O",
    "BlockIO": "BLOCK I/O", "PIDs": "PIDS",
}
_DEFAULT_TABLE = ("table {{.ID}}\\t{{.Name}}\\t{{.CPUPerc}}\\t{{.MemUsage}}\\t{{.MemPerc}}"
                  "\\t{{.NetIO}}\\t{{.BlockIO}}\\t{{.PIDs}}")
_CLEAR = "\033[2J\033[H"


def spec_stats(path: str) -> CommandSpec:
    return CommandSpec(
        path, "stats [OPTIONS] [CONTAINER...]",
        "Display a live stream of container(s) resource usage statistics",
        aliases=f"{PROG} container stats, {PROG} stats",
        flags=[
            Flag("all", "Show all containers (default shows just running)", short="a"),
            Flag("format", "Format output using a custom template", kind="string"),
            Flag("no-stream", "Disable streaming stats and only pull the first result"),
            Flag("no-trunc", "Do not truncate output"),
        ],
    )


class StatsEntry(TemplateObject):
    """One row: the docker CLI's ``StatsEntry`` computed from one stats object."""

    GO_TYPE = "*formatter.statsContext"
    FIELDS = ("Container", "Name", "ID", "CPUPerc", "MemUsage", "MemPerc", "NetIO", "BlockIO",
              "PIDs")

    def __init__(self, container: str, stats: dict[str, Any] | None, trunc: bool) -> None:
        self.container = container
        self.trunc = trunc
        self.valid = stats is not None
        s = stats or {}
        self.name = str(s.get("name") or "")
        self.ident = str(s.get("id") or container)
        self.cpu = _cpu_percent(s)
        mem = s.get("memory_stats") or {}
        self.memory = _memory_without_cache(mem)
        self.limit = float(mem.get("limit") or 0)
        self.mem_percent = self.memory / self.limit * 100 if self.limit else 0.0
        self.rx = sum(float(n.get("rx_bytes", 0)) for n in (s.get("networks") or {}).values())
        self.tx = sum(float(n.get("tx_bytes", 0)) for n in (s.get("networks") or {}).values())
        self.read = self.write = 0.0
        for entry in (s.get("blkio_stats") or {}).get("io_service_bytes_recursive") or []:
            op = str(entry.get("op", "")).lower()
            if op == "read":
                self.read += float(entry.get("value", 0))
            elif op == "write":
                self.write += float(entry.get("value", 0))
        self.pids = int((s.get("pids_stats") or {}).get("current") or 0)

    def Container(self) -> str:
        return self.container

    def Name(self) -> str:
        return self.name[1:] if len(self.name) > 1 else "--"

    def ID(self) -> str:
        return self.ident[:12] if self.trunc else self.ident

    def CPUPerc(self) -> str:
        return f"{self.cpu:.2f}%" if self.valid else "--"

    def MemUsage(self) -> str:
        if not self.valid:
            return "-- / --"
        return f"{units.bytes_size(self.memory)} / {units.bytes_size(self.limit)}"

    def MemPerc(self) -> str:
        return f"{self.mem_percent:.2f}%" if self.valid else "--"

    def NetIO(self) -> str:
        if not self.valid:
            return "--"
        return (f"{units.human_size_with_precision(self.rx, 3)} / "
                f"{units.human_size_with_precision(self.tx, 3)}")

    def BlockIO(self) -> str:
        if not self.valid:
            return "--"
        return (f"{units.human_size_with_precision(self.read, 3)} / "
                f"{units.human_size_with_precision(self.write, 3)}")

    def PIDs(self) -> str:
        return str(self.pids) if self.valid else "--"


def _cpu_percent(s: dict[str, Any]) -> float:
    cpu = s.get("cpu_stats") or {}
    pre = s.get("precpu_stats") or {}
    usage = cpu.get("cpu_usage") or {}
    cpu_delta = float(usage.get("total_usage") or 0) - \
        float((pre.get("cpu_usage") or {}).get("total_usage") or 0)
    system_delta = float(cpu.get("system_cpu_usage") or 0) - \
        float(pre.get("system_cpu_usage") or 0)
    online = float(cpu.get("online_cpus") or len(usage.get("percpu_usage") or []))
    if system_delta > 0 and cpu_delta > 0:
        return cpu_delta / system_delta * online * 100
    return 0.0


def _memory_without_cache(mem: dict[str, Any]) -> float:
    usage = float(mem.get("usage") or 0)
    stats = mem.get("stats") or {}
    for key in ("total_inactive_file", "inactive_file"):
        if key in stats and float(stats[key]) < usage:
            return usage - float(stats[key])
    return usage


def _sample(env: Env, names: list[str]) -> tuple[list[StatsEntry], list[str]]:
    """One stats object per container, fetched in parallel (each takes ~1 s)."""
    results: list[dict[str, Any] | None] = [None] * len(names)
    errors: list[str | None] = [None] * len(names)

    def fetch(i: int) -> None:
        try:
            results[i] = env.client.containers.stats(names[i])
        except KetchError as exc:
            errors[i] = exc.message

    threads = [threading.Thread(target=fetch, args=(i,)) for i in range(len(names))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return ([StatsEntry(name, results[i], True) for i, name in enumerate(names)
             if errors[i] is None], [e for e in errors if e is not None])


def run_stats(env: Env, p: Parsed) -> int:
    from ketch.cli.formatter import render_rows

    fmt = p["format"] or ""
    fmt = _DEFAULT_TABLE if fmt in ("", "table") else fmt
    while True:
        names = list(p.args) or [
            str(c["Id"]) for c in env.client.containers.list(all=p["all"])]
        rows, errors = _sample(env, names)
        if errors and p.args:
            raise UsageError("\n".join(f"Error response from daemon: {e}" for e in errors))
        for row in rows:
            row.trunc = not p["no_trunc"]
        text = render_rows(fmt, rows, STATS_HEADERS)
        if p["no_stream"]:
            env.out(text)
            return 0
        env.out(_CLEAR + text)
        env.stdout.flush()
        time.sleep(0.05)
