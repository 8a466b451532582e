"""The embedded DNS server of user-defined networks, at 127.0.0.11:53.

Each sandbox with an endpoint on a user-defined network gets its own UDP and
TCP sockets bound to 127.0.0.11:53 *inside* its namespace: a short-lived
thread enters the namespace, creates and binds them, and leaves; the sockets
stay in the namespace they were created in and are served by the daemon's
asyncio loop. Knowing which socket a query came in on tells which container
asks, so each container sees only the names of the networks it is on.

Answers: container names, aliases and short IDs of the networks the asker
shares (A records; an empty answer for AAAA when there is no IPv6 address);
other names are forwarded from the host's namespace to the host's resolvers
(loopback ones included: the daemon can reach them, as Docker 26+ does) and
the upstream's answer is relayed; NXDOMAIN when nothing can answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import struct
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import cast

from ketch.networks import dnsmsg
from ketch.networks.netns import in_netns

log = logging.getLogger(__name__)

ADDRESS = "127.0.0.11"
PORT = 53
UPSTREAM_TIMEOUT = 2.0

#: (name, qtype) -> addresses, or None when the name is not a container's
Lookup = Callable[[str, int], list[str] | None]


def parse_upstream(text: str) -> tuple[str, int]:
    """``1.2.3.4``, ``1.2.3.4:5353``, ``::1`` or ``[::1]:5353``."""
    if text.startswith("["):
        host, _, port = text[1:].partition("]:")
        return host.rstrip("]"), int(port or PORT)
    if text.count(":") == 1:
        host, _, port = text.partition(":")
        return host, int(port)
    return text, PORT


def upstreams_from_resolv_conf(path: Path) -> list[str]:
    try:
        text = path.read_text()
    except OSError:
        return []
    out: list[str] = []
    for line in text.splitlines():
        words = line.split()
        if len(words) >= 2 and words[0] == "nameserver":
            out.append(words[1])
    return out


async def _forward_udp(query: bytes, upstream: tuple[str, int]) -> bytes:
    loop = asyncio.get_running_loop()
    family = socket.AF_INET6 if ":" in upstream[0] else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    sock.setblocking(False)
    try:
        await loop.sock_connect(sock, upstream)
        await loop.sock_sendall(sock, query)
        return await asyncio.wait_for(loop.sock_recv(sock, 65535), UPSTREAM_TIMEOUT)
    finally:
        sock.close()


async def _forward_tcp(query: bytes, upstream: tuple[str, int]) -> bytes:
    reader, writer = await asyncio.wait_for(
        asyncio.open_connection(upstream[0], upstream[1]), UPSTREAM_TIMEOUT)
    try:
        writer.write(struct.pack("!H", len(query)) + query)
        await writer.drain()
        size = struct.unpack("!H", await asyncio.wait_for(reader.readexactly(2),
                                                          UPSTREAM_TIMEOUT))[0]
        return await asyncio.wait_for(reader.readexactly(size), UPSTREAM_TIMEOUT)
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


class Resolver:
    """Answers queries for one sandbox."""

    def __init__(self, lookup: Lookup, upstreams: Callable[[], Sequence[str]]) -> None:
        self.lookup = lookup
        self.upstreams = upstreams

    async def answer(self, query: bytes, tcp: bool = False) -> bytes:
        try:
            q = dnsmsg.parse_query(query)
        except dnsmsg.DNSFormatError:
            return dnsmsg.error(query, dnsmsg.RCODE_FORMERR)
        if q.qclass == dnsmsg.CLASS_IN and q.qtype in (dnsmsg.TYPE_A, dnsmsg.TYPE_AAAA):
            found = self.lookup(q.name, q.qtype)
            if found is not None:
                return dnsmsg.response(query, q, found)
        for text in self.upstreams():
            try:
                upstream = parse_upstream(text)
                reply = await _forward_udp(query, upstream)
                if tcp and len(reply) > 2 and reply[2] & 0x02:  # truncated: retry over TCP
                    reply = await _forward_tcp(query, upstream)
                return reply
            except (OSError, TimeoutError, ValueError, asyncio.IncompleteReadError) as exc:
                log.debug("DNS upstream %s failed for %s: %s", text, q.name, exc)
        return dnsmsg.response(query, q, [], dnsmsg.RCODE_NXDOMAIN)


class _UDPProtocol(asyncio.DatagramProtocol):
    def __init__(self, resolver: Resolver) -> None:
        self.resolver = resolver
        self.transport: asyncio.DatagramTransport | None = None
        self.tasks: set[asyncio.Task[None]] = set()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        task = asyncio.ensure_future(self._reply(data, addr))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _reply(self, data: bytes, addr: tuple[str, int]) -> None:
        reply = await self.resolver.answer(data)
        if self.transport is not None and not self.transport.is_closing():
            self.transport.sendto(reply, addr)


def _bind_sockets(address: str, port: int) -> tuple[socket.socket, socket.socket]:
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        for sock in (udp, tcp):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((address, port))
            sock.setblocking(False)
        tcp.listen(64)
    except BaseException:
        udp.close()
        tcp.close()
        raise
    return udp, tcp


class SandboxDNS:
    """The UDP and TCP servers of one sandbox."""

    def __init__(self, sandbox: str, resolver: Resolver) -> None:
        self.sandbox = sandbox
        self.resolver = resolver
        self._udp: asyncio.DatagramTransport | None = None
        self._tcp: asyncio.Server | None = None
        self._protocol: _UDPProtocol | None = None

    async def start(self, address: str = ADDRESS, port: int = PORT) -> None:
        udp, tcp = await asyncio.to_thread(
            in_netns, self.sandbox, lambda: _bind_sockets(address, port))
        loop = asyncio.get_running_loop()
        try:
            transport, protocol = await loop.create_datagram_endpoint(
                lambda: _UDPProtocol(self.resolver), sock=udp)
            self._udp, self._protocol = transport, protocol
            self._tcp = await asyncio.start_server(self._serve_tcp, sock=tcp)
        except BaseException:
            udp.close()
            tcp.close()
            raise

    async def _serve_tcp(self, reader: asyncio.StreamReader,
                         writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                size = struct.unpack("!H", await reader.readexactly(2))[0]
                query = await reader.readexactly(size)
                reply = await self.resolver.answer(query, tcp=True)
                writer.write(struct.pack("!H", len(reply)) + reply)
                await writer.drain()
        except (asyncio.IncompleteReadError, OSError):
            pass
        finally:
            writer.close()

    async def close(self) -> None:
        if self._udp is not None:
            self._udp.close()
            self._udp = None
        if self._protocol is not None:
            for task in list(self._protocol.tasks):
                task.cancel()
        if self._tcp is not None:
            self._tcp.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._tcp.wait_closed(), 1.0)
            self._tcp = None
