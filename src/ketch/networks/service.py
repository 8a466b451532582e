"""NetworkService: Docker's network objects and everything below them.

Owns the network records (``store.networks``), IPAM decisions, sandboxes,
bridge endpoints (CNI), NAT/filter rules, published ports and the embedded
DNS. The container side calls, per container start:

1. ``create_sandbox(cid)`` -> path for the OCI spec's network namespace
   (``--network host``: none; ``container:X``: ``sandbox_path(X)``);
2. ``connect_container(net, cid, name, ...)`` for each network;
3. ``resolv_conf(cid, ...)`` / ``addresses(cid)`` for /etc/resolv.conf and hosts;
4. ``publish(cid, requests)``;

and on stop ``release_container(cid)`` (unpublish, disconnect, sandbox gone).

Host commands block, so they run on worker threads; the database is only
used from the event loop's thread. One lock serialises every change.
"""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import json
import logging
import os
import secrets
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from ketch.errors import Conflict, Forbidden, InvalidArgument, KetchError, NotFound
from ketch.events import EventBus
from ketch.networks import cni, ipam, links, netns, views
from ketch.networks.config import NetworkConfig
from ketch.networks.dns import Resolver, SandboxDNS, upstreams_from_resolv_conf
from ketch.networks.filters import make_filter
from ketch.networks.firewall import Firewall, Rule
from ketch.networks.model import (
    IPAM,
    OPT_BRIDGE_NAME,
    OPT_DEFAULT_BRIDGE,
    OPT_ENABLE_ICC,
    OPT_ENABLE_IPV4,
    OPT_ENABLE_IPV6,
    OPT_ENABLE_MASQ,
    OPT_HOST_BINDING_IPV4,
    OPT_MTU,
    PREDEFINED,
    Endpoint,
    IPAMConfig,
    Network,
    NetworkCreate,
    PortMapping,
)
from ketch.networks.ports import PortRequest, PortReservations, port_map
from ketch.networks.resolvconf import embedded_resolv_conf, external_servers
from ketch.store.networks import NetworkTable
from ketch.timeutil import format_ns

log = logging.getLogger(__name__)

MAX_BRIDGE_NAME = 15


def _new_id() -> str:
    return secrets.token_hex(32)


def _random_mac() -> str:
    raw = bytearray(os.urandom(6))
    raw[0] = (raw[0] & 0xFE) | 0x02  # unicast, locally administered
    return ":".join(f"{b:02x}" for b in raw)


def _ula_subnet(network_id: str) -> str:
    """A /64 of fd00::/8 derived from the network's ID (Docker picks a ULA too)."""
    digest = hashlib.sha256(network_id.encode()).digest()
    prefix = bytes([0xFD]) + digest[:7]
    return f"{ipaddress.IPv6Address(prefix + bytes(8))}/64"


class NetworkService:
    def __init__(self, table: NetworkTable, config: NetworkConfig,
                 events: EventBus | None = None) -> None:
        self.table = table
        self.config = config
        self.events = events
        self.firewall = Firewall(config.chain_prefix, enabled=config.iptables)
        self.reservations = PortReservations()
        self._dns: dict[str, SandboxDNS] = {}
        self._lock = asyncio.Lock()

    # -- lifecycle -------------------------------------------------------------

    async def start(self, running_container_ids: Iterable[str] = ()) -> None:
        """Create the predefined networks, re-create bridges and rules, keep the
        endpoints of running containers and drop those of the others."""
        running = set(running_container_ids)
        async with self._lock:
            self.config.netns_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            await asyncio.to_thread(self.firewall.setup)
            await self._ensure_predefined()
            for net in self.table.all():
                if net.driver == "bridge" and net.bridge:
                    await asyncio.to_thread(self._plumb_network, net)
            for ep in self.table.all_endpoints():
                if ep.container_id in running and netns.is_netns(Path(ep.sandbox)):
                    await self._readopt_endpoint(ep)
                else:
                    await self._drop_endpoint(ep)
            for path in self.config.netns_dir.glob("*"):
                if path.suffix == ".json":
                    continue
                if path.name not in running:
                    await asyncio.to_thread(self._destroy_sandbox_files, path)

    async def close(self, remove_host_state: bool = False) -> None:
        """Stop the DNS servers and let go of held ports; rules, bridges and
        sandboxes stay for the running containers (``remove_host_state``: take
        them all away too, for tests and uninstall)."""
        async with self._lock:
            for server in list(self._dns.values()):
                await server.close()
            self._dns.clear()
            if remove_host_state:
                for ep in self.table.all_endpoints():
                    await self._drop_endpoint(ep)
                for path in self.config.netns_dir.glob("*"):
                    if path.suffix != ".json":
                        await asyncio.to_thread(self._destroy_sandbox_files, path)
                for net in self.table.all():
                    if net.driver == "bridge" and net.bridge:
                        await asyncio.to_thread(self._unplumb_network, net)
                await asyncio.to_thread(self.firewall.teardown)
            self.reservations.release_all()

    # -- networks ----------------------------------------------------------------

    def _emit(self, action: str, net: Network, **extra: str) -> None:
        if self.events is not None:
            self.events.emit("network", action, net.id, name=net.name, type=net.driver,
                             **extra)

    def get(self, term: str) -> Network:
        """By full ID, exact name, or unique ID prefix (Docker's order)."""
        net = self.table.get(term)
        if net is not None:
            return net
        net = self.table.by_name(term)
        if net is not None:
            return net
        matches = [n for n in self.table.all() if n.id.startswith(term)] if term else []
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise InvalidArgument(f"network {term} is ambiguous ({len(matches)} matches found "
                                  "based on ID prefix)")
        raise NotFound(f"network {term} not found")

    def list_networks(self, filters: dict[str, list[str]] | None = None) -> list[Network]:
        flt = make_filter(filters or {}, prune=False, now_ns=time.time_ns())
        return [n for n in self.table.all() if flt.matches(n, self._in_use)]

    def endpoints(self, network_id: str) -> list[Endpoint]:
        return self.table.endpoints_of_network(network_id)

    def _in_use(self, net: Network) -> bool:
        return bool(self.table.endpoints_of_network(net.id))

    def inspect(self, term: str) -> dict[str, Any]:
        net = self.get(term)
        return views.network_view(net, self.endpoints(net.id))

    async def create(self, req: NetworkCreate) -> tuple[str, str]:
        """Create a network; returns ``(id, warning)``."""
        async with self._lock:
            net = self._new_network(req)
            self.table.save(net)
            if net.driver == "bridge":
                try:
                    await asyncio.to_thread(self._plumb_network, net)
                except BaseException:
                    await asyncio.to_thread(self._unplumb_network, net)
                    self.table.delete(net.id)
                    raise
            self._emit("create", net)
            return net.id, ""

    def _new_network(self, req: NetworkCreate) -> Network:
        name = req.name
        if not name:
            raise InvalidArgument("network name is required")
        if name in PREDEFINED:
            raise Forbidden(f"operation is not permitted on predefined {name} network ")
        if self.table.by_name(name) is not None:
            raise Conflict(f"network with name {name} already exists")
        driver = req.driver or "bridge"
        if driver in ("host", "null", "none"):
            kind = "null" if driver in ("null", "none") else "host"
            raise Forbidden(f'only one instance of "{kind}" network is allowed')
        if driver != "bridge":
            raise NotFound(f"could not find plugin {driver} in v1 plugin registry: "
                           "plugin not found")
        ipam_req = req.ipam
        ipam_driver = (ipam_req.driver if ipam_req else "") or "default"
        if ipam_driver != "default":
            raise NotFound(f"could not find plugin {ipam_driver} in v1 plugin registry: "
                           "plugin not found")
        if req.scope not in ("", "local"):
            raise InvalidArgument(f'scope "{req.scope}" is not supported by the bridge driver')
        if req.ingress or req.config_only or req.config_from:
            raise InvalidArgument("ingress, config-only and config-from networks are not "
                                  "supported")
        options = dict(req.options or {})
        enable_ipv4 = req.enable_ipv4 if req.enable_ipv4 is not None else \
            _bool_option(options, OPT_ENABLE_IPV4, True)
        enable_ipv6 = req.enable_ipv6 if req.enable_ipv6 is not None else \
            _bool_option(options, OPT_ENABLE_IPV6, False)
        options.pop(OPT_ENABLE_IPV4, None) if req.enable_ipv4 is not None else None
        options.pop(OPT_ENABLE_IPV6, None) if req.enable_ipv6 is not None else None
        if not enable_ipv4 and not enable_ipv6:
            raise InvalidArgument("IPv4 or IPv6 must be enabled")
        for key in (OPT_ENABLE_ICC, OPT_ENABLE_MASQ):
            if key in options and options[key].strip().lower() not in (
                    "1", "0", "t", "f", "true", "false"):
                raise InvalidArgument(f"failed to parse {key} value {options[key]!r}")
        if OPT_MTU in options:
            try:
                mtu = int(options[OPT_MTU])
            except ValueError:
                raise InvalidArgument(f"invalid MTU number: {options[OPT_MTU]}") from None
            if not 68 <= mtu <= 65535:
                raise InvalidArgument(f"invalid MTU number: {mtu}")
        if OPT_HOST_BINDING_IPV4 in options:
            ipam.parse_address(options[OPT_HOST_BINDING_IPV4], "host binding address")
        network_id = _new_id()
        bridge = options.get(OPT_BRIDGE_NAME) or f"br-{network_id[:12]}"
        if len(bridge) > MAX_BRIDGE_NAME or "/" in bridge or " " in bridge:
            raise InvalidArgument(f"invalid bridge name {bridge!r}")
        for other in self.table.all():
            if other.bridge == bridge:
                raise Forbidden(f"cannot create network {network_id} ({bridge}): conflicts "
                                f"with network {other.id} ({other.bridge}): networks have "
                                "same bridge name")
        configs = self._ipam_configs(ipam_req.config if ipam_req else None, network_id,
                                     enable_ipv4, enable_ipv6)
        now = time.time_ns()
        return Network(
            name=name, id=network_id, created=format_ns(now), driver="bridge",
            enable_ipv4=enable_ipv4, enable_ipv6=enable_ipv6,
            ipam=IPAM(driver="default",
                      options=dict(ipam_req.options or {}) if ipam_req else {},
                      config=configs),
            internal=req.internal, attachable=req.attachable, options=options,
            labels=dict(req.labels or {}), bridge=bridge, created_ns=now)

    def _taken_subnets(self) -> list[ipam.IPNetwork]:
        out: list[ipam.IPNetwork] = []
        for net in self.table.all():
            for cfg in net.ipam.config:
                if cfg.subnet:
                    out.append(ipaddress.ip_network(cfg.subnet, strict=False))
        return out

    def _ipam_configs(self, requested: list[IPAMConfig] | None, network_id: str,
                      enable_ipv4: bool, enable_ipv6: bool) -> list[IPAMConfig]:
        errors: list[str] = []
        v4: list[IPAMConfig] = []
        v6: list[IPAMConfig] = []
        for cfg in requested or []:
            if not cfg.subnet:
                if cfg.ip_range or cfg.gateway:
                    errors.append("invalid network config: a subnet is required when "
                                  "gateway or ip-range is given")
                continue
            is6 = ":" in cfg.subnet
            if is6 and not enable_ipv6:
                continue
            errors += ipam.check_ipam_config(cfg.subnet, cfg.ip_range, cfg.gateway,
                                             cfg.aux_addresses)
            (v6 if is6 else v4).append(cfg)
        if errors:
            raise InvalidArgument("invalid network config:\n" + "\n".join(errors))
        taken = self._taken_subnets()
        out: list[IPAMConfig] = []
        for cfg in [*v4, *v6]:
            net = ipaddress.ip_network(cfg.subnet, strict=False)
            ipam.conflict_free(net, [], taken)
            taken.append(net)
            gateway = cfg.gateway or str(ipam.first_host(net))
            out.append(IPAMConfig(subnet=str(net), ip_range=cfg.ip_range, gateway=gateway,
                                  aux_addresses=cfg.aux_addresses))
        if enable_ipv4 and not v4:
            busy = taken + ipam.host_routes()
            subnet = ipam.choose_subnet(self.config.default_address_pools, busy)
            out.insert(0, IPAMConfig(subnet=str(subnet), gateway=str(ipam.first_host(subnet))))
        if enable_ipv6 and not v6:
            subnet6 = ipaddress.ip_network(_ula_subnet(network_id))
            out.append(IPAMConfig(subnet=str(subnet6), gateway=str(ipam.first_host(subnet6))))
        return out

    async def remove(self, term: str) -> None:
        async with self._lock:
            net = self.get(term)
            if net.predefined:
                raise Forbidden(f"{net.name} is a pre-defined network and cannot be removed")
            eps = self.table.endpoints_of_network(net.id)
            if eps:
                names = ", ".join(f'name:"{e.container_name}" id:"{e.endpoint_id[:12]}"'
                                  for e in eps)
                raise Forbidden(f"error while removing network: network {net.name} has active "
                                f"endpoints ({names})")
            await asyncio.to_thread(self._unplumb_network, net)
            self.table.delete(net.id)
            self._emit("destroy", net)

    async def prune(self, filters: dict[str, list[str]] | None = None) -> list[str]:
        """Remove unused user-defined networks; the names of those removed."""
        flt = make_filter(filters or {}, prune=True, now_ns=time.time_ns())
        removed: list[str] = []
        for net in self.table.all():
            if net.predefined or not flt.matches(net, self._in_use):
                continue
            try:
                await self.remove(net.id)
            except KetchError as exc:
                log.warning("prune: network %s: %s", net.name, exc.message)
                continue
            removed.append(net.name)
        return removed

    # -- predefined networks -------------------------------------------------------

    async def _ensure_predefined(self) -> None:
        now = time.time_ns()
        for name, driver in (("host", "host"), ("none", "null")):
            if self.table.by_name(name) is None:
                self.table.save(Network(name=name, id=_new_id(), created=format_ns(now),
                                        driver=driver, enable_ipv4=True,
                                        ipam=IPAM(driver="default", options=None, config=[]),
                                        created_ns=now))
        existing = self.table.by_name("bridge")
        if self.config.bridge == "none":
            if existing is not None and not self.table.endpoints_of_network(existing.id):
                self.table.delete(existing.id)
            return
        cfg = self._default_bridge_ipam(existing)
        options = {
            OPT_DEFAULT_BRIDGE: "true",
            OPT_ENABLE_ICC: "true" if self.config.icc else "false",
            OPT_ENABLE_MASQ: "true" if self.config.ip_masq else "false",
            OPT_HOST_BINDING_IPV4: self.config.default_bind_ip,
            OPT_BRIDGE_NAME: self.config.bridge,
            OPT_MTU: str(self.config.mtu or 1500),
        }
        if existing is not None and existing.ipam.config == [cfg] \
                and existing.options == options:
            return
        net = existing or Network(name="bridge", id=_new_id(), created=format_ns(now),
                                  created_ns=now)
        if existing is not None and existing.bridge != self.config.bridge:
            await asyncio.to_thread(self._unplumb_network, existing)
        net.ipam = IPAM(driver="default", options=None, config=[cfg])
        net.options = options
        net.bridge = self.config.bridge
        self.table.save(net)

    def _default_bridge_ipam(self, existing: Network | None) -> IPAMConfig:
        """``--bip``/``--fixed-cidr``, else the record's, else the bridge device's
        address, else the first free default pool."""
        if self.config.bip:
            iface = ipaddress.ip_interface(self.config.bip)
            return IPAMConfig(subnet=str(iface.network), ip_range=self.config.fixed_cidr,
                              gateway=str(iface.ip))
        if existing is not None and existing.ipam.config and \
                existing.bridge == self.config.bridge:
            old = existing.ipam.config[0]
            return IPAMConfig(subnet=old.subnet, ip_range=self.config.fixed_cidr,
                              gateway=old.gateway)
        for addr in links.addresses(self.config.bridge):
            iface = ipaddress.ip_interface(addr)
            if iface.version == 4:
                return IPAMConfig(subnet=str(iface.network), ip_range=self.config.fixed_cidr,
                                  gateway=str(iface.ip))
        busy = self._taken_subnets() + ipam.host_routes()
        subnet = ipam.choose_subnet(self.config.default_address_pools, busy)
        return IPAMConfig(subnet=str(subnet), ip_range=self.config.fixed_cidr,
                          gateway=str(ipam.first_host(subnet)))

    # -- host plumbing of a network (worker threads) -----------------------------------

    def _gateways(self, net: Network) -> list[str]:
        out: list[str] = []
        for cfg in net.ipam.config:
            if cfg.gateway:
                prefix = ipaddress.ip_network(cfg.subnet, strict=False).prefixlen
                out.append(f"{cfg.gateway}/{prefix}")
        return out

    def _network_rules(self, net: Network) -> list[Rule]:
        v4 = [c.subnet for c in net.ipam.config if c.subnet and ":" not in c.subnet]
        return self.firewall.network_rules(net.bridge, v4, internal=net.internal,
                                           icc=net.icc, masquerade=net.masquerade)

    def _plumb_network(self, net: Network) -> None:
        links.ensure_bridge(net.bridge, self._gateways(net), net.mtu)
        links.enable_route_localnet(net.bridge)
        if self.config.ip_forward:
            links.enable_ip_forward(ipv6=net.enable_ipv6)
        self.firewall.apply(self._network_rules(net))

    def _unplumb_network(self, net: Network) -> None:
        self.firewall.remove(self._network_rules(net))
        links.delete(net.bridge)

    # -- sandboxes -------------------------------------------------------------------

    def sandbox_path(self, container_id: str) -> str | None:
        """The sandbox of a container (for ``--network container:<id>``), if it has one."""
        path = self.config.netns_dir / container_id
        return str(path) if netns.is_netns(path) else None

    async def create_sandbox(self, container_id: str,
                             dns_servers: Sequence[str] = ()) -> str:
        """A new network namespace with ``lo`` up; its path for the OCI spec.

        *dns_servers* (``--dns``) are where the embedded DNS forwards this
        container's other queries; default: the host's resolvers."""
        path = self.config.netns_dir / container_id
        await asyncio.to_thread(self._create_sandbox_files, path, list(dns_servers))
        return str(path)

    def _create_sandbox_files(self, path: Path, dns_servers: list[str]) -> None:
        netns.create(path)
        try:
            cni.invoke(self.config.cni_path, "ADD", cni.loopback_config(),
                       container_id=path.name, netns=str(path), ifname="lo")
            path.with_suffix(".json").write_text(json.dumps({"dns": dns_servers}))
        except BaseException:
            netns.destroy(path)
            raise

    def _destroy_sandbox_files(self, path: Path) -> None:
        netns.destroy(path)
        path.with_suffix(".json").unlink(missing_ok=True)

    async def destroy_sandbox(self, container_id: str) -> None:
        path = self.config.netns_dir / container_id
        server = self._dns.pop(str(path), None)
        if server is not None:
            await server.close()
        await asyncio.to_thread(self._destroy_sandbox_files, path)

    # -- endpoints -------------------------------------------------------------------

    async def connect_container(
        self, network: str, container_id: str, container_name: str, *,
        aliases: Sequence[str] = (), ipv4: str = "", ipv6: str = "", mac: str = "",
        sandbox: str | None = None,
    ) -> dict[str, Any]:
        """Attach the container's sandbox to a network; Docker's EndpointSettings."""
        async with self._lock:
            net = self.get(network)
            name = container_name.lstrip("/")
            if net.driver == "host":
                raise Forbidden("container cannot be disconnected from host network or "
                                "connected to host network")
            if net.driver == "null":
                raise Forbidden("container cannot be connected to multiple networks with one "
                                "of the networks in private (none) mode")
            if self.table.endpoint(net.id, container_id) is not None:
                raise Forbidden(f"endpoint with name {name} already exists in network "
                                f"{net.name}")
            self._validate_endpoint(net, aliases, ipv4, ipv6)
            path = sandbox or str(self.config.netns_dir / container_id)
            if not netns.is_netns(Path(path)):
                if sandbox:
                    raise NotFound(f"sandbox {path} does not exist")
                await asyncio.to_thread(self._create_sandbox_files, Path(path), [])
            ep = self._plan_endpoint(net, container_id, name, path, list(aliases), ipv4, ipv6,
                                     mac)
            result = await asyncio.to_thread(
                cni.invoke, self.config.cni_path, "ADD", ep.cni_config,
                container_id=container_id, netns=path, ifname=ep.ifname)
            for iface in result.get("interfaces", []):
                if iface.get("name") == ep.ifname and iface.get("sandbox"):
                    ep.mac = str(iface.get("mac") or ep.mac)
            self.table.save_endpoint(ep)
            if net.user_defined:
                await self._ensure_dns(path)
            self._emit("connect", net, container=container_id)
            return views.endpoint_settings(ep, resolvable=net.user_defined)

    def _validate_endpoint(self, net: Network, aliases: Sequence[str], ipv4: str,
                           ipv6: str) -> None:
        errs: list[str] = []
        if not net.user_defined:
            if ipv4 or ipv6:
                errs.append("user-specified IP address is supported on user-defined networks "
                            "only")
            if aliases:
                errs.append("network-scoped aliases are only supported for user-defined "
                            "networks")
        for text, version in ((ipv4, 4), (ipv6, 6)):
            if not text:
                continue
            try:
                addr = ipaddress.ip_address(text)
            except ValueError:
                errs.append(f"invalid IPv{version} address: {text}")
                continue
            if addr.version != version or addr.is_unspecified:
                errs.append(f"invalid IPv{version} address: {text}")
                continue
            if not errs and not any(ipam.Pool(c.subnet).contains(addr)
                                    for c in net.ipam.config if c.subnet):
                errs.append(f"no configured subnet contains IP address {text}")
        if errs:
            raise InvalidArgument("invalid endpoint settings:\n" + "\n".join(errs))

    def _plan_endpoint(self, net: Network, container_id: str, name: str, sandbox: str,
                       aliases: list[str], ipv4: str, ipv6: str, mac: str) -> Endpoint:
        others = self.table.endpoints_of_network(net.id)
        ep = Endpoint(network_id=net.id, container_id=container_id, endpoint_id=_new_id(),
                      container_name=name, ifname=self._next_ifname(sandbox),
                      sandbox=sandbox, aliases=aliases, requested_ipv4=ipv4,
                      requested_ipv6=ipv6, mac=mac or _random_mac())
        pairs: list[tuple[str, str]] = []
        for version, wanted in ((4, ipv4), (6, ipv6)):
            cfgs = [c for c in net.ipam.config if c.subnet
                    and ipaddress.ip_network(c.subnet, strict=False).version == version]
            if not cfgs:
                continue
            used: set[ipam.IPAddress] = set()
            for o in others:
                text = o.ipv4_address if version == 4 else o.ipv6_address
                if text:
                    used.add(ipaddress.ip_address(text))
            preferred = ipaddress.ip_address(wanted) if wanted else None
            chosen: ipam.IPAddress | None = None
            last_error: KetchError | None = None
            for cfg in cfgs:
                pool = ipam.Pool(cfg.subnet, cfg.ip_range, cfg.gateway,
                                 (cfg.aux_addresses or {}).values())
                if preferred is not None and not pool.contains(preferred):
                    continue
                try:
                    chosen = pool.request(used, preferred)
                    break
                except KetchError as exc:
                    last_error = exc
            if chosen is None:
                raise last_error or InvalidArgument(
                    f"no configured subnet contains IP address {wanted}")
            prefix = ipaddress.ip_network(cfg.subnet, strict=False).prefixlen
            address = f"{chosen}/{prefix}"
            if version == 4:
                ep.ipv4, ep.gateway = address, cfg.gateway
            else:
                ep.ipv6, ep.ipv6_gateway = address, cfg.gateway
            pairs.append((address, cfg.gateway))
        ep.cni_config = cni.bridge_config(network=net.name, bridge=net.bridge,
                                          addresses=pairs, default_route=not net.internal,
                                          mtu=net.mtu, mac=ep.mac)
        if net.internal:  # no way out: Docker shows no gateway either
            ep.gateway = ""
            ep.ipv6_gateway = ""
        return ep

    def _next_ifname(self, sandbox: str) -> str:
        used = {e.ifname for e in self.table.all_endpoints() if e.sandbox == sandbox}
        n = 0
        while f"eth{n}" in used:
            n += 1
        return f"eth{n}"

    async def disconnect_container(self, network: str, container_id: str,
                                   force: bool = False) -> None:
        async with self._lock:
            try:
                net = self.get(network)
            except NotFound:
                if force:
                    return
                raise
            ep = self.table.endpoint(net.id, container_id)
            if ep is None:
                if force:
                    return
                if net.driver == "host":
                    raise Forbidden("container cannot be disconnected from host network or "
                                    "connected to host network")
                raise Forbidden(f"container {container_id} is not connected to network "
                                f"{net.name}")
            await self._drop_endpoint(ep)
            self._emit("disconnect", net, container=container_id)

    async def _drop_endpoint(self, ep: Endpoint) -> None:
        """Unpublish, CNI DEL (if the sandbox is still there), forget the endpoint."""
        net = self.table.get(ep.network_id)
        if net is not None and ep.ports:
            await asyncio.to_thread(self.firewall.remove, self._port_rules(net, ep, ep.ports))
        for mapping in ep.ports:
            self.reservations.release(mapping)
        if ep.cni_config:
            exists = netns.is_netns(Path(ep.sandbox))
            try:
                await asyncio.to_thread(
                    cni.invoke, self.config.cni_path, "DEL", ep.cni_config,
                    container_id=ep.container_id, netns=ep.sandbox if exists else "",
                    ifname=ep.ifname)
            except KetchError as exc:
                log.warning("CNI DEL of %s on %s: %s", ep.container_id[:12], ep.network_id[:12],
                            exc.message)
        self.table.delete_endpoint(ep.network_id, ep.container_id)
        await self._maybe_stop_dns(ep.sandbox)

    async def _readopt_endpoint(self, ep: Endpoint) -> None:
        net = self.table.get(ep.network_id)
        if net is None:
            self.table.delete_endpoint(ep.network_id, ep.container_id)
            return
        if ep.ports:
            await asyncio.to_thread(self.firewall.apply, self._port_rules(net, ep, ep.ports))
            for mapping in ep.ports:
                self.reservations.readopt(mapping)
        if net.user_defined:
            await self._ensure_dns(ep.sandbox)

    # -- ports ---------------------------------------------------------------------

    def _port_rules(self, net: Network, ep: Endpoint, mappings: list[PortMapping]) -> list[Rule]:
        rules: list[Rule] = []
        for m in mappings:
            rules += self.firewall.port_rules(net.bridge, ep.ipv4_address, m.proto,
                                              m.container_port, m.host_ip, m.host_port)
        return rules

    def _gateway_endpoint(self, container_id: str) -> tuple[Network, Endpoint] | None:
        """The endpoint whose network gives the container its way out: ports go there."""
        for ep in self.table.endpoints_of_container(container_id):
            net = self.table.get(ep.network_id)
            if net is not None and net.driver == "bridge" and not net.internal and ep.ipv4:
                return net, ep
        return None

    async def publish(self, container_id: str,
                      requests: Sequence[PortRequest]) -> dict[str, Any]:
        """Publish ports; ``NetworkSettings.Ports`` of the result. All or nothing."""
        async with self._lock:
            target = self._gateway_endpoint(container_id)
            if target is None:
                return {}
            net, ep = target
            default_ip = net.options.get(OPT_HOST_BINDING_IPV4) or self.config.default_bind_ip
            added: list[PortMapping] = []
            try:
                for req in requests:
                    host_ip = req.host_ip or default_ip
                    if ":" in host_ip:
                        log.info("IPv6 port publishing is not supported; skipping %s", host_ip)
                        continue
                    mapping = self.reservations.reserve(req, host_ip)
                    added.append(mapping)
                    await asyncio.to_thread(self.firewall.apply,
                                            self._port_rules(net, ep, [mapping]))
            except BaseException:
                await asyncio.to_thread(self.firewall.remove, self._port_rules(net, ep, added))
                for mapping in added:
                    self.reservations.release(mapping)
                raise
            ep.ports = [*ep.ports, *added]
            self.table.save_endpoint(ep)
            return port_map(ep.ports)

    async def unpublish(self, container_id: str) -> None:
        async with self._lock:
            for ep in self.table.endpoints_of_container(container_id):
                if not ep.ports:
                    continue
                net = self.table.get(ep.network_id)
                if net is not None:
                    await asyncio.to_thread(self.firewall.remove,
                                            self._port_rules(net, ep, ep.ports))
                for mapping in ep.ports:
                    self.reservations.release(mapping)
                ep.ports = []
                self.table.save_endpoint(ep)

    def published(self, container_id: str) -> list[PortMapping]:
        out: list[PortMapping] = []
        for ep in self.table.endpoints_of_container(container_id):
            out += ep.ports
        return out

    # -- what a container sees ------------------------------------------------------------

    def endpoint_settings(self, container_id: str) -> dict[str, dict[str, Any]]:
        """``NetworkSettings.Networks`` of a running container, by network name."""
        out: dict[str, dict[str, Any]] = {}
        for ep in self.table.endpoints_of_container(container_id):
            net = self.table.get(ep.network_id)
            if net is not None:
                out[net.name] = views.endpoint_settings(ep, resolvable=net.user_defined)
        return out

    def addresses(self, container_id: str) -> list[str]:
        """The container's own addresses, for its /etc/hosts."""
        out: list[str] = []
        for ep in self.table.endpoints_of_container(container_id):
            out += [a for a in (ep.ipv4_address, ep.ipv6_address) if a]
        return out

    def uses_embedded_dns(self, container_id: str) -> bool:
        for ep in self.table.endpoints_of_container(container_id):
            net = self.table.get(ep.network_id)
            if net is not None and net.user_defined:
                return True
        return False

    def resolv_conf(self, container_id: str, host: bytes, *, dns_search: Sequence[str] = (),
                    dns_options: Sequence[str] = ()) -> bytes | None:
        """The embedded-DNS resolv.conf if the container is on a user-defined network,
        else None (the default-bridge file of ``containers.etcfiles`` applies)."""
        if not self.uses_embedded_dns(container_id):
            return None
        return embedded_resolv_conf(host, dns_search=dns_search, dns_options=dns_options)

    async def release_container(self, container_id: str) -> None:
        """On container stop: unpublish, disconnect everything, remove the sandbox."""
        async with self._lock:
            for ep in self.table.endpoints_of_container(container_id):
                await self._drop_endpoint(ep)
                net = self.table.get(ep.network_id)
                if net is not None:
                    self._emit("disconnect", net, container=container_id)
        await self.destroy_sandbox(container_id)

    # -- embedded DNS ------------------------------------------------------------------

    def _upstreams(self, sandbox: str) -> list[str]:
        try:
            stored = json.loads(Path(sandbox).with_suffix(".json").read_text()).get("dns", [])
        except (OSError, ValueError):
            stored = []
        if stored:
            return [str(s) for s in stored]
        if self.config.dns_upstreams:
            return list(self.config.dns_upstreams)
        return external_servers(b"", upstreams_from_resolv_conf(self.config.resolv_conf))

    def _lookup(self, sandbox: str, name: str, qtype: int) -> list[str] | None:
        askers = [e for e in self.table.all_endpoints() if e.sandbox == sandbox]
        found: list[str] | None = None
        for asker in askers:
            net = self.table.get(asker.network_id)
            if net is None or not net.user_defined:
                continue
            for ep in self.table.endpoints_of_network(net.id):
                names = {n.lower() for n in views.dns_names_of(ep)}
                names |= {f"{n}.{net.name.lower()}" for n in names}
                if name not in names:
                    continue
                found = found or []
                addr = ep.ipv4_address if qtype == 1 else ep.ipv6_address
                if addr and addr not in found:
                    found.append(addr)
        return found

    async def _ensure_dns(self, sandbox: str) -> None:
        if sandbox in self._dns:
            return
        resolver = Resolver(lambda name, qtype: self._lookup(sandbox, name, qtype),
                            lambda: self._upstreams(sandbox))
        server = SandboxDNS(sandbox, resolver)
        try:
            await server.start()
        except OSError as exc:
            log.warning("embedded DNS in %s: %s", sandbox, exc)
            return
        self._dns[sandbox] = server

    async def _maybe_stop_dns(self, sandbox: str) -> None:
        for ep in self.table.all_endpoints():
            if ep.sandbox != sandbox:
                continue
            net = self.table.get(ep.network_id)
            if net is not None and net.user_defined:
                return
        server = self._dns.pop(sandbox, None)
        if server is not None:
            await server.close()


def _bool_option(options: dict[str, str], key: str, default: bool) -> bool:
    value = options.get(key)
    if value is None:
        return default
    return value.strip().lower() in ("1", "t", "true")

