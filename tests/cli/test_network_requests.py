"""``ketch run/create`` network and port options: the request docker CLI 28 sends.

Both CLIs talk to a ketchd through a recording proxy; the create bodies built
from the same ``-p``, ``-P``, ``--expose``, ``--network`` (plain and
``name=...,alias=...``), ``--network-alias``, ``--ip``, ``--ip6``,
``--mac-address``, ``--add-host`` and ``--dns*`` options must be equal field
for field. Values the Docker CLI refuses must be refused with its message and
exit code, before anything reaches the daemon. ``ketch port`` must print what
``docker port`` prints.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.engines import Engine
from support.images import OfflineImages, import_offline_images

from .recorder import RecordingProxy, Request
from .runner import Runner, as_ketch


@pytest.fixture(scope="module")
def net_runner(ketchd: Engine, offline_images: OfflineImages) -> Runner:
    import_offline_images(ketchd.env, offline_images, names=("busybox",))
    return Runner(dict(ketchd.env))


@pytest.fixture
def proxied(net_runner: Runner, ketchd: Engine,
            workdir: Path) -> Iterator[tuple[Runner, RecordingProxy]]:
    proxy = RecordingProxy(workdir / "p.sock", str(ketchd.socket))
    env = dict(net_runner.env, DOCKER_HOST=proxy.host, KETCH_HOST=proxy.host)
    yield Runner(env), proxy
    proxy.close()


def _differences(docker: Any, ketch: Any, where: str = "") -> list[str]:
    """Paths where two JSON values differ, for a readable assertion message."""
    if isinstance(docker, dict) and isinstance(ketch, dict):
        out: list[str] = []
        for key in sorted(set(docker) | set(ketch)):
            if key not in docker or key not in ketch:
                out.append(f"{where}.{key}: docker {docker.get(key, '<absent>')!r} "
                           f"ketch {ketch.get(key, '<absent>')!r}")
            else:
                out += _differences(docker[key], ketch[key], f"{where}.{key}")
        return out
    if isinstance(docker, list | tuple) and isinstance(ketch, list | tuple) and \
            len(docker) == len(ketch):
        return [d for i, (a, b) in enumerate(zip(docker, ketch, strict=True))
                for d in _differences(a, b, f"{where}[{i}]")]
    return [] if docker == ketch else [f"{where}: docker {docker!r} ketch {ketch!r}"]


def _create_body(requests: list[Request]) -> Any:
    found = [r for r in requests if r.method == "POST" and r.path == "/containers/create"]
    assert len(found) == 1, [(r.method, r.target) for r in requests]
    return found[0].json()


CREATE_CASES = [
    ["-p", "8080:80", "-p", "127.0.0.1:8081:81/udp", "-p", "9000-9002:7000-7002",
     "-p", "[::1]:5000:5000", "-p", "80", "-p", "10000-10010:22", "-p", "127.0.0.1::6000",
     "-p", "8080:80", "-p", "0.0.0.0:090:90/SCTP"],
    ["-p", "published=8082,target=82,protocol=udp", "-p", "target=83", "-P",
     "--expose", "3000-3001/udp", "--expose", "4000", "--expose", "80"],
    ["--network", "kt-net", "--network-alias", "a1", "--net-alias", "a2", "--ip", "10.1.2.3",
     "--ip6", "fd00::3", "--mac-address", "02:42:ac:11:00:02"],
    ["--network", "name=kt-net,alias=x,alias=Y,ip=10.9.9.9,driver-opt=k=v,gw-priority=5",
     "--network", "kt-other"],
    ["--network", "kt-net", "--network", "name=kt-other,mac-address=02:42:ac:11:00:03"],
    ["--network", "kt-net"],
    ["--network", "bridge", "--ip", "172.17.0.9"],
    ["--network", "none"],
    ["--network", "host", "-p", "80:80"],
    ["--mac-address", "02:42:AC:11:00:02"],
    ["--add-host", "a:1.2.3.4", "--add-host", "b=::1", "--add-host", "c:[fd00::1]",
     "--add-host", "gw:host-gateway", "--dns", "8.8.8.8", "--dns", " 1.1.1.1",
     "--dns", "0:0:0:0:0:0:0:1", "--dns-search", "example.com.", "--dns-search", ".",
     "--dns-option", "ndots:3", "--hostname", "web"],
]


@pytest.mark.parametrize("flags", CREATE_CASES, ids=lambda f: " ".join(f)[:50])
def test_create_sends_the_body_docker_sends(proxied: tuple[Runner, RecordingProxy],
                                            flags: list[str]) -> None:
    runner, proxy = proxied
    name = f"kt-net-{secrets.token_hex(3)}"
    sent = []
    for cli in (runner.docker, runner.ketch):
        proxy.clear()
        result = cli("create", "--name", name, *flags, "busybox")
        outcome = (result.returncode, as_ketch(result.stderr) if cli == runner.docker
                   else result.stderr)
        sent.append((outcome, _create_body(proxy.taken())))
        runner.docker("rm", "-f", name)
    assert sent[1] == sent[0], _differences(sent[0], sent[1])


REFUSED = [
    ["-p", "abc"],
    ["-p", "1.2.3:80:80"],
    ["-p", "80/xyz"],
    ["-p", "8000-8001:80-82"],
    ["-p", "99999:80"],
    ["-p", "80:"],
    ["-p", "published=1,bogus"],
    ["--expose", "1:2"],
    ["--expose", "a"],
    ["--expose", "9-8"],
    ["--network-alias", "x"],
    ["--network", "a", "--network", "a"],
    ["--network", "bridge", "--network", "kt-net"],
    ["--network", ""],
    ["--mac-address", "zz"],
    ["--network", "name=kt-net,mac-address=nope"],
    ["--dns", "nope"],
    ["--add-host", "bad"],
    ["--add-host", "x:y"],
    ["--add-host", ":1.2.3.4"],
    ["--dns-search", "-bad-"],
    ["--network", "name=,alias=x"],
    ["--network", "foo=bar"],
    ["--network", "name=a,gw-priority=x"],
    ["--network", "name=a,driver-opt=x"],
    ["--network", "name=a", "--network-alias", "b", "--network", "name=c"],
    ["--network", "name=a,alias=b", "--network-alias", "c"],
    ["--network", "name=a,ip=10.0.0.1", "--ip", "10.0.0.2"],
]


@pytest.mark.parametrize("flags", REFUSED, ids=lambda f: " ".join(f)[:50])
def test_refused_like_docker(proxied: tuple[Runner, RecordingProxy], flags: list[str]) -> None:
    runner, proxy = proxied
    outcomes = []
    for cli in (runner.docker, runner.ketch):
        proxy.clear()
        result = cli("create", *flags, "busybox")
        creates = [r for r in proxy.taken() if r.path == "/containers/create"]
        if creates:  # the daemon refused it (not the CLI): same request, same answer
            runner.docker("rm", "-f", *result.stdout.split())
        outcomes.append((result.returncode,
                         as_ketch(result.stderr) if cli == runner.docker else result.stderr,
                         [r.json() for r in creates]))
    assert outcomes[1] == outcomes[0]


def test_port_prints_what_docker_prints(net_runner: Runner) -> None:
    name = f"kt-port-{secrets.token_hex(3)}"
    net_runner.docker("run", "-d", "--name", name, "-p", "127.0.0.1::8080",
                      "-p", "127.0.0.1::8080", "-p", "127.0.0.1::53/udp", "-p", "127.0.0.1::9",
                      "--expose", "7000", "busybox", "sleep", "60").ok()
    try:
        for args in (["port", name], ["port", name, "8080"], ["port", name, "8080/tcp"],
                     ["port", name, "53/udp"], ["port", name, "53"], ["port", name, "7000"],
                     ["port", name, "abc"], ["port", name, "70000"], ["port", "kt-nosuch"],
                     ["container", "port", name, "9"], ["port"]):
            docker, ketch = net_runner.both(*args)
            assert (ketch.returncode, ketch.stdout, ketch.stderr) == (
                docker.returncode, docker.stdout, as_ketch(docker.stderr)), args
        mapped = net_runner.ketch("port", name, "8080").ok().stdout.split()
        assert len(mapped) == 2 and all(m.startswith("127.0.0.1:") for m in mapped)
    finally:
        net_runner.docker("rm", "-f", name).ok()


def test_network_commands_print_what_docker_prints(net_runner: Runner) -> None:
    """The ``network`` group as wired into ``ketch``: read-only commands and errors."""
    name = f"kt-nw-{secrets.token_hex(3)}"
    net_runner.docker("network", "create", name).ok()
    try:
        for args in (["network"], ["network", "--help"], ["network", "ls"],
                     ["network", "list", "-q", "--filter", f"name={name}"],
                     ["network", "inspect", name], ["network", "inspect", "kt-nosuch"],
                     ["network", "remove", "kt-nosuch"], ["network", "rm", "bridge"],
                     ["network", "connect", name, "kt-nosuch"],
                     ["network", "disconnect", name, "kt-nosuch"], ["network", "bogus"]):
            docker, ketch = net_runner.both(*args)
            assert (ketch.returncode, ketch.stdout, ketch.stderr) == (
                docker.returncode, docker.stdout.replace("docker", "ketch"),
                as_ketch(docker.stderr)), args
    finally:
        net_runner.docker("network", "rm", name).ok()
