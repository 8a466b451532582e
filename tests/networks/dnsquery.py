"""A tiny DNS client run inside a test namespace: ``dnsquery.py NAME [A|AAAA] [udp|tcp]
[server] [port]``; prints ``{"rcode": n, "answers": [...]}`` as JSON."""

from __future__ import annotations

import ipaddress
import json
import os
import socket
import struct
import sys


def query(name: str, qtype: int) -> bytes:
    ident = int.from_bytes(os.urandom(2), "big")
    labels = b"".join(bytes([len(p)]) + p.encode() for p in name.split(".") if p)
    return struct.pack("!HHHHHH", ident, 0x0100, 1, 0, 0, 0) + labels + b"\0" + \
        struct.pack("!HH", qtype, 1)


def skip_name(msg: bytes, pos: int) -> int:
    while True:
        length = msg[pos]
        if length & 0xC0 == 0xC0:
            return pos + 2
        pos += 1
        if length == 0:
            return pos
        pos += length


def parse(msg: bytes) -> dict[str, object]:
    _, flags, qd, an, _, _ = struct.unpack("!HHHHHH", msg[:12])
    pos = 12
    for _ in range(qd):
        pos = skip_name(msg, pos) + 4
    answers = []
    for _ in range(an):
        pos = skip_name(msg, pos)
        rtype, _, _, size = struct.unpack("!HHIH", msg[pos:pos + 10])
        pos += 10
        data = msg[pos:pos + size]
        pos += size
        if rtype in (1, 28):
            answers.append(str(ipaddress.ip_address(data)))
    return {"rcode": flags & 0xF, "answers": answers}


def main() -> None:
    name = sys.argv[1]
    qtype = 28 if len(sys.argv) > 2 and sys.argv[2] == "AAAA" else 1
    proto = sys.argv[3] if len(sys.argv) > 3 else "udp"
    server = sys.argv[4] if len(sys.argv) > 4 else "127.0.0.11"
    port = int(sys.argv[5]) if len(sys.argv) > 5 else 53
    q = query(name, qtype)
    if proto == "tcp":
        with socket.create_connection((server, port), timeout=5) as s:
            s.sendall(struct.pack("!H", len(q)) + q)
            size = struct.unpack("!H", s.recv(2))[0]
            reply = b""
            while len(reply) < size:
                reply += s.recv(size - len(reply))
    else:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(5)
            s.sendto(q, (server, port))
            reply = s.recv(65535)
    print(json.dumps(parse(reply)))


if __name__ == "__main__":
    main()
