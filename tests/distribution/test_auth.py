"""Registry authentication: the bearer token flow (anonymous and with
credentials, through ``docker login`` and ``X-Registry-Auth``) against
docker-registry configured for token auth, and ``POST /auth``."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path

import bcrypt
import pytest
from support.dockercli import docker
from support.engines import Engine
from support.images import OfflineImages, import_offline_images

from .registry import REGISTRY_BIN, DistRegistry
from .tokenserver import SERVICE, TokenServer


def _auth_header(user: str, password: str, server: str) -> str:
    payload = json.dumps({"username": user, "password": password, "serveraddress": server})
    return base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")


def test_token_flow_push_with_login_and_anonymous_pull(
    make_ketchd: Callable[..., Engine], offline_images: OfflineImages,
    token_registry: tuple[DistRegistry, TokenServer],
) -> None:
    registry, tokens = token_registry
    engine = make_ketchd()
    import_offline_images(engine.env, offline_images, ("busybox",))
    ref = f"{registry.host}/secure/box:1"
    docker(engine.env, "tag", "busybox", ref).ok()

    anonymous = docker(engine.env, "push", ref)
    assert anonymous.returncode != 0, anonymous.describe()
    assert "unauthorized" in (anonymous.stderr + anonymous.stdout).lower(), \
        anonymous.describe()

    wrong = docker(engine.env, "login", "-u", "alice", "--password-stdin", registry.host,
                   input="not-her-password\n")
    assert wrong.returncode != 0, wrong.describe()
    docker(engine.env, "login", "-u", "alice", "--password-stdin", registry.host,
           input="wonderland\n").ok()
    tokens.requests.clear()
    pushed = docker(engine.env, "push", ref).ok()
    assert "Pushed" in pushed.stdout
    asked = [r for r in tokens.requests if r.user == "alice"]
    assert asked and asked[0].service == SERVICE
    assert "repository:secure/box:pull,push" in asked[0].scopes

    fresh = make_ketchd()
    tokens.requests.clear()
    pulled = docker(fresh.env, "pull", ref).ok()
    assert "Pull complete" in pulled.stdout
    assert tokens.requests and all(r.user == "" for r in tokens.requests)
    assert tokens.requests[0].scopes == ["repository:secure/box:pull"]


def test_auth_endpoint(ketchd: Engine, token_registry: tuple[DistRegistry, TokenServer]) -> None:
    registry, _ = token_registry
    good = ketchd.request("POST", "/auth", json.dumps(
        {"username": "alice", "password": "wonderland", "serveraddress": registry.host}
    ).encode(), {"Content-Type": "application/json"})
    assert good.status == 200, good.text
    assert json.loads(good.body)["Status"] == "Login Succeeded"
    bad = ketchd.request("POST", "/auth", json.dumps(
        {"username": "alice", "password": "nope", "serveraddress": registry.host}
    ).encode(), {"Content-Type": "application/json"})
    assert bad.status == 401, bad.text


def test_registry_auth_header_credentials_are_used(
    make_ketchd: Callable[..., Engine], offline_images: OfflineImages,
    token_registry: tuple[DistRegistry, TokenServer],
) -> None:
    registry, tokens = token_registry
    engine = make_ketchd()
    import_offline_images(engine.env, offline_images, ("hello-world",))
    name = f"{registry.host}/hdr"
    docker(engine.env, "tag", "hello-world", f"{name}:1").ok()
    response = engine.request(
        "POST", f"/images/{name}/push?tag=1",
        headers={"X-Registry-Auth": _auth_header("alice", "wonderland", registry.host)},
        timeout=120)
    assert response.status == 200
    lines = [json.loads(line) for line in response.body.splitlines() if line.strip()]
    assert "aux" in lines[-1], lines
    assert any(r.user == "alice" for r in tokens.requests)


def test_basic_auth_registry(
    make_ketchd: Callable[..., Engine], offline_images: OfflineImages, tmp_path: Path,
) -> None:
    if not REGISTRY_BIN.exists():
        pytest.skip("docker-registry is not installed")
    htpasswd = tmp_path / "htpasswd"
    hashed = bcrypt.hashpw(b"s3cret", bcrypt.gensalt(rounds=5)).decode()
    htpasswd.write_text(f"bob:{hashed}\n")
    registry = DistRegistry(
        tmp_path / "reg",
        auth=f"auth:\n  htpasswd:\n    realm: basic-realm\n    path: {htpasswd}\n")
    try:
        registry.start()
        engine = make_ketchd()
        import_offline_images(engine.env, offline_images, ("hello-world",))
        ref = f"{registry.host}/basic/hello:1"
        docker(engine.env, "tag", "hello-world", ref).ok()
        refused = docker(engine.env, "push", ref)
        assert refused.returncode != 0, refused.describe()
        wrong = docker(engine.env, "login", "-u", "bob", "--password-stdin", registry.host,
                       input="wrong\n")
        assert wrong.returncode != 0, wrong.describe()
        docker(engine.env, "login", "-u", "bob", "--password-stdin", registry.host,
               input="s3cret\n").ok()
        docker(engine.env, "push", ref).ok()
        docker(engine.env, "rmi", ref, "hello-world").ok()
        pulled = docker(engine.env, "pull", ref).ok()
        assert "Pull complete" in pulled.stdout
    finally:
        registry.cleanup()
