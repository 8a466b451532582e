"""The options of ``run`` and ``create``, and the create request they make.

The Docker CLI turns about a hundred flags into the three parts of a
``POST /containers/create`` body (``Config``, ``HostConfig``,
``NetworkingConfig``), checking some values on the client with messages
scripts rely on. This module declares the flags with docker's names, kinds
and help, and builds the body the way docker's ``parse()`` does, field for
field and in its order, so a daemon sees the same request from either CLI.

Flags of docker's that ketch does not support yet are still declared (so the
command line parses as docker's does) but hidden, and refused with a clear
message when used.
"""

from __future__ import annotations

import os

from ketch.cli.flags import Flag
from ketch.sizes import ram_in_bytes

TYPE_CHECKING = False  # typing is not imported at run time: it costs startup time
if TYPE_CHECKING:
    from typing import Any

    from ketch.cli.flags import Parsed


class OptionError(Exception):
    """A value docker's ``parse()`` rejects; the message is docker's."""


# --- value checks run while flags are parsed (pflag's Set) ----------------------------

_WHITESPACE = " \t"


def validate_attach(value: str) -> str:
    stream = value.lower()
    if stream in ("stdin", "stdout", "stderr"):
        return stream
    raise ValueError("valid streams are STDIN, STDOUT and STDERR")


def validate_env(value: str) -> str:
    """Docker's ``ValidateEnv``: ``NAME`` alone takes its value from our environment."""
    key, eq, _ = value.partition("=")
    if not key:
        raise ValueError(f"invalid environment variable: {value}")
    if eq:
        return value
    found = os.environ.get(key)
    return f"{key}={found}" if found is not None else value


def validate_label(value: str) -> str:
    key = value.partition("=")[0].lstrip(_WHITESPACE)
    if not key:
        raise ValueError(f"invalid label '{value}': empty name")
    if any(c in key for c in _WHITESPACE):
        raise ValueError(f"label '{key}' contains whitespaces")
    return value


def mem_swap_bytes(value: str) -> int:
    return -1 if value == "-1" else ram_in_bytes(value)


def nano_cpus(value: str) -> int:
    """Docker's ``ParseCPUs``: a rational number of CPUs, in billionths."""
    from fractions import Fraction

    try:
        cpus = Fraction(value)
    except (ValueError, ZeroDivisionError):
        raise ValueError(f"failed to parse {value} as a rational number") from None
    nano = cpus * 1_000_000_000
    if nano.denominator != 1:
        raise ValueError("value is too precise")
    return int(nano)


def validate_network(value: str) -> dict[str, Any]:
    """``--network NAME`` or the advanced ``name=NAME,alias=A,ip=...`` form."""
    from ketch.cli.netopts import network_option

    return network_option(value)


def validate_dns(value: str) -> str:
    from ketch.cli.netopts import validate_ip

    return validate_ip(value)


def validate_dns_search(value: str) -> str:
    from ketch.cli.netopts import validate_dns_search as check

    return check(value)


def validate_extra_host(value: str) -> str:
    from ketch.cli.netopts import validate_extra_host as check

    return check(value)


#: What an empty flag value is kept as (the flag parser drops "" from lists).
_EMPTY = "\x00"


def keep_empty(value: str) -> str:
    """``-v ""`` is docker's "invalid empty volume spec", an empty ``--tmpfs`` or
    ``--volumes-from`` goes to the daemon: keep empty values until build()."""
    return value or _EMPTY


def _values(p: Parsed, name: str) -> list[str]:
    return ["" if v == _EMPTY else v for v in p[name]]


def parse_mount(value: str) -> dict[str, Any]:
    """``--mount type=...,src=...,dst=...`` as the ``HostConfig.Mounts`` entry docker sends."""
    from ketch.cli.mountopts import parse_mount as parse

    return parse(value)


# --- the flags ------------------------------------------------------------------------


def container_flags() -> list[Flag]:
    """docker's ``addFlags``: the container options shared by ``run`` and ``create``."""
    flags = [
        Flag("attach", "Attach to STDIN, STDOUT or STDERR", short="a", kind="list",
             typename="list", convert=validate_attach),
        Flag("cap-add", "Add Linux capabilities", kind="list", typename="list"),
        Flag("cap-drop", "Drop Linux capabilities", kind="list", typename="list"),
        Flag("cgroupns", "Cgroup namespace to use (host|private)", kind="string"),
        Flag("cidfile", "Write the container ID to the file", kind="string"),
        Flag("cpu-shares", "CPU shares (relative weight)", short="c", kind="int"),
        Flag("cpus", "Number of CPUs", kind="string", typename="decimal", convert=nano_cpus),
        Flag("cpuset-cpus", "CPUs in which to allow execution (0-3, 0,1)", kind="string"),
        Flag("cpuset-mems", "MEMs in which to allow execution (0-3, 0,1)", kind="string"),
        Flag("add-host", "Add a custom host-to-IP mapping (host:ip)", kind="list",
             typename="list", convert=validate_extra_host),
        Flag("dns", "Set custom DNS servers", kind="list", typename="list",
             convert=validate_dns),
        Flag("dns-option", "Set DNS options", kind="list", typename="list"),
        Flag("dns-opt", "Set DNS options", kind="list", typename="list", hidden=True),
        Flag("dns-search", "Set custom DNS search domains", kind="list", typename="list",
             convert=validate_dns_search),
        Flag("domainname", "Container NIS domain name", kind="string"),
        Flag("entrypoint", "Overwrite the default ENTRYPOINT of the image", kind="string"),
        Flag("env", "Set environment variables", short="e", kind="list", typename="list",
             convert=validate_env),
        Flag("env-file", "Read in a file of environment variables", kind="list",
             typename="list"),
        Flag("expose", "Expose a port or a range of ports", kind="list", typename="list"),
        Flag("group-add", "Add additional groups to join", kind="list", typename="list"),
        Flag("hostname", "Container host name", short="h", kind="string"),
        Flag("init", "Run an init inside the container that forwards signals and reaps "
             "processes"),
        Flag("interactive", "Keep STDIN open even if not attached", short="i"),
        Flag("ip", "IPv4 address (e.g., 172.30.100.104)", kind="string"),
        Flag("ip6", "IPv6 address (e.g., 2001:db8::33)", kind="string"),
        Flag("ipc", "IPC mode to use", kind="string"),
        Flag("label", "Set meta data on a container", short="l", kind="list", typename="list",
             convert=validate_label),
        Flag("label-file", "Read in a line delimited file of labels", kind="list",
             typename="list"),
        Flag("log-driver", "Logging driver for the container", kind="string"),
        Flag("log-opt", "Log driver options", kind="list", typename="list"),
        Flag("mac-address", "Container MAC address (e.g., 92:d0:c6:0a:29:33)", kind="string"),
        Flag("memory", "Memory limit", short="m", kind="string", typename="bytes",
             convert=ram_in_bytes),
        Flag("memory-reservation", "Memory soft limit", kind="string", typename="bytes",
             convert=ram_in_bytes),
        Flag("memory-swap", "Swap limit equal to memory plus swap: '-1' to enable unlimited "
             "swap", kind="string", typename="bytes", convert=mem_swap_bytes),
        Flag("mount", "Attach a filesystem mount to the container", kind="list",
             typename="mount", convert=parse_mount),
        Flag("net", "Connect a container to a network", kind="list", typename="network",
             convert=validate_network, hidden=True),
        Flag("net-alias", "Add network-scoped alias for the container", kind="list",
             typename="list", hidden=True),
        Flag("network", "Connect a container to a network", kind="list", typename="network",
             convert=validate_network),
        Flag("network-alias", "Add network-scoped alias for the container", kind="list",
             typename="list"),
        Flag("oom-score-adj", "Tune host's OOM preferences (-1000 to 1000)", kind="int"),
        Flag("pid", "PID namespace to use", kind="string"),
        Flag("pids-limit", "Tune container pids limit (set -1 for unlimited)", kind="int"),
        Flag("privileged", "Give extended privileges to this container"),
        Flag("publish", "Publish a container's port(s) to the host", short="p", kind="list",
             typename="list"),
        Flag("publish-all", "Publish all exposed ports to random ports", short="P"),
        Flag("read-only", "Mount the container's root filesystem as read only"),
        Flag("restart", "Restart policy to apply when a container exits", kind="string",
             default="no"),
        Flag("rm", "Automatically remove the container and its associated anonymous volumes "
             "when it exits"),
        Flag("runtime", "Runtime to use for this container", kind="string"),
        Flag("shm-size", "Size of /dev/shm", kind="string", typename="bytes",
             convert=ram_in_bytes),
        Flag("stop-signal", "Signal to stop the container", kind="string"),
        Flag("stop-timeout", "Timeout (in seconds) to stop a container", kind="int"),
        Flag("tmpfs", "Mount a tmpfs directory", kind="list", typename="list",
             convert=keep_empty),
        Flag("tty", "Allocate a pseudo-TTY", short="t"),
        Flag("user", "Username or UID (format: <name|uid>[:<group|gid>])", short="u",
             kind="string"),
        Flag("userns", "User namespace to use", kind="string"),
        Flag("uts", "UTS namespace to use", kind="string"),
        Flag("volume", "Bind mount a volume", short="v", kind="list", typename="list",
             convert=keep_empty),
        Flag("volume-driver", "Optional volume driver for the container", kind="string"),
        Flag("volumes-from", "Mount volumes from the specified container(s)", kind="list",
             typename="list", convert=keep_empty),
        Flag("workdir", "Working directory inside the container", short="w", kind="string"),
    ]
    flags += [Flag(long, "(not supported yet)", short=short, kind=kind, hidden=True)
              for long, short, kind in UNSUPPORTED]
    return flags


#: docker's other container flags: parsed (so command lines split as docker splits
#: them) but refused. (name, shorthand, kind)
UNSUPPORTED: tuple[tuple[str, str, str], ...] = (
    ("annotation", "", "list"), ("blkio-weight", "", "string"),
    ("blkio-weight-device", "", "list"), ("cgroup-parent", "", "string"),
    ("cpu-count", "", "string"), ("cpu-percent", "", "string"), ("cpu-period", "", "string"),
    ("cpu-quota", "", "string"), ("cpu-rt-period", "", "string"),
    ("cpu-rt-runtime", "", "string"), ("device", "", "list"),
    ("device-cgroup-rule", "", "list"), ("device-read-bps", "", "list"),
    ("device-read-iops", "", "list"), ("device-write-bps", "", "list"),
    ("device-write-iops", "", "list"), ("gpus", "", "string"),
    ("health-cmd", "", "string"), ("health-interval", "", "string"),
    ("health-retries", "", "string"), ("health-start-interval", "", "string"),
    ("health-start-period", "", "string"), ("health-timeout", "", "string"),
    ("io-maxbandwidth", "", "string"), ("io-maxiops", "", "string"),
    ("isolation", "", "string"), ("kernel-memory", "", "string"),
    ("link", "", "list"), ("link-local-ip", "", "list"),
    ("memory-swappiness", "", "string"),
    ("no-healthcheck", "", "bool"), ("oom-kill-disable", "", "bool"),
    ("security-opt", "", "list"), ("storage-opt", "", "list"), ("sysctl", "", "list"),
    ("ulimit", "", "list"), ("use-api-socket", "", "bool"),
    ("disable-content-trust", "", "bool"),
)


def unsupported_used(p: Parsed) -> str:
    """The first docker flag given that ketch does not support yet ("" if none)."""
    for long, _, _ in UNSUPPORTED:
        if long.replace("-", "_") in p.changed:
            return long
    return ""


# --- building the request ---------------------------------------------------------------


class ContainerConfig:
    """The three parts of a create request, as JSON-ready dicts."""

    def __init__(self, config: dict[str, Any], host_config: dict[str, Any],
                 networking_config: dict[str, Any]) -> None:
        self.config = config
        self.host_config = host_config
        self.networking_config = networking_config

    def body(self) -> dict[str, Any]:
        """The ``POST /containers/create`` body: Config with the other two inside."""
        doc = dict(self.config)
        doc["HostConfig"] = self.host_config
        doc["NetworkingConfig"] = self.networking_config
        return doc

    @property
    def attach_stdin(self) -> bool:
        return bool(self.config["AttachStdin"])

    @property
    def attach_stdout(self) -> bool:
        return bool(self.config["AttachStdout"])

    @property
    def attach_stderr(self) -> bool:
        return bool(self.config["AttachStderr"])

    @property
    def tty(self) -> bool:
        return bool(self.config["Tty"])

    @property
    def auto_remove(self) -> bool:
        return bool(self.host_config["AutoRemove"])


def read_kv_file(path: str, lookup: bool) -> list[str]:
    """docker's ``kvfile.Parse`` (``--env-file``, ``--label-file``)."""
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        raise OptionError(f"open {path}: {(exc.strerror or str(exc)).lower()}") from None
    lines: list[str] = []
    for number, raw in enumerate(data.split(b"\n"), start=1):
        if raw.endswith(b"\r"):
            raw = raw[:-1]
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            go_bytes = "[" + " ".join(str(b) for b in raw) + "]"
            raise OptionError(f"invalid env file ({path}): invalid utf8 bytes at line "
                              f"{number}: {go_bytes}") from None
        if number == 1:
            text = text.removeprefix("\ufeff")
        line = text.lstrip()
        if not line or line.startswith("#"):
            continue
        key, eq, _ = line.partition("=")
        if not key:
            raise OptionError(f"invalid env file ({path}): no variable name on line '{line}'")
        if any(c in key for c in _WHITESPACE):
            raise OptionError(f"invalid env file ({path}): variable '{key}' contains "
                              "whitespaces")
        if eq:
            lines.append(line)
        elif lookup and line in os.environ:
            lines.append(f"{key}={os.environ[line]}")
    return lines


def kv_map(values: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for value in values:
        key, _, val = value.partition("=")
        out[key] = val
    return out


def dedup_env(values: list[str]) -> list[str]:
    """Docker passes ``-e`` values through a map (one entry per name, the last one
    wins) and lists them in Go's random map order; ketch keeps the given order."""
    last: dict[str, str] = {}
    for value in values:
        last[value.partition("=")[0]] = value
    return list(last.values())


def parse_restart_policy(policy: str) -> dict[str, Any]:
    if not policy:
        return {"Name": "", "MaximumRetryCount": 0}
    name, colon, count = policy.partition(":")
    if colon and not name:
        raise OptionError("invalid restart policy format: no policy provided before colon")
    retries = 0
    if count:
        try:
            retries = int(count)
        except ValueError:
            raise OptionError("invalid restart policy format: maximum retry count must be "
                              "an integer") from None
    return {"Name": name, "MaximumRetryCount": retries}


def normalize_caps(caps: list[str]) -> list[str] | None:
    """The Go client's ``normalizeCapabilities``: upper case, ``CAP_`` prefix, sorted,
    duplicates dropped; ``None`` (JSON null) when empty."""
    out: set[str] = set()
    for cap in caps:
        name = cap.upper()
        if name != "ALL" and not name.startswith("CAP_"):
            name = "CAP_" + name
        out.add(name)
    return sorted(out) or None


def _valid_container_mode(value: str) -> bool:
    kind, colon, rest = value.partition(":")
    return kind == "container" and bool(colon) and bool(rest)


def build(p: Parsed, image: str, args: list[str],
          console_size: tuple[int, int] = (0, 0)) -> ContainerConfig:
    """docker's ``parse()``: flags and arguments into the create request, or OptionError."""
    from ketch.cli import netopts

    if p["mac_address"] and not netopts.valid_mac(p["mac_address"]):
        raise OptionError(f"{p['mac_address']} is not a valid mac address")
    attach = set(p["attach"])
    attach_stdin = "stdin" in attach or p["interactive"]
    attach_stdout = "stdout" in attach or not attach
    attach_stderr = "stderr" in attach or not attach

    from ketch.cli.mountopts import split_tmpfs, split_volumes

    binds, volumes = split_volumes(_values(p, "volume"))
    tmpfs = split_tmpfs(_values(p, "tmpfs"))

    entrypoint: list[str] | None = None
    if p["entrypoint"]:
        entrypoint = [p["entrypoint"]]
    elif "entrypoint" in p.changed:
        entrypoint = [""]  # --entrypoint= resets the image's entrypoint

    try:
        exposed, port_bindings = netopts.parse_port_specs(list(p["publish"]))
        netopts.add_exposed(exposed, list(p["expose"]))
    except netopts.NetOptError as exc:
        raise OptionError(str(exc)) from None

    env_files: list[str] = []
    for path in p["env_file"]:
        env_files += read_kv_file(path, lookup=True)
    env = env_files + dedup_env(list(p["env"]))
    labels: list[str] = []
    for path in p["label_file"]:
        labels += read_kv_file(path, lookup=False)
    labels += p["label"]

    if p["pid"] and p["pid"] != "host" and not _valid_container_mode(p["pid"]):
        raise OptionError("--pid: invalid PID mode")
    if p["uts"] not in ("", "host"):
        raise OptionError("--uts: invalid UTS mode")
    if p["userns"] not in ("", "host"):
        raise OptionError("--userns: invalid USER mode")
    if p["cgroupns"] not in ("", "host", "private"):
        raise OptionError("--cgroupns: invalid CGROUP mode")
    restart = parse_restart_policy(p["restart"])
    log_opts = kv_map(p["log_opt"])
    if p["log_driver"] == "none" and p["log_opt"]:
        raise OptionError(f"invalid logging opts for driver {p['log_driver']}")

    config: dict[str, Any] = {
        "Hostname": p["hostname"],
        "Domainname": p["domainname"],
        "User": p["user"],
        "AttachStdin": attach_stdin,
        "AttachStdout": attach_stdout,
        "AttachStderr": attach_stderr,
        "Tty": p["tty"],
        **({"ExposedPorts": exposed} if exposed else {}),
        "OpenStdin": p["interactive"],
        "StdinOnce": bool(p["interactive"] and attach_stdin),
        "Env": env or None,
        "Cmd": list(args) or None,
        "Image": image,
        "Volumes": volumes,
        "WorkingDir": p["workdir"],
        "Entrypoint": entrypoint,
        "OnBuild": None,
        "Labels": kv_map(labels),
    }
    if p["stop_signal"]:
        config["StopSignal"] = p["stop_signal"]
    if "stop_timeout" in p.changed:
        config["StopTimeout"] = p["stop_timeout"]

    if p["rm"] and restart["Name"] not in ("", "no"):
        raise OptionError("conflicting options: cannot specify both --restart and --rm")

    attachments = list(p["network"]) + list(p["net"])
    network_mode = attachments[0]["Target"] if attachments else "default"
    host_config: dict[str, Any] = {
        "Binds": binds,
        "ContainerIDFile": p["cidfile"],
        "LogConfig": {"Type": p["log_driver"], "Config": log_opts},
        "NetworkMode": network_mode,
        "PortBindings": port_bindings,
        "RestartPolicy": restart,
        "AutoRemove": p["rm"],
        "VolumeDriver": p["volume_driver"],
        "VolumesFrom": _values(p, "volumes_from") or None,
        "ConsoleSize": [console_size[0], console_size[1]],
        "CapAdd": normalize_caps(p["cap_add"]),
        "CapDrop": normalize_caps(p["cap_drop"]),
        "CgroupnsMode": p["cgroupns"],
        "Dns": list(p["dns"]),
        "DnsOptions": list(p["dns_option"]) + list(p["dns_opt"]),
        "DnsSearch": list(p["dns_search"]),
        "ExtraHosts": list(p["add_host"]) or None,
        "GroupAdd": list(p["group_add"]) or None,
        "IpcMode": p["ipc"],
        "Cgroup": "",
        "Links": None,
        "OomScoreAdj": p["oom_score_adj"],
        "PidMode": p["pid"],
        "Privileged": p["privileged"],
        "PublishAllPorts": p["publish_all"],
        "ReadonlyRootfs": p["read_only"],
        "SecurityOpt": None,
        **({"Tmpfs": tmpfs} if tmpfs else {}),
        "UTSMode": p["uts"],
        "UsernsMode": p["userns"],
        "ShmSize": p["shm_size"] or 0,
    }
    if p["runtime"]:
        host_config["Runtime"] = p["runtime"]
    host_config.update({
        "Isolation": "",
        "CpuShares": p["cpu_shares"],
        "Memory": p["memory"] or 0,
        "NanoCpus": p["cpus"] or 0,
        "CgroupParent": "",
        "BlkioWeight": 0,
        "BlkioWeightDevice": [],
        "BlkioDeviceReadBps": [],
        "BlkioDeviceWriteBps": [],
        "BlkioDeviceReadIOps": [],
        "BlkioDeviceWriteIOps": [],
        "CpuPeriod": 0,
        "CpuQuota": 0,
        "CpuRealtimePeriod": 0,
        "CpuRealtimeRuntime": 0,
        "CpusetCpus": p["cpuset_cpus"],
        "CpusetMems": p["cpuset_mems"],
        "Devices": [],
        "DeviceCgroupRules": None,
        "DeviceRequests": None,
        "MemoryReservation": p["memory_reservation"] or 0,
        "MemorySwap": p["memory_swap"] or 0,
        "MemorySwappiness": -1,
        "OomKillDisable": False,
        "PidsLimit": p["pids_limit"],
        "Ulimits": [],
        "CpuCount": 0,
        "CpuPercent": 0,
        "IOMaximumIOps": 0,
        "IOMaximumBandwidth": 0,
    })
    if p["mount"]:
        host_config["Mounts"] = list(p["mount"])
    host_config.update({
        "MaskedPaths": None,
        "ReadonlyPaths": None,
    })
    if "init" in p.changed:
        host_config["Init"] = p["init"]

    try:
        endpoints = netopts.endpoints_config(
            attachments, list(p["network_alias"]) + list(p["net_alias"]), p["ip"], p["ip6"],
            p["mac_address"])
    except netopts.NetOptError as exc:
        raise OptionError(str(exc)) from None
    # The container-wide Config.MacAddress docker fills from the main endpoint is
    # cleared again by its client for API 1.44 and later, which ketch requires.
    return ContainerConfig(config, host_config, {"EndpointsConfig": endpoints})
