"""Linux bridges and the sysctls that go with them.

A network's bridge is created with the network (as Docker does), with the
gateway address on it and up, so that its subnet shows in the host's routes
at once and the next subnet choice (of this or another daemon) avoids it.
The CNI ``bridge`` plugin later finds it and plugs veths into it.
"""

from __future__ import annotations

import json
from pathlib import Path

from ketch.networks.hostcmd import run, succeeds

SYSCTL = Path("/proc/sys/net")


def exists(name: str) -> bool:
    return (Path("/sys/class/net") / name).exists()


def is_bridge(name: str) -> bool:
    return (Path("/sys/class/net") / name / "bridge").exists()


def addresses(name: str) -> list[str]:
    """The addresses (with prefix) on an interface, IPv4 and global IPv6."""
    proc = run(["ip", "-j", "addr", "show", "dev", name], check=False)
    if proc.returncode != 0:
        return []
    out: list[str] = []
    for link in json.loads(proc.stdout or b"[]"):
        for info in link.get("addr_info", []):
            if info.get("scope") == "link":
                continue
            out.append(f"{info['local']}/{info['prefixlen']}")
    return out


def ensure_bridge(name: str, gateways: list[str], mtu: int = 0) -> bool:
    """Create (or repair) the bridge with these ``addr/prefix`` gateways; True if created."""
    created = False
    if not exists(name):
        argv = ["ip", "link", "add", "name", name]
        if mtu:
            argv += ["mtu", str(mtu)]
        run([*argv, "type", "bridge"])
        created = True
    have = set(addresses(name))
    for gw in gateways:
        if gw not in have:
            run(["ip", "addr", "add", gw, "dev", name])
    if mtu and not created:
        run(["ip", "link", "set", "dev", name, "mtu", str(mtu)])
    run(["ip", "link", "set", "dev", name, "up"])
    return created


def delete(name: str) -> None:
    if exists(name):
        succeeds(["ip", "link", "del", "dev", name])


def set_sysctl(path: str, value: str) -> None:
    """Write ``/proc/sys/net/<path>`` if it differs (e.g. ``ipv4/ip_forward``)."""
    target = SYSCTL / path
    try:
        if target.read_text().strip() == value:
            return
    except FileNotFoundError:
        return
    target.write_text(value + "\n")


def enable_route_localnet(bridge: str) -> None:
    """Let DNAT'ed packets from 127.0.0.1 leave through the bridge (published
    ports reached at the host's loopback address)."""
    set_sysctl(f"ipv4/conf/{bridge}/route_localnet", "1")


def enable_ip_forward(ipv6: bool = False) -> None:
    set_sysctl("ipv4/ip_forward", "1")
    if ipv6:
        set_sysctl("ipv6/conf/all/forwarding", "1")
