"""Registry configuration: a TOML file, overridden by command-line flags.

Example ``registry.toml``::

    read_only = false
    delete_enabled = true
    max_manifest_bytes = 4194304
    upload_max_age = 86400          # seconds before an idle upload is purged
    upload_purge_interval = 3600

    [auth]
    mode = "token"                  # "none", "htpasswd" or "token"
    htpasswd = "/etc/ketch/htpasswd"
    pull_only = ["reader"]          # htpasswd users that may only pull
    anonymous_pull = false

    [auth.token]
    realm = "https://registry.example/token"   # default: this server's /token
    service = "ketch-registry"
    issuer = "ketch-registry"
    private_key = "/etc/ketch/token.pem"       # built-in issuer; generated if absent
    public_keys = ["/etc/ketch/external.pub"]  # accepted external issuers
    expiration = 300
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from typing import Any

DEFAULT_MAX_MANIFEST = 4 * 1024 * 1024


@dataclass
class TokenConfig:
    realm: str | None = None
    service: str = "ketch-registry"
    issuer: str = "ketch-registry"
    private_key: str | None = None
    public_keys: list[str] = field(default_factory=list)
    expiration: int = 300


@dataclass
class AuthConfig:
    mode: str = "none"
    htpasswd: str | None = None
    pull_only: list[str] = field(default_factory=list)
    anonymous_pull: bool = False
    token: TokenConfig = field(default_factory=TokenConfig)


@dataclass
class RegistryConfig:
    root: str = "/var/lib/ketch-registry"
    addr: str = "127.0.0.1:5000"
    read_only: bool = False
    delete_enabled: bool = False
    max_manifest_bytes: int = DEFAULT_MAX_MANIFEST
    upload_max_age: float = 24 * 3600.0
    upload_purge_interval: float = 3600.0
    tls_cert: str | None = None
    tls_key: str | None = None
    auth: AuthConfig = field(default_factory=AuthConfig)


def _apply(obj: Any, values: dict[str, Any]) -> None:
    for key, value in values.items():
        if not hasattr(obj, key):
            raise ValueError(f"unknown configuration key: {key!r}")
        current = getattr(obj, key)
        if isinstance(value, dict) and not isinstance(current, dict):
            _apply(current, value)
        else:
            setattr(obj, key, value)


def load_config(path: str | None) -> RegistryConfig:
    config = RegistryConfig()
    if path:
        with open(path, "rb") as f:
            _apply(config, tomllib.load(f))
    return config


def validate(config: RegistryConfig) -> None:
    """Refuse configurations that would start a registry nobody can use."""
    auth = config.auth
    if auth.mode not in ("none", "htpasswd", "token"):
        raise ValueError(f"unknown auth mode: {auth.mode!r}")
    if auth.mode == "htpasswd" and not auth.htpasswd:
        raise ValueError("htpasswd auth needs an htpasswd file (--htpasswd)")
    if auth.mode == "token" and not (auth.htpasswd or auth.token.public_keys):
        raise ValueError("token auth needs --htpasswd (built-in issuer) "
                         "or --token-public-key (external issuer)")
    if bool(config.tls_cert) != bool(config.tls_key):
        raise ValueError("--tls-cert and --tls-key go together")
    if config.max_manifest_bytes < 4 * 1024 * 1024:
        raise ValueError("max_manifest_bytes must be at least 4 MiB")
