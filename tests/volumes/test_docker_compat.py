"""Live comparisons with the reference Docker 20.10 (the ``refdocker`` fixture).

* the errors ``POST /containers/create`` gives for bad Binds and Mounts, against
  what ``plan_mount_points`` + ``register_mount_points`` raise (Docker answers
  some of them with 500, ketch with 400: the message is what clients show);
* the runtime-spec mount entries Docker hands to runc for a container with
  binds, volumes and tmpfs mounts, against ``oci_mounts``;
* the volume API's bodies and status codes.

Only behaviour that Docker 20.10 and 28 share is compared here; what changed
since (the anonymous-volume label, prune of named volumes) is tested in
test_service.py against Docker 28's source.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.dockercli import docker
from support.engines import Engine
from support.images import OfflineImages, import_offline_images

from ketch.containers import mounts as m
from ketch.errors import KetchError
from ketch.volumes import attach

from .conftest import MiniDaemon, World

pytestmark = pytest.mark.refdocker


def docker_create_error(engine: Engine, host_config: dict[str, Any]) -> tuple[int, str]:
    body = json.dumps({"Image": "busybox", "HostConfig": host_config}).encode()
    resp = engine.request("POST", "/v1.41/containers/create", body,
                          {"Content-Type": "application/json"})
    if resp.status == 201:
        engine.request("DELETE", f"/v1.41/containers/{resp.json()['Id']}?force=1&v=1")
        return 201, ""
    return resp.status, resp.json()["message"]


def ketch_create_error(world: World, host_config: dict[str, Any]) -> str:
    try:
        points = m.plan_mount_points(
            binds=host_config.get("Binds"), mounts=host_config.get("Mounts"),
            tmpfs=host_config.get("Tmpfs"), api_version="1.41")
        points = world.run(attach.register_mount_points(world.service, "c" * 64, points))
    except KetchError as exc:
        return exc.message
    return ""


BAD_HOST_CONFIGS: list[dict[str, Any]] = [
    {"Binds": ["/a:relative"]},
    {"Binds": ["/a:/"]},
    {"Binds": ["x/y:/d"]},
    {"Binds": ["a:/d"]},
    {"Binds": ["/foo:rw"]},
    {"Binds": ["/foo:"]},
    {"Binds": ["vol:/d:rshared"]},
    {"Binds": ["/h:/d:nocopy"]},
    {"Binds": ["/h:/d:foo"]},
    {"Binds": ["/h:/d:ro,rw"]},
    {"Binds": ["a:b:c:d:e"]},
    {"Binds": [""]},
    {"Binds": ["/tmp:/d", "/tmp:/d/"]},
    {"Binds": ["/tmp:/d"], "Tmpfs": {"/d": ""}},
    {"Binds": ["/tmp:/d"], "Mounts": [{"Type": "volume", "Target": "/d/"}]},
    {"Tmpfs": {"d": ""}},
    {"Mounts": [{"Type": "bind", "Source": "/nonexistent-ketch", "Target": "/d"}]},
    {"Mounts": [{"Type": "bind", "Source": "rel", "Target": "/d"}]},
    {"Mounts": [{"Type": "bind", "Target": "/d"}]},
    {"Mounts": [{"Type": "volume", "Target": "d"}]},
    {"Mounts": [{"Type": "volume", "Target": ""}]},
    {"Mounts": [{"Type": "volume", "Target": "/"}]},
    {"Mounts": [{"Type": "foo", "Target": "/d"}]},
    {"Mounts": [{"Type": "tmpfs", "Source": "x", "Target": "/d"}]},
    {"Mounts": [{"Type": "volume", "Source": "vx", "Target": "/d", "BindOptions": {}}]},
    {"Mounts": [{"Type": "bind", "Source": "/tmp", "Target": "/d",
                 "BindOptions": {"Propagation": "weird"}}]},
    {"Mounts": [{"Type": "volume", "Target": "/d", "ReadOnly": True}]},
    {"Mounts": [{"Type": "volume", "Source": "x/y", "Target": "/d"}]},
    # Not compared: VolumeOptions on a bind. Docker 28 drops it for API < 1.42
    # clients (20.10 refused it); test_mounts checks 28's behaviour.
]


@pytest.mark.parametrize("host_config", BAD_HOST_CONFIGS,
                         ids=[json.dumps(h)[:60] for h in BAD_HOST_CONFIGS])
def test_create_errors_match_docker(ref_busybox: Engine, world: World,
                                    host_config: dict[str, Any]) -> None:
    status, expected = docker_create_error(ref_busybox, host_config)
    assert status in (400, 500), (status, expected)
    assert ketch_create_error(world, host_config) == expected


@pytest.fixture
def ref_busybox(refdocker: Engine, offline_images: OfflineImages) -> Engine:
    if docker(refdocker.env, "image", "inspect", "busybox:latest").returncode != 0:
        import_offline_images(refdocker.env, offline_images, ("busybox",))
    return refdocker


@pytest.fixture
def scratch(tmp_path: Path) -> Iterator[Path]:
    host = tmp_path / "h"
    host.mkdir()
    yield host


def _config_json(engine: Engine, cid: str) -> dict[str, Any]:
    found = list(engine.exec_root.glob(f"containerd/**/moby/{cid}/config.json"))
    assert found, f"no config.json for {cid} under {engine.exec_root}"
    data: dict[str, Any] = json.loads(found[0].read_text())
    return data


def test_runtime_spec_mounts_match_docker(ref_busybox: Engine, scratch: Path) -> None:
    engine = ref_busybox
    vol = "kv-" + secrets.token_hex(4)
    in_root = engine.data_root / ("kv-in-root-" + secrets.token_hex(4))
    binds = [f"{vol}:/n", f"{scratch}:/b", f"{scratch}:/b2:ro", f"{in_root}:/indata",
             "/etc/hostname:/etc/hostname:ro", f"{scratch}:/deep/er/path:ro"]
    mounts: list[dict[str, Any]] = [
        {"Type": "bind", "Source": str(scratch), "Target": "/mb", "ReadOnly": True,
         "BindOptions": {"NonRecursive": True}},
        {"Type": "tmpfs", "Target": "/mt", "TmpfsOptions": {"SizeBytes": 1 << 20,
                                                            "Mode": 0o700}},
        {"Type": "volume", "Target": "/anon"}]
    tmpfs = {"/t2": "size=2m,exec", "/t3": "", "/t4": "ro,mode=755,uid=5"}
    args = ["create"]
    for b in binds:
        args += ["-v", b]
    args += ["--mount", f"type=bind,src={scratch},dst=/mb,bind-nonrecursive,ro",
             "--mount", "type=tmpfs,dst=/mt,tmpfs-size=1m,tmpfs-mode=0700",
             "--mount", "type=volume,dst=/anon"]
    for dest, opts in tmpfs.items():
        args += ["--tmpfs", f"{dest}:{opts}" if opts else dest]
    cid = docker(engine.env, *args, "busybox", "sleep", "60").ok().stdout.strip()
    try:
        docker(engine.env, "start", cid).ok()
        spec = _config_json(engine, cid)
        inspect = json.loads(docker(engine.env, "inspect", cid).ok().stdout)[0]
        volume_paths = {p["Destination"]: p["Source"] for p in inspect["Mounts"]
                        if p["Type"] == "volume"}
        points = m.plan_mount_points(binds=binds, mounts=mounts, tmpfs=tmpfs,
                                     daemon_root=str(engine.data_root), api_version="1.41")
        resolved = [m.ResolvedMount(p, volume_paths.get(p.destination, p.source))
                    for p in points]
        ours = m.oci_mounts(resolved, tmpfs, daemon_root=str(engine.data_root))
    finally:
        docker(engine.env, "rm", "-fv", cid)
        docker(engine.env, "volume", "rm", vol)
    user = {x["destination"] for x in ours.mounts}
    theirs = [x for x in spec["mounts"] if x["destination"] in user]
    key = lambda x: x["destination"]  # noqa: E731 - equal depths come in any order
    assert sorted(ours.mounts, key=key) == sorted(theirs, key=key)
    depths = [x["destination"].count("/") for x in ours.mounts]
    assert depths == sorted(depths)
    assert ours.rootfs_propagation == spec["linux"].get("rootfsPropagation", "")


# -- the volume API ----------------------------------------------------------------------


def _req(target: Engine | MiniDaemon, method: str, path: str,
         body: dict[str, Any] | None = None) -> tuple[int, Any]:
    from support import unixhttp

    data = json.dumps(body).encode() if body is not None else None
    headers = {"Content-Type": "application/json"} if data is not None else {}
    resp = unixhttp.request(str(target.socket), method, path, data, headers)
    return resp.status, (resp.json() if resp.body.strip() else None)


def _shape(doc: dict[str, Any], name: str, root: str) -> dict[str, Any]:
    """A volume object with the host-specific parts made comparable."""
    out = dict(doc)
    out["CreatedAt"] = "<time>" if doc.get("CreatedAt") else doc.get("CreatedAt")
    out["Mountpoint"] = doc["Mountpoint"].replace(root, "<root>")
    return out


def test_volume_api_matches_docker(refdocker: Engine, mini_daemon: MiniDaemon) -> None:
    name = "kv-api-" + secrets.token_hex(4)
    roots = {id(refdocker): str(refdocker.data_root),
             id(mini_daemon): str(mini_daemon.world.root)}
    results = []
    for target in (refdocker, mini_daemon):
        root = roots[id(target)]
        got: list[Any] = []
        status, body = _req(target, "POST", "/v1.41/volumes/create",
                            {"Name": name, "Labels": {"a": "b"},
                             "DriverOpts": {"type": "tmpfs", "device": "tmpfs",
                                            "o": "size=1m"}})
        got.append((status, _shape(body, name, root)))
        status, body = _req(target, "POST", "/v1.41/volumes/create",
                            {"Name": name, "DriverOpts": {"foo": "bar"}})
        got.append((status, _shape(body, name, root)))
        status, body = _req(target, "GET", f"/v1.41/volumes/{name}")
        got.append((status, _shape(body, name, root)))
        status, body = _req(target, "GET",
                            '/v1.41/volumes?filters={"name":{"' + name + '":true}}')
        got.append((status, [_shape(v, name, root) for v in body["Volumes"]],
                    body["Warnings"]))
        for path in ("/v1.41/volumes/nosuch-kv",):
            got.append(_req(target, "GET", path))
            got.append(_req(target, "DELETE", path))
            got.append(_req(target, "DELETE", path + "?force=1"))
        for bad in ({"Name": "x/y"}, {"Name": "o-" + name, "DriverOpts": {"foo": "1"}},
                    {"Name": "o-" + name, "DriverOpts": {"o": "x"}}):
            got.append(_req(target, "POST", "/v1.41/volumes/create", bad))
        got.append(_req(target, "DELETE", f"/v1.41/volumes/{name}"))
        got.append(_req(target, "GET", f"/v1.41/volumes/{name}"))
        results.append(got)
    assert results[1] == results[0]
