"""Fixtures of the interop tests: a real ``ketch-registry`` per test.

The server is started exactly as tests/registry starts it (that suite's
``start_server``: ``ketch-registry serve`` on 127.0.0.1 with a free port and
its own root), and stopped by its pid when the test ends, whatever happened.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from registry.conftest import BIN, Server, start_server


@pytest.fixture
def ketch_registry(tmp_path: Path) -> Iterator[Server]:
    """One ketch-registry with deletes enabled, private to the test."""
    if not BIN.exists():
        pytest.fail(f"{BIN} is missing: the ketch package is not installed", pytrace=False)
    server = start_server(tmp_path / "registry-root", "--delete-enabled")
    try:
        yield server
    finally:
        server.stop()
