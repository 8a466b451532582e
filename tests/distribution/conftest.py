"""Fixtures of the registry-client tests: a real ``docker-registry`` per test."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from .registry import REGISTRY_BIN, DistRegistry
from .tokenserver import TokenServer


@pytest.fixture
def registry() -> Iterator[DistRegistry]:
    """Debian's distribution registry, no auth, on 127.0.0.1 (plain HTTP)."""
    if not REGISTRY_BIN.exists():
        pytest.skip("docker-registry is not installed (apt-get install docker-registry)")
    started = DistRegistry(Path(tempfile.mkdtemp(prefix="kreg-", dir="/tmp"))).start()
    yield started
    started.cleanup()


@pytest.fixture
def token_registry() -> Iterator[tuple[DistRegistry, TokenServer]]:
    """docker-registry with token auth, and the token server it trusts."""
    if not REGISTRY_BIN.exists():
        pytest.skip("docker-registry is not installed (apt-get install docker-registry)")
    workdir = Path(tempfile.mkdtemp(prefix="kreg-", dir="/tmp"))
    tokens = TokenServer(workdir).start()
    started = DistRegistry(workdir, auth=tokens.registry_auth_config())
    try:
        started.start()
        yield started, tokens
    finally:
        started.cleanup()
        tokens.stop()
