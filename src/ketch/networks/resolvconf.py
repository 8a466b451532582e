"""What a container on a user-defined network gets as /etc/resolv.conf.

Docker points such containers at the embedded server (``nameserver
127.0.0.11``) with ``options ndots:0`` (unless the user set ndots), keeps
the host's (or ``--dns-search``) search domains and other options, and lets
the embedded server forward everything else to the servers the container
would otherwise have used (``--dns`` or the host's): ``external_servers``.
On the default bridge, and with ``--network host``/``none``, the file is the
one ``ketch.containers.etcfiles`` builds.
"""

from __future__ import annotations

from collections.abc import Sequence

from ketch.networks.dns import ADDRESS


def _words(content: bytes, keyword: str) -> list[str]:
    found: list[str] = []
    for line in content.decode("utf-8", "replace").splitlines():
        words = line.split("#", 1)[0].split()
        if words and words[0] == keyword:
            found = words[1:]
    return found


def _nameservers(content: bytes) -> list[str]:
    out: list[str] = []
    for line in content.decode("utf-8", "replace").splitlines():
        words = line.split()
        if len(words) >= 2 and words[0] == "nameserver":
            out.append(words[1])
    return out


def external_servers(host: bytes, dns: Sequence[str] = ()) -> list[str]:
    """The servers the embedded DNS forwards to for this container."""
    return list(dns) or _nameservers(host)


def embedded_resolv_conf(host: bytes, *, dns_search: Sequence[str] = (),
                         dns_options: Sequence[str] = ()) -> bytes:
    """``nameserver 127.0.0.11`` plus search domains and options, Docker's way."""
    search = list(dns_search) or _words(host, "search")
    options = list(dns_options) or _words(host, "options")
    if not any(o.startswith("ndots:") for o in options):
        options.append("ndots:0")
    out = ""
    if search and " ".join(search).strip() != ".":
        out += "search " + " ".join(search) + "\n"
    out += f"nameserver {ADDRESS}\n"
    out += "options " + " ".join(options) + "\n"
    return out.encode()
