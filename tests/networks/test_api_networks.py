"""The /networks routes, the client and ``ketch network`` against a real service.

Until the lead wires the routes into ketchd, they are served here by an
aiohttp app built from ``ketch.api.networks`` and the real API middlewares
(error mapping, version prefix) over a unix socket, so the real Docker CLI
28, the Docker SDK and ketch's own CLI can be compared on the same daemon.
The ``ketchd`` tests at the end run against the real daemon and skip while
its ``GET /networks`` answers 404.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from support.dockercli import docker, docker_cli_env
from support.unixhttp import request

from ketch.api import networks as api_networks
from ketch.api.errors import error_middleware
from ketch.api.version import API_VERSION
from ketch.cli.commands import network as cli
from ketch.cli.env import Env
from ketch.cli.flags import parse

from .conftest import Harness


async def _ping(request: web.Request) -> web.Response:
    return web.Response(text="OK", headers={"Api-Version": API_VERSION, "Ostype": "linux"})


@pytest.fixture
def api(harness: Harness, tmp_path: Path) -> Iterator[str]:
    """A unix socket serving the network routes; its path."""
    from ketch.api.app import VERSION_PREFIX, version_middleware

    app = web.Application(middlewares=[error_middleware, version_middleware])
    app[api_networks.NETWORKS] = harness.service

    def add(method: str, path: str, handler: Any) -> None:
        app.router.add_route(method, path, handler)
        app.router.add_route(method, VERSION_PREFIX + path, handler)

    api_networks.add_routes(add)
    add("GET", "/_ping", _ping)
    add("HEAD", "/_ping", _ping)
    runner = web.AppRunner(app)
    sock = str(tmp_path / "api.sock")

    async def start() -> None:
        await runner.setup()
        await web.UnixSite(runner, sock).start()

    harness.run(start())
    yield sock
    harness.run(runner.cleanup())


@pytest.fixture
def dock(api: str, tmp_path: Path) -> Callable[..., Any]:
    env = docker_cli_env(f"unix://{api}", tmp_path / "docker-config")
    return lambda *args, **kw: docker(env, *args, **kw)


def ketch(api: str, command: str, *args: str, stdin: str = "") -> tuple[int, str, str]:
    """Run ``ketch network COMMAND ARGS`` in-process: (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    env = Env(host=f"unix://{api}", stdin=io.StringIO(stdin), stdout=out, stderr=err)
    spec = getattr(cli, f"spec_network_{command}")(f"ketch network {command}")
    try:
        code = getattr(cli, f"run_network_{command}")(env, parse(spec, list(args)))
    except Exception as exc:  # what ketch.cli.main would print
        from ketch.cli.messages import daemon_error_text
        from ketch.errors import KetchError

        if not isinstance(exc, KetchError):
            raise
        err.write(daemon_error_text(exc) + "\n")
        code = 1
    return code, out.getvalue(), err.getvalue()


def test_http_shapes(api: str, harness: Harness) -> None:
    subnet = harness.names.subnets[1]
    body = json.dumps({"Name": "shapes", "IPAM": {"Driver": "default",
                                                  "Config": [{"Subnet": subnet}]},
                       "Labels": {"a": "b"}, "CheckDuplicate": True}).encode()
    resp = request(api, "POST", "/v1.47/networks/create", body,
                   {"Content-Type": "application/json"})
    assert resp.status == 201, resp.text
    created = resp.json()
    assert set(created) == {"Id", "Warning"} and len(created["Id"]) == 64
    resp = request(api, "GET", "/networks/shapes")
    doc = resp.json()
    assert list(doc) == ["Name", "Id", "Created", "Scope", "Driver", "EnableIPv4",
                         "EnableIPv6", "IPAM", "Internal", "Attachable", "Ingress",
                         "ConfigFrom", "ConfigOnly", "Containers", "Options", "Labels"]
    assert doc["IPAM"]["Config"] == [{"Subnet": subnet, "Gateway": subnet[:-4] + "1"}]
    assert doc["Labels"] == {"a": "b"} and doc["Containers"] == {}
    resp = request(api, "POST", "/networks/create", body, {"Content-Type": "application/json"})
    assert (resp.status, resp.json()) == (409, {
        "message": "network with name shapes already exists"})
    assert resp.headers["content-type"] == "application/json"
    resp = request(api, "GET", "/networks?filters=" + '{"name":{"shapes":true}}')
    assert [n["Name"] for n in resp.json()] == ["shapes"]
    resp = request(api, "GET", "/networks/shapes?verbose=maybe")
    assert resp.status == 400
    resp = request(api, "DELETE", "/networks/bridge")
    assert resp.status == 403
    resp = request(api, "DELETE", "/networks/nosuch")
    assert (resp.status, resp.json()["message"]) == (404, "network nosuch not found")
    resp = request(api, "POST", "/networks/create", b"{bad", {"Content-Type": "application/json"})
    assert resp.status == 400
    resp = request(api, "POST", "/networks/prune")
    assert (resp.status, resp.json()) == (200, {"NetworksDeleted": ["shapes"]})


def test_docker_cli_against_ketch(dock: Callable[..., Any], api: str,
                                  harness: Harness) -> None:
    subnet = harness.names.subnets[2]
    net_id = dock("network", "create", "--subnet", subnet, "--label", "team=x",
                  "-o", "com.docker.network.bridge.enable_icc=false", "clinet").ok().stdout.strip()
    assert len(net_id) == 64
    ls = dock("network", "ls").ok().stdout.splitlines()
    assert ls[0].split() == ["NETWORK", "ID", "NAME", "DRIVER", "SCOPE"]
    assert any(line.split()[1:] == ["clinet", "bridge", "local"] for line in ls[1:])
    doc = json.loads(dock("network", "inspect", "clinet").ok().stdout)[0]
    assert doc["Id"] == net_id and doc["IPAM"]["Config"][0]["Subnet"] == subnet
    assert doc["Options"] == {"com.docker.network.bridge.enable_icc": "false"}
    assert dock("network", "inspect", "-f", "{{.Name}} {{.Driver}} {{.Labels}}",
                "clinet").ok().stdout == "clinet bridge map[team:x]\n"
    dup = dock("network", "create", "clinet").fails()
    assert dup.stderr == "Error response from daemon: network with name clinet already exists\n"
    rm = dock("network", "rm", "bridge").fails()
    assert "bridge is a pre-defined network and cannot be removed" in rm.stderr
    # ketch's CLI prints what docker's prints.
    for args in (["ls"], ["ls", "-q"], ["ls", "--no-trunc"], ["ls", "--format", "json"],
                 ["ls", "--format", "{{.Name}}\t{{.IPv6}}\t{{.Internal}}\t{{.Labels}}"],
                 ["ls", "-f", "type=custom"], ["inspect", "clinet", "bridge"],
                 ["inspect", "--format", "{{json .IPAM}}", "clinet"],
                 ["inspect", "--format", "json", "clinet"],
                 ["inspect", "--format", "{{.Created}} {{.ID}} {{.Containers}} "
                  "{{range .IPAM.Config}}{{.Subnet}}{{end}}", "clinet"],
                 ["inspect", "clinet", "nosuch"]):
        want = dock("network", *args)
        code, got, err = ketch(api, args[0], *args[1:])
        assert (code, got, err) == (want.returncode, want.stdout, want.stderr), args
    code, out, err = ketch(api, "create", "--subnet", subnet, "other")
    assert code == 1 and "Pool overlaps with other one on this address space" in err
    code, out, _ = ketch(api, "rm", "nosuch", "clinet")
    assert code == 1 and out == "clinet\n"
    assert ketch(api, "rm", "-f", "nosuch") == (0, "", "")
    code, out, _ = ketch(api, "create", "--internal", "--ip-range",
                         subnet.replace(".0/24", ".128/25"), "--subnet", subnet, "third")
    assert code == 0
    doc = json.loads(dock("network", "inspect", "third").ok().stdout)[0]
    assert doc["Internal"] is True and doc["IPAM"]["Config"][0]["IPRange"].endswith(".128/25")
    assert ketch(api, "prune", stdin="n\n")[1].startswith("WARNING! This will remove all custom")
    assert ketch(api, "prune", "-f") == (0, "Deleted Networks:\nthird\n\n", "")
    assert dock("network", "prune", "-f").ok().stdout == ""


def test_docker_sdk(api: str, harness: Harness) -> None:
    import docker as docker_sdk

    client = docker_sdk.DockerClient(base_url=f"unix://{api}", version="1.47")
    try:
        net = client.networks.create("sdknet", driver="bridge", labels={"k": "v"})
        assert net.attrs["Name"] == "sdknet"
        assert [n.name for n in client.networks.list(names=["sdknet"])] == ["sdknet"]
        assert client.networks.get(net.id[:12]).attrs["Labels"] == {"k": "v"}
        with pytest.raises(docker_sdk.errors.NotFound):
            client.networks.get("nonesuch")
        net.remove()
        assert client.networks.prune() == {"NetworksDeleted": None}
    finally:
        client.close()


# -- against ketchd itself, once the routes are wired ---------------------------------------


@pytest.fixture
def wired(ketchd: Any) -> Any:
    resp = request(str(ketchd.socket), "GET", "/networks")
    if resp.status == 404:
        pytest.skip("ketchd does not serve /networks yet (routes not wired)")
    return ketchd


def test_ketchd_predefined_networks(wired: Any, tmp_path: Path) -> None:
    env = docker_cli_env(wired.host, tmp_path / "docker-config")
    names = docker(env, "network", "ls", "--format", "{{.Name}}").ok().stdout.split()
    assert {"bridge", "host", "none"} <= set(names)
    doc = json.loads(docker(env, "network", "inspect", "bridge").ok().stdout)[0]
    assert doc["Driver"] == "bridge"
    assert doc["Options"]["com.docker.network.bridge.default_bridge"] == "true"


def test_ketchd_create_inspect_remove(wired: Any, tmp_path: Path, harness: Harness) -> None:
    env = docker_cli_env(wired.host, tmp_path / "docker-config")
    name = f"kt-{harness.names.tag}"
    subnet = harness.names.subnets[3]
    docker(env, "network", "create", "--subnet", subnet, name).ok()
    try:
        doc = json.loads(docker(env, "network", "inspect", name).ok().stdout)[0]
        assert doc["IPAM"]["Config"][0]["Subnet"] == subnet
    finally:
        docker(env, "network", "rm", name).ok()
