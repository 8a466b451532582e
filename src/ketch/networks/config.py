"""What the network service is configured with (daemon flags / daemon.json).

Every name the service puts on the host (bridges, iptables chains, namespace
files) comes from here, so that tests and several daemons can run side by
side without touching each other's objects.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ketch.errors import InvalidArgument


@dataclass(frozen=True)
class AddressPool:
    """A ``default-address-pools`` entry: carve ``/size`` subnets out of ``base``."""

    base: str
    size: int


#: Docker's defaults: 172.17-31.x.x/16 then 192.168.x.0/20.
DEFAULT_POOLS: tuple[AddressPool, ...] = (
    *(AddressPool(f"172.{n}.0.0/16", 16) for n in range(17, 32)),
    AddressPool("192.168.0.0/16", 20),
)


@dataclass
class NetworkConfig:
    #: where sandboxes (network namespace files) live: ``<exec_root>/netns/<id>``
    exec_root: Path
    #: the default ``bridge`` network's Linux bridge; "none" disables that network
    bridge: str = "ketch0"
    #: ``--bip``: the default bridge's gateway address with prefix (e.g. 172.17.0.1/16)
    bip: str = ""
    #: ``--fixed-cidr``: where the default bridge's containers get addresses
    fixed_cidr: str = ""
    default_address_pools: list[AddressPool] = field(
        default_factory=lambda: list(DEFAULT_POOLS))
    #: ``--iptables``: program NAT and filter rules
    iptables: bool = True
    #: ``--ip-forward``: turn on net.ipv4.ip_forward with the first bridge
    ip_forward: bool = True
    #: ``--ip-masq``: masquerade outgoing traffic of the default bridge
    ip_masq: bool = True
    #: ``--icc``: traffic between containers of the default bridge
    icc: bool = True
    #: ``--mtu`` of the default bridge (0: the kernel's default, 1500)
    mtu: int = 0
    #: ``--ip``: the default host address of published ports
    default_bind_ip: str = "0.0.0.0"
    #: prefix of every iptables chain this service owns (KETCH, KETCH-FORWARD ...)
    chain_prefix: str = "KETCH"
    #: where the CNI plugins are
    cni_path: Path = Path("/usr/lib/cni")
    #: the host's resolver configuration, for the embedded DNS's upstreams
    resolv_conf: Path = Path("/etc/resolv.conf")
    #: upstreams for the embedded DNS ("ip" or "ip:port"); empty: from resolv_conf
    dns_upstreams: list[str] = field(default_factory=list)

    @property
    def netns_dir(self) -> Path:
        return self.exec_root / "netns"


#: daemon.json keys (and the matching dockerd flags) the network service reads.
DAEMON_KEYS = ("bridge", "bip", "fixed-cidr", "default-address-pools", "iptables",
               "ip-forward", "ip-masq", "icc", "mtu", "ip", "iptables-chain-prefix")


def from_daemon_settings(exec_root: Path, settings: Mapping[str, Any]) -> NetworkConfig:
    """A NetworkConfig from daemon.json-style settings (Docker's key names; the
    one ketch addition is ``iptables-chain-prefix``, for side-by-side daemons)."""
    config = NetworkConfig(exec_root=exec_root)
    unknown = sorted(set(settings) - set(DAEMON_KEYS))
    if unknown:
        raise InvalidArgument(f"unknown network settings: {', '.join(unknown)}")
    if "bridge" in settings:
        config.bridge = str(settings["bridge"])
    if "bip" in settings:
        config.bip = _interface(str(settings["bip"]), "bip")
    if "fixed-cidr" in settings:
        config.fixed_cidr = str(ipaddress.ip_network(settings["fixed-cidr"], strict=False))
    if "default-address-pools" in settings:
        pools: list[AddressPool] = []
        for item in settings["default-address-pools"]:
            try:
                base = ipaddress.ip_network(str(item["base"]), strict=False)
                size = int(item["size"])
            except (KeyError, TypeError, ValueError):
                raise InvalidArgument(f"invalid default address pool: {item!r}") from None
            if not base.prefixlen <= size <= base.max_prefixlen:
                raise InvalidArgument(f"invalid pools configuration: size {size} is not "
                                      f"within the base {base}")
            pools.append(AddressPool(str(base), size))
        config.default_address_pools = pools
    for key, attr in (("iptables", "iptables"), ("ip-forward", "ip_forward"),
                      ("ip-masq", "ip_masq"), ("icc", "icc")):
        if key in settings:
            setattr(config, attr, bool(settings[key]))
    if "mtu" in settings:
        config.mtu = int(settings["mtu"])
    if "ip" in settings:
        config.default_bind_ip = str(ipaddress.ip_address(settings["ip"]))
    if "iptables-chain-prefix" in settings:
        prefix = str(settings["iptables-chain-prefix"])
        if not prefix.replace("-", "").replace("_", "").isalnum() or len(prefix) > 14:
            raise InvalidArgument(f"invalid iptables-chain-prefix {prefix!r}")
        config.chain_prefix = prefix
    return config


def _interface(text: str, what: str) -> str:
    try:
        iface = ipaddress.ip_interface(text)
    except ValueError:
        raise InvalidArgument(f"invalid {what}: {text}") from None
    if "/" not in text:
        raise InvalidArgument(f"invalid {what}: {text}: missing prefix length")
    return str(iface)
