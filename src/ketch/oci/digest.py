"""Content digests (``algorithm:hex``) as the OCI image spec defines them."""

from __future__ import annotations

import hashlib
import re
from typing import Protocol

from ketch.errors import InvalidArgument

_HEX_LENGTH = {"sha256": 64, "sha512": 128}
_DIGEST_RE = re.compile(r"^(sha256|sha512):([a-f0-9]+)$")


class _Hasher(Protocol):
    def update(self, data: bytes, /) -> None: ...
    def hexdigest(self) -> str: ...


def parse_digest(value: str) -> str:
    """Return ``value`` if it is a well-formed digest, else raise InvalidArgument."""
    match = _DIGEST_RE.match(value)
    if match is None or len(match.group(2)) != _HEX_LENGTH[match.group(1)]:
        raise InvalidArgument(f"invalid digest: {value!r}")
    return value


def is_digest(value: str) -> bool:
    match = _DIGEST_RE.match(value)
    return match is not None and len(match.group(2)) == _HEX_LENGTH[match.group(1)]


def algorithm_of(digest: str) -> str:
    return digest.split(":", 1)[0]


def hex_of(digest: str) -> str:
    return digest.split(":", 1)[1]


def new_hasher(algorithm: str = "sha256") -> _Hasher:
    if algorithm not in _HEX_LENGTH:
        raise InvalidArgument(f"unsupported digest algorithm: {algorithm!r}")
    return hashlib.new(algorithm)


def digest_bytes(data: bytes, algorithm: str = "sha256") -> str:
    hasher = new_hasher(algorithm)
    hasher.update(data)
    return f"{algorithm}:{hasher.hexdigest()}"


def short_id(digest: str) -> str:
    """Docker's 12-character display form of an ID (``sha256:`` dropped)."""
    return hex_of(digest)[:12] if ":" in digest else digest[:12]
