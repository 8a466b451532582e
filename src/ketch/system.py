"""Facts about the host and the engine that ``/version`` and ``/info`` report."""

from __future__ import annotations

import os
import platform
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import ketch
from ketch.images.transfer import host_architecture


@dataclass(frozen=True)
class HostFacts:
    hostname: str
    kernel_version: str
    operating_system: str
    os_version: str
    architecture: str
    machine: str
    ncpu: int
    mem_total: int
    cgroup_version: str
    cgroup_driver: str
    ipv4_forwarding: bool


def _os_release() -> dict[str, str]:
    values: dict[str, str] = {}
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            key, eq, value = line.partition("=")
            if eq:
                values[key] = value.strip().strip('"')
    except OSError:
        pass
    return values


def _mem_total() -> int:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return 0


def _cgroup_version() -> str:
    # A pure v2 host has cgroup.controllers at the root; hybrid hosts (v1
    # controllers plus a v2 mount under unified/) count as v1, as in Docker.
    return "2" if Path("/sys/fs/cgroup/cgroup.controllers").exists() else "1"


def _ip_forward() -> bool:
    try:
        return Path("/proc/sys/net/ipv4/ip_forward").read_text().strip() == "1"
    except OSError:
        return False


def host_facts() -> HostFacts:
    release = _os_release()
    return HostFacts(
        hostname=socket.gethostname(),
        kernel_version=platform.release(),
        operating_system=release.get("PRETTY_NAME", "Linux"),
        os_version=release.get("VERSION_ID", ""),
        architecture=host_architecture(),
        machine=platform.machine(),
        ncpu=os.cpu_count() or 1,
        mem_total=_mem_total(),
        cgroup_version=_cgroup_version(),
        cgroup_driver="cgroupfs",
        ipv4_forwarding=_ip_forward(),
    )


ENGINE_VERSION = ketch.__version__
PYTHON_VERSION = "python" + ".".join(map(str, sys.version_info[:3]))
BUILD_TIME = time.strftime("%Y-%m-%dT%H:%M:%S.000000000+00:00", time.gmtime(0))
