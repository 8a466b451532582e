"""Fixtures for the network tests: a NetworkService on real bridges, namespaces,
iptables and CNI plugins, each test with its own names and subnets.

Every name a test's service puts on the host carries a random tag: the
iptables chain prefix (``KT<tag>``), the default bridge (``ktb<tag>``) and the
subnets (free /24s of 10.213.0.0/16, chosen against the host's routes). The
``iptables_unchanged`` check compares ``iptables-save`` before and after each
test, restricted to lines naming the test's chains, bridges or subnets, so
rules other engineers' tests add meanwhile do not count, but any rule this
test leaves behind does.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest
from support.loopthread import LoopThread

from ketch.networks import ipam
from ketch.networks.config import AddressPool, NetworkConfig
from ketch.networks.service import NetworkService
from ketch.store.db import Database
from ketch.store.networks import NetworkTable

T = TypeVar("T")
HERE = Path(__file__).parent
TEST_SPACE = ipaddress.ip_network("10.213.0.0/16")

if os.geteuid() != 0 or not Path("/usr/lib/cni/bridge").exists() or not shutil.which("iptables"):
    pytest.skip("network tests need root, iptables and the CNI plugins", allow_module_level=True)


def free_subnets(count: int) -> list[str]:
    """Random free /24s of the test space (not on a host route)."""
    routes = ipam.host_routes()
    candidates = list(TEST_SPACE.subnets(new_prefix=24))
    out: list[str] = []
    while len(out) < count:
        net = candidates[secrets.randbelow(len(candidates))]
        if not ipam.overlaps(net, routes) and str(net) not in out:
            out.append(str(net))
    return out


@dataclass
class Names:
    tag: str
    chain_prefix: str
    bridge: str
    subnets: list[str]
    extra: list[str] = field(default_factory=list)

    def patterns(self) -> list[str]:
        return [self.chain_prefix, self.bridge, f"br-{self.tag}", *self.extra,
                *[s.rsplit(".", 1)[0] + "." for s in self.subnets]]


@pytest.fixture
def names() -> Names:
    tag = secrets.token_hex(3)
    return Names(tag=tag, chain_prefix=f"KT{tag.upper()}", bridge=f"ktb{tag}",
                 subnets=free_subnets(6))


def _relevant(dump: str, patterns: list[str]) -> list[str]:
    lines = []
    for line in dump.splitlines():
        if line.startswith("#"):
            continue
        line = re.sub(r"\[\d+:\d+\]", "", line)
        if any(p in line for p in patterns):
            lines.append(line)
    return lines


def iptables_save() -> str:
    return subprocess.run(["iptables-save"], capture_output=True, text=True, check=True).stdout


@pytest.fixture(autouse=True)
def iptables_unchanged(names: Names) -> Iterator[None]:
    before = _relevant(iptables_save(), names.patterns())
    yield
    after = _relevant(iptables_save(), names.patterns())
    assert after == before, "iptables rules left behind:\n" + "\n".join(
        sorted(set(after) - set(before)))


@dataclass
class Harness:
    loop: LoopThread
    service: NetworkService
    db: Database
    config: NetworkConfig
    names: Names

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 60) -> T:
        return self.loop.run(coro, timeout)

    def call(self, fn: Callable[[], T]) -> T:
        return self.loop.call(fn)


def make_config(tmp: Path, names: Names, **overrides: Any) -> NetworkConfig:
    default_net = ipaddress.ip_network(names.subnets[0])
    pools = [AddressPool(s, 24) for s in names.subnets[1:]]
    values: dict[str, Any] = {
        "exec_root": tmp / "exec", "bridge": names.bridge,
        "bip": f"{default_net.network_address + 1}/{default_net.prefixlen}",
        "default_address_pools": pools, "chain_prefix": names.chain_prefix,
        "default_bind_ip": "0.0.0.0",
    }
    values.update(overrides)
    return NetworkConfig(**values)


@pytest.fixture
def harness_factory(tmp_path: Path, names: Names) -> Iterator[Callable[..., Harness]]:
    """Builds services (several share a data dir to test restarts); everything
    they put on the host is removed at the end."""
    loop = LoopThread()
    made: list[Harness] = []
    db_path = tmp_path / "ketch.db"

    def make(start: bool = True, running: tuple[str, ...] = (), **overrides: Any) -> Harness:
        config = make_config(tmp_path, names, **overrides)
        db = loop.call(lambda: Database(db_path))
        service = NetworkService(NetworkTable(db), config)
        h = Harness(loop, service, db, config, names)
        made.append(h)
        if start:
            loop.run(service.start(running))
        return h

    yield make
    bridges: set[str] = {names.bridge}
    try:
        if made:
            last = made[-1]
            bridges |= {n.bridge for n in last.call(last.service.table.all) if n.bridge}
            last.run(last.service.close(remove_host_state=True))
        for h in made:
            h.call(h.db.close)
    finally:
        loop.close()
    leftovers = sorted(n for n in os.listdir("/sys/class/net") if n in bridges)
    assert not leftovers, f"bridges left behind: {leftovers}"
    netns_dir = tmp_path / "exec" / "netns"
    assert not netns_dir.exists() or not any(netns_dir.iterdir()), "sandboxes left behind"


@pytest.fixture
def harness(harness_factory: Callable[..., Harness]) -> Harness:
    return harness_factory()


# -- running things inside sandboxes ----------------------------------------------------


def nsrun(sandbox: str, argv: list[str], timeout: float = 20,
          check: bool = False) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["nsenter", f"--net={sandbox}", "--", *argv], capture_output=True,
                          text=True, timeout=timeout, check=check)


def ping(sandbox: str, address: str) -> bool:
    return nsrun(sandbox, ["busybox", "ping", "-c", "1", "-W", "2", address]).returncode == 0


def tcp_fetch(sandbox: str | None, host: str, port: int, timeout: float = 3) -> str | None:
    """Connect from a sandbox (None: the host) and read the server's banner."""
    code = ("import socket,sys\n"
            f"s=socket.create_connection(({host!r},{port}),timeout={timeout})\n"
            "sys.stdout.write(s.recv(200).decode())\n")
    if sandbox is None:
        try:
            with socket.create_connection((host, port), timeout=timeout) as s:
                return s.recv(200).decode()
        except OSError:
            return None
    proc = nsrun(sandbox, [sys.executable, "-c", code], timeout=timeout + 10)
    return proc.stdout if proc.returncode == 0 else None


_SERVER = """
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[1])))
s.listen(16)
print("ready", flush=True)
while True:
    c, addr = s.accept()
    c.sendall(("%s from %s\\n" % (sys.argv[2], addr[0])).encode())
    c.close()
"""


class BannerServer:
    """A TCP server in a sandbox that greets with ``<tag> from <client address>``."""

    def __init__(self, sandbox: str, port: int, tag: str) -> None:
        self.proc = subprocess.Popen(
            ["nsenter", f"--net={sandbox}", "--", sys.executable, "-c", _SERVER, str(port), tag],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert line.strip() == "ready", self.proc.stderr.read() if self.proc.stderr else line

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait(10)


@pytest.fixture
def servers() -> Iterator[Callable[[str, int, str], BannerServer]]:
    started: list[BannerServer] = []

    def start(sandbox: str, port: int, tag: str) -> BannerServer:
        server = BannerServer(sandbox, port, tag)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def dns_query(sandbox: str, name: str, qtype: str = "A", proto: str = "udp") -> dict[str, Any]:
    proc = nsrun(sandbox, [sys.executable, str(HERE / "dnsquery.py"), name, qtype, proto])
    assert proc.returncode == 0, proc.stderr
    result: dict[str, Any] = json.loads(proc.stdout)
    return result
