"""Bad container requests: clear errors, and nothing leaked behind them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from support.dockercli import docker
from support.images import import_offline_images


@pytest.fixture(scope="module")
def engine(ketchd: Any, offline_images: Any) -> Any:
    import_offline_images(ketchd.env, offline_images, names=("busybox",))
    return ketchd


def _create(engine: Any, body: dict[str, Any], name: str = "") -> Any:
    query = f"?name={name}" if name else ""
    return engine.request("POST", f"/containers/create{query}", json.dumps(body).encode(),
                          {"Content-Type": "application/json"})


def _mounts(engine: Any) -> list[str]:
    """Mount points under this engine's own directories."""
    root = str(Path(engine.data_root).parent)
    return sorted(line.split()[4] for line in Path("/proc/self/mountinfo").read_text()
                  .splitlines() if line.split()[4].startswith(root))


def test_unknown_image(engine: Any) -> None:
    response = _create(engine, {"Image": "nosuchimage", "Cmd": ["true"]})
    assert response.status == 404
    assert response.json()["message"] == "No such image: nosuchimage:latest"
    result = docker(engine.env, "run", "nosuchimage").fails(125)
    assert "Unable to find image 'nosuchimage:latest' locally" in result.stderr
    docker(engine.env, "create", "nosuchimage").fails(1)


@pytest.mark.parametrize("host_config, field", [
    ({"Memory": "lots"}, "$.HostConfig.Memory"),
    ({"NetworkMode": "container:"}, "invalid network mode"),
    ({"RestartPolicy": {"Name": "sometimes"}}, "RestartPolicy"),
    ({"LogConfig": {"Type": "splunk"}}, "LogConfig"),
    ({"LogConfig": {"Type": "json-file", "Config": {"max-size": "huge"}}}, "max-size"),
    ({"ExtraHosts": ["no-address"]}, "no-address"),
    ({"CapAdd": ["CAP_NOT_A_THING"]}, "CAP_NOT_A_THING"),
])
def test_invalid_host_config_names_the_field(engine: Any, host_config: dict[str, Any],
                                             field: str) -> None:
    before = docker(engine.env, "ps", "-aq").ok().stdout
    response = _create(engine, {"Image": "busybox", "Cmd": ["true"],
                                "HostConfig": host_config})
    if response.status == 201:  # some are only found at start, like Docker
        cid = response.json()["Id"]
        start = engine.request("POST", f"/containers/{cid}/start")
        docker(engine.env, "rm", "-f", cid).ok()
        response = start
    assert response.status == 400, response.text
    assert field in response.json()["message"]
    assert docker(engine.env, "ps", "-aq").ok().stdout == before


def test_malformed_json(engine: Any) -> None:
    response = engine.request("POST", "/containers/create", b"{not json",
                              {"Content-Type": "application/json"})
    assert response.status == 400
    assert "invalid JSON" in response.json()["message"]


def test_conflicts(engine: Any) -> None:
    mounts_before = _mounts(engine)
    docker(engine.env, "run", "-d", "--name", "busy", "busybox", "sleep", "60").ok()
    try:
        response = _create(engine, {"Image": "busybox", "Cmd": ["true"]}, name="busy")
        assert response.status == 409
        assert 'The container name "/busy" is already in use' in response.json()["message"]
        response = engine.request("DELETE", "/containers/busy")
        assert response.status == 409
        assert "container is running" in response.json()["message"]
        assert engine.request("POST", "/containers/busy/start").status == 304
    finally:
        docker(engine.env, "rm", "-f", "busy").ok()
    docker(engine.env, "create", "--name", "idle", "busybox", "true").ok()
    try:
        response = engine.request("POST", "/containers/idle/exec", json.dumps(
            {"Cmd": ["true"]}).encode(), {"Content-Type": "application/json"})
        assert response.status == 409
        assert "is not running" in response.json()["message"]
        assert engine.request("POST", "/containers/idle/stop").status == 304
        assert engine.request("POST", "/containers/idle/kill").status == 409
    finally:
        docker(engine.env, "rm", "idle").ok()
    assert _mounts(engine) == mounts_before  # no rootfs mount left behind


def test_failed_start_leaves_nothing_mounted(engine: Any) -> None:
    mounts_before = _mounts(engine)
    docker(engine.env, "run", "--name", "broken", "busybox", "nosuch").fails(127)
    inspect = json.loads(docker(engine.env, "inspect", "broken").ok().stdout)[0]
    assert inspect["State"]["ExitCode"] == 127
    assert "executable file not found" in inspect["State"]["Error"]
    docker(engine.env, "rm", "broken").ok()
    assert _mounts(engine) == mounts_before


def test_bad_parameters(engine: Any) -> None:
    assert engine.request("POST", "/containers/nope/start").status == 404
    assert engine.request("GET", "/containers/nope/json").json()["message"] == \
        "No such container: nope"
    docker(engine.env, "run", "-d", "--name", "sig", "busybox", "sleep", "60").ok()
    try:
        response = engine.request("POST", "/containers/sig/kill?signal=SIGNOPE")
        assert response.status == 400 and "Invalid signal" in response.json()["message"]
        response = engine.request("POST", "/containers/sig/wait?condition=whenever")
        assert response.status == 400
        response = engine.request("GET", "/containers/sig/logs")
        assert response.status == 400 and "choose at least one stream" in response.text
    finally:
        docker(engine.env, "rm", "-f", "sig").ok()


def test_exec_of_missing_or_unexecutable_binary(engine: Any) -> None:
    docker(engine.env, "run", "-d", "--name", "execfail", "busybox", "sleep", "60").ok()
    try:
        result = docker(engine.env, "exec", "execfail", "nosuch").fails(127)
        assert "executable file not found" in result.stdout + result.stderr
        docker(engine.env, "exec", "execfail", "/etc/passwd").fails(126)
    finally:
        docker(engine.env, "rm", "-f", "execfail").ok()
