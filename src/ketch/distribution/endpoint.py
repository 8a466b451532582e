"""Which registry host a reference lives on, and whether it may be spoken to
over plain HTTP.

Docker's rules: ``docker.io`` is served by ``registry-1.docker.io``; a
registry on a loopback address or listed in ``insecure-registries`` may be
reached over plain HTTP (HTTPS is still tried first); everything else is
HTTPS only.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from ketch.oci.reference import DEFAULT_DOMAIN, Reference

DOCKER_HUB_HOST = "registry-1.docker.io"
#: What ``docker login`` without a server sends as ``serveraddress``.
DOCKER_HUB_INDEX = "https://index.docker.io/v1/"


@dataclass(frozen=True)
class Endpoint:
    """A registry to talk to: ``host[:port]`` and whether HTTP is allowed."""

    host: str
    insecure: bool
    #: a fixed scheme (a mirror given as a URL); empty: HTTPS, HTTP if insecure
    scheme: str = ""

    def base(self, scheme: str) -> str:
        return f"{scheme}://{self.host}"


def host_of(domain: str) -> str:
    """The host serving a reference domain (``docker.io`` is an alias)."""
    return DOCKER_HUB_HOST if domain in (DEFAULT_DOMAIN, "index.docker.io") else domain


def is_loopback(host: str) -> bool:
    name = host
    if name.startswith("["):
        name = name[1:name.find("]")]
    elif name.count(":") == 1:
        name = name.split(":", 1)[0]
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _matches(host: str, entry: str) -> bool:
    entry = entry.removeprefix("http://").removeprefix("https://").rstrip("/")
    if "/" in entry:  # a CIDR
        name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
        try:
            return ipaddress.ip_address(name.strip("[]")) in ipaddress.ip_network(
                entry, strict=False)
        except ValueError:
            return False
    return host == entry


def endpoint_for_domain(domain: str, insecure_registries: list[str]) -> Endpoint:
    host = host_of(domain)
    insecure = is_loopback(host) or any(
        _matches(host, entry) or _matches(domain, entry) for entry in insecure_registries)
    return Endpoint(host, insecure)


def endpoint_for(ref: Reference, insecure_registries: list[str]) -> Endpoint:
    return endpoint_for_domain(ref.domain, insecure_registries)


def login_domain(server_address: str) -> str:
    """The domain ``docker login SERVER`` means (empty or the Hub index: docker.io)."""
    address = server_address.strip()
    if not address or address.rstrip("/") == DOCKER_HUB_INDEX.rstrip("/"):
        return DEFAULT_DOMAIN
    address = address.removeprefix("https://").removeprefix("http://")
    host = address.split("/", 1)[0]
    return DEFAULT_DOMAIN if host in ("index.docker.io", DOCKER_HUB_HOST) else host


def mirror_endpoint(url: str) -> Endpoint:
    """A ``registry-mirrors`` entry: the URL's scheme is the one used."""
    scheme, sep, rest = url.strip().partition("://")
    if not sep:
        scheme, rest = "https", url.strip()
    host = rest.split("/", 1)[0]
    return Endpoint(host, insecure=scheme == "http", scheme=scheme.lower())
