"""Docker's JSON shapes of networks and endpoints, built from the records.

Shared by the API (``/networks``) and the container side (a container's
``NetworkSettings.Networks``), so both show an endpoint the same way.
"""

from __future__ import annotations

from typing import Any

from ketch.networks.model import Endpoint, IPAMConfig, Network


def _ipam_config(cfg: IPAMConfig) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if cfg.subnet:
        out["Subnet"] = cfg.subnet
    if cfg.ip_range:
        out["IPRange"] = cfg.ip_range
    if cfg.gateway:
        out["Gateway"] = cfg.gateway
    if cfg.aux_addresses:
        out["AuxiliaryAddresses"] = dict(cfg.aux_addresses)
    return out


def network_view(net: Network, endpoints: list[Endpoint] | None) -> dict[str, Any]:
    """``GET /networks/{id}`` (with *endpoints*) or one item of ``GET /networks``
    (``None``: Docker's list leaves ``Containers`` empty)."""
    containers: dict[str, Any] = {}
    for ep in endpoints or []:
        containers[ep.container_id] = {
            "Name": ep.container_name, "EndpointID": ep.endpoint_id,
            "MacAddress": ep.mac, "IPv4Address": ep.ipv4, "IPv6Address": ep.ipv6,
        }
    return {
        "Name": net.name, "Id": net.id, "Created": net.created, "Scope": net.scope,
        "Driver": net.driver, "EnableIPv4": net.enable_ipv4, "EnableIPv6": net.enable_ipv6,
        "IPAM": {"Driver": net.ipam.driver, "Options": net.ipam.options,
                 "Config": [_ipam_config(c) for c in net.ipam.config]},
        "Internal": net.internal, "Attachable": net.attachable, "Ingress": net.ingress,
        "ConfigFrom": {"Network": net.config_from.network}, "ConfigOnly": net.config_only,
        "Containers": containers, "Options": dict(net.options), "Labels": dict(net.labels),
    }


def endpoint_settings(ep: Endpoint | None, network_id: str = "",
                      aliases: list[str] | None = None,
                      resolvable: bool = True) -> dict[str, Any]:
    """A container's ``NetworkSettings.Networks[name]`` (API 1.44+ field set).

    With ``ep`` None: the settings of a configured but unconnected network
    (a stopped container), operational fields empty, as Docker shows them."""
    if ep is None:
        return {
            "IPAMConfig": None, "Links": None, "Aliases": aliases or None, "MacAddress": "",
            "DriverOpts": None, "GwPriority": 0, "NetworkID": network_id, "EndpointID": "",
            "Gateway": "", "IPAddress": "", "IPPrefixLen": 0, "IPv6Gateway": "",
            "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0, "DNSNames": None,
        }
    ipam: dict[str, str] | None = None
    if ep.requested_ipv4 or ep.requested_ipv6:
        ipam = {}
        if ep.requested_ipv4:
            ipam["IPv4Address"] = ep.requested_ipv4
        if ep.requested_ipv6:
            ipam["IPv6Address"] = ep.requested_ipv6
    dns_names = dns_names_of(ep) if resolvable else []
    return {
        "IPAMConfig": ipam, "Links": None, "Aliases": list(ep.aliases) or None,
        "MacAddress": ep.mac, "DriverOpts": None, "GwPriority": 0,
        "NetworkID": ep.network_id, "EndpointID": ep.endpoint_id, "Gateway": ep.gateway,
        "IPAddress": ep.ipv4_address,
        "IPPrefixLen": int(ep.ipv4.split("/")[1]) if ep.ipv4 else 0,
        "IPv6Gateway": ep.ipv6_gateway, "GlobalIPv6Address": ep.ipv6_address,
        "GlobalIPv6PrefixLen": int(ep.ipv6.split("/")[1]) if ep.ipv6 else 0,
        "DNSNames": dns_names or None,
    }


def dns_names_of(ep: Endpoint) -> list[str]:
    """What the endpoint answers to: name, aliases, short ID (``DNSNames``)."""
    names: list[str] = []
    for name in (ep.container_name, *ep.aliases, ep.container_id[:12]):
        if name and name not in names:
            names.append(name)
    return names
