"""/etc/hostname, /etc/hosts and /etc/resolv.conf: Docker's files, byte for byte.

``data/docker-specs/etc_*.json`` (and the other captures) hold the three
files Docker 20.10 wrote for a container, with the host resolv.conf and
hosts it saw (dockerd ran with our own files bound over the host's).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from ketch.containers.etcfiles import (
    hostname_content,
    hosts_content,
    nameservers,
    parse_extra_host,
    resolv_conf_content,
    write_etc_files,
    write_file,
)
from ketch.errors import InvalidArgument

DATA = Path(__file__).parent / "data" / "docker-specs"

#: variant -> keyword arguments of hosts_content/resolv_conf_content
ETC_INPUTS: dict[str, dict[str, Any]] = {
    "etc_default": {},
    "etc_localhost_only": {},
    "etc_dns": {"dns": ["1.1.1.1", "9.9.9.9"], "dns_search": ["x.example"],
                "dns_options": ["ndots:3"]},
    "etc_dns_search_only": {"dns_search": ["x.example"]},
    "etc_dns_search_dot": {"dns_search": ["."]},
    "etc_add_host": {"extra_hosts": [("db", "10.0.0.5"), ("v6", "fd00::5")],
                     "domainname": "example.com"},
    "etc_host_network": {"host_network": True},
    "etc_host_network_extra": {"host_network": True, "extra_hosts": [("db", "10.0.0.5")]},
    "etc_host_network_dns": {"host_network": True, "dns": ["1.1.1.1"]},
}


def _record(name: str) -> dict[str, Any]:
    record: dict[str, Any] = json.loads((DATA / f"{name}.json").read_text())
    return record


def test_every_etc_capture_has_inputs() -> None:
    assert {p.stem for p in DATA.glob("etc_*.json")} == set(ETC_INPUTS)


@pytest.mark.parametrize("variant", sorted(ETC_INPUTS))
def test_files_match_docker(variant: str) -> None:
    record = _record(variant)
    files = record["etc_files"]
    kw = ETC_INPUTS[variant]
    hostname = files["hostname"]["content"].rstrip("\n")
    assert hostname_content(hostname).decode() == files["hostname"]["content"]
    hosts = hosts_content(
        hostname=hostname, domainname=kw.get("domainname", ""),
        extra_hosts=kw.get("extra_hosts", ()), host_network=kw.get("host_network", False),
        host_hosts=record["host_hosts"].encode(),
    )
    assert hosts.decode() == files["hosts"]["content"]
    resolv = resolv_conf_content(
        record["host_resolv_conf"].encode(), dns=kw.get("dns", ()),
        dns_search=kw.get("dns_search", ()), dns_options=kw.get("dns_options", ()),
        host_network=kw.get("host_network", False),
    )
    assert resolv.decode() == files["resolv.conf"]["content"]
    assert {f["mode"] for f in files.values()} == {"0o644"}


def test_own_address_lines() -> None:
    hosts = hosts_content(hostname="web", addresses=["172.17.0.2"]).decode().splitlines()
    assert hosts[-1] == "172.17.0.2\tweb"
    hosts = hosts_content(hostname="web", domainname="example.com", addresses=["10.0.0.2"],
                          extra_hosts=[("db", "10.0.0.5")]).decode().splitlines()
    assert hosts[-2:] == ["10.0.0.5\tdb", "10.0.0.2\tweb.example.com web"]
    fqdn = hosts_content(hostname="a.b.c", addresses=["10.0.0.3"]).decode().splitlines()
    assert fqdn[-1] == "10.0.0.3\ta.b.c a"


def test_resolv_conf_rules() -> None:
    host = b"nameserver 127.0.0.53\nnameserver 192.168.1.1 # router\nsearch a b\nsearch c\n"
    assert nameservers(host) == ["127.0.0.53", "192.168.1.1"]
    out = resolv_conf_content(host)
    assert out == b"nameserver 192.168.1.1 # router\nsearch a b\nsearch c\n"
    # the last search/options line wins when rebuilding
    assert resolv_conf_content(host, dns_options=["rotate"]) == (
        b"search c\nnameserver 127.0.0.53\nnameserver 192.168.1.1\noptions rotate\n")
    assert resolv_conf_content(b"") == (
        b"\nnameserver 8.8.8.8\nnameserver 8.8.4.4\n"
        b"nameserver 2001:4860:4860::8888\nnameserver 2001:4860:4860::8844")
    # 127.0.0.100 is loopback too; 1270.0.0.1 is not an address at all
    assert b"127.0.0.100" not in resolv_conf_content(b"nameserver 127.0.0.100\n")


def test_extra_host_parsing() -> None:
    assert parse_extra_host("db:10.0.0.5") == ("db", "10.0.0.5")
    assert parse_extra_host("v6:fd00::5") == ("v6", "fd00::5")
    assert parse_extra_host("v6:[fd00::5]") == ("v6", "fd00::5")
    for bad in ("db", ":1.2.3.4", "db:999.1.1.1", "db:host-gateway"):
        with pytest.raises(InvalidArgument):
            parse_extra_host(bad)


def test_write_etc_files_modes_and_inode(tmp_path: Path) -> None:
    os.umask(0o077)
    try:
        files = write_etc_files(tmp_path / "c1", hostname="web", extra_hosts=[("db", "1.2.3.4")])
    finally:
        os.umask(0o022)
    for path in (files.hostname, files.hosts, files.resolv_conf):
        assert path.stat().st_mode & 0o777 == 0o644
    assert files.hostname.read_text() == "web\n"
    assert files.hosts.read_text().endswith("1.2.3.4\tdb\n")
    inode = files.hosts.stat().st_ino
    write_file(files.hosts, b"changed\n")
    assert files.hosts.stat().st_ino == inode
    assert files.hosts.read_bytes() == b"changed\n"
