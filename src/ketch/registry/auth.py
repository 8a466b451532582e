"""Access control: none, htpasswd Basic, or bearer tokens (JWT).

A request needs a list of :class:`Access` (``repository:<name>:pull`` ...);
an :class:`Authorizer` either lets it through or raises ``UNAUTHORIZED``
(with the ``WWW-Authenticate`` challenge a client needs to retry) or
``DENIED`` (known user, not allowed). The built-in token issuer in
:class:`TokenIssuer` serves Docker's token flow: it checks htpasswd
credentials and grants the intersection of what was asked and what the user
may do, so a pull-only user gets only ``pull`` and a token is only good for
the repositories it names.
"""

from __future__ import annotations

import base64
import binascii
import os
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import bcrypt
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from ketch.registry.config import AuthConfig
from ketch.registry.errcodes import ErrorCode, RegistryError

PULL_ACTIONS = frozenset({"pull"})
ALL_ACTIONS = frozenset({"pull", "push", "delete"})


@dataclass(frozen=True)
class Access:
    type: str
    name: str
    actions: frozenset[str]

    def scope(self) -> str:
        return f"{self.type}:{self.name}:{','.join(sorted(self.actions))}"


def parse_scope(scope: str) -> list[Access]:
    """Parse ``repository:a/b:pull,push`` (space separated scopes allowed)."""
    out: list[Access] = []
    for item in scope.split():
        parts = item.split(":")
        if len(parts) < 3:
            continue
        # Names may carry a port-less host with ":"? Not in repository names.
        kind, name, actions = parts[0], ":".join(parts[1:-1]), parts[-1]
        out.append(Access(kind, name, frozenset(a for a in actions.split(",") if a)))
    return out


class Authorizer(Protocol):
    def authorize(self, headers: Mapping[str, str], needed: list[Access]) -> str | None:
        """Return the user name (None if anonymous) or raise RegistryError."""
        ...


class NoAuth:
    def authorize(self, headers: Mapping[str, str], needed: list[Access]) -> str | None:
        return None


def load_htpasswd(path: str) -> dict[str, bytes]:
    users: dict[str, bytes] = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#") and ":" in line:
                user, hashed = line.split(":", 1)
                users[user] = hashed.encode()
    return users


class Users:
    """htpasswd users and what each may do."""

    def __init__(self, config: AuthConfig) -> None:
        self.passwords = load_htpasswd(config.htpasswd) if config.htpasswd else {}
        self.pull_only = set(config.pull_only)
        self.anonymous_pull = config.anonymous_pull

    def check(self, user: str, password: str) -> bool:
        hashed = self.passwords.get(user)
        if hashed is None:
            return False
        if hashed.startswith(b"$2y$"):
            hashed = b"$2b$" + hashed[4:]
        try:
            return bcrypt.checkpw(password.encode(), hashed)
        except ValueError:
            return False

    def allowed(self, user: str | None, access: Access) -> frozenset[str]:
        if user is None:
            return PULL_ACTIONS if self.anonymous_pull and access.type == "repository" \
                else frozenset()
        if access.type == "registry":
            return frozenset({"*"})  # the catalog: any authenticated user
        return PULL_ACTIONS if user in self.pull_only else ALL_ACTIONS


def basic_credentials(headers: Mapping[str, str]) -> tuple[str, str] | None:
    value = headers.get("Authorization", "")
    if not value.lower().startswith("basic "):
        return None
    try:
        decoded = base64.b64decode(value[6:].strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, password = decoded.partition(":")
    return (user, password) if sep else None


def _covers(granted: frozenset[str], needed: frozenset[str]) -> bool:
    return "*" in granted or needed <= granted


class HtpasswdAuth:
    def __init__(self, users: Users) -> None:
        self.users = users

    def authorize(self, headers: Mapping[str, str], needed: list[Access]) -> str | None:
        creds = basic_credentials(headers)
        user: str | None = None
        if creds is not None:
            if not self.users.check(*creds):
                raise _basic_challenge("invalid username or password")
            user = creds[0]
        if user is None and not needed:
            raise _basic_challenge()  # the /v2/ check: "are my credentials good?"
        for access in needed:
            if not _covers(self.users.allowed(user, access), access.actions):
                if user is None:
                    raise _basic_challenge()
                raise RegistryError(ErrorCode.DENIED, detail=[_access_detail(access)])
        return user


def _basic_challenge(message: str | None = None) -> RegistryError:
    return RegistryError(ErrorCode.UNAUTHORIZED, message,
                         headers={"WWW-Authenticate": 'Basic realm="ketch-registry"'})


def _access_detail(access: Access) -> dict[str, str]:
    return {"Type": access.type, "Name": access.name, "Action": ",".join(sorted(access.actions))}


def _load_or_create_key(path: str) -> ec.EllipticCurvePrivateKey:
    if os.path.exists(path):
        with open(path, "rb") as f:
            key = serialization.load_pem_private_key(f.read(), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ValueError(f"{path}: token signing key must be an EC key")
        return key
    key = ec.generate_private_key(ec.SECP256R1())
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM,
                                  serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    return key


class TokenIssuer:
    """The built-in token endpoint's logic (Docker registry token spec)."""

    def __init__(self, config: AuthConfig, users: Users, key_path: str) -> None:
        self.config = config.token
        self.users = users
        self.key = _load_or_create_key(config.token.private_key or key_path)

    def public_pem(self) -> bytes:
        return self.key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)

    def issue(self, headers: Mapping[str, str], service: str | None,
              scopes: list[str]) -> dict[str, Any]:
        creds = basic_credentials(headers)
        user: str | None = None
        if creds is not None:
            if not self.users.check(*creds):
                raise _basic_challenge("invalid username or password")
            user = creds[0]
        access: list[dict[str, Any]] = []
        for scope in scopes:
            for wanted in parse_scope(scope):
                allowed = self.users.allowed(user, wanted)
                granted = sorted(wanted.actions) if "*" in allowed else \
                    sorted(wanted.actions & allowed)
                if granted:
                    access.append({"type": wanted.type, "name": wanted.name,
                                   "actions": granted})
        now = int(time.time())
        claims = {"iss": self.config.issuer, "sub": user or "", "aud": service or
                  self.config.service, "iat": now, "nbf": now - 5,
                  "exp": now + self.config.expiration, "jti": str(uuid.uuid4()),
                  "access": access}
        token = jwt.encode(claims, self.key, algorithm="ES256")
        issued = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))
        return {"token": token, "access_token": token,
                "expires_in": self.config.expiration, "issued_at": issued}


class TokenAuth:
    """Accepts JWTs signed by the built-in issuer or a configured public key."""

    def __init__(self, config: AuthConfig, scheme: str, public_keys: list[bytes]) -> None:
        self.config = config.token
        self.realm = config.token.realm
        self.scheme = scheme
        self.keys = [serialization.load_pem_public_key(pem) for pem in public_keys]
        for path in config.token.public_keys:
            with open(path, "rb") as f:
                self.keys.append(serialization.load_pem_public_key(f.read()))

    def _challenge(self, headers: Mapping[str, str], needed: list[Access],
                   error: str | None = None) -> RegistryError:
        # Without a configured realm, send clients to this server's own /token
        # under the host name they used to reach it.
        realm = self.realm or f"{self.scheme}://{headers.get('Host', 'localhost')}/token"
        parts = [f'realm="{realm}"', f'service="{self.config.service}"']
        if needed:
            parts.append(f'scope="{" ".join(a.scope() for a in needed)}"')
        if error:
            parts.append(f'error="{error}"')
        return RegistryError(ErrorCode.UNAUTHORIZED,
                             headers={"WWW-Authenticate": "Bearer " + ",".join(parts)},
                             detail=[_access_detail(a) for a in needed] or None)

    def _claims(self, token: str) -> dict[str, Any] | None:
        for key in self.keys:
            try:
                claims: dict[str, Any] = jwt.decode(
                    token, key,  # type: ignore[arg-type]
                    algorithms=["ES256", "ES384", "ES512", "RS256", "RS384", "RS512"],
                    audience=self.config.service, issuer=self.config.issuer,
                    options={"require": ["exp", "iss", "aud"]})
            except jwt.PyJWTError:
                continue
            return claims
        return None

    def authorize(self, headers: Mapping[str, str], needed: list[Access]) -> str | None:
        value = headers.get("Authorization", "")
        if not value.lower().startswith("bearer "):
            raise self._challenge(headers, needed)
        claims = self._claims(value[7:].strip())
        if claims is None:
            raise self._challenge(headers, needed, "invalid_token")
        granted: dict[tuple[str, str], set[str]] = {}
        for entry in claims.get("access") or []:
            if isinstance(entry, dict):
                key = (str(entry.get("type")), str(entry.get("name")))
                granted.setdefault(key, set()).update(str(a) for a in entry.get("actions") or [])
        for access in needed:
            have = frozenset(granted.get((access.type, access.name), set()))
            if not _covers(have, access.actions):
                raise self._challenge(headers, needed, "insufficient_scope")
        sub = claims.get("sub")
        return str(sub) if sub else None
