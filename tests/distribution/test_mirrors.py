"""``registry-mirrors`` and ``insecure-registries`` at the service level, on an
engine built in-process (daemon.json does not carry these keys yet)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from ketch.daemon.config import DaemonConfig
from ketch.daemon.engine import Engine, build_engine
from ketch.distribution.auth import Credentials
from ketch.distribution.messages import Message

from .rawpush import Layer, gzipped, layer_tar, push_image, sha256
from .registry import DistRegistry, free_port


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    built = build_engine(DaemonConfig(data_root=tmp_path / "data", exec_root=tmp_path / "exec",
                                      pidfile=tmp_path / "pid"))
    yield built
    built.close()


async def _collect(messages: AsyncIterator[Message]) -> list[Message]:
    return [m async for m in messages]


def test_hub_pull_goes_to_the_first_mirror_that_answers(
    engine: Engine, registry: DistRegistry,
) -> None:
    tar = layer_tar({"m.txt": b"from the mirror\n"})
    digest, image_id = push_image(registry.host, "library/mirrored", "v1", [
        Layer(gzipped(tar), "application/vnd.oci.image.layer.v1.tar+gzip", sha256(tar))])
    service = engine.services.distribution
    dead = f"http://127.0.0.1:{free_port()}"
    service.settings.registry_mirrors = [dead, f"http://{registry.host}"]
    messages = asyncio.run(_collect(service.pull("mirrored", "v1", Credentials())))
    statuses = [m.status for m in messages]
    assert statuses[0] == "Pulling from library/mirrored"
    assert f"Digest: {digest}" in statuses
    assert statuses[-1] == "Status: Downloaded newer image for mirrored:v1"
    assert engine.services.images.get("mirrored:v1").id == image_id


def test_plain_http_only_for_insecure_or_loopback(engine: Engine) -> None:
    service = engine.services.distribution
    port = free_port()
    # A name that is not loopback and not listed: HTTPS only, so this fails on TLS/connect
    # without falling back to HTTP.
    with pytest.raises(Exception, match="https://"):
        asyncio.run(_collect(service.pull(f"localhost.test:{port}/x", "1", Credentials())))
