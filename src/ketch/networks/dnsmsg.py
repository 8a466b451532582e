"""The few parts of the DNS wire format (RFC 1035) the embedded resolver needs:
read a query's question, write an answer with A/AAAA records, or an error."""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass

TYPE_A = 1
TYPE_AAAA = 28
CLASS_IN = 1
RCODE_OK = 0
RCODE_FORMERR = 1
RCODE_SERVFAIL = 2
RCODE_NXDOMAIN = 3
#: Docker's embedded DNS answers with this TTL.
TTL = 600


class DNSFormatError(ValueError):
    pass


@dataclass(frozen=True)
class Question:
    id: int
    flags: int
    name: str
    qtype: int
    qclass: int
    #: where the question section ends in the query
    end: int


def parse_query(data: bytes) -> Question:
    """The first question of a query (names as lower-case text without the final dot)."""
    if len(data) < 12:
        raise DNSFormatError("short header")
    ident, flags, qdcount = struct.unpack("!HHH", data[:6])
    if flags & 0x8000 or qdcount < 1:
        raise DNSFormatError("not a query")
    labels: list[str] = []
    pos = 12
    while True:
        if pos >= len(data):
            raise DNSFormatError("truncated name")
        length = data[pos]
        pos += 1
        if length == 0:
            break
        if length & 0xC0:
            raise DNSFormatError("compressed question name")
        labels.append(data[pos:pos + length].decode("ascii", "replace"))
        pos += length
    if pos + 4 > len(data):
        raise DNSFormatError("truncated question")
    qtype, qclass = struct.unpack("!HH", data[pos:pos + 4])
    return Question(ident, flags, ".".join(labels).lower(), qtype, qclass, pos + 4)


def _header(q: Question, rcode: int, answers: int) -> bytes:
    # QR, the query's opcode and RD, RA set; no AA (Docker's resolver sets none either).
    flags = 0x8000 | (q.flags & 0x7900) | 0x0080 | rcode
    return struct.pack("!HHHHHH", q.id, flags, 1, answers, 0, 0)


def response(query: bytes, q: Question, addresses: list[str], rcode: int = RCODE_OK) -> bytes:
    """An answer to *query* with one A or AAAA record per address."""
    question = query[12:q.end]
    records = b""
    count = 0
    for text in addresses:
        addr = ipaddress.ip_address(text)
        rtype = TYPE_A if addr.version == 4 else TYPE_AAAA
        if rtype != q.qtype:
            continue
        packed = addr.packed
        records += struct.pack("!HHHIH", 0xC00C, rtype, CLASS_IN, TTL, len(packed)) + packed
        count += 1
    return _header(q, rcode, count) + question + records


def error(query: bytes, rcode: int) -> bytes:
    """An error answer (FORMERR when not even the question could be read)."""
    try:
        q = parse_query(query)
    except DNSFormatError:
        ident = struct.unpack("!H", query[:2])[0] if len(query) >= 2 else 0
        return struct.pack("!HHHHHH", ident, 0x8080 | RCODE_FORMERR, 0, 0, 0, 0)
    return response(query, q, [], rcode)


def with_id(message: bytes, ident: int) -> bytes:
    return struct.pack("!H", ident) + message[2:]
