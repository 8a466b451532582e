"""A container's networking, seen from the container side.

The network service (``ketch.networks``) owns networks, sandboxes, endpoints
and published ports; this module decides, with Docker's rules, what a
container asks of it:

* at create: the network mode (``""``/``default`` become ``bridge``, as Docker
  28 stores them), the networks the container will join
  (``NetworkingConfig.EndpointsConfig``, else the mode's network) and the
  checks Docker makes on them then;
* at start: a sandbox (``host``: none, the host's namespace; ``container:X``:
  X's), one endpoint per configured network (the mode's network first, so
  it is ``eth0``), published ports, and what /etc/hosts and /etc/resolv.conf
  must say;
* at stop: everything given back;
* for inspect and ps: ``NetworkSettings`` and ``Ports`` as Docker fills them.
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ketch.containers.etcfiles import HOST_GATEWAY, host_resolv_conf_path, parse_extra_host
from ketch.containers.model import Container, ContainerConfig, EndpointConfig, HostConfig
from ketch.errors import Conflict, InternalError, InvalidArgument, KetchError, NotFound
from ketch.networks.model import Network
from ketch.networks.ports import PortRequest, port_map, requests_from_bindings
from ketch.networks.service import NetworkService

log = logging.getLogger(__name__)

CONTAINER_PREFIX = "container:"
_PREDEFINED_MODES = ("", "default", "bridge", "host", "none")


def is_container_mode(mode: str) -> bool:
    return mode.startswith(CONTAINER_PREFIX)


def is_user_defined(name: str) -> bool:
    """Docker's ``NetworkMode.IsUserDefined``: a network of the user's, by name or ID."""
    return name not in _PREDEFINED_MODES and not is_container_mode(name)


def mode_network(host: HostConfig) -> str:
    """The network a container's mode names ("" for ``container:X``)."""
    mode = host.network_mode or "bridge"
    if is_container_mode(mode):
        return ""
    return "bridge" if mode == "default" else mode


# -- create ------------------------------------------------------------------------------


def _check_mode(config: ContainerConfig, host: HostConfig) -> None:
    """Docker's ``validateNetMode``: what cannot go with ``container:X`` and host UTS."""
    mode = host.network_mode
    if mode == "container" or is_container_mode(mode):
        if not mode.partition(":")[2]:
            raise InvalidArgument("invalid network mode: invalid container format "
                                  "container:<name|id>")
        if config.hostname:
            raise InvalidArgument("conflicting options: hostname and the network mode")
        if host.links:
            raise InvalidArgument("conflicting options: container type network can't be used "
                                  "with links. This would result in undefined behavior")
        if host.dns:
            raise InvalidArgument("conflicting options: dns and the network mode")
        if host.extra_hosts:
            raise InvalidArgument("conflicting options: custom host-to-IP mapping and the "
                                  "network mode")
        if host.port_bindings or host.publish_all_ports:
            raise InvalidArgument("conflicting options: port publishing and the container "
                                  "type network mode")
        if config.exposed_ports:
            raise InvalidArgument("conflicting options: port exposing and the container type "
                                  "network mode")
    if host.uts_mode == "host" and config.hostname:
        raise InvalidArgument("conflicting options: hostname and the UTS mode")


def _address_problems(cfg: EndpointConfig) -> list[str]:
    problems: list[str] = []
    ipam = cfg.ipam_config
    if ipam is None:
        return problems
    for text, version in ((ipam.ipv4_address, 4), (ipam.ipv6_address, 6)):
        if not text:
            continue
        try:
            addr = ipaddress.ip_address(text)
        except ValueError:
            addr = None
        if addr is None or addr.version != version or addr.is_unspecified:
            problems.append(f"invalid IPv{version} address: {text}")
    for text in ipam.link_local_ips or ():
        try:
            if ipaddress.ip_address(text).is_unspecified:
                raise ValueError(text)
        except ValueError:
            problems.append(f"invalid link-local IP address: {text}")
    return problems


def _range_problems(cfg: EndpointConfig, net: Network) -> list[str]:
    problems: list[str] = []
    ipam = cfg.ipam_config
    if ipam is None:
        return problems
    for text in (ipam.ipv4_address, ipam.ipv6_address):
        if not text:
            continue
        try:
            addr = ipaddress.ip_address(text)
        except ValueError:
            continue
        subnets = [ipaddress.ip_network(c.subnet, strict=False)
                   for c in net.ipam.config if c.subnet]
        if not any(addr.version == s.version and addr in s for s in subnets):
            problems.append(f"no configured subnet contains IP address {text}")
    return problems


def endpoint_problem(name: str, cfg: EndpointConfig, net: Network | None) -> str:
    """Docker's ``validateEndpointSettings`` as one message ("" when fine)."""
    problems: list[str] = []
    ipam = cfg.ipam_config
    if not is_user_defined(name):
        if ipam is not None and (ipam.ipv4_address or ipam.ipv6_address):
            problems.append("user-specified IP address is supported on user-defined networks "
                            "only")
        if cfg.aliases:
            problems.append("network-scoped aliases are only supported for user-defined "
                            "networks")
    problems += _address_problems(cfg)
    if net is not None and not problems:
        problems += _range_problems(cfg, net)
    if cfg.mac_address and not _valid_mac(cfg.mac_address):
        return f"invalid MAC address {cfg.mac_address}"
    if problems:
        return "invalid endpoint settings:\n" + "\n".join(problems)
    return ""


def _valid_mac(text: str) -> bool:
    parts = text.strip().replace("-", ":").split(":")
    return len(parts) == 6 and all(len(p) == 2 and all(c in "0123456789abcdefABCDEF"
                                                       for c in p) for p in parts)


def plan_networks(config: ContainerConfig, host: HostConfig,
                  requested: Mapping[str, EndpointConfig | None] | None,
                  find_network: Callable[[str], Network | None],
                  find_container: Callable[[str], Container | None]) -> dict[str, EndpointConfig]:
    """The networks a new container is configured to join; normalises *host*'s mode.

    The networks need not exist yet (Docker finds out at start), but what
    is known to be wrong is refused now, with Docker's messages.
    """
    endpoints = dict(requested or {})
    if host.network_mode in ("", "default"):
        host.network_mode = "bridge"
        if "default" in endpoints:
            endpoints["bridge"] = endpoints.pop("default")
    _check_mode(config, host)
    mode = host.network_mode
    if is_container_mode(mode):
        other = find_container(mode.partition(":")[2])
        if other is not None:
            host.network_mode = CONTAINER_PREFIX + other.id
    errors: list[str] = []
    for name in sorted(endpoints):
        cfg = endpoints[name]
        if cfg is None:
            errors.append(f"invalid config for network {name}: EndpointsConfig is nil")
            continue
        problem = endpoint_problem(name, cfg, find_network(name))
        if problem:
            errors.append(f"invalid config for network {name}: {problem}")
    if errors:
        raise InvalidArgument("\n".join(errors))
    _migrate_mac(config, host, endpoints)
    if is_container_mode(mode):
        return {}
    planned: dict[str, EndpointConfig] = {}
    for name, cfg in endpoints.items():
        if cfg is None:
            continue
        net = find_network(name) if is_user_defined(name) else None
        planned[net.name if net is not None else name] = cfg
    if not planned:
        net = find_network(mode) if is_user_defined(mode) else None
        planned[net.name if net is not None else mode] = EndpointConfig()
    return planned


def _migrate_mac(config: ContainerConfig, host: HostConfig,
                 endpoints: dict[str, EndpointConfig | None]) -> None:
    """The deprecated container-wide ``Config.MacAddress`` moves to the main
    network's endpoint (Docker does it for API 1.44 and later)."""
    mac = config.mac_address
    if not mac:
        return
    mode = host.network_mode
    if mode == "bridge" or is_user_defined(mode):
        ep = endpoints.get(mode)
        if ep is None:
            ep = endpoints[mode] = EndpointConfig()
        if not ep.mac_address:
            ep.mac_address = mac
        elif ep.mac_address != mac:
            raise InvalidArgument("the container-wide MAC address must match the "
                                  "endpoint-specific MAC address for the main network, or be "
                                  "left empty")
    config.mac_address = None


# -- start / stop ------------------------------------------------------------------------


@dataclass(frozen=True)
class NetworkSetup:
    """What a starting container's bundle needs from its networking."""

    #: "host" (the host's namespace) or the path of the network namespace to join
    netns: str
    #: the container's own addresses, for its /etc/hosts
    addresses: tuple[str, ...] = ()
    #: ``--add-host`` entries with ``host-gateway`` resolved
    extra_hosts: tuple[tuple[str, str], ...] = ()
    #: /etc/resolv.conf pointing at the embedded DNS; None: the usual file
    resolv_conf: bytes | None = None
    #: ``container:X``: X, whose hostname and /etc files the container shares
    shared_with: Container | None = None


def _ipam_addresses(cfg: EndpointConfig) -> tuple[str, str]:
    ipam = cfg.ipam_config
    return (ipam.ipv4_address, ipam.ipv6_address) if ipam is not None else ("", "")


def sandbox_id(container_id: str) -> str:
    """A stable 64-hex ID for the container's sandbox (Docker shows one)."""
    return hashlib.sha256(f"sandbox:{container_id}".encode()).hexdigest()


class ContainerNetworking:
    def __init__(self, networks: NetworkService,
                 get_container: Callable[[str], Container]) -> None:
        self.networks = networks
        self.get_container = get_container

    @property
    def bridge_disabled(self) -> bool:
        """``--bridge none``: the default bridge joins nothing (Docker disables the
        container's networking instead of failing)."""
        return self.networks.config.bridge == "none"

    def configured(self, container: Container) -> dict[str, EndpointConfig]:
        """The networks the container joins, by name (records older than networks
        support have none stored: their mode's network)."""
        if container.networks is not None:
            return container.networks
        name = mode_network(container.host_config)
        return {name: EndpointConfig()} if name else {}

    def _find(self, name: str, cfg: EndpointConfig) -> Network:
        ref = cfg.network_id if is_user_defined(name) and cfg.network_id else name
        try:
            return self.networks.get(ref)
        except NotFound:
            if ref != name:
                return self.networks.get(name)
            raise

    def _ordered(self, container: Container) -> list[tuple[str, EndpointConfig]]:
        """The mode's network first (it becomes eth0 and the default route)."""
        configured = self.configured(container)
        main = mode_network(container.host_config)
        names = sorted(configured, key=lambda n: (n != main, n))
        return [(name, configured[name]) for name in names]

    async def attach(self, container: Container) -> NetworkSetup:
        """Sandbox, endpoints and ports of a starting container. On failure
        everything done so far is undone."""
        mode = container.host_config.network_mode or "bridge"
        extra_hosts = self._extra_hosts(container)
        if mode == "host":
            return NetworkSetup("host", extra_hosts=extra_hosts)
        if is_container_mode(mode):
            return self._join(container, mode.partition(":")[2])
        if self.networks.endpoint_settings(container.id):
            await self.release(container.id)  # stale: the daemon stopped uncleanly
        try:
            sandbox = await self.networks.create_sandbox(container.id,
                                                         container.host_config.dns or ())
            await self._connect_all(container, sandbox)
            await self.networks.publish(container.id, self.port_requests(container))
        except BaseException as exc:
            await self.release(container.id)
            if isinstance(exc, OSError):
                raise InternalError(f"setting up the network of {container.name}: {exc}") \
                    from exc
            raise
        return NetworkSetup(sandbox, addresses=tuple(self.networks.addresses(container.id)),
                            extra_hosts=extra_hosts, resolv_conf=self.resolv_conf(container))

    async def _connect_all(self, container: Container, sandbox: str) -> None:
        ordered = self._ordered(container)
        names = [name for name, _ in ordered]
        if "none" in names and len(names) > 1:
            raise InvalidArgument("container cannot be connected to multiple networks with one "
                                  "of the networks in private (none) mode")
        if "host" in names:
            raise InvalidArgument("cannot connect container to host network - container must "
                                  "be created in host network mode")
        joined: dict[str, EndpointConfig] = {}
        for name, cfg in ordered:
            if name == "none" or (name in ("bridge", "default") and self.bridge_disabled):
                joined[name] = cfg
                continue
            net = self._find(name, cfg)
            ipv4, ipv6 = _ipam_addresses(cfg)
            settings = await self.networks.connect_container(
                net.id, container.id, container.name, aliases=cfg.aliases or (), ipv4=ipv4,
                ipv6=ipv6, mac=cfg.mac_address, sandbox=sandbox)
            cfg.network_id = net.id
            cfg.dns_names = settings.get("DNSNames")
            joined[net.name] = cfg
        container.networks = joined

    def _join(self, container: Container, ref: str) -> NetworkSetup:
        """``--network container:X``: X's namespace, hostname and /etc files."""
        try:
            other = self.get_container(ref)
        except NotFound as exc:
            raise InternalError(f"joining network namespace of container: {exc.message}") \
                from None
        if other.id == container.id:
            raise InternalError("cannot join own network namespace")
        if other.state.status == "restarting":
            raise InternalError(f"cannot join network namespace of container: Container {ref} "
                                "is restarting, wait until the container is running")
        if other.state.status not in ("running", "paused"):
            status = "removing" if other.state.removal_in_progress else other.state.status
            raise Conflict("cannot join network namespace of a non running container: "
                           f"container {other.name} is {status}")
        owner = other
        for _ in range(8):  # X may itself share Y's namespace
            owner_mode = owner.host_config.network_mode
            if not is_container_mode(owner_mode):
                break
            owner = self.get_container(owner_mode.partition(":")[2])
        if owner.host_config.network_mode == "host":
            return NetworkSetup("host", shared_with=other)
        path = self.networks.sandbox_path(owner.id)
        if path is None:
            raise InternalError(f"joining network namespace of container {other.name}: its "
                                "network namespace is gone")
        return NetworkSetup(path, shared_with=other)

    async def release(self, container_id: str) -> None:
        """Give back endpoints, ports and the sandbox (stop, failed start, rm)."""
        try:
            await self.networks.release_container(container_id)
        except (KetchError, OSError) as exc:
            log.warning("releasing the networking of %s: %s", container_id[:12], exc)

    def port_requests(self, container: Container) -> list[PortRequest]:
        """``PortBindings`` and, with ``PublishAllPorts``, a random host port for
        every exposed port bound to nothing."""
        host = container.host_config
        bindings = {key: value for key, value in (host.port_bindings or {}).items() if value}
        requests = requests_from_bindings(bindings)
        if host.publish_all_ports:
            for key in container.config.exposed_ports or {}:
                port, _, proto = key.partition("/")
                if f"{port}/{proto or 'tcp'}" in bindings or key in bindings:
                    continue
                with contextlib.suppress(KetchError):
                    requests += requests_from_bindings({key: [{}]})
        return requests

    def _extra_hosts(self, container: Container) -> tuple[tuple[str, str], ...]:
        out: list[tuple[str, str]] = []
        for entry in container.host_config.extra_hosts or ():
            name, _, address = entry.partition(":")
            if address == HOST_GATEWAY:
                out.append((name, self._host_gateway()))
            else:
                out.append(parse_extra_host(entry))
        return tuple(out)

    def _host_gateway(self) -> str:
        """Docker's default ``host-gateway-ip``: the default bridge's gateway."""
        if not self.bridge_disabled:
            with contextlib.suppress(NotFound):
                for cfg in self.networks.get("bridge").ipam.config:
                    if cfg.gateway and ":" not in cfg.gateway:
                        return cfg.gateway
        raise InvalidArgument("unable to derive the IP value for host-gateway")

    def resolv_conf(self, container: Container) -> bytes | None:
        """The embedded-DNS resolv.conf when the container is on a user-defined network."""
        try:
            host = Path(host_resolv_conf_path()).read_bytes()
        except OSError:
            host = b""
        hc = container.host_config
        return self.networks.resolv_conf(container.id, host, dns_search=hc.dns_search or (),
                                         dns_options=hc.dns_options or ())

    def current_setup(self, container: Container) -> NetworkSetup:
        """What the /etc files of a running container should say now (after a
        network was connected or disconnected)."""
        return NetworkSetup(self.networks.sandbox_path(container.id) or "",
                            addresses=tuple(self.networks.addresses(container.id)),
                            extra_hosts=self._extra_hosts(container),
                            resolv_conf=self.resolv_conf(container))

    # -- connect / disconnect of a running container ---------------------------------------

    async def connect_running(self, container: Container, net: Network,
                              cfg: EndpointConfig) -> None:
        sandbox = self.networks.sandbox_path(container.id)
        if sandbox is None:
            raise Conflict(f"container {container.id} has no network sandbox")
        ipv4, ipv6 = _ipam_addresses(cfg)
        settings = await self.networks.connect_container(
            net.id, container.id, container.name, aliases=cfg.aliases or (), ipv4=ipv4,
            ipv6=ipv6, mac=cfg.mac_address, sandbox=sandbox)
        cfg.network_id = net.id
        cfg.dns_names = settings.get("DNSNames")

    # -- what inspect and ps show --------------------------------------------------------

    def _network_id(self, name: str, cfg: EndpointConfig) -> str:
        if cfg.network_id:
            return cfg.network_id
        with contextlib.suppress(KetchError):
            return self.networks.get(name).id
        return ""

    def networks_view(self, container: Container) -> dict[str, dict[str, Any]]:
        """``NetworkSettings.Networks``: live endpoints while running, the
        configuration (operational fields empty) otherwise."""
        live = self.networks.endpoint_settings(container.id) if container.state.running \
            else {}
        out: dict[str, dict[str, Any]] = {}
        for name, cfg in self.configured(container).items():
            view = live.pop(name, None)
            if view is None:
                view = self._config_view(container, name, cfg)
            else:
                view = dict(view)
                view["Links"] = cfg.links
                view["DriverOpts"] = cfg.driver_opts
                view["GwPriority"] = cfg.gw_priority
            out[name] = view
        out.update(live)
        return out

    def _config_view(self, container: Container, name: str,
                     cfg: EndpointConfig) -> dict[str, Any]:
        ipam: dict[str, Any] | None = None
        if cfg.ipam_config is not None:
            ipam = {}
            if cfg.ipam_config.ipv4_address:
                ipam["IPv4Address"] = cfg.ipam_config.ipv4_address
            if cfg.ipam_config.ipv6_address:
                ipam["IPv6Address"] = cfg.ipam_config.ipv6_address
            if cfg.ipam_config.link_local_ips:
                ipam["LinkLocalIPs"] = list(cfg.ipam_config.link_local_ips)
        started = bool(container.state.started_at_ns)
        network_id = cfg.network_id
        if not network_id and (started or not is_user_defined(name)):
            network_id = self._network_id(name, cfg)
        return {
            "IPAMConfig": ipam, "Links": cfg.links, "Aliases": cfg.aliases,
            "MacAddress": "" if started else cfg.mac_address, "DriverOpts": cfg.driver_opts,
            "GwPriority": cfg.gw_priority, "NetworkID": network_id, "EndpointID": "",
            "Gateway": "", "IPAddress": "", "IPPrefixLen": 0, "IPv6Gateway": "",
            "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0, "DNSNames": cfg.dns_names,
        }

    def _exposed(self, container: Container) -> list[str]:
        keys: list[str] = []
        sources = [container.config.exposed_ports or {},
                   container.host_config.port_bindings or {}]
        for source in sources:
            for key in source:
                port, _, proto = key.partition("/")
                normal = f"{port}/{proto or 'tcp'}"
                if normal not in keys:
                    keys.append(normal)
        return keys

    def ports(self, container: Container) -> dict[str, Any]:
        """``NetworkSettings.Ports``: exposed ports (null) and published ones, for a
        running container on a bridge network; ``{}`` otherwise."""
        if not container.state.running or not self.networks.addresses(container.id):
            return {}
        return port_map(self.networks.published(container.id), self._exposed(container))

    def settings(self, container: Container) -> dict[str, Any]:
        """``NetworkSettings`` of ``GET /containers/{id}/json``."""
        networks = self.networks_view(container)
        running = container.state.running
        sandbox = self.networks.sandbox_path(container.id) if running else None
        mode = container.host_config.network_mode
        key = ""
        if running and sandbox is not None:
            key = sandbox
        elif running and mode == "host":
            key = "default"  # Docker's name of the host's namespace
        default = networks.get("bridge") or {}
        return {
            "Bridge": "", "SandboxID": sandbox_id(container.id) if key else "",
            "SandboxKey": key, "Ports": self.ports(container), "HairpinMode": False,
            "LinkLocalIPv6Address": "", "LinkLocalIPv6PrefixLen": 0,
            "SecondaryIPAddresses": None, "SecondaryIPv6Addresses": None,
            "EndpointID": default.get("EndpointID", ""), "Gateway": default.get("Gateway", ""),
            "GlobalIPv6Address": default.get("GlobalIPv6Address", ""),
            "GlobalIPv6PrefixLen": default.get("GlobalIPv6PrefixLen", 0),
            "IPAddress": default.get("IPAddress", ""),
            "IPPrefixLen": default.get("IPPrefixLen", 0),
            "IPv6Gateway": default.get("IPv6Gateway", ""),
            "MacAddress": default.get("MacAddress", ""),
            "Networks": networks,
        }

    def port_summaries(self, container: Container) -> list[dict[str, Any]]:
        """``Ports`` of ``GET /containers/json``, built from ``ports()`` as Docker does:
        an unpublished exposed port has neither IP nor PublicPort."""
        out: list[dict[str, Any]] = []
        for key, bindings in self.ports(container).items():
            port_text, _, proto = key.partition("/")
            try:
                port = int(port_text)
            except ValueError:
                continue
            if not bindings:
                out.append({"PrivatePort": port, "Type": proto})
                continue
            for binding in bindings:
                out.append({"IP": binding["HostIp"], "PrivatePort": port,
                            "PublicPort": int(binding["HostPort"]), "Type": proto})
        return out

    def network_ids(self, container: Container) -> list[str]:
        """Names and IDs of the container's networks (``ps --filter network=``)."""
        out: list[str] = []
        for name, cfg in self.configured(container).items():
            out.append(name)
            network_id = self._network_id(name, cfg)
            if network_id:
                out.append(network_id)
        return out
