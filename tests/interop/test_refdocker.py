"""Images cross between ketchd and Debian's Docker 20.10 through ketch-registry.

Each direction ends by running the image on the receiving engine: an image
that pulls but does not run (wrong diff IDs, broken layer, lost config) is
not interop.
"""

from __future__ import annotations

import pytest
from registry.conftest import Server
from support.dockercli import docker
from support.engines import Engine
from support.images import OfflineImages, import_image, import_offline_images

pytestmark = pytest.mark.refdocker


def _image_id(engine: Engine, ref: str) -> str:
    return docker(engine.env, "image", "inspect", "--format", "{{.Id}}", ref).ok().stdout.strip()


def test_docker_pulls_and_runs_what_ketchd_pushed(
    fresh_ketchd: Engine, refdocker: Engine, ketch_registry: Server,
    offline_images: OfflineImages,
) -> None:
    ids = import_offline_images(fresh_ketchd.env, offline_images, ("busybox",))
    ref = f"{ketch_registry.addr}/x:1"
    docker(fresh_ketchd.env, "tag", "busybox", ref).ok()
    docker(fresh_ketchd.env, "push", ref).ok()
    try:
        pulled = docker(refdocker.env, "pull", ref).ok()
        assert f"Downloaded newer image for {ref}" in pulled.stdout, pulled.describe()
        assert _image_id(refdocker, ref) == ids["busybox"]
        ran = docker(refdocker.env, "run", "--rm", "--network", "none", ref, "echo", "hi").ok()
        assert ran.stdout == "hi\n", ran.describe()
    finally:
        docker(refdocker.env, "rmi", "-f", ref)


def test_ketchd_pulls_and_runs_what_docker_pushed(
    fresh_ketchd: Engine, refdocker: Engine, ketch_registry: Server,
    offline_images: OfflineImages,
) -> None:
    ref = f"{ketch_registry.addr}/from-docker/box:d"
    import_image(refdocker.env, offline_images, "busybox", ref)
    try:
        image_id = _image_id(refdocker, ref)
        docker(refdocker.env, "push", ref).ok()
    finally:
        docker(refdocker.env, "rmi", "-f", ref)
    pulled = docker(fresh_ketchd.env, "pull", ref).ok()
    assert f"Downloaded newer image for {ref}" in pulled.stdout, pulled.describe()
    assert _image_id(fresh_ketchd, ref) == image_id
    ran = docker(fresh_ketchd.env, "run", "--rm", "--network", "none", ref,
                 "echo", "hi from ketchd").ok()
    assert ran.stdout == "hi from ketchd\n", ran.describe()
