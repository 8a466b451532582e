"""The real docker CLI, talking to ketchd, pushes to and pulls from ketch-registry.

What goes out through ketchd's push and comes back through its pull must be
the very same image (same ID, i.e. the same config digest), and the README's
typical flow (``localhost:PORT/hello``) must work as written, down to running
the pulled image.
"""

from __future__ import annotations

from registry.conftest import Server
from support.dockercli import docker
from support.engines import Engine
from support.images import OfflineImages, import_offline_images


def _image_id(engine: Engine, ref: str) -> str:
    return docker(engine.env, "image", "inspect", "--format", "{{.Id}}", ref).ok().stdout.strip()


def test_cli_push_rmi_pull_keeps_the_image_id(
    fresh_ketchd: Engine, ketch_registry: Server, offline_images: OfflineImages
) -> None:
    env = fresh_ketchd.env
    ids = import_offline_images(env, offline_images, ("busybox",))
    ref = f"{ketch_registry.addr}/interop/box:1"
    docker(env, "tag", "busybox", ref).ok()

    pushed = docker(env, "push", ref).ok()
    assert "1: digest: sha256:" in pushed.stdout, pushed.describe()
    # The registry really holds it, under the tag pushed, with the image's config.
    tags = ketch_registry.request("GET", "/v2/interop/box/tags/list").json()
    assert tags["tags"] == ["1"]
    manifest = ketch_registry.request("GET", "/v2/interop/box/manifests/1").json()
    assert manifest["config"]["digest"] == ids["busybox"]

    docker(env, "rmi", ref).ok()
    docker(env, "rmi", "busybox").ok()
    assert docker(env, "image", "inspect", ref).returncode != 0

    pulled = docker(env, "pull", ref).ok()
    assert f"Status: Downloaded newer image for {ref}" in pulled.stdout, pulled.describe()
    assert _image_id(fresh_ketchd, ref) == ids["busybox"]


def test_readme_flow_localhost_hello(
    fresh_ketchd: Engine, ketch_registry: Server, offline_images: OfflineImages
) -> None:
    env = fresh_ketchd.env
    ids = import_offline_images(env, offline_images, ("hello-world",))
    ref = f"localhost:{ketch_registry.port}/hello"

    docker(env, "tag", "hello-world", ref).ok()
    docker(env, "push", ref).ok()
    docker(env, "rmi", ref).ok()
    docker(env, "rmi", "hello-world").ok()
    pulled = docker(env, "pull", ref).ok()
    assert "latest: Pulling from hello" in pulled.stdout, pulled.describe()
    assert _image_id(fresh_ketchd, ref) == ids["hello-world"]

    ran = docker(env, "run", "--rm", ref).ok()
    assert "Hello from ketch!" in ran.stdout, ran.describe()
    assert docker(env, "ps", "-aq").ok().stdout.strip() == ""
