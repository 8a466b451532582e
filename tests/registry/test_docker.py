"""Debian's reference dockerd 20.10 pushes to and pulls from ketch-registry.

127.0.0.1 registries are allowed over plain HTTP by Docker, so no
``insecure-registries`` entry is needed.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import bcrypt
import pytest
from support.dockercli import docker
from support.engines import Engine
from support.images import OfflineImages, import_image

from .conftest import Server

pytestmark = pytest.mark.refdocker


def _image_id(env: dict[str, str], ref: str) -> str:
    return docker(env, "image", "inspect", "--format", "{{.Id}}", ref).ok().stdout.strip()


def test_dockerd_push_rmi_pull(refdocker: Engine, registry: Server,
                               offline_images: OfflineImages) -> None:
    env = refdocker.env
    ref = f"{registry.addr}/x:1"
    import_image(env, offline_images, "hello-world", ref)
    image_id = _image_id(env, ref)
    try:
        pushed = docker(env, "push", ref).ok()
        assert "digest: sha256:" in pushed.stdout
        tags = registry.request("GET", "/v2/x/tags/list").json()
        assert tags["tags"] == ["1"]
        manifest = registry.request("GET", "/v2/x/manifests/1")
        assert json.loads(manifest.body)["config"]["digest"] == image_id
        docker(env, "rmi", ref).ok()
        docker(env, "pull", ref).ok()
        assert _image_id(env, ref) == image_id
        # A second push finds every layer already there.
        again = docker(env, "push", ref).ok()
        assert "Layer already exists" in again.stdout
    finally:
        docker(env, "rmi", "-f", ref)


def test_dockerd_token_auth(refdocker: Engine, make_registry: Callable[..., Server],
                            offline_images: OfflineImages, tmp_path: Path) -> None:
    htpasswd = tmp_path / "htpasswd"
    lines = [f"{u}:{bcrypt.hashpw(p.encode(), bcrypt.gensalt(rounds=4)).decode()}"
             for u, p in (("pusher", "secret1"), ("reader", "secret2"))]
    htpasswd.write_text("\n".join(lines) + "\n")
    server = make_registry("--auth", "token", "--htpasswd", str(htpasswd),
                           "--pull-only", "reader")
    env = dict(refdocker.env, DOCKER_CONFIG=str(tmp_path / "cli"))
    ref = f"{server.addr}/secure/app:1"
    import_image(env, offline_images, "hello-world", ref)
    try:
        refused = docker(env, "push", ref)
        assert refused.returncode != 0
        assert "unauthorized" in (refused.stderr + refused.stdout).lower() or \
            "denied" in (refused.stderr + refused.stdout).lower()
        wrong = docker(env, "login", "-u", "pusher", "--password-stdin", server.addr,
                       input="nope")
        assert wrong.returncode != 0
        docker(env, "login", "-u", "pusher", "--password-stdin", server.addr,
               input="secret1").ok()
        docker(env, "push", ref).ok()
        docker(env, "logout", server.addr).ok()
        docker(env, "login", "-u", "reader", "--password-stdin", server.addr,
               input="secret2").ok()
        docker(env, "rmi", ref).ok()
        docker(env, "pull", ref).ok()
        other = f"{server.addr}/secure/other:1"
        docker(env, "tag", ref, other).ok()
        denied = docker(env, "push", other)
        assert denied.returncode != 0
        docker(env, "rmi", other)
    finally:
        docker(env, "rmi", "-f", ref)
