"""Published ports: which host port each mapping gets, and holding it.

ketch runs no userland proxy, so nothing would otherwise stop another program
from taking a published host port after the NAT rule is in place. Each
published port is therefore reserved by a socket bound to it (not listening:
DNAT rewrites the packets before they could reach it), exactly as a bind
tells whether the port is free in the first place. A port held by another
ketch endpoint gets Docker's "port is already allocated" error, a port held by
another program the bind error itself.
"""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ketch.errors import Conflict, InvalidArgument
from ketch.networks.model import PortMapping

PROTOCOLS = ("tcp", "udp", "sctp")


@dataclass(frozen=True)
class PortRequest:
    """``-p [host_ip:][host_port[-end]]:container_port[/proto]`` for one container port.

    ``host_port`` 0 means any free port; a range ``host_port..host_port_end``
    means the first free one of it.
    """

    container_port: int
    proto: str = "tcp"
    host_ip: str = ""
    host_port: int = 0
    host_port_end: int = 0


def _port(text: str, what: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise InvalidArgument(f"invalid {what}: {text}") from None
    if not 0 <= value <= 65535:
        raise InvalidArgument(f"invalid {what}: {text}")
    return value


def _range(text: str, what: str) -> tuple[int, int]:
    if not text:
        return 0, 0
    start, sep, end = text.partition("-")
    low = _port(start, what)
    high = _port(end, what) if sep else low
    if high < low:
        raise InvalidArgument(f"invalid {what}: {text}")
    return low, high


def requests_from_bindings(port_bindings: dict[str, Any] | None) -> list[PortRequest]:
    """``HostConfig.PortBindings`` (``{"80/tcp": [{"HostIp": "", "HostPort": "8080"}]}``)."""
    out: list[PortRequest] = []
    for key, bindings in (port_bindings or {}).items():
        port_text, _, proto = key.partition("/")
        proto = (proto or "tcp").lower()
        if proto not in PROTOCOLS:
            raise InvalidArgument(f"invalid proto: {proto}")
        cport = _port(port_text, "containerPort")
        for binding in bindings or [{}]:
            host_ip = str((binding or {}).get("HostIp") or "")
            if host_ip:
                try:
                    ipaddress.ip_address(host_ip)
                except ValueError:
                    raise InvalidArgument(f"invalid host IP address: {host_ip}") from None
            low, high = _range(str((binding or {}).get("HostPort") or ""), "hostPort")
            out.append(PortRequest(cport, proto, host_ip, low, high if high != low else 0))
    return out


class PortReservations:
    """Host ports held by this daemon: one bound socket per published port."""

    def __init__(self) -> None:
        self._held: dict[PortMapping, socket.socket] = {}

    def held(self, mapping: PortMapping) -> bool:
        return mapping in self._held

    def _conflicts(self, host_ip: str, port: int, proto: str) -> bool:
        for m in self._held:
            if m.proto == proto and m.host_port == port and (
                    m.host_ip == host_ip or "0.0.0.0" in (m.host_ip, host_ip)):
                return True
        return False

    @staticmethod
    def _bind(host_ip: str, port: int, proto: str) -> socket.socket:
        family = socket.AF_INET6 if ":" in host_ip else socket.AF_INET
        kind = socket.SOCK_DGRAM if proto == "udp" else socket.SOCK_STREAM
        sock_proto = socket.IPPROTO_SCTP if proto == "sctp" else 0
        sock = socket.socket(family, kind, sock_proto)
        try:
            sock.set_inheritable(False)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind((host_ip, port))
        except BaseException:
            sock.close()
            raise
        return sock

    def reserve(self, request: PortRequest, host_ip: str) -> PortMapping:
        """Bind the requested host port (or a free one) and keep it."""
        if request.host_port == 0:
            candidates: list[int] = [0]
        else:
            candidates = list(range(request.host_port,
                                    (request.host_port_end or request.host_port) + 1))
        last: OSError | None = None
        for port in candidates:
            if port and self._conflicts(host_ip, port, request.proto):
                if len(candidates) == 1:
                    raise Conflict(f"Bind for {host_ip}:{port} failed: port is already "
                                   "allocated")
                continue
            try:
                sock = self._bind(host_ip, port, request.proto)
            except OSError as exc:
                last = exc
                continue
            actual = sock.getsockname()[1]
            mapping = PortMapping(request.proto, request.container_port, host_ip, actual)
            self._held[mapping] = sock
            return mapping
        if len(candidates) > 1:
            raise Conflict(f"Bind for {host_ip}:{request.host_port}-{request.host_port_end} "
                           "failed: port is already allocated")
        port = candidates[0]
        reason = (last.strerror or str(last)).lower() if last else "unknown error"
        if last is not None and last.errno == errno.EADDRINUSE:
            reason = "address already in use"
        raise Conflict(f"failed to bind host port {host_ip}:{port}/{request.proto}: {reason}")

    def readopt(self, mapping: PortMapping) -> None:
        """Hold a mapping again after a daemon restart (best effort)."""
        if mapping in self._held:
            return
        # If someone took it meanwhile, the NAT rule still wins for remote traffic.
        with contextlib.suppress(OSError):
            self._held[mapping] = self._bind(mapping.host_ip, mapping.host_port, mapping.proto)

    def release(self, mapping: PortMapping) -> None:
        sock = self._held.pop(mapping, None)
        if sock is not None:
            sock.close()

    def release_all(self) -> None:
        for mapping in list(self._held):
            self.release(mapping)


def port_map(mappings: list[PortMapping], exposed: Sequence[str] = ()) -> dict[str, Any]:
    """``NetworkSettings.Ports``: ``{"80/tcp": [{"HostIp": ..., "HostPort": ...}]}``,
    with ``null`` for exposed ports that are not published."""
    out: dict[str, Any] = {key: None for key in exposed}
    for m in mappings:
        out.setdefault(f"{m.container_port}/{m.proto}", None)
        entries = out[f"{m.container_port}/{m.proto}"] or []
        entries.append({"HostIp": m.host_ip, "HostPort": str(m.host_port)})
        out[f"{m.container_port}/{m.proto}"] = entries
    return out


def port_summaries(mappings: list[PortMapping]) -> list[dict[str, Any]]:
    """The ``Ports`` of ``GET /containers/json``."""
    return [{"IP": m.host_ip, "PrivatePort": m.container_port, "PublicPort": m.host_port,
             "Type": m.proto} for m in mappings]
