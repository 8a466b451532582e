"""The volume routes over HTTP: bodies, status codes, errors, docker-py.

Each test runs against two daemons: ``mini``, the real API module serving a
real VolumeService on a unix socket, and ``ketchd``, the real daemon.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import docker as docker_sdk
import pytest
from support import unixhttp
from support.engines import Engine

from .conftest import MiniDaemon


@dataclass
class Target:
    socket: str
    data_root: str
    mini: MiniDaemon | None

    def req(self, method: str, path: str, body: Any = None,
            raw: bytes | None = None, ctype: str = "application/json") -> unixhttp.Response:
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None
                                            else None)
        headers = {"Content-Type": ctype} if data is not None else {}
        return unixhttp.request(self.socket, method, path, data, headers)


@pytest.fixture(params=["mini", "ketchd"])
def target(request: pytest.FixtureRequest) -> Iterator[Target]:
    if request.param == "mini":
        mini: MiniDaemon = request.getfixturevalue("mini_daemon")
        yield Target(str(mini.socket), str(mini.world.root), mini)
    else:
        engine: Engine = request.getfixturevalue("ketchd")
        yield Target(str(engine.socket), str(engine.data_root), None)


def unique(prefix: str = "kv") -> str:
    return f"{prefix}-{secrets.token_hex(4)}"


def test_create_inspect_list_remove(target: Target) -> None:
    name = unique()
    resp = target.req("POST", "/v1.50/volumes/create",
                      {"Name": name, "Labels": {"a": "b"}, "DriverOpts": {}})
    assert resp.status == 201 and resp.headers["content-type"] == "application/json"
    body = resp.json()
    assert list(body) == ["CreatedAt", "Driver", "Labels", "Mountpoint", "Name", "Options",
                          "Scope"]
    assert body["Name"] == name and body["Driver"] == "local" and body["Scope"] == "local"
    assert body["Labels"] == {"a": "b"} and body["Options"] == {}
    assert body["Mountpoint"] == f"{target.data_root}/volumes/{name}/_data"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(Z|[+-]\d\d:\d\d)", body["CreatedAt"])
    assert target.req("GET", f"/volumes/{name}").json() == body  # unversioned too
    listing = target.req("GET", "/v1.50/volumes?filters="
                         + quote(json.dumps({"name": {name: True}}))).json()
    assert listing == {"Volumes": [body], "Warnings": None}
    listing = target.req("GET", "/v1.50/volumes?filters="
                         + quote(json.dumps({"label": ["a=b"], "name": [name]}))).json()
    assert [v["Name"] for v in listing["Volumes"]] == [name]
    resp = target.req("DELETE", f"/v1.50/volumes/{name}")
    assert resp.status == 204 and resp.body == b""
    resp = target.req("GET", f"/v1.50/volumes/{name}")
    assert (resp.status, resp.json()) == (404, {"message": f"get {name}: no such volume"})


def test_anonymous_create_without_body(target: Target) -> None:
    for raw in (b"", b"{}"):
        resp = target.req("POST", "/v1.50/volumes/create", raw=raw)
        assert resp.status == 201
        body = resp.json()
        assert re.fullmatch(r"[0-9a-f]{64}", body["Name"])
        assert body["Labels"] == {"com.docker.volume.anonymous": ""} and body["Options"] is None
        assert target.req("DELETE", f"/v1.50/volumes/{body['Name']}").status == 204


@pytest.mark.parametrize(("method", "path", "body", "status", "message"), [
    ("POST", "/v1.50/volumes/create", {"Name": "x/y"}, 400,
     'create x/y: "x/y" includes invalid characters for a local volume name, only '
     '"[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, '
     'use absolute path'),
    ("POST", "/v1.50/volumes/create", {"Name": "kv-bad", "DriverOpts": {"foo": "1"}}, 400,
     'create kv-bad: invalid option: "foo"'),
    ("POST", "/v1.50/volumes/create", {"Name": "kv-bad", "Driver": "nfs"}, 404,
     'create kv-bad: error looking up volume plugin nfs: plugin "nfs" not found'),
    ("POST", "/v1.50/volumes/create", {"Name": 5}, 400,
     "invalid volume configuration: Expected `str`, got `int` - at `$.Name`"),
    ("POST", "/v1.50/volumes/create", {"ClusterVolumeSpec": {}}, 503,
     'This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to '
     'connect this node to swarm and try again.'),
    ("GET", "/v1.50/volumes?filters=" + quote('{"foo":{"x":true}}'), None, 400,
     "invalid filter 'foo'"),
    ("GET", "/v1.50/volumes?filters=" + quote('{"dangling":["maybe"]}'), None, 400,
     "invalid filter 'dangling=[maybe]'"),
    ("POST", "/v1.50/volumes/prune?filters=" + quote('{"dangling":["true"]}'), None, 400,
     "invalid filter 'dangling'"),
    ("DELETE", "/v1.50/volumes/kv-nosuch", None, 404, "get kv-nosuch: no such volume"),
    ("GET", "/v1.50/volumes/kv-nosuch", None, 404, "get kv-nosuch: no such volume"),
])
def test_errors(target: Target, method: str, path: str, body: Any, status: int,
                message: str) -> None:
    resp = target.req(method, path, body)
    assert (resp.status, resp.json()) == (status, {"message": message})


def test_cluster_spec_ignored_before_api_142(target: Target) -> None:
    name = unique()
    resp = target.req("POST", "/v1.41/volumes/create", {"Name": name, "ClusterVolumeSpec": {}})
    assert resp.status == 201
    target.req("DELETE", f"/v1.41/volumes/{name}")


def test_force_remove(target: Target) -> None:
    assert target.req("DELETE", "/v1.50/volumes/kv-nosuch?force=1").status == 204
    if target.mini is None:
        return
    world = target.mini.world
    name = unique()
    world.run(world.service.create(name, reference="c" * 64))
    resp = target.req("DELETE", f"/v1.50/volumes/{name}?force=true")
    assert (resp.status, resp.json()) == (
        409, {"message": f"remove {name}: volume is in use - [{'c' * 64}]"})
    world.run(world.service.release(name, "c" * 64))
    assert target.req("DELETE", f"/v1.50/volumes/{name}?force=true").status == 204


def test_prune(target: Target) -> None:
    label = unique("prune")
    anon = target.req("POST", "/v1.50/volumes/create", {"Labels": {label: ""}}).json()["Name"]
    named = unique()
    target.req("POST", "/v1.50/volumes/create", {"Name": named, "Labels": {label: ""}})
    filters = quote(json.dumps({"label": {label: True}}))
    resp = target.req("POST", f"/v1.50/volumes/prune?filters={filters}")
    assert resp.status == 200
    assert resp.json() == {"VolumesDeleted": [anon], "SpaceReclaimed": 0}
    resp = target.req("POST", f"/v1.50/volumes/prune?filters={filters}")
    assert resp.json() == {"VolumesDeleted": [], "SpaceReclaimed": 0}
    # before API 1.42 every unused volume goes
    resp = target.req("POST", f"/v1.41/volumes/prune?filters={filters}")
    assert resp.json()["VolumesDeleted"] == [named]


def test_docker_sdk(target: Target) -> None:
    client = docker_sdk.DockerClient(base_url=f"unix://{target.socket}", version="1.44")
    try:
        name = unique()
        vol = client.volumes.create(name, driver="local", labels={"sdk": "1"},
                                    driver_opts={"type": "tmpfs", "device": "tmpfs"})
        assert vol.name == name and vol.attrs["Options"] == {"type": "tmpfs", "device": "tmpfs"}
        assert client.volumes.get(name).attrs["Labels"] == {"sdk": "1"}
        assert name in [v.name for v in client.volumes.list(filters={"label": "sdk=1"})]
        vol.remove()
        with pytest.raises(docker_sdk.errors.NotFound):
            client.volumes.get(name)
        report = client.volumes.prune(filters={"label": "none-has-this"})
        assert report == {"VolumesDeleted": [], "SpaceReclaimed": 0}
    finally:
        client.close()
