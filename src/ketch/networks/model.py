"""Network and endpoint records, with Docker's JSON field names.

A ``Network`` is stored as JSON in the ``networks`` table and is, field for
field, what ``GET /networks/{id}`` shows minus ``Containers`` (which is built
from the endpoints). An ``Endpoint`` is one container's attachment to one
network: the addresses IPAM gave it, its interface in the sandbox and its
published ports; the set of endpoints *is* the IPAM allocation state, so a
daemon restart keeps every address a running container holds.
"""

from __future__ import annotations

import msgspec

#: Names of the networks the daemon creates itself; they cannot be created,
#: removed or pruned by users.
PREDEFINED = ("bridge", "host", "none")

#: Bridge driver options Docker documents (``-o key=value``).
OPT_BRIDGE_NAME = "com.docker.network.bridge.name"
OPT_ENABLE_ICC = "com.docker.network.bridge.enable_icc"
OPT_ENABLE_MASQ = "com.docker.network.bridge.enable_ip_masquerade"
OPT_HOST_BINDING_IPV4 = "com.docker.network.bridge.host_binding_ipv4"
OPT_DEFAULT_BRIDGE = "com.docker.network.bridge.default_bridge"
OPT_MTU = "com.docker.network.driver.mtu"
OPT_ENABLE_IPV4 = "com.docker.network.enable_ipv4"
OPT_ENABLE_IPV6 = "com.docker.network.enable_ipv6"
BRIDGE_OPTIONS = (OPT_BRIDGE_NAME, OPT_ENABLE_ICC, OPT_ENABLE_MASQ, OPT_HOST_BINDING_IPV4,
                  OPT_DEFAULT_BRIDGE, OPT_MTU, OPT_ENABLE_IPV4, OPT_ENABLE_IPV6,
                  "com.docker.network.bridge.inhibit_ipv4",
                  "com.docker.network.container_iface_prefix",
                  "com.docker.network.bridge.gateway_mode_ipv4",
                  "com.docker.network.bridge.gateway_mode_ipv6")


class IPAMConfig(msgspec.Struct, omit_defaults=True):
    """One address pool of a network (Docker's ``IPAMConfig``)."""

    subnet: str = msgspec.field(default="", name="Subnet")
    ip_range: str = msgspec.field(default="", name="IPRange")
    gateway: str = msgspec.field(default="", name="Gateway")
    aux_addresses: dict[str, str] | None = msgspec.field(default=None,
                                                         name="AuxiliaryAddresses")


class IPAM(msgspec.Struct):
    driver: str = msgspec.field(default="default", name="Driver")
    options: dict[str, str] | None = msgspec.field(default=None, name="Options")
    config: list[IPAMConfig] = msgspec.field(default_factory=list, name="Config")


class ConfigReference(msgspec.Struct):
    network: str = msgspec.field(default="", name="Network")


class Network(msgspec.Struct):
    """A network as stored and as inspected (``Containers`` excluded)."""

    name: str = msgspec.field(name="Name")
    id: str = msgspec.field(name="Id")
    created: str = msgspec.field(name="Created")
    scope: str = msgspec.field(default="local", name="Scope")
    driver: str = msgspec.field(default="bridge", name="Driver")
    enable_ipv4: bool = msgspec.field(default=True, name="EnableIPv4")
    enable_ipv6: bool = msgspec.field(default=False, name="EnableIPv6")
    ipam: IPAM = msgspec.field(default_factory=IPAM, name="IPAM")
    internal: bool = msgspec.field(default=False, name="Internal")
    attachable: bool = msgspec.field(default=False, name="Attachable")
    ingress: bool = msgspec.field(default=False, name="Ingress")
    config_from: ConfigReference = msgspec.field(default_factory=ConfigReference,
                                                 name="ConfigFrom")
    config_only: bool = msgspec.field(default=False, name="ConfigOnly")
    options: dict[str, str] = msgspec.field(default_factory=dict, name="Options")
    labels: dict[str, str] = msgspec.field(default_factory=dict, name="Labels")
    #: ketch's own: the Linux bridge of a bridge network ("" for host/none).
    bridge: str = msgspec.field(default="", name="KetchBridge")
    #: ketch's own: when it was created, for ordering and ``until`` filters.
    created_ns: int = msgspec.field(default=0, name="KetchCreatedNs")

    @property
    def predefined(self) -> bool:
        return self.name in PREDEFINED

    @property
    def user_defined(self) -> bool:
        """Docker gives name resolution to every bridge network but the default one."""
        return self.driver == "bridge" and self.name != "bridge"

    def option_bool(self, key: str, default: bool) -> bool:
        value = self.options.get(key)
        if value is None:
            return default
        return value.strip().lower() in ("1", "t", "true", "yes")

    @property
    def icc(self) -> bool:
        return self.option_bool(OPT_ENABLE_ICC, True)

    @property
    def masquerade(self) -> bool:
        return self.option_bool(OPT_ENABLE_MASQ, True)

    @property
    def mtu(self) -> int:
        try:
            return int(self.options.get(OPT_MTU, "0") or 0)
        except ValueError:
            return 0


class PortMapping(msgspec.Struct, frozen=True):
    """One published port: host ``host_ip:host_port`` -> container ``port/proto``."""

    proto: str
    container_port: int
    host_ip: str
    host_port: int


class Endpoint(msgspec.Struct):
    """One container's attachment to one network."""

    network_id: str
    container_id: str
    endpoint_id: str
    container_name: str
    #: the interface inside the sandbox (eth0, eth1 ...)
    ifname: str
    #: the sandbox's network namespace path
    sandbox: str
    #: "10.1.2.3/24"; "" when the network has no IPv4
    ipv4: str = ""
    ipv6: str = ""
    gateway: str = ""
    ipv6_gateway: str = ""
    mac: str = ""
    aliases: list[str] = msgspec.field(default_factory=list)
    #: the addresses the user asked for (``--ip``, ``--ip6``), shown as IPAMConfig
    requested_ipv4: str = ""
    requested_ipv6: str = ""
    ports: list[PortMapping] = msgspec.field(default_factory=list)
    #: the CNI network configuration ADD was given; DEL is given the same
    cni_config: dict[str, object] = msgspec.field(default_factory=dict)

    @property
    def ipv4_address(self) -> str:
        return self.ipv4.split("/")[0] if self.ipv4 else ""

    @property
    def ipv6_address(self) -> str:
        return self.ipv6.split("/")[0] if self.ipv6 else ""


class IPAMRequest(msgspec.Struct):
    driver: str = msgspec.field(default="", name="Driver")
    options: dict[str, str] | None = msgspec.field(default=None, name="Options")
    config: list[IPAMConfig] | None = msgspec.field(default=None, name="Config")


class NetworkCreate(msgspec.Struct):
    """The body of ``POST /networks/create`` (Docker's ``CreateRequest``)."""

    name: str = msgspec.field(default="", name="Name")
    check_duplicate: bool | None = msgspec.field(default=None, name="CheckDuplicate")
    driver: str = msgspec.field(default="", name="Driver")
    scope: str = msgspec.field(default="", name="Scope")
    enable_ipv4: bool | None = msgspec.field(default=None, name="EnableIPv4")
    enable_ipv6: bool | None = msgspec.field(default=None, name="EnableIPv6")
    ipam: IPAMRequest | None = msgspec.field(default=None, name="IPAM")
    internal: bool = msgspec.field(default=False, name="Internal")
    attachable: bool = msgspec.field(default=False, name="Attachable")
    ingress: bool = msgspec.field(default=False, name="Ingress")
    config_only: bool = msgspec.field(default=False, name="ConfigOnly")
    config_from: ConfigReference | None = msgspec.field(default=None, name="ConfigFrom")
    options: dict[str, str] | None = msgspec.field(default=None, name="Options")
    labels: dict[str, str] | None = msgspec.field(default=None, name="Labels")
