"""One ``docker stats`` sample of a container, read from cgroup v1 and /proc.

Docker gets these numbers from containerd's cgroup v1 metrics and shapes them
in its stats handler; ketch has no containerd, so this module reads the same
kernel files the same way: CPU from ``cpuacct``/``cpu``, memory from
``memory`` (an unlimited cgroup reports the host's memory as its limit),
``pids`` and ``blkio`` (throttle files when the CFQ ones are empty), the host's
CPU time from /proc/stat and the network counters from /proc/<pid>/net/dev,
which shows the counters of that process's network namespace.

Everything here blocks on small file reads; callers run it in a thread. A
missing controller or file leaves its section zero rather than failing the
whole sample, since a partial answer is what ``docker stats`` can still show.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ketch.containers.spec import CGROUP_PARENT
from ketch.timeutil import format_ns

#: Go's zero time.Time as encoding/json prints it (``read`` of an empty sample).
ZERO_TIME = "0001-01-01T00:00:00Z"
#: /proc/stat counts in USER_HZ, which is 100 on Linux whatever CONFIG_HZ is.
_CLOCK_TICKS = 100
_OCTAL = re.compile(r"\\([0-7]{3})")
_NS_PER_SECOND = 1_000_000_000

#: The memory.stat keys Docker passes on for cgroup v1 (Go encodes a map's
#: keys sorted, hence the order).
MEMORY_STAT_KEYS = tuple(sorted((
    "cache", "rss", "rss_huge", "mapped_file", "dirty", "writeback", "pgpgin", "pgpgout",
    "pgfault", "pgmajfault", "inactive_anon", "active_anon", "inactive_file", "active_file",
    "unevictable", "hierarchical_memory_limit", "hierarchical_memsw_limit", "total_cache",
    "total_rss", "total_rss_huge", "total_mapped_file", "total_dirty", "total_writeback",
    "total_pgpgin", "total_pgpgout", "total_pgfault", "total_pgmajfault",
    "total_inactive_anon", "total_active_anon", "total_inactive_file", "total_active_file",
    "total_unevictable",
)))

#: BlkioStats fields, in the order Docker encodes them.
BLKIO_KEYS = (
    "io_service_bytes_recursive", "io_serviced_recursive", "io_queue_recursive",
    "io_service_time_recursive", "io_wait_time_recursive", "io_merged_recursive",
    "io_time_recursive", "sectors_recursive",
)
#: CFQ files (blkio.<name>) and the BlkioStats field each fills.
_CFQ_FILES = (
    ("sectors_recursive", "sectors_recursive"),
    ("io_service_bytes_recursive", "io_service_bytes_recursive"),
    ("io_serviced_recursive", "io_serviced_recursive"),
    ("io_queued_recursive", "io_queue_recursive"),
    ("io_service_time_recursive", "io_service_time_recursive"),
    ("io_wait_time_recursive", "io_wait_time_recursive"),
    ("io_merged_recursive", "io_merged_recursive"),
    ("time_recursive", "io_time_recursive"),
)
#: Used when no CFQ scheduler counts the cgroup's I/O (containerd's fallback).
_THROTTLE_FILES = (
    ("throttle.io_serviced", "io_serviced_recursive"),
    ("throttle.io_service_bytes", "io_service_bytes_recursive"),
)

#: Devices the kernel puts in every new network namespace when the matching
#: tunnel module is loaded: not the container's endpoints, so not reported.
_FALLBACK_DEVICES = frozenset({
    "lo", "tunl0", "sit0", "ip6tnl0", "gre0", "gretap0", "erspan0", "ip6gre0",
    "ip_vti0", "ip6_vti0",
})
_NET_FIELDS = (
    ("rx_bytes", 0), ("rx_packets", 1), ("rx_errors", 2), ("rx_dropped", 3),
    ("tx_bytes", 8), ("tx_packets", 9), ("tx_errors", 10), ("tx_dropped", 11),
)


@dataclass(frozen=True)
class Target:
    """What to sample: the container's identity and its init process."""

    container_id: str
    #: with Docker's leading slash
    name: str
    pid: int
    #: False when the container's network is disabled (no ``networks`` key)
    network: bool = True


# -- shapes ---------------------------------------------------------------------------

def cpu_stats(total: int = 0, percpu: list[int] | None = None, kernel: int = 0,
              user: int = 0, system: int = 0, online: int = 0,
              throttling: tuple[int, int, int] = (0, 0, 0)) -> dict[str, Any]:
    """CPUStats as Go encodes it (``percpu_usage``, ``system_cpu_usage`` and
    ``online_cpus`` are omitted when empty or zero)."""
    usage: dict[str, Any] = {"total_usage": total}
    if percpu:
        usage["percpu_usage"] = percpu
    usage["usage_in_kernelmode"] = kernel
    usage["usage_in_usermode"] = user
    body: dict[str, Any] = {"cpu_usage": usage}
    if system:
        body["system_cpu_usage"] = system
    if online:
        body["online_cpus"] = online
    periods, throttled_periods, throttled_time = throttling
    body["throttling_data"] = {"periods": periods, "throttled_periods": throttled_periods,
                               "throttled_time": throttled_time}
    return body


def empty_stats(container_id: str, name: str) -> dict[str, Any]:
    """Docker's answer for a container that is not running: every section at
    its zero value (Go's empty structs and null slices), only name and ID set."""
    return {
        "name": name, "id": container_id, "read": ZERO_TIME, "preread": ZERO_TIME,
        "pids_stats": {}, "blkio_stats": dict.fromkeys(BLKIO_KEYS), "num_procs": 0,
        "storage_stats": {}, "cpu_stats": cpu_stats(), "precpu_stats": cpu_stats(),
        "memory_stats": {},
    }


# -- host -------------------------------------------------------------------------------

def system_cpu(proc: Path = Path("/proc")) -> tuple[int, int]:
    """(host CPU time in ns over the first seven /proc/stat ``cpu`` columns,
    number of ``cpuN`` lines), the base the CLI divides container CPU time by."""
    total = online = 0
    with open(proc / "stat") as f:
        for line in f:
            if not line.startswith("cpu"):
                break
            fields = line.split()
            if fields[0] == "cpu":
                total = sum(int(v) for v in fields[1:8]) * _NS_PER_SECOND // _CLOCK_TICKS
            elif fields[0][3:].isdigit():
                online += 1
    return total, online


def machine_memory(proc: Path = Path("/proc")) -> int:
    try:
        with open(proc / "meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


# -- cgroup paths -----------------------------------------------------------------------

def _v1_mounts(proc: Path) -> dict[str, tuple[str, Path]]:
    """controller -> (root of the mount within the hierarchy, mount point)."""
    mounts: dict[str, tuple[str, Path]] = {}
    with open(proc / "self" / "mountinfo") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            fields, tail = left.split(), right.split()
            if len(fields) < 5 or len(tail) < 3 or tail[0] != "cgroup":
                continue
            root, point = _unescape(fields[3]), Path(_unescape(fields[4]))
            for option in tail[2].split(","):
                mounts.setdefault(option, (root, point))
    return mounts


def _unescape(text: str) -> str:
    """mountinfo escapes space, tab, newline and backslash as octal."""
    return _OCTAL.sub(lambda m: chr(int(m.group(1), 8)), text)


def cgroup_dirs(container_id: str, pid: int, proc: Path = Path("/proc")) -> dict[str, Path]:
    """controller -> directory of the container's cgroup.

    The init process's /proc/<pid>/cgroup is the truth (it also covers a
    cgroup parent chosen at create); when it cannot be read, the path runc was
    given, ``CGROUP_PARENT/<id>``."""
    mounts = _v1_mounts(proc)
    paths: dict[str, str] = {}
    try:
        with open(proc / str(pid) / "cgroup") as f:
            for line in f:
                _, controllers, path = line.rstrip("\n").split(":", 2)
                for controller in controllers.split(","):
                    if controller:
                        paths[controller] = path
    except (OSError, ValueError):
        paths = {}
    dirs: dict[str, Path] = {}
    for controller, (root, point) in mounts.items():
        path = paths.get(controller, f"{CGROUP_PARENT}/{container_id}")
        relative = os.path.relpath(path, root) if root != "/" else path.lstrip("/")
        if relative.startswith(".."):
            continue
        dirs[controller] = point / relative if relative != "." else point
    return dirs


# -- controllers ----------------------------------------------------------------------

def _read_int(path: Path) -> int:
    """A single-number cgroup file; "max" and negative values read as 0, as
    containerd reads them."""
    text = path.read_text().strip()
    if text == "max":
        return 0
    value = int(text)
    return value if value > 0 else 0


def _read_kv(path: Path) -> dict[str, int]:
    values: dict[str, int] = {}
    with open(path) as f:
        for line in f:
            key, _, value = line.partition(" ")
            try:
                values[key] = int(value)
            except ValueError:
                continue
    return values


def read_cpu(cpuacct: Path | None, cpu: Path | None,
             proc: Path = Path("/proc")) -> dict[str, Any]:
    """Container CPU time in ns (total, per CPU, kernel/user from the tick
    counts in cpuacct.stat), CFS throttling from cpu.stat, then the host's CPU
    time: read right after, so the two deltas the CLI divides cover the same
    interval."""
    total = kernel = user = 0
    percpu: list[int] = []
    throttling = (0, 0, 0)
    if cpuacct is not None:
        try:
            total = _read_int(cpuacct / "cpuacct.usage")
            percpu = [int(v) for v in (cpuacct / "cpuacct.usage_percpu").read_text().split()]
            ticks = _read_kv(cpuacct / "cpuacct.stat")
            user = ticks.get("user", 0) * _NS_PER_SECOND // _CLOCK_TICKS
            kernel = ticks.get("system", 0) * _NS_PER_SECOND // _CLOCK_TICKS
        except (OSError, ValueError):
            pass
    if cpu is not None:
        try:
            stat = _read_kv(cpu / "cpu.stat")
            throttling = (stat.get("nr_periods", 0), stat.get("nr_throttled", 0),
                          stat.get("throttled_time", 0))
        except OSError:
            pass
    system, online = system_cpu(proc)
    return cpu_stats(total, percpu, kernel, user, system, online, throttling)


def read_memory(memory: Path | None, host_memory: int) -> dict[str, Any]:
    """MemoryStats: usage, max usage, failcnt, limit and Docker's memory.stat keys."""
    if memory is None:
        return {}
    try:
        raw = _read_kv(memory / "memory.stat")
        usage = _read_int(memory / "memory.usage_in_bytes")
        max_usage = _read_int(memory / "memory.max_usage_in_bytes")
        failcnt = _read_int(memory / "memory.failcnt")
        limit = _read_int(memory / "memory.limit_in_bytes")
    except (OSError, ValueError):
        return {}
    if host_memory and limit > host_memory:
        limit = host_memory
    body: dict[str, Any] = {}
    if usage:
        body["usage"] = usage
    if max_usage:
        body["max_usage"] = max_usage
    body["stats"] = {key: raw.get(key, 0) for key in MEMORY_STAT_KEYS}
    if failcnt:
        body["failcnt"] = failcnt
    if limit:
        body["limit"] = limit
    return body


def read_pids(pids: Path | None) -> dict[str, Any]:
    if pids is None:
        return {}
    body: dict[str, Any] = {}
    try:
        current = _read_int(pids / "pids.current")
        limit = _read_int(pids / "pids.max")
    except (OSError, ValueError):
        return {}
    if current:
        body["current"] = current
    if limit:
        body["limit"] = limit
    return body


def _blkio_entries(path: Path) -> list[dict[str, Any]]:
    """``major:minor [Op] value`` lines; the ``Total`` line is skipped."""
    entries: list[dict[str, Any]] = []
    with open(path) as f:
        for line in f:
            fields = line.replace(":", " ").split()
            if len(fields) < 3:
                continue
            op, value = (fields[2], fields[3]) if len(fields) >= 4 else ("", fields[2])
            entries.append({"major": int(fields[0]), "minor": int(fields[1]), "op": op,
                            "value": int(value)})
    return entries


def read_blkio(blkio: Path | None) -> dict[str, Any]:
    """BlkioStats: the CFQ recursive files when they count anything, else the
    throttle files (the only ones on blk-mq kernels) as containerd does."""
    body: dict[str, Any] = {key: [] for key in BLKIO_KEYS}
    if blkio is None:
        return body
    try:
        if (blkio / "blkio.io_serviced_recursive").exists():
            for name, key in _CFQ_FILES:
                body[key] = _blkio_entries(blkio / f"blkio.{name}")
            if any(body.values()):
                return body
        for name, key in _THROTTLE_FILES:
            body[key] = _blkio_entries(blkio / f"blkio.{name}")
    except (OSError, ValueError):
        pass
    return body


def _netns(pid: int | str, proc: Path) -> int:
    return os.stat(proc / str(pid) / "ns" / "net").st_ino


def read_networks(pid: int, proc: Path = Path("/proc")) -> dict[str, dict[str, int]]:
    """Counters of the container's own interfaces, by name. A container in the
    daemon's network namespace (host mode) has no endpoints of its own, and
    Docker reports none; loopback and kernel fallback tunnels are never
    endpoints either."""
    try:
        if _netns(pid, proc) == _netns("self", proc):
            return {}
        lines = (proc / str(pid) / "net" / "dev").read_text().splitlines()[2:]
    except OSError:
        return {}
    networks: dict[str, dict[str, int]] = {}
    for line in lines:
        name, _, counters = line.partition(":")
        name = name.strip()
        values = counters.split()
        if name in _FALLBACK_DEVICES or len(values) < 16:
            continue
        networks[name] = {key: int(values[index]) for key, index in _NET_FIELDS}
    return dict(sorted(networks.items()))


# -- sample -----------------------------------------------------------------------------

def collect(target: Target, proc: Path = Path("/proc")) -> dict[str, Any]:
    """One sample in Docker's StatsResponse shape and key order, ``preread``
    and ``precpu_stats`` zero (the caller fills them from its previous sample).

    Raises ProcessLookupError when the init process is gone, so the caller
    can answer as for a stopped container."""
    if target.pid <= 0 or not (proc / str(target.pid)).exists():
        raise ProcessLookupError(target.pid)
    dirs = cgroup_dirs(target.container_id, target.pid, proc)
    read_ns = time.time_ns()
    cpu = read_cpu(dirs.get("cpuacct"), dirs.get("cpu"), proc)
    memory = read_memory(dirs.get("memory"), machine_memory(proc))
    pids = read_pids(dirs.get("pids"))
    blkio = read_blkio(dirs.get("blkio"))
    body: dict[str, Any] = {
        "name": target.name, "id": target.container_id, "read": format_ns(read_ns),
        "preread": ZERO_TIME, "pids_stats": pids, "blkio_stats": blkio, "num_procs": 0,
        "storage_stats": {}, "cpu_stats": cpu, "precpu_stats": cpu_stats(),
        "memory_stats": memory,
    }
    if target.network:
        networks = read_networks(target.pid, proc)
        if networks:
            body["networks"] = networks
    return body
