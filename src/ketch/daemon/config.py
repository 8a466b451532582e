"""Daemon configuration: command-line flags merged with ``daemon.json``.

As in Docker, a directive given both as a flag and in the file is an error
(rather than one silently winning), and unknown keys in the file are errors.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ketch.build.scratch import DEFAULT_SIZE as DEFAULT_SCRATCH_SIZE
from ketch.errors import InvalidArgument
from ketch.networks.config import DAEMON_KEYS as NETWORK_KEYS
from ketch.networks.config import from_daemon_settings
from ketch.sizes import ram_in_bytes

DEFAULT_SOCKET = "unix:///run/ketch.sock"
DEFAULT_CONFIG_FILE = Path("/etc/ketch/daemon.json")
LOG_LEVELS = ("debug", "info", "warn", "error", "fatal")


@dataclass
class DaemonConfig:
    hosts: list[str] = field(default_factory=lambda: [DEFAULT_SOCKET])
    data_root: Path = Path("/var/lib/ketch")
    exec_root: Path = Path("/run/ketch")
    pidfile: Path = Path("/run/ketchd.pid")
    log_level: str = "info"
    debug: bool = False
    insecure_registries: list[str] = field(default_factory=list)
    registry_mirrors: list[str] = field(default_factory=list)
    max_concurrent_downloads: int = 3
    max_concurrent_uploads: int = 5
    #: cap of the tmpfs for build contexts (0: none, contexts go to the data root)
    build_scratch_size: int = DEFAULT_SCRATCH_SIZE
    #: the network service's daemon.json keys as given (bridge, bip, fixed-cidr,
    #: default-address-pools, iptables, ip-forward, ip-masq, icc, mtu, ip,
    #: iptables-chain-prefix): ``ketch.networks.config.from_daemon_settings`` reads them
    network_settings: dict[str, Any] = field(default_factory=dict)


# daemon.json key -> (attribute, converter)
_FILE_KEYS: dict[str, tuple[str, Any]] = {
    "hosts": ("hosts", lambda v: [str(x) for x in v]),
    "data-root": ("data_root", Path),
    "exec-root": ("exec_root", Path),
    "pidfile": ("pidfile", Path),
    "log-level": ("log_level", str),
    "debug": ("debug", bool),
    "insecure-registries": ("insecure_registries", lambda v: [str(x) for x in v]),
    "registry-mirrors": ("registry_mirrors", lambda v: [str(x) for x in v]),
    "max-concurrent-downloads": ("max_concurrent_downloads", int),
    "max-concurrent-uploads": ("max_concurrent_uploads", int),
    "build-scratch-size": ("build_scratch_size", lambda v: _size(str(v))),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ketchd", description="ketch daemon: a Docker-compatible container engine")
    parser.add_argument("-H", "--host", dest="hosts", action="append",
                        help=f"daemon socket to listen on (default {DEFAULT_SOCKET})")
    parser.add_argument("--data-root", help="root of persistent state (default /var/lib/ketch)")
    parser.add_argument("--exec-root", help="root of runtime state (default /run/ketch)")
    parser.add_argument("-p", "--pidfile", help="path of the pid file (default /run/ketchd.pid)")
    parser.add_argument("-l", "--log-level", choices=LOG_LEVELS, help="log level (default info)")
    parser.add_argument("-D", "--debug", action="store_true", default=None,
                        help="enable debug mode")
    parser.add_argument("--config-file", default=str(DEFAULT_CONFIG_FILE),
                        help=f"daemon configuration file (default {DEFAULT_CONFIG_FILE})")
    parser.add_argument("--insecure-registry", dest="insecure_registries", action="append",
                        help="registry (host[:port] or CIDR) reached over plain HTTP")
    parser.add_argument("--registry-mirror", dest="registry_mirrors", action="append",
                        help="mirror URL tried first for Docker Hub pulls")
    parser.add_argument("--max-concurrent-downloads", type=int,
                        help="layers downloaded in parallel per pull (default 3)")
    parser.add_argument("--max-concurrent-uploads", type=int,
                        help="layers uploaded in parallel per push (default 5)")
    parser.add_argument("--build-scratch-size",
                        help="cap of the tmpfs build contexts are unpacked in, e.g. 512m "
                             "(default 1g; 0: unpack them in the data root)")
    _add_network_flags(parser)
    parser.add_argument("-v", "--version", action="store_true", help="print version and exit")
    return parser


def _size(text: str) -> int:
    try:
        return ram_in_bytes(text)
    except ValueError as exc:
        raise InvalidArgument(f"invalid build-scratch-size: {exc}") from None


def _go_bool(text: str) -> bool:
    """Go's strconv.ParseBool, for ``--iptables=false`` and its kind."""
    lowered = text.strip().lower()
    if lowered in ("1", "t", "true"):
        return True
    if lowered in ("0", "f", "false"):
        return False
    raise argparse.ArgumentTypeError(f"invalid boolean value {text!r}")


def _address_pool(text: str) -> dict[str, Any]:
    """``--default-address-pool base=10.10.0.0/16,size=24`` as the daemon.json entry."""
    fields: dict[str, str] = {}
    for part in text.split(","):
        key, eq, value = part.partition("=")
        if not eq or key.strip() not in ("base", "size"):
            raise argparse.ArgumentTypeError(f"invalid field {part!r} must be base or size")
        fields[key.strip()] = value.strip()
    if "base" not in fields or "size" not in fields:
        raise argparse.ArgumentTypeError(f"{text!r}: base and size are required")
    try:
        return {"base": fields["base"], "size": int(fields["size"])}
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid size in {text!r}") from None


#: dockerd's network flags: daemon.json key -> argparse destination
_NETWORK_FLAGS = {
    "bridge": "bridge", "bip": "bip", "fixed-cidr": "fixed_cidr",
    "default-address-pools": "default_address_pools", "iptables": "iptables",
    "ip-forward": "ip_forward", "ip-masq": "ip_masq", "icc": "icc", "mtu": "mtu", "ip": "ip",
}


def _add_network_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-b", "--bridge",
                        help='the default bridge network\'s device (default ketch0; "none": '
                             "no default bridge)")
    parser.add_argument("--bip", help="the default bridge's address with prefix length")
    parser.add_argument("--fixed-cidr", help="where default-bridge containers get addresses")
    parser.add_argument("--default-address-pool", dest="default_address_pools",
                        action="append", type=_address_pool,
                        help="default address pools for new networks (base=CIDR,size=N)")
    for name, text in (("iptables", "program iptables rules"),
                       ("ip-forward", "enable net.ipv4.ip_forward"),
                       ("ip-masq", "masquerade traffic leaving the default bridge"),
                       ("icc", "traffic between containers of the default bridge")):
        parser.add_argument(f"--{name}", dest=name.replace("-", "_"), nargs="?",
                            const=True, type=_go_bool, help=f"{text} (default true)")
    parser.add_argument("--mtu", type=int, help="MTU of the default bridge's containers")
    parser.add_argument("--ip", help="default host address of published ports (0.0.0.0)")


def load_config(args: argparse.Namespace) -> DaemonConfig:
    config = DaemonConfig()
    from_file = _read_file(Path(args.config_file))
    flags = {
        "hosts": args.hosts, "data-root": args.data_root, "exec-root": args.exec_root,
        "pidfile": args.pidfile, "log-level": args.log_level, "debug": args.debug,
        "insecure-registries": args.insecure_registries,
        "registry-mirrors": args.registry_mirrors,
        "max-concurrent-downloads": args.max_concurrent_downloads,
        "max-concurrent-uploads": args.max_concurrent_uploads,
        "build-scratch-size": args.build_scratch_size,
        **{key: getattr(args, dest) for key, dest in _NETWORK_FLAGS.items()},
    }
    clashes = [f"{key}: (from flag: {flags[key]}, from file: {from_file[key]})"
               for key in from_file if flags.get(key) is not None]
    if clashes:
        raise InvalidArgument(
            f"unable to configure the daemon with file {args.config_file}: the following "
            f"directives are specified both as a flag and in the configuration file: "
            + ", ".join(clashes))
    for key, (attribute, convert) in _FILE_KEYS.items():
        value = flags[key] if flags[key] is not None else from_file.get(key)
        if value is not None:
            setattr(config, attribute, convert(value))
    for key in NETWORK_KEYS:
        value = flags.get(key) if flags.get(key) is not None else from_file.get(key)
        if value is not None:
            config.network_settings[key] = value
    if config.debug:
        config.log_level = "debug"
    for name in ("max_concurrent_downloads", "max_concurrent_uploads"):
        if getattr(config, name) < 1:
            raise InvalidArgument(f"invalid {name.replace('_', '-')}: must be at least 1")
    if config.log_level not in LOG_LEVELS:
        raise InvalidArgument(f"invalid log level: {config.log_level!r}")
    config.data_root = config.data_root.absolute()
    config.exec_root = config.exec_root.absolute()
    try:
        from_daemon_settings(config.exec_root, config.network_settings)
    except (ValueError, TypeError) as exc:
        raise InvalidArgument(f"invalid network configuration: {exc}") from None
    return config


def _read_file(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise InvalidArgument(f"unable to read configuration file {path}: {exc}") from None
    try:
        data = json.loads(text) if text.strip() else {}
    except ValueError as exc:
        raise InvalidArgument(f"invalid configuration file {path}: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidArgument(f"invalid configuration file {path}: expected a JSON object")
    unknown = sorted(k for k in data if k not in _FILE_KEYS and k not in NETWORK_KEYS)
    if unknown:
        raise InvalidArgument(
            f"invalid configuration file {path}: the following directives don't match any "
            f"configuration option: {', '.join(unknown)}")
    return data
