"""Registry credentials kept in ``~/.ketch/config.json``, in Docker's config.json format.

The file is Docker's: ``{"auths": {"<server>": {"auth": base64("user:pass")}}}``
(other keys are kept as they are), so a config written by one CLI can be read
by the other. Docker Hub's entry is keyed ``https://index.docker.io/v1/``;
other registries by their host name (``localhost:5000``). Lookups accept the
legacy keys Docker accepts (``http://host/...``) by comparing host names.
"""

from __future__ import annotations

import base64
import json
import os

TYPE_CHECKING = False  # typing is not imported at run time: it costs startup time
if TYPE_CHECKING:
    from typing import Any

#: The key Docker stores Docker Hub's credentials under.
INDEX_SERVER = "https://index.docker.io/v1/"
DEFAULT_DOMAIN = "docker.io"

UNENCRYPTED_WARNING = (
    "\nWARNING! Your credentials are stored unencrypted in '{}'.\n"
    "Configure a credential helper to remove this warning. See\n"
    "https://docs.docker.com/go/credential-store/\n"
)


def config_dir(override: str | None = None) -> str:
    """``--config``, else ``$KETCH_CONFIG``, else ``~/.ketch``."""
    if override:
        return override
    env = os.environ.get("KETCH_CONFIG")
    if env:
        return env
    return os.path.join(os.path.expanduser("~"), ".ketch")


def convert_to_hostname(address: str) -> str:
    """Docker's ``ConvertToHostname``: ``https://host:5000/v2/`` -> ``host:5000``."""
    stripped = address
    if "://" in stripped:
        from urllib.parse import urlsplit

        try:
            parts = urlsplit(stripped)
            host = parts.hostname or ""
            port = parts.port
        except ValueError:
            host, port = "", None
        if host:
            if ":" in host:  # IPv6 literal
                host = f"[{host}]"
            return f"{host}:{port}" if port is not None else host
        stripped = stripped.split("://", 1)[1]
    return stripped.split("/", 1)[0]


def auth_key_for_domain(domain: str) -> str:
    """Where a registry's credentials live: Docker Hub's fixed key, else the domain."""
    if domain in (DEFAULT_DOMAIN, "index.docker.io"):
        return INDEX_SERVER
    return domain


class AuthConfig:
    """One registry's credentials as Docker's ``AuthConfig``."""

    def __init__(self, username: str = "", password: str = "", server_address: str = "",
                 identity_token: str = "") -> None:
        self.username = username
        self.password = password
        self.server_address = server_address
        self.identity_token = identity_token

    def to_json(self) -> dict[str, str]:
        """The JSON fields Docker sends (empty ones left out, in Go's field order)."""
        body: dict[str, str] = {}
        if self.username:
            body["username"] = self.username
        if self.password:
            body["password"] = self.password
        if self.server_address:
            body["serveraddress"] = self.server_address
        if self.identity_token:
            body["identitytoken"] = self.identity_token
        return body

    def encode(self) -> str:
        """The ``X-Registry-Auth`` value: base64url of the JSON (``e30=`` when empty)."""
        raw = json.dumps(self.to_json(), separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).decode()


class ConfigFile:
    """``config.json``: loaded whole, saved whole (atomically), unknown keys kept."""

    def __init__(self, directory: str) -> None:
        self.directory = directory
        self.path = os.path.join(directory, "config.json")
        self.doc: dict[str, Any] = {}
        try:
            with open(self.path, encoding="utf-8") as fh:
                text = fh.read()
        except FileNotFoundError:
            text = ""
        if text.strip():
            try:
                loaded = json.loads(text)
            except ValueError as exc:
                raise ConfigError(f"loading config file: {self.path}: {exc}") from None
            if isinstance(loaded, dict):
                self.doc = loaded
        auths = self.doc.get("auths")
        if not isinstance(auths, dict):
            auths = {}
        self.doc = {"auths": auths, **{k: v for k, v in self.doc.items() if k != "auths"}}

    @property
    def auths(self) -> dict[str, Any]:
        auths: dict[str, Any] = self.doc["auths"]
        return auths

    def get(self, key: str) -> AuthConfig:
        """Docker's file store ``Get``: the exact key, else a legacy key of the same host."""
        entry = self.auths.get(key)
        found = key
        if not isinstance(entry, dict):
            entry = None
            for other, value in self.auths.items():
                if isinstance(value, dict) and convert_to_hostname(other) == key:
                    entry, found = value, other
                    break
        if entry is None:
            return AuthConfig()
        username, password = _decode_auth(str(entry.get("auth") or ""))
        return AuthConfig(username, password, found, str(entry.get("identitytoken") or ""))

    def store(self, auth: AuthConfig) -> bool:
        """Save ``auth`` under its server address; False if nothing changed."""
        entry: dict[str, str] = {}
        if auth.username or auth.password:
            raw = f"{auth.username}:{auth.password}".encode()
            entry["auth"] = base64.b64encode(raw).decode()
        if auth.identity_token:
            entry["identitytoken"] = auth.identity_token
        if self.auths.get(auth.server_address) == entry:
            return False
        self.auths[auth.server_address] = entry
        self.save()
        return True

    def erase(self, key: str) -> None:
        if key in self.auths:
            del self.auths[key]
            self.save()

    def save(self) -> None:
        """Write to a temporary file beside it, then rename: never a half-written file."""
        import tempfile

        os.makedirs(self.directory, mode=0o700, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix="config.json", dir=self.directory)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                doc = dict(self.doc)
                doc["auths"] = dict(sorted(self.auths.items()))  # Go sorts map keys
                fh.write(json.dumps(doc, indent="\t"))
            os.replace(tmp, self.path)
        except BaseException:
            import contextlib

            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise


class ConfigError(Exception):
    """An unreadable config file (printed as it is, exit 1)."""


def _decode_auth(text: str) -> tuple[str, str]:
    if not text:
        return "", ""
    try:
        raw = base64.b64decode(text).decode()
    except (ValueError, UnicodeDecodeError):
        return "", ""
    user, sep, password = raw.partition(":")
    if not sep:
        return "", ""
    return user, password.strip("\x00")


def registry_auth_for(directory: str, domain: str) -> str:
    """``X-Registry-Auth`` for pulling from or pushing to ``domain`` (``e30=`` if none)."""
    try:
        config = ConfigFile(directory)
    except ConfigError:
        return AuthConfig().encode()
    return config.get(auth_key_for_domain(domain)).encode()
