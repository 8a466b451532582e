"""Connection hijack for attach and exec: after the HTTP response head, the
socket carries the process's raw stdio in both directions.

aiohttp only hands over connections for WebSocket upgrades, so the raw
socket is taken over by swapping in a protocol of our own on the transport
once the head is written. Docker clients send nothing after the request
head until they have read the response head, so no stdin byte is lost in
the swap.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiohttp import web

MULTIPLEXED = "application/vnd.docker.multiplexed-stream"
RAW = "application/vnd.docker.raw-stream"
STDIN, STDOUT, STDERR, SYSTEM_ERROR = 0, 1, 2, 3


def frame(stream: int, data: bytes) -> bytes:
    """Docker's stdcopy framing: [stream, 0, 0, 0, uint32 big-endian length] + data."""
    return struct.pack(">BxxxL", stream, len(data)) + data


class _RawProtocol(asyncio.Protocol):
    def __init__(self, reader: asyncio.StreamReader) -> None:
        self._reader = reader
        self._can_write = asyncio.Event()
        self._can_write.set()
        self.closed = asyncio.Event()

    def data_received(self, data: bytes) -> None:
        self._reader.feed_data(data)

    def eof_received(self) -> bool:
        self._reader.feed_eof()
        return True  # half-close: the client may still read our output

    def connection_lost(self, exc: Exception | None) -> None:
        self._reader.feed_eof()
        self._can_write.set()
        self.closed.set()

    def pause_writing(self) -> None:
        self._can_write.clear()

    def resume_writing(self) -> None:
        self._can_write.set()

    async def drain(self) -> None:
        await self._can_write.wait()


class HijackedStream:
    def __init__(self, reader: asyncio.StreamReader, transport: asyncio.Transport,
                 protocol: _RawProtocol) -> None:
        self.reader = reader
        self._transport = transport
        self._protocol = protocol

    @property
    def closed(self) -> bool:
        return self._transport.is_closing()

    async def write(self, data: bytes) -> None:
        if not data or self._transport.is_closing():
            return
        self._transport.write(data)
        await self._protocol.drain()

    async def wait_closed(self) -> None:
        await self._protocol.closed.wait()

    def close(self) -> None:
        self._transport.close()


@asynccontextmanager
async def hijack(request: web.Request, content_type: str) -> AsyncIterator[HijackedStream]:
    """Answer ``101 UPGRADED`` (or ``200`` without an Upgrade header) and yield
    the raw connection; it is closed when the block ends."""
    upgrade = "upgrade" in request.headers.get("Connection", "").lower() and \
        bool(request.headers.get("Upgrade"))
    if upgrade:
        response = web.StreamResponse(status=101, reason="UPGRADED", headers={
            "Content-Type": content_type, "Connection": "Upgrade", "Upgrade": "tcp"})
    else:
        response = web.StreamResponse(status=200, headers={"Content-Type": content_type})
        response.force_close()
    await response.prepare(request)
    transport = request.transport
    if transport is None:
        raise ConnectionResetError("client went away")
    reader = asyncio.StreamReader()
    protocol = _RawProtocol(reader)
    transport.set_protocol(protocol)
    if isinstance(transport, asyncio.ReadTransport):
        transport.resume_reading()
    stream = HijackedStream(reader, transport, protocol)
    try:
        yield stream
    finally:
        stream.close()
