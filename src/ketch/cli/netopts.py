"""The network options of ``run`` and ``create``, parsed as the Docker CLI 28 does.

``-p``/``--publish`` follows go-connections' ``nat.ParsePortSpecs``
(``[ip:][hostPort[-end]:]containerPort[-end][/proto]`` and the
``published=,target=,protocol=`` form), ``--expose`` the CLI's own loop,
``--network`` the ``NetworkOpt`` value (a name, or ``name=...,alias=...``),
and the per-network endpoint settings ``parseNetworkOpts``. Messages are
docker's, since scripts match them.
"""

from __future__ import annotations

import re

from ketch.ports import parse_port_range, split_proto_port

TYPE_CHECKING = False  # typing is not imported at run time: it costs startup time
if TYPE_CHECKING:
    from typing import Any


class NetOptError(Exception):
    """A network or port option docker's ``parse()`` rejects; the message is docker's."""


def _new_port(proto: str, port: str) -> str:
    start, end = parse_port_range(port) if port else (0, 0)
    return f"{start}/{proto}" if start == end else f"{start}-{end}/{proto}"


def _parse_ip(text: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return "%" not in text


# --- -p / --publish, --expose ------------------------------------------------------------


def to_standard_notation(specs: list[str]) -> list[str]:
    """``convertToStandardNotation``: ``published=8080,target=80`` -> ``8080:80/tcp``."""
    out: list[str] = []
    for spec in specs:
        if "=" not in spec:
            out.append(spec)
            continue
        params = {"protocol": "tcp"}
        for param in spec.split(","):
            key, eq, value = param.partition("=")
            if not eq or not key:
                raise NetOptError("invalid publish opts format (should be name=value but got "
                                  f"'{param}')")
            params[key] = value
        out.append(f"{params.get('published', '')}:{params.get('target', '')}/"
                   f"{params['protocol']}")
    return out


def _split_parts(raw: str) -> tuple[str, str, str]:
    parts = raw.split(":")
    n = len(parts)
    if n == 1:
        return "", "", parts[0]
    if n == 2:
        return "", parts[0], parts[1]
    if n == 3:
        return parts[0], parts[1], parts[2]
    return ":".join(parts[:n - 2]), parts[n - 2], parts[n - 1]


def parse_port_spec(raw: str) -> list[tuple[str, dict[str, str]]]:
    """``nat.ParsePortSpec``: (``"80/tcp"``, ``{"HostIp", "HostPort"}``) per container port."""
    ip, host_port, container_port = _split_parts(raw)
    proto, container_port = split_proto_port(container_port)
    if ip.startswith("["):
        if not ip.endswith("]") or "[" in ip[1:]:
            raise NetOptError(f"invalid IP address {ip}: address {ip}:: missing port in "
                              "address")
        ip = ip[1:-1]
    if ip and not _parse_ip(ip):
        raise NetOptError(f"invalid IP address: {ip}")
    if not container_port:
        raise NetOptError(f"no port specified: {raw}<empty>")
    try:
        start, end = parse_port_range(container_port)
    except ValueError:
        raise NetOptError(f"invalid containerPort: {container_port}") from None
    host_start = host_end = 0
    if host_port:
        try:
            host_start, host_end = parse_port_range(host_port)
        except ValueError:
            raise NetOptError(f"invalid hostPort: {host_port}") from None
    if host_port and (end - start) != (host_end - host_start) and end != start:
        raise NetOptError(f"invalid ranges specified for container and host Ports: "
                          f"{container_port} and {host_port}")
    if proto.lower() not in ("tcp", "udp", "sctp"):
        raise NetOptError(f"invalid proto: {proto}")
    out: list[tuple[str, dict[str, str]]] = []
    for i in range(end - start + 1):
        port = str(start + i)
        if host_port:
            host_port = str(host_start + i)
        if start == end and host_start != host_end:
            host_port = f"{host_port}-{host_end}"
        out.append((_new_port(proto.lower(), port), {"HostIp": ip, "HostPort": host_port}))
    return out


def parse_port_specs(specs: list[str]) -> tuple[dict[str, Any], dict[str, list[dict[str, str]]]]:
    """``nat.ParsePortSpecs``: the exposed ports and the port bindings of ``-p`` values."""
    exposed: dict[str, Any] = {}
    bindings: dict[str, list[dict[str, str]]] = {}
    for spec in to_standard_notation(specs):
        for port, binding in parse_port_spec(spec):
            exposed.setdefault(port, {})
            bindings.setdefault(port, []).append(binding)
    return exposed, bindings


def add_exposed(exposed: dict[str, Any], values: list[str]) -> None:
    """``--expose 80``, ``--expose 7000-7010/udp``: more exposed ports."""
    for value in values:
        if ":" in value:
            raise NetOptError(f"invalid port format for --expose: {value}")
        proto, port = split_proto_port(value)
        try:
            start, end = parse_port_range(port)
        except ValueError as exc:
            raise NetOptError(f"invalid range format for --expose: {value}, error: {exc}") \
                from None
        for number in range(start, end + 1):
            exposed.setdefault(f"{number}/{proto}", {})


# --- values checked while flags are parsed ------------------------------------------------


def validate_ip(value: str) -> str:
    """``opts.ValidateIPAddress`` (``--dns``): the address in its canonical form."""
    import ipaddress

    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        raise ValueError(f"IP address is not correctly formatted: {value}") from None


_DOMAIN = re.compile(r"^((?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9\-]*[a-zA-Z0-9])"
                     r"(?:\.(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9\-]*[a-zA-Z0-9]))*)\.?\s*$")


def validate_dns_search(value: str) -> str:
    """``opts.ValidateDNSSearch``: a domain name, or ``.`` for none."""
    value = value.strip(" ")
    if value == ".":
        return value
    match = _DOMAIN.match(value)
    if not re.search(r"[a-zA-Z]", value) or match is None or len(match.group(1)) >= 255:
        raise ValueError(f"{value} is not a valid domain")
    return match.group(1)


def validate_extra_host(value: str) -> str:
    """``opts.ValidateExtraHost``: ``name:ip`` or ``name=ip`` (ip may be in brackets,
    or ``host-gateway``), sent as ``name:ip``."""
    key, eq, address = value.partition("=")
    if not eq:
        key, eq, address = value.partition(":")
    if not eq or not key or ":" in key:
        raise ValueError(f'bad format for add-host: "{value}"')
    if address != "host-gateway":
        if len(address) > 2 and address.startswith("[") and address.endswith("]"):
            address = address[1:-1]
        try:
            validate_ip(address)
        except ValueError:
            raise ValueError(f'invalid IP address in add-host: "{address}"') from None
    return f"{key}:{address}"


def valid_mac(value: str) -> bool:
    """Go's ``net.ParseMAC``: 6, 8 or 20 octets, ``:``/``-`` separated or dotted."""
    text = value.strip()
    if len(text) < 14:
        return False
    if text[2] in ":-":
        if (len(text) + 1) % 3:
            return False
        groups = text.split(text[2])
        return len(groups) in (6, 8, 20) and all(
            len(g) == 2 and all(c in "0123456789abcdefABCDEF" for c in g) for g in groups)
    if text[4] == ".":
        if (len(text) + 1) % 5:
            return False
        groups = text.split(".")
        return len(groups) * 2 in (6, 8, 20) and all(
            len(g) == 4 and all(c in "0123456789abcdefABCDEF" for c in g) for g in groups)
    return False


def _go_atoi(text: str) -> int:
    if not re.fullmatch(r"[+-]?\d+", text):
        raise ValueError("invalid syntax")
    value = int(text)
    if not -(1 << 63) <= value < (1 << 63):
        raise ValueError("value out of range")
    return value


def network_option(value: str) -> dict[str, Any]:
    """``opts.NetworkOpt.Set``: ``--network NAME`` or ``name=NAME,alias=A,ip=...``."""
    import csv

    attachment: dict[str, Any] = {"Target": "", "Aliases": [], "DriverOpts": {}, "Links": [],
                                  "IPv4Address": "", "IPv6Address": "", "LinkLocalIPs": [],
                                  "MacAddress": "", "GwPriority": 0}
    if not re.search(r"\w+=\w+(,\w+=\w+)*", value):
        attachment["Target"] = value
        return attachment
    try:
        fields = next(csv.reader([value]))
    except (csv.Error, StopIteration):
        raise ValueError(f"invalid field {value}") from None
    for field in fields:
        key, eq, val = field.lower().partition("=")
        if not eq or not key:
            raise ValueError(f"invalid field {field}")
        key, val = key.strip(), val.strip()
        if key == "name":
            attachment["Target"] = val
        elif key == "alias":
            attachment["Aliases"].append(val)
        elif key == "ip":
            attachment["IPv4Address"] = val
        elif key == "ip6":
            attachment["IPv6Address"] = val
        elif key == "mac-address":
            attachment["MacAddress"] = val
        elif key == "link-local-ip":
            attachment["LinkLocalIPs"].append(val)
        elif key == "driver-opt":
            opt_key, opt_eq, opt_val = val.partition("=")
            if not opt_eq or not opt_key:
                raise ValueError("invalid key value pair format in driver options")
            attachment["DriverOpts"][opt_key.strip()] = opt_val.strip()
        elif key == "gw-priority":
            try:
                attachment["GwPriority"] = _go_atoi(val)
            except ValueError as exc:
                raise ValueError(f"invalid gw-priority ({val}): {exc}") from None
        else:
            raise ValueError(f"invalid field key {key}")
    if not attachment["Target"]:
        raise ValueError("network name/id is not specified")
    return attachment


# --- the endpoints of the create request -------------------------------------------------


def is_user_defined(name: str) -> bool:
    """``NetworkMode.IsUserDefined`` as the CLI sees it."""
    if name in ("default", "bridge", "host", "none"):
        return False
    kind, colon, _ = name.partition(":")
    return not (colon and kind == "container")


def endpoint_settings(attachment: dict[str, Any]) -> dict[str, Any] | None:
    """``parseNetworkAttachmentOpt``: the EndpointSettings JSON; None when empty."""
    target = attachment["Target"]
    if not target.strip():
        raise NetOptError("no name set for network")
    if not is_user_defined(target):
        if attachment["Aliases"]:
            raise NetOptError("network-scoped aliases are only supported for user-defined "
                              "networks")
        if attachment["Links"]:
            raise NetOptError("links are only supported for user-defined networks")
    ipam: dict[str, Any] | None = None
    if attachment["IPv4Address"] or attachment["IPv6Address"] or attachment["LinkLocalIPs"]:
        ipam = {}
        if attachment["IPv4Address"]:
            ipam["IPv4Address"] = attachment["IPv4Address"]
        if attachment["IPv6Address"]:
            ipam["IPv6Address"] = attachment["IPv6Address"]
        if attachment["LinkLocalIPs"]:
            ipam["LinkLocalIPs"] = list(attachment["LinkLocalIPs"])
    mac = attachment["MacAddress"]
    if mac and not valid_mac(mac):
        raise NetOptError(f"{mac} is not a valid mac address")
    settings: dict[str, Any] = {
        "IPAMConfig": ipam, "Links": list(attachment["Links"]) or None,
        "Aliases": list(attachment["Aliases"]) or None, "MacAddress": mac,
        "DriverOpts": dict(attachment["DriverOpts"]) or None,
        "GwPriority": attachment["GwPriority"], "NetworkID": "", "EndpointID": "",
        "Gateway": "", "IPAddress": "", "IPPrefixLen": 0, "IPv6Gateway": "",
        "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0, "DNSNames": None,
    }
    empty = (ipam is None and not settings["Aliases"] and not mac and not settings["Links"]
             and not settings["DriverOpts"] and not settings["GwPriority"])
    return None if empty else settings


_ZERO_ENDPOINT: dict[str, Any] = {
    "IPAMConfig": None, "Links": None, "Aliases": None, "MacAddress": "", "DriverOpts": None,
    "GwPriority": 0, "NetworkID": "", "EndpointID": "", "Gateway": "", "IPAddress": "",
    "IPPrefixLen": 0, "IPv6Gateway": "", "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0,
    "DNSNames": None,
}


def _apply_container_options(attachment: dict[str, Any], aliases: list[str], ipv4: str,
                             ipv6: str, mac: str) -> dict[str, Any]:
    """``applyContainerOptions``: ``--network-alias``, ``--ip``, ``--ip6`` and
    ``--mac-address`` go to the first network."""
    attachment = {**attachment, "Aliases": list(attachment["Aliases"])}
    if attachment["Aliases"] and aliases:
        raise NetOptError("conflicting options: cannot specify both --network-alias and "
                          "per-network alias")
    if attachment["IPv4Address"] and ipv4:
        raise NetOptError("conflicting options: cannot specify both --ip and per-network IPv4 "
                          "address")
    if attachment["IPv6Address"] and ipv6:
        raise NetOptError("conflicting options: cannot specify both --ip6 and per-network IPv6 "
                          "address")
    if attachment["MacAddress"] and mac:
        raise NetOptError("conflicting options: cannot specify both --mac-address and "
                          "per-network MAC address")
    if aliases:
        attachment["Aliases"] = list(aliases)
    if ipv4:
        attachment["IPv4Address"] = ipv4
    if ipv6:
        attachment["IPv6Address"] = ipv6
    if mac:
        attachment["MacAddress"] = mac
    return attachment


def endpoints_config(networks: list[dict[str, Any]], aliases: list[str], ipv4: str,
                     ipv6: str, mac: str) -> dict[str, Any]:
    """``parseNetworkOpts``: ``NetworkingConfig.EndpointsConfig`` of the request."""
    endpoints: dict[str, Any] = {}
    if not networks:
        attachment = _apply_container_options(network_option("default"), aliases, ipv4, ipv6,
                                              mac)
        endpoints["default"] = endpoint_settings(attachment) or dict(_ZERO_ENDPOINT)
    user_defined = non_user_defined = False
    for i, attachment in enumerate(networks):
        if is_user_defined(attachment["Target"]):
            user_defined = True
        else:
            non_user_defined = True
        if i == 0:
            attachment = _apply_container_options(attachment, aliases, ipv4, ipv6, mac)
        settings = endpoint_settings(attachment)
        target = attachment["Target"]
        if target in endpoints:
            raise NetOptError(f'network "{target}" is specified multiple times')
        if i == 0 and len(networks) == 1 and settings is None:
            continue  # docker leaves a lone network without options out
        endpoints[target] = settings or dict(_ZERO_ENDPOINT)
    if user_defined and non_user_defined:
        raise NetOptError("conflicting options: cannot attach both user-defined and "
                          "non-user-defined network-modes")
    return endpoints
