"""Network commands: network create, ls, inspect, rm, prune, connect, disconnect.

Flags, messages and output follow the Docker CLI 28: ``ls`` prints the
``NETWORK ID / NAME / DRIVER / SCOPE`` table sorted by name (natural order),
``create`` prints the new ID (and the daemon's warning on stderr), ``rm``
prints each removed name and reports failures after trying them all.
"""

from __future__ import annotations

from ketch.cli.containeropts import kv_map
from ketch.cli.env import Env
from ketch.cli.flags import CommandSpec, Flag, Parsed, UsageError
from ketch.cli.goprint import TemplateObject
from ketch.cli.objectcmds import (
    filter_flag,
    filters_of,
    inspect_objects,
    inspect_spec,
    natural_sorted,
    print_pruned,
    prune_confirmed,
    prune_spec,
)
from ketch.errors import KetchError, NotFound

TYPE_CHECKING = False  # typing is not imported at run time: it costs startup time
if TYPE_CHECKING:
    from typing import Any

    from ketch.cli.objectcmds import Schema
    from ketch.client.networks import NetworksAPI

NETWORK_HEADERS = {
    "ID": "NETWORK ID", "Name": "NAME", "Driver": "DRIVER", "Scope": "SCOPE",
    "IPv4": "IPV4", "IPv6": "IPV6", "Internal": "INTERNAL", "Labels": "LABELS",
    "CreatedAt": "CREATED AT",
}
_DEFAULT_TABLE = "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}"
_FORMAT_HELP = (
    "Format output using a custom template:\n"
    "'table':            Print output in table format with column headers (default)\n"
    "'table TEMPLATE':   Print output in table format using the given Go template\n"
    "'json':             Print in JSON format\n"
    "'TEMPLATE':         Print output using the given Go template.\n"
    "Refer to https://docs.docker.com/go/formatting/ for more information about "
    "formatting output with templates")
_INSPECT_FORMAT_HELP = (
    "Format output using a custom template:\n"
    "'json':             Print in JSON format\n"
    "'TEMPLATE':         Print output using the given Go template.\n"
    "Refer to https://docs.docker.com/go/formatting/ for more information about "
    "formatting output with templates")


def _api(env: Env) -> NetworksAPI:
    from ketch.client.networks import NetworksAPI

    return NetworksAPI(env.client)


def _strings(values: list[str]) -> list[str]:
    """pflag's ``strings``: each value may hold several, comma-separated."""
    return [v.strip() for value in values for v in value.split(",") if v.strip()]


class NetworkContext(TemplateObject):
    GO_TYPE = "*formatter.networkContext"
    FIELDS = ("ID", "Name", "Driver", "Scope", "IPv4", "IPv6", "Internal", "Labels", "Label",
              "CreatedAt")

    def __init__(self, network: dict[str, Any], trunc: bool) -> None:
        self.n = network
        self.trunc = trunc

    def ID(self) -> str:
        ident = str(self.n.get("Id") or "")
        return ident[:12] if self.trunc else ident

    def Name(self) -> str:
        return str(self.n.get("Name") or "")

    def Driver(self) -> str:
        return str(self.n.get("Driver") or "")

    def Scope(self) -> str:
        return str(self.n.get("Scope") or "")

    def IPv4(self) -> str:
        return "true" if self.n.get("EnableIPv4", True) else "false"

    def IPv6(self) -> str:
        return "true" if self.n.get("EnableIPv6") else "false"

    def Internal(self) -> str:
        return "true" if self.n.get("Internal") else "false"

    def Labels(self) -> str:
        return ",".join(f"{k}={v}" for k, v in (self.n.get("Labels") or {}).items())

    def Label(self, name: str) -> str:
        return str((self.n.get("Labels") or {}).get(name, ""))

    Label.takes_args = True  # type: ignore[attr-defined]

    def CreatedAt(self) -> str:
        from ketch.cli import units
        from ketch.timeutil import parse_rfc3339_ns

        try:
            ns = parse_rfc3339_ns(str(self.n.get("Created") or ""))
        except KetchError:
            return "0001-01-01 00:00:00 +0000 UTC"
        return units.go_time_string(ns // 1_000_000_000, ns % 1_000_000_000)


# --- network create ------------------------------------------------------------------


def spec_network_create(path: str) -> CommandSpec:
    return CommandSpec(
        path, "create [OPTIONS] NETWORK", "Create a network",
        flags=[
            Flag("attachable", "Enable manual container attachment"),
            Flag("aux-address", "Auxiliary IPv4 or IPv6 addresses used by Network driver "
                 "(default map[])", kind="list", typename="map"),
            Flag("config-from", "The network from which to copy the configuration",
                 kind="string"),
            Flag("config-only", "Create a configuration only network"),
            Flag("driver", "Driver to manage the Network", short="d", kind="string",
                 default="bridge"),
            Flag("gateway", "IPv4 or IPv6 Gateway for the master subnet", kind="list",
                 typename="strings"),
            Flag("ingress", "Create swarm routing-mesh network"),
            Flag("internal", "Restrict external access to the network"),
            Flag("ip-range", "Allocate container ip from a sub-range", kind="list",
                 typename="strings"),
            Flag("ipam-driver", "IP Address Management Driver", kind="string",
                 default="default"),
            Flag("ipam-opt", "Set IPAM driver specific options (default map[])", kind="list",
                 typename="map"),
            Flag("ipv4", "Enable or disable IPv4 address assignment", default=True),
            Flag("ipv6", "Enable or disable IPv6 address assignment"),
            Flag("label", "Set metadata on a network", kind="list", typename="list"),
            Flag("opt", "Set driver specific options (default map[])", short="o", kind="list",
                 typename="map"),
            Flag("scope", "Control the network's scope", kind="string"),
            Flag("subnet", "Subnet in CIDR format that represents a network segment",
                 kind="list", typename="strings"),
        ],
        min_args=1, max_args=1,
    )


def _ipam_configs(subnets: list[str], ranges: list[str], gateways: list[str],
                  aux: dict[str, str]) -> list[dict[str, Any]]:
    """Docker CLI's ``consolidateIpam``: pair each range, gateway and auxiliary
    address with the subnet that contains it."""
    import ipaddress

    if (ranges or gateways or aux) and not subnets:
        raise UsageError("every ip-range or gateway must have a corresponding subnet")
    configs: list[dict[str, Any]] = []
    nets = []
    for s in subnets:
        try:
            nets.append(ipaddress.ip_network(s, strict=False))
        except ValueError:
            raise UsageError(f"invalid CIDR address: {s}") from None
        configs.append({"Subnet": s})
    for i, a in enumerate(nets):
        for b in nets[i + 1:]:
            if a.version == b.version and a.overlaps(b):
                raise UsageError("multiple overlapping subnet configuration is not allowed")

    def owner(text: str, what: str) -> dict[str, Any]:
        try:
            addr = ipaddress.ip_network(text, strict=False)
        except ValueError:
            raise UsageError(f"invalid {what}: {text}") from None
        for net, cfg in zip(nets, configs, strict=True):
            if addr.version == net.version and addr.subnet_of(net):  # type: ignore[arg-type]
                return cfg
        raise UsageError(f"no matching subnet for {what} {text}")

    for values, key, what, preposition in ((ranges, "IPRange", "range", "on"),
                                           (gateways, "Gateway", "gateway", "for")):
        for value in values:
            cfg = owner(value, what)
            if key in cfg:
                raise UsageError(f"cannot configure multiple {what}s ({value}, {cfg[key]}) "
                                 f"{preposition} the same subnet ({cfg['Subnet']})")
            cfg[key] = value
    for key, value in aux.items():
        owner(value, "aux-address").setdefault("AuxiliaryAddresses", {})[key] = value
    return configs


def run_network_create(env: Env, p: Parsed) -> int:
    ipam = {"Driver": p["ipam_driver"],
            "Config": _ipam_configs(_strings(p["subnet"]), _strings(p["ip_range"]),
                                    _strings(p["gateway"]), kv_map(p["aux_address"])),
            "Options": kv_map(p["ipam_opt"])}
    body: dict[str, Any] = {
        "Name": p.args[0], "Driver": p["driver"], "Scope": p["scope"],
        "IPAM": ipam, "Internal": p["internal"], "Attachable": p["attachable"],
        "Ingress": p["ingress"], "ConfigOnly": p["config_only"],
        "Options": kv_map(p["opt"]), "Labels": kv_map(p["label"]),
    }
    if p["config_from"]:
        body["ConfigFrom"] = {"Network": p["config_from"]}
    if "ipv4" in p.changed:
        body["EnableIPv4"] = p["ipv4"]
    if "ipv6" in p.changed:
        body["EnableIPv6"] = p["ipv6"]
    result = _api(env).create(body)
    if result.get("Warning"):
        env.err(f"WARNING: {result['Warning']}\n")
    env.out(f"{result.get('Id', '')}\n")
    return 0


# --- network ls ------------------------------------------------------------------------


def spec_network_ls(path: str) -> CommandSpec:
    return CommandSpec(
        path, "ls [OPTIONS]", "List networks",
        flags=[
            filter_flag('Provide filter values (e.g. "driver=bridge")'),
            Flag("format", _FORMAT_HELP, kind="string"),
            Flag("no-trunc", "Do not truncate the output"),
            Flag("quiet", "Only display network IDs", short="q"),
        ],
        max_args=0, aliases="ketch network ls, ketch network list",
    )


def network_format(source: str, quiet: bool) -> str:
    """Docker's ``NewNetworkFormat``."""
    if source in ("", "table"):
        return "{{.ID}}" if quiet else _DEFAULT_TABLE
    if source == "raw":
        return "network_id: {{.ID}}\n" if quiet else \
            "network_id: {{.ID}}\nname: {{.Name}}\ndriver: {{.Driver}}\nscope: {{.Scope}}\n"
    return source


def run_network_ls(env: Env, p: Parsed) -> int:
    from ketch.cli.formatter import render_rows

    networks = natural_sorted(_api(env).list(filters_of(p["filter"])))
    rows = [NetworkContext(n, trunc=not p["no_trunc"]) for n in networks]
    env.out(render_rows(network_format(p["format"], p["quiet"]), rows, NETWORK_HEADERS))
    return 0


# --- network inspect -----------------------------------------------------------------


def spec_network_inspect(path: str) -> CommandSpec:
    return inspect_spec(path, "network", [
        Flag("verbose", "Verbose output for diagnostics", short="v")],
        format_help=_INSPECT_FORMAT_HELP)


#: Docker 28's ``network.Inspect`` for ``inspect --format`` (see ``ketch.cli.typedview``).
_IPAM_CONFIG = [("Subnet", "Subnet", "s", True), ("IPRange", "IPRange", "s", True),
                ("Gateway", "Gateway", "s", True),
                ("AuxAddress", "AuxiliaryAddresses", "map", True)]
_ENDPOINT_RESOURCE = [("Name", "Name", "s", False), ("EndpointID", "EndpointID", "s", False),
                      ("MacAddress", "MacAddress", "s", False),
                      ("IPv4Address", "IPv4Address", "s", False),
                      ("IPv6Address", "IPv6Address", "s", False)]
NETWORK_INSPECT: list[Any] = [
    ("Name", "Name", "s", False), ("ID", "Id", "s", False), ("Created", "Created", "time", False),
    ("Scope", "Scope", "s", False), ("Driver", "Driver", "s", False),
    ("EnableIPv4", "EnableIPv4", "b", False), ("EnableIPv6", "EnableIPv6", "b", False),
    ("IPAM", "IPAM", ("struct", "network.IPAM", [
        ("Driver", "Driver", "s", False), ("Options", "Options", "map", False),
        ("Config", "Config", ("list", "network.IPAMConfig", _IPAM_CONFIG), False)]), False),
    ("Internal", "Internal", "b", False), ("Attachable", "Attachable", "b", False),
    ("Ingress", "Ingress", "b", False),
    ("ConfigFrom", "ConfigFrom", ("struct", "network.ConfigReference",
                                  [("Network", "Network", "s", False)]), False),
    ("ConfigOnly", "ConfigOnly", "b", False),
    ("Containers", "Containers", ("map", "network.EndpointResource", _ENDPOINT_RESOURCE),
     False),
    ("Options", "Options", "map", False), ("Labels", "Labels", "map", False),
    ("Peers", "Peers", "ptr", True), ("Services", "Services", "ptr", True),
]


def run_network_inspect(env: Env, p: Parsed) -> int:
    api = _api(env)

    def fetch(ref: str) -> tuple[bytes, Schema | None]:
        return api.inspect_raw(ref, verbose=p["verbose"]), (NETWORK_INSPECT, "network.Inspect")

    return inspect_objects(env, p.args, p["format"], fetch)


# --- network rm ------------------------------------------------------------------------


def spec_network_rm(path: str) -> CommandSpec:
    return CommandSpec(
        path, "rm NETWORK [NETWORK...]", "Remove one or more networks",
        flags=[Flag("force", "Do not error if the network does not exist", short="f")],
        min_args=1, aliases="ketch network rm, ketch network remove",
    )


def run_network_rm(env: Env, p: Parsed) -> int:
    from ketch.cli.messages import daemon_error_text

    api = _api(env)
    status = 0
    for name in p.args:
        try:
            api.remove(name)
        except KetchError as exc:
            if p["force"] and isinstance(exc, NotFound):
                continue
            env.stdout.flush()
            env.err(daemon_error_text(exc) + "\n")
            status = 1
            continue
        env.out(f"{name}\n")
    if status:
        env.err(f"exit status {status}\n")  # docker's StatusError text
    return status


# --- network prune ---------------------------------------------------------------------


def spec_network_prune(path: str) -> CommandSpec:
    return prune_spec(path, "Remove all unused networks", "until=<timestamp>")


_PRUNE_WARNING = ("WARNING! This will remove all custom networks not used by at least one "
                  "container.\nAre you sure you want to continue?")


def run_network_prune(env: Env, p: Parsed) -> int:
    if not prune_confirmed(env, p, _PRUNE_WARNING):
        return 0
    report = _api(env).prune(filters_of(p["filter"]))
    print_pruned(env, "Networks", list(report.get("NetworksDeleted") or []), None)
    return 0


# --- network connect / disconnect ---------------------------------------------------------


def spec_network_connect(path: str) -> CommandSpec:
    return CommandSpec(
        path, "connect [OPTIONS] NETWORK CONTAINER", "Connect a container to a network",
        flags=[
            Flag("alias", "Add network-scoped alias for the container", kind="list",
                 typename="strings"),
            Flag("driver-opt", "driver options for the network", kind="list",
                 typename="strings"),
            Flag("gw-priority", "Highest gw-priority provides the default gateway. Accepts "
                 "positive and negative values.", kind="int"),
            Flag("ip", 'IPv4 address (e.g., "172.30.100.104")', kind="string"),
            Flag("ip6", 'IPv6 address (e.g., "2001:db8::33")', kind="string"),
            Flag("link", "Add link to another container", kind="list", typename="list"),
            Flag("link-local-ip", "Add a link-local address for the container", kind="list",
                 typename="strings"),
        ],
        min_args=2, max_args=2,
    )


def run_network_connect(env: Env, p: Parsed) -> int:
    network, container = p.args
    ipam: dict[str, Any] = {}
    if p["ip"]:
        ipam["IPv4Address"] = p["ip"]
    if p["ip6"]:
        ipam["IPv6Address"] = p["ip6"]
    if p["link_local_ip"]:
        ipam["LinkLocalIPs"] = _strings(p["link_local_ip"])
    config: dict[str, Any] = {
        "IPAMConfig": ipam or None, "Links": p["link"] or None,
        "Aliases": _strings(p["alias"]) or None,
        "DriverOpts": kv_map(_strings(p["driver_opt"])) or None,
        "GwPriority": p["gw_priority"],
    }
    _api(env).connect(network, container, config)
    return 0


def spec_network_disconnect(path: str) -> CommandSpec:
    return CommandSpec(
        path, "disconnect [OPTIONS] NETWORK CONTAINER", "Disconnect a container from a network",
        flags=[Flag("force", "Force the container to disconnect from a network", short="f")],
        min_args=2, max_args=2,
    )


def run_network_disconnect(env: Env, p: Parsed) -> int:
    network, container = p.args
    _api(env).disconnect(network, container, force=p["force"])
    return 0
