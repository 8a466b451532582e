"""ketchd's network settings: dockerd's flags and daemon.json keys, one or the other.

``load_config`` gathers ``-b/--bridge``, ``--bip``, ``--fixed-cidr``,
``--default-address-pool``, ``--iptables``, ``--ip-forward``, ``--ip-masq``,
``--icc``, ``--mtu`` and ``--ip`` (or their daemon.json keys, plus
``iptables-chain-prefix``) into ``network_settings``, refuses a key given both
ways as it does for every other directive, and refuses bad values before the
daemon touches the host.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ketch.daemon.config import DaemonConfig, build_parser, load_config
from ketch.errors import InvalidArgument
from ketch.networks.config import AddressPool, from_daemon_settings


def _load(tmp_path: Path, argv: list[str], file: dict[str, object] | None = None) -> DaemonConfig:
    config_file = tmp_path / "daemon.json"
    config_file.write_text(json.dumps(file or {}))
    args = build_parser().parse_args(["--config-file", str(config_file), *argv])
    return load_config(args)


def test_flags_become_network_settings(tmp_path: Path) -> None:
    config = _load(tmp_path, [
        "-b", "kbr0", "--bip", "10.44.0.1/24", "--fixed-cidr", "10.44.0.128/25",
        "--default-address-pool", "base=10.45.0.0/16,size=24",
        "--default-address-pool", "base=10.46.0.0/16,size=26", "--iptables=false",
        "--ip-forward=false", "--ip-masq", "--icc=0", "--mtu", "1400", "--ip", "127.0.0.1",
        "--exec-root", str(tmp_path / "exec")])
    settings = config.network_settings
    assert settings == {
        "bridge": "kbr0", "bip": "10.44.0.1/24", "fixed-cidr": "10.44.0.128/25",
        "default-address-pools": [{"base": "10.45.0.0/16", "size": 24},
                                  {"base": "10.46.0.0/16", "size": 26}],
        "iptables": False, "ip-forward": False, "ip-masq": True, "icc": False, "mtu": 1400,
        "ip": "127.0.0.1"}
    net = from_daemon_settings(tmp_path / "exec", settings)
    assert (net.bridge, net.bip, net.fixed_cidr, net.mtu, net.default_bind_ip) == (
        "kbr0", "10.44.0.1/24", "10.44.0.128/25", 1400, "127.0.0.1")
    assert net.default_address_pools == [AddressPool("10.45.0.0/16", 24),
                                         AddressPool("10.46.0.0/16", 26)]
    assert not net.iptables and not net.ip_forward and net.ip_masq and not net.icc
    assert net.netns_dir == tmp_path / "exec" / "netns"


def test_daemon_json_keys(tmp_path: Path) -> None:
    config = _load(tmp_path, [], {"bridge": "none", "iptables-chain-prefix": "KX1",
                                  "default-address-pools": [{"base": "10.47.0.0/16",
                                                             "size": 24}]})
    net = from_daemon_settings(Path("/run/x"), config.network_settings)
    assert net.bridge == "none" and net.chain_prefix == "KX1"
    assert _load(tmp_path, []).network_settings == {}


def test_flag_and_file_conflict(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument) as caught:
        _load(tmp_path, ["--bridge", "a"], {"bridge": "b"})
    assert "specified both as a flag and in the configuration file: bridge" in \
        caught.value.message


@pytest.mark.parametrize("argv, file, words", [
    (["--bip", "10.0.0.1"], {}, "missing prefix length"),
    (["--bip", "nonsense/8"], {}, "invalid bip"),
    (["--fixed-cidr", "10.0.0.0/33"], {}, "invalid network configuration"),
    ([], {"iptables-chain-prefix": "bad prefix!"}, "iptables-chain-prefix"),
    ([], {"default-address-pools": [{"base": "10.0.0.0/16", "size": 8}]}, "size 8"),
    ([], {"default-address-pools": [{"size": 24}]}, "invalid default address pool"),
    ([], {"ip": "not-an-ip"}, "invalid network configuration"),
])
def test_bad_values_are_refused(tmp_path: Path, argv: list[str], file: dict[str, object],
                                words: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        _load(tmp_path, argv, file)
    assert words in caught.value.message


def test_bad_flag_syntax_exits(tmp_path: Path) -> None:
    for argv in (["--iptables=maybe"], ["--default-address-pool", "base=10.0.0.0/8"],
                 ["--mtu", "big"]):
        with pytest.raises(SystemExit):
            _load(tmp_path, argv)
