"""NetworkService on the real host: bridges, namespaces, CNI, iptables, DNS."""

from __future__ import annotations

import ipaddress
import secrets
import socket
import subprocess
from collections.abc import Callable
from typing import Any

import pytest

from ketch.errors import Conflict, Forbidden, InvalidArgument, NotFound
from ketch.networks import links
from ketch.networks.model import IPAMConfig, IPAMRequest, NetworkCreate
from ketch.networks.ports import PortRequest

from .conftest import BannerServer, Harness, dns_query, nsrun, ping, tcp_fetch


def create(h: Harness, name: str, subnet: str = "", **kw: Any) -> str:
    ipam = IPAMRequest(config=[IPAMConfig(subnet=subnet, ip_range=kw.pop("ip_range", ""),
                                          gateway=kw.pop("gateway", ""))]) if subnet else None
    network_id, _ = h.run(h.service.create(NetworkCreate(name=name, ipam=ipam, **kw)))
    return network_id


def container(h: Harness, network: str, name: str, **kw: Any) -> tuple[str, str, dict[str, Any]]:
    """A sandbox connected to *network*: (container id, sandbox path, endpoint settings)."""
    cid = secrets.token_hex(32)
    path = h.run(h.service.create_sandbox(cid))
    settings = h.run(h.service.connect_container(network, cid, name, **kw))
    return cid, path, settings


# -- model, predefined networks, IPAM ---------------------------------------------------


def test_predefined_networks(harness: Harness) -> None:
    nets = {n.name: n for n in harness.call(harness.service.list_networks)}
    assert set(nets) >= {"bridge", "host", "none"}
    bridge = nets["bridge"]
    assert bridge.driver == "bridge" and bridge.bridge == harness.names.bridge
    assert bridge.options["com.docker.network.bridge.default_bridge"] == "true"
    assert bridge.ipam.config[0].subnet == harness.names.subnets[0]
    assert nets["none"].driver == "null" and nets["host"].driver == "host"
    assert links.is_bridge(harness.names.bridge)
    assert f"{ipaddress.ip_network(harness.names.subnets[0]).network_address + 1}/24" in \
        links.addresses(harness.names.bridge)
    with pytest.raises(Forbidden, match="bridge is a pre-defined network and cannot be removed"):
        harness.run(harness.service.remove("bridge"))
    with pytest.raises(Forbidden, match="operation is not permitted on predefined host"):
        harness.run(harness.service.create(NetworkCreate(name="host")))


def test_default_pool_avoids_host_routes_and_other_networks(harness: Harness) -> None:
    # The first pool is taken by a route that is not a ketch network.
    first = ipaddress.ip_network(harness.names.subnets[1])
    dummy = f"ktd{harness.names.tag}"
    subprocess.run(["ip", "link", "add", dummy, "type", "bridge"], check=True)
    try:
        subprocess.run(["ip", "addr", "add", f"{first.network_address + 9}/24", "dev", dummy],
                       check=True)
        subprocess.run(["ip", "link", "set", dummy, "up"], check=True)
        a_id = create(harness, "pool-a")
        b_id = create(harness, "pool-b")
        a = harness.call(lambda: harness.service.get(a_id))
        b = harness.call(lambda: harness.service.get(b_id))
    finally:
        subprocess.run(["ip", "link", "del", dummy], check=True)
    assert a.ipam.config[0].subnet == harness.names.subnets[2]
    assert b.ipam.config[0].subnet == harness.names.subnets[3]
    assert a.ipam.config[0].gateway == str(ipaddress.ip_network(a.ipam.config[0].subnet)[1])


def test_create_validation_messages(harness: Harness) -> None:
    s = harness.names.subnets[1]
    create(harness, "dup", s)
    with pytest.raises(Conflict, match=r"^network with name dup already exists$"):
        create(harness, "dup")
    with pytest.raises(Forbidden, match="Pool overlaps with other one on this address space"):
        create(harness, "overlap", s)
    with pytest.raises(InvalidArgument, match=r"invalid subnet 10\.213\.\d+\.5/24: it should be"):
        create(harness, "hostbits", s.replace(".0/24", ".5/24"))
    net = ipaddress.ip_network(harness.names.subnets[2])
    with pytest.raises(InvalidArgument, match="doesn't contain this address"):
        create(harness, "badgw", str(net), gateway="192.0.2.77")
    with pytest.raises(InvalidArgument, match="invalid ip-range"):
        create(harness, "badrange", str(net), ip_range="10.99.0.0/24")
    with pytest.raises(NotFound, match="could not find plugin overlay"):
        harness.run(harness.service.create(NetworkCreate(name="ov", driver="overlay")))
    with pytest.raises(NotFound, match=r"^network nope not found$"):
        harness.call(lambda: harness.service.get("nope"))


def test_lookup_by_id_prefix_and_filters(harness: Harness) -> None:
    nid = create(harness, "findme", labels={"team": "a", "x": ""})
    svc = harness.service
    assert harness.call(lambda: svc.get(nid[:10])).name == "findme"
    names = lambda f: sorted(n.name for n in harness.call(lambda: svc.list_networks(f)))  # noqa: E731
    assert names({"name": ["findm"]}) == ["findme"]
    assert names({"label": ["team=a"]}) == ["findme"]
    assert names({"label": ["team=b"]}) == []
    assert names({"type": ["custom"]}) == ["findme"]
    assert names({"type": ["builtin"]}) == ["bridge", "host", "none"]
    assert names({"driver": ["null"]}) == ["none"]
    assert names({"dangling": ["true"]}) == ["findme"]
    with pytest.raises(InvalidArgument, match="invalid filter 'bogus'"):
        names({"bogus": ["1"]})


def test_static_ip_and_ip_range(harness: Harness) -> None:
    net = ipaddress.ip_network(harness.names.subnets[1])
    rng = ipaddress.ip_network(f"{net.network_address + 128}/25")
    create(harness, "ranged", str(net), ip_range=str(rng))
    _, _, first = container(harness, "ranged", "first")
    assert ipaddress.ip_address(first["IPAddress"]) == rng.network_address + 0 or \
        ipaddress.ip_address(first["IPAddress"]) in rng
    assert first["IPPrefixLen"] == 24 and first["Gateway"] == str(net.network_address + 1)
    static = str(net.network_address + 7)
    _, _, second = container(harness, "ranged", "second", ipv4=static)
    assert second["IPAddress"] == static
    assert second["IPAMConfig"] == {"IPv4Address": static}
    cid = secrets.token_hex(32)
    harness.run(harness.service.create_sandbox(cid))
    with pytest.raises(Forbidden, match=r"^Address already in use$"):
        harness.run(harness.service.connect_container("ranged", cid, "third", ipv4=static))
    with pytest.raises(InvalidArgument, match="no configured subnet contains IP address"):
        harness.run(harness.service.connect_container("ranged", cid, "third",
                                                      ipv4="192.0.2.200"))
    with pytest.raises(InvalidArgument, match="user-defined networks only"):
        harness.run(harness.service.connect_container("bridge", cid, "third",
                                                      ipv4=str(net.network_address + 9)))
    harness.run(harness.service.release_container(cid))


# -- connectivity ---------------------------------------------------------------------


def test_same_network_pings_other_network_isolated(harness: Harness) -> None:
    create(harness, "left")
    create(harness, "right")
    a_id, a, a_ep = container(harness, "left", "a")
    _, b, b_ep = container(harness, "left", "b")
    _, c, c_ep = container(harness, "right", "c")
    assert a_ep["IPAddress"] != b_ep["IPAddress"]
    assert nsrun(a, ["ip", "-br", "addr", "show", "eth0"]).stdout.split()[2] == \
        f"{a_ep['IPAddress']}/24"
    assert nsrun(a, ["ip", "-br", "link", "show", "lo"]).stdout.split()[1] in ("UNKNOWN", "UP")
    assert ping(a, b_ep["IPAddress"])
    assert ping(b, a_ep["IPAddress"])
    assert ping(a, a_ep["Gateway"])
    assert not ping(a, c_ep["IPAddress"])
    assert not ping(c, b_ep["IPAddress"])
    # A second network on the same sandbox becomes eth1.
    harness.run(harness.service.connect_container("right", a_id, "a"))
    assert "eth1" in nsrun(a, ["ip", "-br", "link"]).stdout
    assert ping(a, c_ep["IPAddress"])
    settings = harness.call(lambda: harness.service.endpoint_settings(a_id))
    assert set(settings) == {"left", "right"}
    inspect = harness.call(lambda: harness.service.inspect("left"))
    assert {v["Name"] for v in inspect["Containers"].values()} == {"a", "b"}
    with pytest.raises(Forbidden, match="has active endpoints"):
        harness.run(harness.service.remove("left"))


def test_internal_network_has_no_way_out(harness: Harness,
                                         servers: Callable[..., BannerServer]) -> None:
    create(harness, "inside", internal=True)
    create(harness, "outside")
    _, a, a_ep = container(harness, "inside", "a")
    _, _, b_ep = container(harness, "inside", "b")
    _, o, o_ep = container(harness, "outside", "o")
    assert a_ep["Gateway"] == ""
    assert "default" not in nsrun(a, ["ip", "route"]).stdout
    assert ping(a, b_ep["IPAddress"])
    servers(o, 8081, "outside")
    assert tcp_fetch(o, o_ep["IPAddress"], 8081) is not None
    assert tcp_fetch(a, o_ep["IPAddress"], 8081) is None
    # Even with a route added by hand the firewall drops what leaves the bridge.
    nsrun(a, ["ip", "route", "add", "default", "dev", "eth0"], check=True)
    assert tcp_fetch(a, o_ep["IPAddress"], 8081, timeout=2) is None


def test_disconnect_releases_address(harness: Harness) -> None:
    net = ipaddress.ip_network(harness.names.subnets[1])
    create(harness, "cycle", str(net))
    cid, path, ep = container(harness, "cycle", "x")
    assert ep["IPAddress"] == str(net.network_address + 2)
    harness.run(harness.service.disconnect_container("cycle", cid))
    assert "eth0" not in nsrun(path, ["ip", "-br", "link"]).stdout
    with pytest.raises(Forbidden, match="is not connected to network cycle"):
        harness.run(harness.service.disconnect_container("cycle", cid))
    _, _, again = container(harness, "cycle", "y")
    assert again["IPAddress"] == str(net.network_address + 2)
    harness.run(harness.service.release_container(cid))


# -- ports -------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_publish_localhost_and_hairpin(harness: Harness,
                                       servers: Callable[..., BannerServer]) -> None:
    create(harness, "web")
    cid, a, a_ep = container(harness, "web", "srv")
    _, b, _ = container(harness, "web", "cli")
    servers(a, 8080, "srv")
    ports = harness.run(harness.service.publish(cid, [PortRequest(8080, "tcp", "0.0.0.0", 0)]))
    host_port = int(ports["8080/tcp"][0]["HostPort"])
    assert ports == {"8080/tcp": [{"HostIp": "0.0.0.0", "HostPort": str(host_port)}]}
    # From the host itself, over loopback.
    banner = tcp_fetch(None, "127.0.0.1", host_port)
    assert banner is not None and banner.startswith("srv from ")
    # Hairpin: another container of the bridge through a host address.
    banner = tcp_fetch(b, a_ep["Gateway"], host_port)
    assert banner is not None and banner.startswith("srv from ")
    harness.run(harness.service.unpublish(cid))
    assert tcp_fetch(None, "127.0.0.1", host_port, timeout=1) is None


def test_publish_reached_from_another_host(harness: Harness,
                                           servers: Callable[..., BannerServer]) -> None:
    """A namespace behind its own veth plays a remote host: PREROUTING DNAT."""
    create(harness, "pub")
    cid, a, _ = container(harness, "pub", "srv")
    servers(a, 80, "remote-ok")
    outside = ipaddress.ip_network(harness.names.subnets[5])
    host_ip, peer_ip = outside.network_address + 1, outside.network_address + 2
    tag = harness.names.tag
    remote = str(harness.config.exec_root / f"remote-{tag}")
    harness.config.exec_root.mkdir(parents=True, exist_ok=True)
    open(remote, "w").close()
    subprocess.run(["unshare", f"--net={remote}", "true"], check=True)
    try:
        subprocess.run(["ip", "link", "add", f"kth{tag}", "type", "veth", "peer", "name",
                        f"ktp{tag}"], check=True)
        subprocess.run(["ip", "link", "set", f"ktp{tag}", "netns", remote], check=True)
        subprocess.run(["ip", "addr", "add", f"{host_ip}/24", "dev", f"kth{tag}"], check=True)
        subprocess.run(["ip", "link", "set", f"kth{tag}", "up"], check=True)
        nsrun(remote, ["ip", "addr", "add", f"{peer_ip}/24", "dev", f"ktp{tag}"], check=True)
        nsrun(remote, ["ip", "link", "set", f"ktp{tag}", "up"], check=True)
        port = _free_port()
        harness.run(harness.service.publish(cid, [PortRequest(80, "tcp", "", port)]))
        banner = tcp_fetch(remote, str(host_ip), port)
        assert banner == f"remote-ok from {peer_ip}\n"
    finally:
        subprocess.run(["ip", "link", "del", f"kth{tag}"], check=False)
        subprocess.run(["umount", remote], check=False)
        subprocess.run(["rm", "-f", remote], check=False)
        harness.run(harness.service.unpublish(cid))


def test_port_conflicts(harness: Harness) -> None:
    create(harness, "busy")
    c1, _, _ = container(harness, "busy", "one")
    c2, _, _ = container(harness, "busy", "two")
    port = _free_port()
    harness.run(harness.service.publish(c1, [PortRequest(80, "tcp", "0.0.0.0", port)]))
    with pytest.raises(Conflict, match=f"^Bind for 0.0.0.0:{port} failed: port is already "
                                       "allocated$"):
        harness.run(harness.service.publish(c2, [PortRequest(81, "tcp", "0.0.0.0", port)]))
    other = socket.socket()
    other.bind(("127.0.0.1", 0))
    taken = other.getsockname()[1]
    try:
        with pytest.raises(Conflict, match=f"failed to bind host port 127.0.0.1:{taken}/tcp: "
                                           "address already in use"):
            harness.run(harness.service.publish(
                c2, [PortRequest(82, "tcp", "127.0.0.1", 0), PortRequest(80, "tcp",
                                                                         "127.0.0.1", taken)]))
    finally:
        other.close()
    # All or nothing: the first mapping of the failed call was rolled back.
    assert harness.call(lambda: harness.service.published(c2)) == []
    # A range takes the first free port of it.
    ports = harness.run(harness.service.publish(
        c2, [PortRequest(80, "udp", "0.0.0.0", port, port + 5)]))
    assert ports["80/udp"][0]["HostPort"] == str(port)
    harness.run(harness.service.release_container(c1))
    harness.run(harness.service.release_container(c2))


# -- DNS ---------------------------------------------------------------------------------


class FakeUpstream:
    """A DNS server on 127.0.0.1 answering ``*.upstream.test`` with 192.0.2.123."""

    def __init__(self) -> None:
        import threading

        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.queries: list[str] = []
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self) -> None:
        from ketch.networks import dnsmsg

        while True:
            try:
                data, addr = self.sock.recvfrom(4096)
            except OSError:
                return
            q = dnsmsg.parse_query(data)
            self.queries.append(q.name)
            if q.name.endswith("upstream.test"):
                reply = dnsmsg.response(data, q, ["192.0.2.123"])
            else:
                reply = dnsmsg.response(data, q, [], dnsmsg.RCODE_NXDOMAIN)
            self.sock.sendto(reply, addr)

    def close(self) -> None:
        self.sock.close()


def test_embedded_dns(harness_factory: Callable[..., Harness]) -> None:
    upstream = FakeUpstream()
    try:
        h = harness_factory(dns_upstreams=[f"127.0.0.1:{upstream.port}"])
        create(h, "dnsnet")
        create(h, "elsewhere")
        a_id, a, a_ep = container(h, "dnsnet", "alpha", aliases=["web", "www"])
        _, b, b_ep = container(h, "dnsnet", "beta")
        _, c, c_ep = container(h, "elsewhere", "gamma")
        assert a_ep["DNSNames"] == ["alpha", "web", "www", a_id[:12]]
        for name in ("alpha", "web", "WWW", a_id[:12], "alpha.dnsnet"):
            assert dns_query(b, name) == {"rcode": 0, "answers": [a_ep["IPAddress"]]}, name
        assert dns_query(a, "beta", proto="tcp") == {"rcode": 0,
                                                     "answers": [b_ep["IPAddress"]]}
        assert dns_query(b, "alpha", "AAAA") == {"rcode": 0, "answers": []}
        # Not on a shared network: not resolved, forwarded instead (and unknown there).
        assert dns_query(b, "gamma")["rcode"] == 3
        assert "gamma" in upstream.queries
        assert dns_query(c, "alpha")["rcode"] == 3
        assert dns_query(c, "gamma") == {"rcode": 0, "answers": [c_ep["IPAddress"]]}
        # Other names go to the host's resolver.
        assert dns_query(b, "www.upstream.test") == {"rcode": 0, "answers": ["192.0.2.123"]}
        assert dns_query(b, "www.upstream.test", proto="tcp")["answers"] == ["192.0.2.123"]
        resolv = h.call(lambda: h.service.resolv_conf(a_id, b"search example.org\n"
                                                      b"nameserver 10.0.0.1\n"))
        assert resolv == b"search example.org\nnameserver 127.0.0.11\noptions ndots:0\n"
    finally:
        upstream.close()


def test_default_bridge_has_no_dns(harness: Harness) -> None:
    cid, a, ep = container(harness, "bridge", "plain")
    _, b, _ = container(harness, "bridge", "plain2")
    assert ep["DNSNames"] is None and ep["Aliases"] is None
    assert ping(b, ep["IPAddress"])
    assert harness.call(lambda: harness.service.resolv_conf(cid, b"")) is None
    probe = nsrun(a, ["python3", "-c", "import socket;s=socket.socket(2,2);"
                      "s.settimeout(1);s.sendto(b'x'*12,('127.0.0.11',53));s.recv(1)"])
    assert probe.returncode != 0


# -- restart -------------------------------------------------------------------------------


def test_restart_recovery(harness_factory: Callable[..., Harness],
                          servers: Callable[..., BannerServer]) -> None:
    h1 = harness_factory()
    net = ipaddress.ip_network(h1.names.subnets[1])
    create(h1, "keep", str(net))
    kept, kept_ns, kept_ep = container(h1, "keep", "kept")
    gone, _, gone_ep = container(h1, "keep", "gone")
    port = _free_port()
    h1.run(h1.service.publish(kept, [PortRequest(9000, "tcp", "127.0.0.1", port)]))
    servers(kept_ns, 9000, "kept")
    assert tcp_fetch(None, "127.0.0.1", port) is not None
    h1.run(h1.service.close())
    # Rules survive close(); a lost rule is put back by the next start.
    assert tcp_fetch(None, "127.0.0.1", port) is not None
    net = h1.call(lambda: h1.service.get("keep"))
    ep = h1.call(lambda: h1.service.table.endpoints_of_container(kept))[0]
    dnat = [r for r in h1.service._port_rules(net, ep, ep.ports) if r.table == "nat"]
    h1.service.firewall.remove(dnat)
    assert tcp_fetch(None, "127.0.0.1", port, timeout=1) is None

    h2 = harness_factory(running=(kept,))
    assert tcp_fetch(None, "127.0.0.1", port) is not None
    settings = h2.call(lambda: h2.service.endpoint_settings(kept))
    assert settings["keep"]["IPAddress"] == kept_ep["IPAddress"]
    assert h2.call(lambda: h2.service.endpoint_settings(gone)) == {}
    assert dns_query(kept_ns, "kept")["answers"] == [kept_ep["IPAddress"]]
    # The gone container's address is free again; its sandbox is gone.
    assert not (h2.config.netns_dir / gone).exists()
    _, _, again = container(h2, "keep", "newcomer")
    assert again["IPAddress"] == gone_ep["IPAddress"]
    # A published port is held by the new daemon too.
    with pytest.raises(Conflict, match="port is already allocated"):
        h2.run(h2.service.publish(kept, [PortRequest(9001, "tcp", "127.0.0.1", port)]))


def test_prune_and_remove(harness: Harness) -> None:
    create(harness, "unused", labels={"keep": "no"})
    create(harness, "labelled", labels={"keep": "yes"})
    create(harness, "used")
    cid, _, _ = container(harness, "used", "c")
    removed = harness.run(harness.service.prune({"label!": ["keep=yes"]}))
    assert removed == ["unused"]
    removed = harness.run(harness.service.prune({}))
    assert removed == ["labelled"]
    harness.run(harness.service.release_container(cid))
    bridge = harness.call(lambda: harness.service.get("used")).bridge
    harness.run(harness.service.remove("used"))
    assert not links.exists(bridge)


def test_none_sandbox_has_only_loopback(harness: Harness) -> None:
    cid = secrets.token_hex(32)
    path = harness.run(harness.service.create_sandbox(cid))
    assert harness.call(lambda: harness.service.sandbox_path(cid)) == path
    links_out = nsrun(path, ["ip", "-br", "link"]).stdout.split("\n")
    assert [line.split()[0] for line in links_out if line] == ["lo"]
    assert "127.0.0.1/8" in nsrun(path, ["ip", "-br", "addr"]).stdout
    harness.run(harness.service.destroy_sandbox(cid))
    assert harness.call(lambda: harness.service.sandbox_path(cid)) is None
