"""IPAM: which subnet a new network gets, and which address an endpoint gets.

ketch makes these decisions itself (the CNI ``static`` plugin only applies
them), following Docker's default IPAM: subnets are carved from the
``default-address-pools`` and never overlap a route already on the host or
another network; inside a subnet the network address, the broadcast address,
the gateway and auxiliary addresses are never handed out, and addresses come
from ``--ip-range`` when one is set. The allocation state is the set of
addresses the network's endpoints hold (persisted with them).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from pathlib import Path

from ketch.errors import Forbidden, InvalidArgument, Unavailable
from ketch.networks.config import AddressPool

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

PROC_ROUTE = Path("/proc/net/route")
PROC_IPV6_ROUTE = Path("/proc/net/ipv6_route")


def host_routes(route: Path = PROC_ROUTE, ipv6_route: Path = PROC_IPV6_ROUTE,
                ignore_devices: Iterable[str] = ()) -> list[IPNetwork]:
    """The destinations of the host's routes, default routes excluded (as Docker
    checks overlaps against them, not against 0.0.0.0/0)."""
    ignored = set(ignore_devices)
    found: list[IPNetwork] = []
    try:
        lines = route.read_text().splitlines()[1:]
    except OSError:
        lines = []
    for line in lines:
        fields = line.split()
        if len(fields) < 8 or fields[0] in ignored:
            continue
        dest = ipaddress.IPv4Address(int(fields[1], 16).to_bytes(4, "little"))
        mask = ipaddress.IPv4Address(int(fields[7], 16).to_bytes(4, "little"))
        prefix = bin(int(mask)).count("1")
        if prefix == 0:
            continue
        found.append(ipaddress.IPv4Network(f"{dest}/{prefix}", strict=False))
    try:
        lines6 = ipv6_route.read_text().splitlines()
    except OSError:
        lines6 = []
    for line in lines6:
        fields = line.split()
        if len(fields) < 10 or fields[9] in ignored or fields[9] == "lo":
            continue
        prefix = int(fields[1], 16)
        if prefix == 0:
            continue
        dest6 = ipaddress.IPv6Address(bytes.fromhex(fields[0]))
        net6 = ipaddress.IPv6Network(f"{dest6}/{prefix}", strict=False)
        if net6.is_link_local or net6.is_multicast:
            continue
        found.append(net6)
    return found


def parse_subnet(text: str) -> IPNetwork:
    """A CIDR block; host bits set is Docker's "it should be" error."""
    try:
        net = ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise InvalidArgument(f"invalid subnet {text}: invalid CIDR address: {text}") from None
    if "/" not in text:
        raise InvalidArgument(f"invalid subnet {text}: invalid CIDR address: {text}")
    if str(net) != text.lower() and ipaddress.ip_interface(text).ip != net.network_address:
        raise InvalidArgument(
            f"invalid network config:\ninvalid subnet {text}: it should be {net}")
    return net


def parse_address(text: str, what: str = "IP address") -> IPAddress:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        raise InvalidArgument(f"invalid {what}: {text}") from None


def overlaps(net: IPNetwork, others: Iterable[IPNetwork]) -> bool:
    return any(net.version == o.version and net.overlaps(o) for o in others)


def choose_subnet(pools: Sequence[AddressPool], taken: Iterable[IPNetwork]) -> IPNetwork:
    """The first ``/size`` block of the pools that overlaps nothing in *taken*."""
    busy = list(taken)
    for pool in pools:
        base = ipaddress.ip_network(pool.base, strict=False)
        if pool.size < base.prefixlen:
            continue
        for candidate in base.subnets(new_prefix=pool.size):
            if not overlaps(candidate, busy):
                return candidate
    raise InvalidArgument("all predefined address pools have been fully subnetted")


def first_host(net: IPNetwork) -> IPAddress:
    """Docker's default gateway: the first address after the network address."""
    return net.network_address + 1


class Pool:
    """One subnet of a network with what IPAM may not hand out in it."""

    def __init__(self, subnet: str, ip_range: str = "", gateway: str = "",
                 aux: Iterable[str] = ()) -> None:
        self.subnet = ipaddress.ip_network(subnet, strict=False)
        self.range = ipaddress.ip_network(ip_range, strict=False) if ip_range else self.subnet
        self.gateway = ipaddress.ip_address(gateway) if gateway else None
        self.reserved: set[IPAddress] = {ipaddress.ip_address(a) for a in aux}
        if self.gateway is not None:
            self.reserved.add(self.gateway)

    def _excluded(self, addr: IPAddress) -> bool:
        if addr == self.subnet.network_address:
            return True
        # IPv4 broadcast; IPv6 has none (Docker skips only the subnet-router anycast).
        return self.subnet.version == 4 and addr == self.subnet.broadcast_address \
            and self.subnet.prefixlen < 31

    def contains(self, addr: IPAddress) -> bool:
        return addr.version == self.subnet.version and addr in self.subnet

    def request(self, used: set[IPAddress], preferred: IPAddress | None = None) -> IPAddress:
        """An address for an endpoint: *preferred* if free, else the lowest free one."""
        if preferred is not None:
            if preferred not in self.subnet:
                raise InvalidArgument(f"no configured subnet contains IP address {preferred}")
            if preferred in used or preferred in self.reserved or self._excluded(preferred):
                raise Forbidden("Address already in use")
            return preferred
        start = int(self.range.network_address)
        end = int(self.range.broadcast_address)
        if self.range.num_addresses > 1 << 20:
            end = start + (1 << 20)  # IPv6 /64s: searching the first million is plenty
        cls = ipaddress.IPv4Address if self.subnet.version == 4 else ipaddress.IPv6Address
        for value in range(start, end + 1):
            addr = cls(value)
            if addr in used or addr in self.reserved or self._excluded(addr):
                continue
            return addr
        raise Unavailable("no available addresses on this pool")


def check_ipam_config(subnet: str, ip_range: str, gateway: str,
                      aux: dict[str, str] | None) -> list[str]:
    """Docker's ``validateIpamConfig`` for one entry: every problem, worded as Docker."""
    errs: list[str] = []
    try:
        net = ipaddress.ip_network(subnet, strict=False)
    except ValueError:
        return [f"invalid subnet {subnet}: invalid CIDR address: {subnet}"]
    if "/" not in subnet:
        return [f"invalid subnet {subnet}: invalid CIDR address: {subnet}"]
    if ipaddress.ip_interface(subnet).ip != net.network_address:
        errs.append(f"invalid subnet {subnet}: it should be {net}")
    if ip_range:
        try:
            rng = ipaddress.ip_network(ip_range, strict=False)
        except ValueError:
            return [*errs, f"invalid ip-range {ip_range}: invalid CIDR address: {ip_range}"]
        if rng.version != net.version:
            errs.append(f"invalid ip-range {ip_range}: parent subnet is an IPv{net.version} "
                        "block")
        else:
            if rng.prefixlen < net.prefixlen:
                errs.append(f"invalid ip-range {ip_range}: CIDR block is bigger than its "
                            f"parent subnet {net}")
            if ipaddress.ip_interface(ip_range).ip != rng.network_address:
                errs.append(f"invalid ip-range {ip_range}: it should be {rng}")
            if not net.overlaps(rng):
                errs.append(f"invalid ip-range {ip_range}: parent subnet {net} doesn't contain "
                            "ip-range")
    for label, text in [("gateway", gateway), *[(f"auxiliary address {k}", v)
                                                for k, v in (aux or {}).items()]]:
        if not text:
            continue
        try:
            addr = ipaddress.ip_address(text)
        except ValueError:
            errs.append(f"invalid {label} {text}: ParseAddr({text!r}): unable to parse IP")
            continue
        if addr.version != net.version:
            errs.append(f"invalid {label} {text}: parent subnet is an IPv{net.version} block")
        elif addr not in net:
            errs.append(f"invalid {label} {text}: parent subnet {net} doesn't contain this "
                        "address")
    return errs


def conflict_free(net: IPNetwork, routes: Iterable[IPNetwork],
                  networks: Iterable[IPNetwork]) -> None:
    """Refuse a user-given subnet that overlaps another network (Docker's pool
    overlap error); an overlap with a host route is allowed for explicit subnets,
    as in Docker."""
    del routes
    if overlaps(net, networks):
        raise Forbidden("invalid pool request: Pool overlaps with other one on this "
                        "address space")

