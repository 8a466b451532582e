"""Container networking end to end: the real docker CLI 28 against a ketchd with a
default bridge, iptables chains and address pool of its own.

Busybox containers serve a page with ``httpd`` and fetch it with ``wget``
(under ``timeout``: Debian's static busybox wget crashes on errors with -T);
the host fetches published ports with urllib. What is checked is what a
Docker user sees: names resolve on user-defined networks and not on the
default bridge, networks are isolated from each other, ``network connect``
works on a running container, published ports reach the container from the
host and from other containers, ``-P`` picks free ports ``docker port``
shows, a taken port is a clear error, nothing is left in the daemon's chains
after a container stops, and a daemon restart keeps a running container
reachable at the same address.
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from support.dockercli import Result, docker
from support.engines import Engine, EngineSet
from support.images import OfflineImages, import_offline_images

SERVE = ("mkdir -p /www && echo {text} > /www/index.html && "
         "exec httpd -f -p 8080 -h /www")


def free_port() -> int:
    """A random high port nothing listens on (TCP) right now."""
    for _ in range(100):
        port = random.randint(20000, 32000)
        with socket.socket() as s:
            try:
                s.bind(("0.0.0.0", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port")


def fetch(url: str, timeout: float = 3) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return str(response.read().decode())
    except OSError:
        return None


def eventually(check: Callable[[], Any], timeout: float = 10) -> Any:
    """The first truthy result of check() (httpd needs a moment to listen)."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.2)


def chain_rules(engine: Engine) -> list[str]:
    """``iptables-save`` lines of this daemon's own chains, counters left out."""
    prefix = engine.settings["iptables-chain-prefix"]
    dump = subprocess.run(["iptables-save"], capture_output=True, text=True,
                          check=True).stdout
    return sorted(re.sub(r"\[\d+:\d+\]", "", line) for line in dump.splitlines()
                  if prefix in line and not line.startswith("#"))


class Cli:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def __call__(self, *args: str, timeout: float = 60) -> Result:
        return docker(self.engine.env, *args, timeout=timeout)

    def ok(self, *args: str) -> str:
        return self(*args).ok().stdout.strip()

    def inspect(self, name: str) -> dict[str, Any]:
        doc: dict[str, Any] = json.loads(self.ok("inspect", name))[0]
        return doc

    def ip(self, name: str, network: str = "") -> str:
        networks = self.inspect(name)["NetworkSettings"]["Networks"]
        value = networks[network]["IPAddress"] if network else \
            next(iter(networks.values()))["IPAddress"]
        return str(value)

    def serve(self, name: str, *options: str, text: str = "") -> str:
        """A detached busybox httpd on port 8080 serving *text* (default: its name),
        once it answers."""
        ident = self.ok("run", "-d", "--name", name, *options, "busybox", "sh", "-c",
                        SERVE.format(text=text or name))
        assert eventually(lambda: self("exec", name, "wget", "-qO-",
                                       "http://127.0.0.1:8080/").returncode == 0)
        return ident

    def sh(self, script: str, *options: str) -> Result:
        return self("run", "--rm", *options, "busybox", "sh", "-c", script)


@pytest.fixture(scope="module")
def engine(engine_set: EngineSet, offline_images: OfflineImages) -> Iterator[Engine]:
    """A ketchd of this module's own (own bridge, chains, pool), busybox imported."""
    made = engine_set.ketchd()
    import_offline_images(made.env, offline_images, names=("busybox",))
    yield made
    made.stop()


@pytest.fixture
def cli(engine: Engine) -> Iterator[Cli]:
    """The docker CLI on the module's ketchd; every container and network removed after."""
    runner = Cli(engine)
    yield runner
    ids = runner.ok("ps", "-aq").split()
    if ids:
        runner("rm", "-f", *ids).ok()
    runner("network", "prune", "-f").ok()


def test_user_network_names_resolve(cli: Cli) -> None:
    cli.ok("network", "create", "kt-app")
    cli.serve("web", "--network", "kt-app", text="hello-web")
    cli.ok("run", "-d", "--name", "db", "--network", "kt-app", "busybox", "sleep", "300")
    result = cli.sh("timeout 3 wget -qO- http://web:8080/ && ping -c1 -W2 db",
                    "--network", "kt-app")
    assert result.returncode == 0, result.describe()
    assert "hello-web" in result.stdout
    assert "1 packets received" in result.stdout
    # aliases and the network-qualified name resolve too
    assert cli.sh("ping -c1 -W2 store", "--network", "kt-app").returncode != 0
    cli.ok("run", "-d", "--name", "cache", "--network", "kt-app", "--network-alias", "store",
           "busybox", "sleep", "300")
    assert cli.sh("ping -c1 -W2 store && ping -c1 -W2 db.kt-app",
                  "--network", "kt-app").returncode == 0
    resolv = cli.sh("cat /etc/resolv.conf", "--network", "kt-app").ok().stdout
    assert "nameserver 127.0.0.11" in resolv


def test_networks_are_isolated(cli: Cli) -> None:
    cli.ok("network", "create", "kt-one")
    cli.ok("network", "create", "kt-two")
    cli.serve("web", "--network", "kt-one")
    address = cli.ip("web")
    assert eventually(lambda: cli.sh(f"timeout 2 wget -qO- http://{address}:8080/",
                                     "--network", "kt-one").returncode == 0)
    by_name = cli.sh("timeout 2 wget -qO- http://web:8080/", "--network", "kt-two")
    assert by_name.returncode != 0
    assert "bad address" in by_name.stderr
    by_ip = cli.sh(f"timeout 2 wget -qO- http://{address}:8080/; ping -c1 -W1 {address}",
                   "--network", "kt-two")
    assert by_ip.returncode != 0 and "web" not in by_ip.stdout


def test_connect_and_disconnect_a_running_container(cli: Cli) -> None:
    cli.ok("network", "create", "kt-front")
    cli.ok("network", "create", "kt-back")
    cli.serve("api", "--network", "kt-back")
    cli.ok("run", "-d", "--name", "client", "--network", "kt-front", "busybox", "sleep", "300")
    assert cli("exec", "client", "timeout", "2", "wget", "-qO-", "http://api:8080/").returncode != 0
    cli.ok("network", "connect", "--alias", "cl", "kt-back", "client")
    got = eventually(lambda: cli("exec", "client", "timeout", "2", "wget", "-qO-",
                                 "http://api:8080/").stdout)
    assert "api" in got
    networks = cli.inspect("client")["NetworkSettings"]["Networks"]
    assert set(networks) == {"kt-front", "kt-back"}
    assert networks["kt-back"]["Aliases"] == ["cl"]
    assert "cl" in networks["kt-back"]["DNSNames"]
    hosts = cli.ok("exec", "client", "cat", "/etc/hosts")
    assert networks["kt-back"]["IPAddress"] in hosts
    assert cli("exec", "api", "ping", "-c1", "-W2", "cl").returncode == 0
    cli.ok("network", "disconnect", "kt-back", "client")
    assert set(cli.inspect("client")["NetworkSettings"]["Networks"]) == {"kt-front"}
    assert cli("exec", "client", "timeout", "2", "wget", "-qO-", "http://api:8080/").returncode != 0
    # a stopped container: connect records the network, start joins it
    cli.ok("stop", "-t", "0", "client")
    cli.ok("network", "connect", "kt-back", "client")
    cli.ok("start", "client")
    assert "api" in eventually(lambda: cli("exec", "client", "timeout", "2", "wget", "-qO-",
                                           "http://api:8080/").stdout)
    with_ip = cli("network", "connect", "--ip", "10.99.99.99", "kt-front", "api")
    assert with_ip.returncode == 1
    assert "no configured subnet contains IP address 10.99.99.99" in with_ip.stderr


def test_published_port_reaches_the_container(cli: Cli, engine: Engine) -> None:
    local, anywhere = free_port(), free_port()
    cli.serve("site", "-p", f"127.0.0.1:{local}:8080", "-p", f"{anywhere}:8080",
              text="published-page")
    assert "published-page" in (eventually(lambda: fetch(f"http://127.0.0.1:{local}/")) or "")
    assert "published-page" in (fetch(f"http://127.0.0.1:{anywhere}/") or "")
    # from another container, through the host (Docker's host-gateway address)
    other = cli.sh(f"timeout 3 wget -qO- http://host.docker.internal:{anywhere}/",
                   "--add-host", "host.docker.internal:host-gateway")
    assert other.returncode == 0, other.describe()
    assert "published-page" in other.stdout
    assert cli.ok("port", "site") == (f"8080/tcp -> 0.0.0.0:{anywhere}\n"
                                      f"8080/tcp -> 127.0.0.1:{local}")
    ps = cli.ok("ps", "--format", "{{.Ports}}", "--filter", "name=site")
    assert f"127.0.0.1:{local}->8080/tcp" in ps and f"0.0.0.0:{anywhere}->8080/tcp" in ps


def test_publish_all_picks_free_ports(cli: Cli) -> None:
    cli.serve("auto", "-P", "--expose", "8080", "--expose", "9000/udp")
    lines = cli.ok("port", "auto").splitlines()
    assert len(lines) == 2, lines
    mapped = dict(line.split(" -> ") for line in lines)
    host_port = int(mapped["8080/tcp"].rsplit(":", 1)[1])
    assert host_port > 1024 and mapped["9000/udp"].startswith("0.0.0.0:")
    assert "auto" in (eventually(lambda: fetch(f"http://127.0.0.1:{host_port}/")) or "")
    assert cli.ok("port", "auto", "8080") == f"0.0.0.0:{host_port}"


def test_taken_host_port_is_a_clear_error(cli: Cli) -> None:
    port = free_port()
    cli.serve("first", "-p", f"{port}:8080")
    second = cli("run", "-d", "--name", "second", "-p", f"{port}:8080", "busybox", "true")
    assert second.returncode == 125
    assert f"Bind for 0.0.0.0:{port} failed: port is already allocated" in second.stderr
    assert cli.inspect("second")["State"]["Status"] == "created"
    # a port another program holds
    with socket.socket() as holder:
        holder.bind(("0.0.0.0", 0))
        holder.listen(1)
        held = holder.getsockname()[1]
        third = cli("run", "-d", "--name", "third", "-p", f"{held}:8080", "busybox", "true")
    assert third.returncode == 125
    assert f"0.0.0.0:{held}" in third.stderr and "address already in use" in third.stderr


def test_no_rule_left_after_stop(cli: Cli, engine: Engine) -> None:
    before = chain_rules(engine)
    port = free_port()
    cli.serve("temp", "-p", f"{port}:8080")
    address = cli.ip("temp")
    during = chain_rules(engine)
    assert any(f"--dport {port}" in line for line in during)
    assert any(address in line for line in during)
    cli.ok("stop", "-t", "1", "temp")
    assert chain_rules(engine) == before
    settings = cli.inspect("temp")["NetworkSettings"]
    assert settings["Ports"] == {} and settings["IPAddress"] == "" and \
        settings["SandboxKey"] == ""
    assert settings["Networks"]["bridge"]["IPAddress"] == ""
    assert settings["Networks"]["bridge"]["NetworkID"]
    cli.ok("start", "temp")
    assert "temp" in (eventually(lambda: fetch(f"http://127.0.0.1:{port}/")) or "")
    cli.ok("rm", "-f", "temp")
    assert chain_rules(engine) == before
    netns = engine.exec_root / "netns"
    assert not netns.exists() or not [p for p in netns.iterdir() if p.suffix != ".json"]


def test_inspect_shows_network_settings_as_docker(cli: Cli, engine: Engine) -> None:
    cli.ok("run", "-d", "--name", "insp", "--mac-address", "02:42:ac:11:00:42", "busybox",
           "sleep", "300")
    settings = cli.inspect("insp")["NetworkSettings"]
    assert list(settings) == [
        "Bridge", "SandboxID", "SandboxKey", "Ports", "HairpinMode", "LinkLocalIPv6Address",
        "LinkLocalIPv6PrefixLen", "SecondaryIPAddresses", "SecondaryIPv6Addresses",
        "EndpointID", "Gateway", "GlobalIPv6Address", "GlobalIPv6PrefixLen", "IPAddress",
        "IPPrefixLen", "IPv6Gateway", "MacAddress", "Networks"]
    bridge = settings["Networks"]["bridge"]
    assert list(bridge) == [
        "IPAMConfig", "Links", "Aliases", "MacAddress", "DriverOpts", "GwPriority",
        "NetworkID", "EndpointID", "Gateway", "IPAddress", "IPPrefixLen", "IPv6Gateway",
        "GlobalIPv6Address", "GlobalIPv6PrefixLen", "DNSNames"]
    assert settings["Bridge"] == "" and len(settings["SandboxID"]) == 64
    assert settings["SandboxKey"]
    for key in ("EndpointID", "Gateway", "IPAddress", "IPPrefixLen", "MacAddress"):
        assert settings[key] == bridge[key] and bridge[key], key
    assert bridge["MacAddress"] == "02:42:ac:11:00:42"
    assert bridge["DNSNames"] is None  # no name resolution on the default bridge
    network = json.loads(cli.ok("network", "inspect", "bridge"))[0]
    assert bridge["NetworkID"] == network["Id"]
    assert bridge["Gateway"] == network["IPAM"]["Config"][0]["Gateway"]
    assert network["Containers"][cli.inspect("insp")["Id"]]["IPv4Address"] == \
        f"{bridge['IPAddress']}/{bridge['IPPrefixLen']}"
    assert cli.inspect("insp")["HostConfig"]["NetworkMode"] == "bridge"
    ip_addr = cli.ok("exec", "insp", "ip", "addr", "show", "eth0")
    assert bridge["IPAddress"] in ip_addr and "02:42:ac:11:00:42" in ip_addr
    formatted = cli.ok("inspect", "-f", "{{.NetworkSettings.IPAddress}} "
                       "{{range $k, $v := .NetworkSettings.Networks}}{{$k}}{{end}}", "insp")
    assert formatted == f"{bridge['IPAddress']} bridge"
    created = cli.ok("create", "--name", "fresh", "--network", "none", "busybox")
    fresh = cli.inspect(created)["NetworkSettings"]
    assert fresh["Networks"]["none"]["IPAddress"] == "" and fresh["SandboxKey"] == ""


def test_default_bridge_has_no_name_resolution(cli: Cli) -> None:
    cli.serve("plain")
    address = cli.ip("plain")
    by_name = cli.sh("ping -c1 -W2 plain")
    assert by_name.returncode != 0 and "bad address" in by_name.stderr
    assert "plain" in (eventually(lambda: cli.sh(f"timeout 2 wget -qO- http://{address}:8080/")
                                  .stdout) or "")
    resolv = cli.sh("cat /etc/resolv.conf").ok().stdout
    assert "127.0.0.11" not in resolv
    hosts = cli.sh("cat /etc/hosts", "--add-host", "extra:192.0.2.7", "--hostname", "hn")
    assert "192.0.2.7\textra" in hosts.stdout and re.search(r"\n10\.[0-9.]+\thn\n", hosts.stdout)


def test_none_host_and_container_modes(cli: Cli, engine: Engine) -> None:
    assert cli.sh("ls /sys/class/net", "--network", "none").ok().stdout.split() == ["lo"]
    host_view = cli.sh("ls /sys/class/net", "--network", "host").ok().stdout.split()
    assert engine.settings["bridge"] in host_view
    cli.serve("owner")
    joined = cli.sh("timeout 3 wget -qO- http://127.0.0.1:8080/; hostname",
                    "--network", "container:owner")
    assert "owner" in joined.stdout, joined.describe()
    owner_id = cli.inspect("owner")["Id"]
    assert joined.stdout.split()[-1] == owner_id[:12]
    cli.ok("create", "--name", "late", "--network", "container:owner", "busybox", "true")
    assert cli.inspect("late")["HostConfig"]["NetworkMode"] == f"container:{owner_id}"
    cli.ok("stop", "-t", "0", "owner")
    refused = cli("start", "late")
    assert refused.returncode == 1
    assert "cannot join network namespace of a non running container: container owner is " \
           "exited" in refused.stderr
    conflict = cli("run", "--rm", "--network", "container:owner", "-p", "80:80", "busybox")
    assert conflict.returncode == 125
    assert "conflicting options: port publishing and the container type network mode" in \
        conflict.stderr


def test_unknown_network_fails_at_start(cli: Cli) -> None:
    result = cli("run", "--name", "lost", "--network", "kt-nosuch", "busybox", "true")
    assert result.returncode == 125
    assert "network kt-nosuch not found" in result.stderr
    assert cli.inspect("lost")["State"]["Status"] == "created"


def test_daemon_restart_keeps_networking(make_ketchd: Callable[..., Engine],
                                         offline_images: OfflineImages) -> None:
    engine = make_ketchd()
    import_offline_images(engine.env, offline_images, names=("busybox",))
    cli = Cli(engine)
    port = free_port()
    cli.ok("network", "create", "kt-keep")
    cli.serve("keep", "--network", "kt-keep", "-p", f"127.0.0.1:{port}:8080")
    address = cli.ip("keep")
    assert "keep" in (eventually(lambda: fetch(f"http://127.0.0.1:{port}/")) or "")
    rules = chain_rules(engine)
    engine.stop()
    assert "keep" in (fetch(f"http://127.0.0.1:{port}/") or "")  # it outlives the daemon
    engine.start()
    assert cli.ip("keep") == address
    assert chain_rules(engine) == rules
    assert "keep" in (fetch(f"http://127.0.0.1:{port}/") or "")
    assert cli.ok("port", "keep") == f"8080/tcp -> 127.0.0.1:{port}"
    found = eventually(lambda: cli.sh("timeout 3 wget -qO- http://keep:8080/",
                                      "--network", "kt-keep").stdout)
    assert "keep" in found  # the embedded DNS is back
    taken = cli("run", "-d", "-p", f"127.0.0.1:{port}:8080", "busybox", "true")
    assert "port is already allocated" in taken.stderr
    cli("rm", "-f", *cli.ok("ps", "-aq").split()).ok()
    cli.ok("network", "rm", "kt-keep")
    assert chain_rules(engine) != rules


def test_container_that_died_while_the_daemon_was_down_is_released(
        make_ketchd: Callable[..., Engine], offline_images: OfflineImages) -> None:
    engine = make_ketchd()
    import_offline_images(engine.env, offline_images, names=("busybox",))
    cli = Cli(engine)
    empty = chain_rules(engine)
    port = free_port()
    cli.serve("gone", "-p", f"{port}:8080")
    pid = cli.inspect("gone")["State"]["Pid"]
    engine.kill9()
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while os.path.exists(f"/proc/{pid}") and time.monotonic() < deadline:
        time.sleep(0.1)
    engine.start()
    state = cli.inspect("gone")["State"]
    assert state["Status"] == "exited"
    assert chain_rules(engine) == empty
    assert fetch(f"http://127.0.0.1:{port}/", timeout=1) is None
    with socket.socket() as s:
        s.bind(("0.0.0.0", port))  # the port is free again
    netns = engine.exec_root / "netns"
    assert not [p for p in netns.iterdir() if p.suffix != ".json"]
    cli.ok("rm", "gone")


def test_ps_filters_on_published_and_exposed_ports_and_volumes(cli: Cli) -> None:
    """moby's rules: ``publish`` matches a listed host port, ``expose`` a
    container port (ranges and protocols allowed), both only for running
    containers; ``volume`` matches a mount's destination or volume name."""
    host = free_port()
    cli.ok("run", "-d", "--name", "web", "-p", f"127.0.0.1:{host}:8080", "--expose", "9090",
           "busybox", "sleep", "60")
    cli.ok("run", "-d", "--name", "quiet", "--expose", "7070/udp", "-v", "psvol:/data",
           "busybox", "sleep", "60")
    cli.ok("create", "--name", "stopped", "--expose", "8080", "busybox", "true")

    def names(*filters: str) -> list[str]:
        args = [arg for f in filters for arg in ("--filter", f)]
        return sorted(cli.ok("ps", "-a", "--format", "{{.Names}}", *args).split())

    try:
        assert names(f"publish={host}") == ["web"]
        assert names(f"publish={host}/udp") == []
        assert names("publish=8080") == []  # the container side is not published
        assert names("expose=8080") == ["web"]  # not the stopped one
        assert names("expose=9000-9100/tcp") == ["web"]
        assert names("expose=7070") == []
        assert names("expose=7070/udp") == ["quiet"]
        assert names("expose=7070/udp", f"publish={host}") == ["quiet", "web"]
        assert names("volume=psvol") == ["quiet"]
        assert names("volume=/data") == ["quiet"]
        assert names("volume=nothing") == []
        bad = cli("ps", "--filter", "expose=80:80")
        assert bad.returncode == 1
        assert "filter for 'expose' should not contain ':': 80:80" in bad.stderr
        bad = cli("ps", "--filter", "publish=http")
        assert bad.returncode == 1
        assert "error while looking up for publish http:" in bad.stderr
    finally:
        cli("rm", "-f", "web", "quiet", "stopped")
        cli("volume", "rm", "psvol")
