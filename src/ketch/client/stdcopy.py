"""Demultiplexing of the framed output of containers without a TTY.

Without a TTY the daemon sends stdout and stderr over one connection (attach,
exec, logs), each piece behind an 8-byte header: the stream number (0 stdin,
1 stdout, 2 stderr, 3 a daemon error), three zero bytes, and the payload
length as a big-endian uint32. Pieces may be split across reads anywhere,
header included; the decoder keeps what it has not completed yet.
"""

from __future__ import annotations

from ketch.client.errors import StreamError

STDIN = 0
STDOUT = 1
STDERR = 2
SYSTEMERR = 3

_HEADER = 8


class FrameDecoder:
    """Feed bytes as they arrive; get ``(stream, payload)`` pieces out."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        """Complete frames in ``data`` (plus what was pending); raises StreamError for a
        daemon error frame or an unknown stream number, as docker's StdCopy does."""
        self._buf += data
        out: list[tuple[int, bytes]] = []
        while len(self._buf) >= _HEADER:
            stream = self._buf[0]
            size = int.from_bytes(self._buf[4:8], "big")
            if len(self._buf) < _HEADER + size:
                break
            payload = bytes(self._buf[_HEADER:_HEADER + size])
            del self._buf[:_HEADER + size]
            if stream == SYSTEMERR:
                text = payload.decode(errors="replace")
                raise StreamError(f"error from daemon in stream: {text}")
            if stream not in (STDIN, STDOUT, STDERR):
                raise StreamError(f"Unrecognized input header: {stream}")
            if payload:
                out.append((stream, payload))
        return out

    @property
    def pending(self) -> int:
        """Bytes of an incomplete frame still held."""
        return len(self._buf)


def encode_frame(stream: int, payload: bytes) -> bytes:
    """One frame as the daemon writes it (tests and fake daemons use this)."""
    return bytes([stream, 0, 0, 0]) + len(payload).to_bytes(4, "big") + payload
