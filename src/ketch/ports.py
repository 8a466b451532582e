"""Port numbers and ranges as go-connections' ``nat`` package parses them.

Shared by the CLI (``-p``, ``--expose``) and the daemon (``ps --filter
publish=/expose=``), with Go's error texts, which users see verbatim.
"""

from __future__ import annotations


def parse_uint16(text: str) -> int:
    """``strconv.ParseUint(text, 10, 16)`` with its error texts."""
    if not text or not text.isascii() or not text.isdigit():
        raise ValueError(f'strconv.ParseUint: parsing "{text}": invalid syntax')
    value = int(text)
    if value > 65535:
        raise ValueError(f'strconv.ParseUint: parsing "{text}": value out of range')
    return value


def parse_port_range(ports: str) -> tuple[int, int]:
    """``nat.ParsePortRange``: ``8000`` or ``8000-9000``."""
    if ports == "":
        raise ValueError("empty string specified for ports")
    if "-" not in ports:
        value = parse_uint16(ports)
        return value, value
    parts = ports.split("-")
    start = parse_uint16(parts[0])
    end = parse_uint16(parts[1])
    if end < start:
        raise ValueError(f"invalid range specified for port: {ports}")
    return start, end


def split_proto_port(raw: str) -> tuple[str, str]:
    """``nat.SplitProtoPort``: ``80/udp`` -> (udp, 80); tcp when no protocol is given."""
    parts = raw.split("/")
    if not raw or not parts[0]:
        return "", ""
    if len(parts) == 1:
        return "tcp", raw
    if not parts[1]:
        return "tcp", parts[0]
    return parts[1], parts[0]


def port_keys(value: str) -> list[str]:
    """``N[-M][/proto]`` as the ``port/proto`` keys it covers (tcp by default)."""
    proto, port = split_proto_port(value)
    start, end = parse_port_range(port)
    return [f"{n}/{proto}" for n in range(start, end + 1)]


__all__ = ["parse_port_range", "parse_uint16", "port_keys", "split_proto_port"]
