"""The engine-managed /etc/hostname, /etc/hosts and /etc/resolv.conf of a container.

They live in the container's own directory on the host and are bind
mounted over the image's files, as Docker does; their contents follow
Docker's (libnetwork's) rules, checked against Docker 20.10's output:

* ``hostname``: the hostname and a newline.
* ``hosts``: Docker's fixed loopback and IPv6 block, then ``--add-host``
  entries, then one line per address of the container itself (FQDN and
  short name). With ``--network host`` and no extra hosts it is a copy of
  the host's /etc/hosts; with extra hosts, the fixed block plus them.
* ``resolv.conf``: without ``--dns*`` options, the host's file minus its
  loopback nameservers (useless in another network namespace), and if none
  is left, Google's public resolvers; with any ``--dns*`` option, a new
  file in which each of nameservers, search domains and options comes from
  the option or else from the host's file; with ``--network host`` and no
  option, a verbatim copy of the host's file.

Files are written in place (not renamed over), mode 0644, because the
container sees them through bind mounts of these very inodes: an update
(a network connected later) must change the inode it already has.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ketch.errors import InvalidArgument

FILE_MODE = 0o644
HOST_RESOLV_CONF = Path("/etc/resolv.conf")
#: Where systemd-resolved keeps the real upstream servers.
SYSTEMD_RESOLV_CONF = Path("/run/systemd/resolve/resolv.conf")
HOST_HOSTS = Path("/etc/hosts")
#: ``--add-host name:host-gateway``: the address the host is reached at (the
#: default bridge's gateway), filled in when the container starts
HOST_GATEWAY = "host-gateway"

#: The block every container's /etc/hosts starts with: (address, names).
DEFAULT_HOSTS: tuple[tuple[str, str], ...] = (
    ("127.0.0.1", "localhost"),
    ("::1", "localhost ip6-localhost ip6-loopback"),
    ("fe00::0", "ip6-localnet"),
    ("ff00::0", "ip6-mcastprefix"),
    ("ff02::1", "ip6-allnodes"),
    ("ff02::2", "ip6-allrouters"),
)

#: Used when the host names no nameserver a container can reach.
DEFAULT_NAMESERVERS: tuple[str, ...] = (
    "8.8.8.8", "8.8.4.4", "2001:4860:4860::8888", "2001:4860:4860::8844",
)

# A loopback nameserver line, with the blank space after it (up to the next
# line's first word): removing that much is what Docker does.
_LOOPBACK_NAMESERVER = re.compile(
    r"^nameserver[\t ]+(?:127(?:\.[0-9]{1,3}){3}|::1)(?=[\t\f\r ]|$)[\t\n\f\r ]*",
    re.MULTILINE,
)


@dataclass(frozen=True)
class EtcFiles:
    """Host paths of a container's three engine-managed files."""

    hostname: Path
    hosts: Path
    resolv_conf: Path


def parse_extra_host(text: str) -> tuple[str, str]:
    """``name:address`` (``--add-host``, ``HostConfig.ExtraHosts``) -> (name, address).

    The address may be IPv6 (``v6:fd00::5``). ``host-gateway`` must have
    been replaced by the caller, which knows the gateway.
    """
    name, sep, address = text.partition(":")
    if not sep or not name:
        raise InvalidArgument(f"invalid extra host {text!r}: expected name:address")
    try:
        ipaddress.ip_address(address.strip("[]"))
    except ValueError:
        raise InvalidArgument(f"invalid IP address in add-host: {address!r}") from None
    return name, address.strip("[]")


def hostname_content(hostname: str) -> bytes:
    return (hostname + "\n").encode()


def hosts_content(
    *,
    hostname: str,
    domainname: str = "",
    addresses: Sequence[str] = (),
    extra_hosts: Sequence[tuple[str, str]] = (),
    host_network: bool = False,
    host_hosts: bytes | None = None,
) -> bytes:
    """The container's /etc/hosts.

    *addresses* are the container's own (one line each, none with
    ``--network none``); *extra_hosts* are (name, address) pairs; with
    *host_network*, *host_hosts* is the host's file (read from /etc/hosts
    when None).
    """
    if host_network and not extra_hosts:
        return _read(HOST_HOSTS) if host_hosts is None else host_hosts
    fqdn = f"{hostname}.{domainname}" if domainname else hostname
    names = fqdn if "." not in fqdn else f"{fqdn} {fqdn.split('.', 1)[0]}"
    records = [*DEFAULT_HOSTS, *((ip, name) for name, ip in extra_hosts)]
    if not host_network:
        records += [(ip, names) for ip in addresses]
    return "".join(f"{ip}\t{name}\n" for ip, name in records).encode()


def host_resolv_conf_path() -> Path:
    """The host resolv.conf to start from: systemd-resolved's upstream file
    when /etc/resolv.conf only names its local stub (127.0.0.53)."""
    if nameservers(_read(HOST_RESOLV_CONF)) == ["127.0.0.53"]:
        return SYSTEMD_RESOLV_CONF
    return HOST_RESOLV_CONF


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return b""


def _lines(content: bytes) -> list[list[str]]:
    """Words of each line, comments (from ``#``) removed."""
    text = content.decode("utf-8", "replace")
    return [line.split("#", 1)[0].split() for line in text.split("\n")]


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text.split("%", 1)[0] if ":" in text else text)
    except ValueError:
        return False
    return True


def nameservers(content: bytes) -> list[str]:
    """Addresses of the ``nameserver`` lines (IPv4 or IPv6) of a resolv.conf."""
    return [
        words[1]
        for words in _lines(content)
        if len(words) == 2 and words[0] == "nameserver" and _is_address(words[1])
    ]


def _last_list(content: bytes, keyword: str) -> list[str]:
    """The words of the last *keyword* line (search, options): later lines win."""
    found: list[str] = []
    for words in _lines(content):
        if words and words[0] == keyword:
            found = words[1:]
    return found


def resolv_conf_content(
    host: bytes,
    *,
    dns: Sequence[str] = (),
    dns_search: Sequence[str] = (),
    dns_options: Sequence[str] = (),
    host_network: bool = False,
) -> bytes:
    """The container's /etc/resolv.conf from the host's (*host*) and ``--dns*``."""
    if dns or dns_search or dns_options:
        servers = list(dns) or nameservers(host)
        search = list(dns_search) or _last_list(host, "search")
        options = list(dns_options) or _last_list(host, "options")
        out = ""
        if search and " ".join(search).strip(" ") != ".":
            out += "search " + " ".join(search) + "\n"
        out += "".join(f"nameserver {ns}\n" for ns in servers)
        if options and " ".join(options).strip(" "):
            out += "options " + " ".join(options) + "\n"
        return out.encode()
    if host_network:
        return host
    text = _LOOPBACK_NAMESERVER.sub("", host.decode("utf-8", "surrogateescape"))
    if not nameservers(text.encode("utf-8", "surrogateescape")):
        # Docker appends them without a final newline; kept byte for byte.
        text += "\n" + "\n".join(f"nameserver {ns}" for ns in DEFAULT_NAMESERVERS)
    return text.encode("utf-8", "surrogateescape")


def write_file(path: Path, content: bytes) -> None:
    """Write *content* into *path* in place (keeping its inode), mode 0644."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC,
                 FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)
        view = memoryview(content)
        while view:
            view = view[os.write(fd, view):]
    finally:
        os.close(fd)


def write_etc_files(
    directory: Path,
    *,
    hostname: str,
    domainname: str = "",
    addresses: Sequence[str] = (),
    extra_hosts: Sequence[tuple[str, str]] = (),
    dns: Sequence[str] = (),
    dns_search: Sequence[str] = (),
    dns_options: Sequence[str] = (),
    host_network: bool = False,
    resolv_conf: bytes | None = None,
) -> EtcFiles:
    """Write the three files into *directory* (the container's own); their paths.

    The host's files are read now: a container sees the host's DNS
    configuration as it was when the container started, as with Docker.
    *resolv_conf*, when given, is written as it is (the embedded DNS's file of
    a container on a user-defined network).
    """
    directory.mkdir(parents=True, exist_ok=True)
    files = EtcFiles(directory / "hostname", directory / "hosts", directory / "resolv.conf")
    write_file(files.hostname, hostname_content(hostname))
    write_file(files.hosts, hosts_content(
        hostname=hostname, domainname=domainname, addresses=addresses,
        extra_hosts=extra_hosts, host_network=host_network,
    ))
    if resolv_conf is not None:
        write_file(files.resolv_conf, resolv_conf)
        return files
    host = _read(HOST_RESOLV_CONF if host_network else host_resolv_conf_path())
    write_file(files.resolv_conf, resolv_conf_content(
        host, dns=dns, dns_search=dns_search, dns_options=dns_options,
        host_network=host_network,
    ))
    return files
