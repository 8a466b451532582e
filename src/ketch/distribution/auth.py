"""Registry credentials and the ``WWW-Authenticate`` challenge flow.

Clients hand the daemon credentials as ``X-Registry-Auth``: base64url JSON
(``{"username","password","identitytoken","registrytoken","serveraddress"}``),
often just ``e30=`` (``{}``), sometimes without padding or in the standard
alphabet. Anything undecodable means "anonymous", as in Docker.

A registry answers 401 with a challenge: ``Basic realm=...`` (send the
credentials on every request) or ``Bearer realm=...,service=...,scope=...``
(fetch a token from the realm, anonymously or with the credentials, for the
scopes needed, and send it as ``Authorization: Bearer``).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass, field
from typing import Any

#: ``key="quoted value"`` or ``key=token`` pairs of a challenge.
_PARAM_RE = re.compile(r'([A-Za-z][A-Za-z0-9_-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))')


@dataclass(frozen=True)
class Credentials:
    username: str = ""
    password: str = ""
    identity_token: str = ""
    registry_token: str = ""
    server_address: str = ""

    @property
    def anonymous(self) -> bool:
        return not (self.username or self.identity_token or self.registry_token)


def _b64decode_lenient(value: str) -> bytes:
    text = value.strip()
    padded = text + "=" * (-len(text) % 4)
    for decode in (base64.urlsafe_b64decode, base64.b64decode):
        try:
            return decode(padded)
        except (binascii.Error, ValueError):
            continue
    return b""


def credentials_from_mapping(data: dict[str, Any]) -> Credentials:
    def text(*keys: str) -> str:
        for key in keys:
            value = data.get(key)
            if isinstance(value, str) and value:
                return value
        return ""

    username, password = text("username", "Username"), text("password", "Password")
    auth = text("auth", "Auth")
    if auth and not username:
        user, _, secret = _b64decode_lenient(auth).decode("utf-8", "replace").partition(":")
        username, password = user, secret
    return Credentials(
        username=username, password=password,
        identity_token=text("identitytoken", "IdentityToken"),
        registry_token=text("registrytoken", "RegistryToken"),
        server_address=text("serveraddress", "ServerAddress"),
    )


def decode_registry_auth(header: str | None) -> Credentials:
    """Credentials from an ``X-Registry-Auth`` header; anonymous if unusable."""
    if not header:
        return Credentials()
    raw = _b64decode_lenient(header)
    try:
        data = json.loads(raw) if raw else {}
    except (ValueError, UnicodeDecodeError):
        return Credentials()
    if not isinstance(data, dict):
        return Credentials()
    return credentials_from_mapping(data)


@dataclass(frozen=True)
class Challenge:
    scheme: str
    params: dict[str, str] = field(default_factory=dict)


def parse_challenges(header: str) -> list[Challenge]:
    """Parse a ``WWW-Authenticate`` value (one or more challenges)."""
    challenges: list[Challenge] = []
    rest = header.strip()
    while rest:
        match = re.match(r"([A-Za-z][A-Za-z0-9_-]*)\s*", rest)
        if match is None:
            break
        scheme = match.group(1).lower()
        rest = rest[match.end():]
        params: dict[str, str] = {}
        while True:
            param = _PARAM_RE.match(rest)
            if param is None:
                break
            value = param.group(2) if param.group(2) is not None else param.group(3)
            params[param.group(1).lower()] = re.sub(r"\\(.)", r"\1", value)
            rest = rest[param.end():].lstrip()
            if rest.startswith(","):
                rest = rest[1:].lstrip()
            else:
                break
        challenges.append(Challenge(scheme, params))
    return challenges


def basic_header(credentials: Credentials) -> str:
    token = base64.b64encode(
        f"{credentials.username}:{credentials.password}".encode()).decode()
    return f"Basic {token}"


def repository_scope(path: str, actions: str) -> str:
    return f"repository:{path}:{actions}"
