"""``ketch`` sends the engine what the docker CLI sends, for the container commands.

Both CLIs talk to the engine through a recording proxy; the create bodies
built from the same flags must be equal field for field (docker lists ``-e``
variables in Go map order, so Env is compared as a set), and the sequence of
requests of ``run``, ``exec``, ``logs``... must be the same, in particular
the wait that ``run`` asks for *before* it starts the container.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.engines import Engine

from .recorder import RecordingProxy, Request
from .runner import Runner, as_ketch


@pytest.fixture
def proxied(containers: Runner, container_engine: Engine,
            workdir: Path) -> Iterator[tuple[Runner, RecordingProxy]]:
    proxy = RecordingProxy(workdir / "p.sock", str(container_engine.socket))
    env = dict(containers.env, DOCKER_HOST=proxy.host, KETCH_HOST=proxy.host,
               KT_FROM_ENV="env-value")
    yield Runner(env), proxy
    proxy.close()


def _split(flags: list[str]) -> tuple[list[str], str, list[str]]:
    """Options, and the command after ``--`` (given after the image)."""
    if "--" in flags:
        i = flags.index("--")
        return flags[:i], "--", flags[i + 1:]
    return flags, "", []


def _create_request(requests: list[Request]) -> Request:
    found = [r for r in requests if r.method == "POST" and r.path == "/containers/create"]
    assert len(found) == 1, [(r.method, r.target) for r in requests]
    return found[0]


def _normalized_body(request: Request) -> Any:
    body = request.json()
    body["Env"] = sorted(body["Env"]) if body["Env"] is not None else None
    return body


CREATE_CASES = [
    [],
    ["--", "sh", "-c", "echo hi"],
    ["-e", "X=1", "-e", "KT_FROM_ENV", "-e", "KT_UNSET", "-e", "X=2", "-w", "/tmp",
     "-u", "1000:1000", "--entrypoint", "/bin/sh", "-h", "myhost", "-l", "a=b", "--label",
     "c", "--read-only", "--privileged", "--cap-add", "NET_ADMIN", "--cap-drop", "chown",
     "--cap-add", "net_admin", "--cap-add", "CAP_SYS_TIME", "--network", "host", "--log-opt",
     "max-size=1m", "--log-opt", "max-file=2", "--stop-signal", "SIGUSR1", "--stop-timeout",
     "7", "-a", "stdout", "-i", "-t"],
    ["--network", "none", "-a", "stderr", "-a", "STDIN", "--entrypoint=", "--", "echo", "x"],
    ["--net", "none", "--stop-timeout", "0", "--cap-drop", "ALL"],
    ["--rm", "--restart", "no", "--init", "--domainname", "example.org", "--tmpfs",
     "/t:size=1m", "--tmpfs", "/u", "--dns", "192.0.2.1", "--dns-option", "ndots:2",
     "--dns-search", "example.com", "--group-add", "users", "--ipc", "private", "--pid",
     "host", "--uts", "host", "--userns", "host", "--cgroupns", "private", "--runtime", "runc",
     "--oom-score-adj", "5", "--pids-limit", "100", "-m", "64m", "--memory-swap", "-1",
     "--memory-reservation", "32MiB", "--shm-size", "1.5g", "--cpu-shares", "512",
     "--cpus", "1.5", "--cpuset-cpus", "0", "--cpuset-mems", "0", "--log-driver",
     "json-file"],
    ["--restart", "on-failure:3", "--init=false", "-m", "1024", "--cpus", "0.001"],
    ["--restart", "always", "--memory-swap", "1k", "--shm-size", "10KB"],
]


@pytest.mark.parametrize("flags", CREATE_CASES, ids=lambda f: " ".join(f)[:40] or "plain")
def test_create_sends_the_body_docker_sends(proxied: tuple[Runner, RecordingProxy],
                                            workdir: Path, flags: list[str]) -> None:
    runner, proxy = proxied
    env_file = workdir / "env.list"
    env_file.write_text("# comment\nFROM_FILE=1\n  SPACED=a b\nKT_FROM_ENV\nKT_UNSET\n")
    label_file = workdir / "labels"
    label_file.write_text("la=1\nlb\n")
    extra = ["--env-file", str(env_file), "--label-file", str(label_file)]
    options, _, command = _split(flags)
    sent = []
    for cli in (runner.docker, runner.ketch):
        proxy.clear()
        result = cli("create", "--name", "kt-body", *extra, *options, "busybox", *command)
        request = _create_request(proxy.taken())
        # Some combinations are refused by the daemon: the same way for both.
        outcome = (result.returncode, as_ketch(result.stderr) if cli == runner.docker
                   else result.stderr)
        sent.append((outcome, request.query, _normalized_body(request)))
        runner.docker("rm", "-f", "kt-body").ok()
    assert sent[1] == sent[0]


def test_cidfile_is_written_and_sent(proxied: tuple[Runner, RecordingProxy],
                                     workdir: Path) -> None:
    runner, proxy = proxied
    bodies = []
    for name, cli in (("d", runner.docker), ("k", runner.ketch)):
        cid = workdir / f"{name}.cid"
        result = cli("create", "--cidfile", str(cid), "busybox")
        assert result.returncode == 0, result.describe()
        assert cid.read_text() == result.stdout.strip()
        body = _create_request(proxy.taken()).json()
        assert body["HostConfig"]["ContainerIDFile"] == str(cid)
        body["HostConfig"]["ContainerIDFile"] = ""
        bodies.append(body)
        again = cli("create", "--cidfile", str(cid), "busybox")
        assert again.returncode == 1
        assert "container ID file found" in again.stderr
    assert bodies[1] == bodies[0]


_ID = re.compile(r"[0-9a-f]{64}")


def _sequence(requests: list[Request], names: tuple[str, ...] = ()) -> list[tuple[Any, ...]]:
    """(method, path with IDs and names replaced, query, upgrade) of each request."""
    out = []
    for r in requests:
        path = _ID.sub("<id>", r.path)
        for name in names:
            path = path.replace(f"/{name}/", "/<id>/").removesuffix(f"/{name}")
        query = {k: _ID.sub("<id>", v) for k, v in r.query.items()}
        out.append((r.method, path, query, r.upgrade))
    return out


def _both(runner: Runner, proxy: RecordingProxy, *args: str,
          reset: Any = None) -> tuple[list[Request], list[Request]]:
    recorded = []
    for cli in (runner.docker, runner.ketch):
        if reset is not None:
            reset()
        proxy.clear()
        cli(*args)
        recorded.append(proxy.taken())
    return recorded[0], recorded[1]


@pytest.mark.parametrize("args", [
    ["run", "--rm", "busybox", "true"],
    ["run", "busybox", "sh", "-c", "exit 3"],
    ["run", "-d", "busybox", "true"],
    ["run", "-i", "--rm", "busybox", "cat"],
    ["run", "-a", "stderr", "busybox", "true"],
    ["run", "--rm", "busybox", "nosuchcommand"],
], ids=" ".join)
def test_run_asks_what_docker_asks_in_the_same_order(proxied: tuple[Runner, RecordingProxy],
                                                     args: list[str]) -> None:
    runner, proxy = proxied
    docker, ketch = _both(runner, proxy, *args)
    assert _settled(_sequence(ketch)) == _settled(_sequence(docker))
    steps = [(r.method, r.path.rsplit("/", 1)[-1]) for r in ketch]
    assert steps.index(("POST", "wait")) < steps.index(("POST", "start"))
    if ("POST", "attach") in steps:
        assert steps.index(("POST", "attach")) < steps.index(("POST", "start"))


def _settled(sequence: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """docker sends attach and wait from two goroutines: their order varies."""
    out = list(sequence)
    for i in range(len(out) - 1):
        pair = {out[i][1].rsplit("/", 1)[-1], out[i + 1][1].rsplit("/", 1)[-1]}
        if pair == {"attach", "wait"}:
            out[i], out[i + 1] = sorted((out[i], out[i + 1]), key=repr)
    return out


def test_container_commands_ask_what_docker_asks(proxied: tuple[Runner, RecordingProxy]) -> None:
    runner, proxy = proxied

    def reset() -> None:
        runner.docker("rm", "-f", "kt-seq").ok()
        runner.docker("run", "-d", "--name", "kt-seq", "busybox", "sleep", "60").ok()

    for args in (["exec", "kt-seq", "true"],
                 ["exec", "-d", "-e", "A=1", "-u", "1", "-w", "/tmp", "kt-seq", "true"],
                 ["exec", "-i", "kt-seq", "cat"],
                 ["logs", "--tail", "5", "-t", "--details", "--since", "2020-01-01",
                  "--until", "2030-01-01T00:00:00Z", "kt-seq"],
                 ["stop", "-t", "0", "-s", "KILL", "kt-seq", "nosuch"],
                 ["restart", "-t", "0", "kt-seq"],
                 ["kill", "-s", "HUP", "kt-seq"],
                 ["pause", "kt-seq"],
                 ["rm", "-fv", "kt-seq"],
                 ["rename", "kt-seq", "kt-seq2"],
                 ["top", "kt-seq", "-o", "pid,comm"],
                 ["wait", "nosuch"],
                 ["ps", "-a", "-n", "3", "-s", "-f", "status=running", "-f", "name=kt"],
                 ["ps", "-l", "--format", "{{.Size}}"],
                 ["container", "inspect", "-s", "kt-seq"],
                 ["inspect", "--type", "container", "kt-seq"],
                 ["container", "prune", "-f", "--filter", "until=1h"]):
        docker, ketch = _both(runner, proxy, *args, reset=reset)
        names = ("kt-seq",)
        # Docker works on several containers in parallel: compare as sets there.
        assert sorted(map(repr, _sequence(ketch, names))) == \
            sorted(map(repr, _sequence(docker, names))), args
    runner.docker("rm", "-f", "kt-seq2").ok()
