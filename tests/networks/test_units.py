"""The pure parts: settings, subnet choice, address pools, DNS messages, port requests."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from ketch.errors import Forbidden, InvalidArgument, Unavailable
from ketch.networks import dnsmsg, ipam
from ketch.networks.config import AddressPool, from_daemon_settings
from ketch.networks.dns import parse_upstream
from ketch.networks.ports import PortRequest, requests_from_bindings
from ketch.networks.resolvconf import embedded_resolv_conf


def test_daemon_settings() -> None:
    cfg = from_daemon_settings(Path("/run/k"), {
        "bridge": "kb0", "bip": "10.9.0.1/24", "icc": False, "mtu": 1400,
        "default-address-pools": [{"base": "10.10.0.0/16", "size": 24}],
        "iptables-chain-prefix": "KX"})
    assert (cfg.bridge, cfg.bip, cfg.icc, cfg.mtu, cfg.chain_prefix) == \
        ("kb0", "10.9.0.1/24", False, 1400, "KX")
    assert cfg.default_address_pools == [AddressPool("10.10.0.0/16", 24)]
    assert cfg.netns_dir == Path("/run/k/netns")
    with pytest.raises(InvalidArgument, match="size 8 is not within"):
        from_daemon_settings(Path("/r"), {"default-address-pools": [{"base": "10.0.0.0/16",
                                                                     "size": 8}]})
    with pytest.raises(InvalidArgument, match="unknown network settings: bogus"):
        from_daemon_settings(Path("/r"), {"bogus": 1})


def test_choose_subnet_skips_taken() -> None:
    pools = [AddressPool("172.17.0.0/16", 16), AddressPool("172.18.0.0/16", 16),
             AddressPool("192.168.0.0/16", 20)]
    taken = [ipaddress.ip_network("172.17.5.0/24"), ipaddress.ip_network("172.18.0.0/15")]
    assert str(ipam.choose_subnet(pools, taken)) == "192.168.0.0/20"
    with pytest.raises(InvalidArgument, match="fully subnetted"):
        ipam.choose_subnet(pools[:1], taken)


def test_pool_never_hands_out_reserved_addresses() -> None:
    pool = ipam.Pool("10.1.0.0/30", gateway="10.1.0.1")
    used: set[ipam.IPAddress] = set()
    first = pool.request(used)
    assert str(first) == "10.1.0.2"
    used.add(first)
    with pytest.raises(Unavailable, match="no available addresses on this pool"):
        pool.request(used)
    with pytest.raises(Forbidden, match="Address already in use"):
        pool.request(set(), ipaddress.ip_address("10.1.0.1"))
    ranged = ipam.Pool("10.2.0.0/24", "10.2.0.128/25", "10.2.0.1", aux=["10.2.0.128"])
    assert str(ranged.request(set())) == "10.2.0.129"


def test_ipam_config_messages() -> None:
    assert ipam.check_ipam_config("10.0.0.0/24", "", "", None) == []
    assert ipam.check_ipam_config("10.0.0.1/24", "", "", None) == [
        "invalid subnet 10.0.0.1/24: it should be 10.0.0.0/24"]
    assert ipam.check_ipam_config("10.0.0.0/24", "10.0.0.0/16", "", None) == [
        "invalid ip-range 10.0.0.0/16: CIDR block is bigger than its parent subnet 10.0.0.0/24"]
    assert ipam.check_ipam_config("10.0.0.0/24", "", "10.1.0.1", None) == [
        "invalid gateway 10.1.0.1: parent subnet 10.0.0.0/24 doesn't contain this address"]


def test_host_routes_parse(tmp_path: Path) -> None:
    route = tmp_path / "route"
    route.write_text("Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\n"
                     "eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\n"
                     "eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\n")
    v6 = tmp_path / "ipv6_route"
    v6.write_text("fd000000000000000000000000000000 40 " + "0" * 32 + " 00 " + "0" * 32 +
                  " 00000100 00000001 00000000 00000001     eth0\n")
    assert [str(r) for r in ipam.host_routes(route, v6)] == ["192.0.2.0/24", "fd00::/64"]


def test_dns_messages() -> None:
    query = bytes.fromhex("1234 0100 0001 0000 0000 0000".replace(" ", "")) + \
        b"\x03web\x05local\x00" + b"\x00\x01\x00\x01"
    q = dnsmsg.parse_query(query)
    assert (q.name, q.qtype, q.id) == ("web.local", 1, 0x1234)
    reply = dnsmsg.response(query, q, ["10.0.0.5", "fd00::5"])
    assert reply[:2] == b"\x12\x34" and reply[7] == 1  # one answer: only the A record
    assert reply.endswith(bytes([10, 0, 0, 5]))
    assert dnsmsg.error(b"\x00\x01", dnsmsg.RCODE_FORMERR)[3] & 0xF == dnsmsg.RCODE_FORMERR
    assert parse_upstream("127.0.0.1:5353") == ("127.0.0.1", 5353)
    assert parse_upstream("[::1]:54") == ("::1", 54)
    assert parse_upstream("::1") == ("::1", 53)


def test_port_requests() -> None:
    reqs = requests_from_bindings({"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8080"}],
                                   "53/udp": [{"HostPort": "5300-5310"}], "90": None})
    assert reqs == [PortRequest(80, "tcp", "127.0.0.1", 8080, 0),
                    PortRequest(53, "udp", "", 5300, 5310), PortRequest(90, "tcp", "", 0, 0)]
    with pytest.raises(InvalidArgument, match="invalid hostPort"):
        requests_from_bindings({"80/tcp": [{"HostPort": "99999"}]})


def test_embedded_resolv_conf() -> None:
    host = b"search a.example b.example\nnameserver 10.0.0.1\noptions edns0\n"
    assert embedded_resolv_conf(host) == (
        b"search a.example b.example\nnameserver 127.0.0.11\noptions edns0 ndots:0\n")
    assert embedded_resolv_conf(host, dns_options=["ndots:2"]) == (
        b"search a.example b.example\nnameserver 127.0.0.11\noptions ndots:2\n")
