"""``docker update`` with the real docker CLI: new limits reach a running
container's cgroups and its HostConfig, a stopped one gets them at its next
start, and the refusals are Docker 20.10's (same messages, side by side)."""

from __future__ import annotations

import json
import re
import time
import urllib.parse
from collections.abc import Iterator

import pytest
from support.dockercli import Result, docker
from support.engines import Engine
from support.images import OfflineImages, import_offline_images

MIB = 1 << 20


def _with_busybox(engine: Engine, offline_images: OfflineImages) -> Engine:
    if docker(engine.env, "image", "inspect", "busybox:latest").returncode != 0:
        import_offline_images(engine.env, offline_images, ("busybox",))
    return engine


@pytest.fixture
def engine(ketchd: Engine, offline_images: OfflineImages) -> Iterator[Engine]:
    yield _with_busybox(ketchd, offline_images)
    docker(ketchd.env, "rm", "-f", "upd", "upd-stopped", "upd-rm")


def _limit(engine: Engine, name: str) -> int:
    out = docker(engine.env, "exec", name, "cat",
                 "/sys/fs/cgroup/memory/memory.limit_in_bytes").ok().stdout
    return int(out)


def _host(engine: Engine, name: str, template: str) -> str:
    return docker(engine.env, "inspect", "--format", template, name).ok().stdout.strip()


def test_update_reaches_a_running_container(engine: Engine) -> None:
    docker(engine.env, "run", "-d", "--name", "upd", "--memory", "64m", "busybox",
           "sleep", "300").ok()
    assert _limit(engine, "upd") == 64 * MIB
    out = docker(engine.env, "update", "--memory", "96m", "--memory-swap", "192m",
                 "--cpu-shares", "512", "--pids-limit", "50", "upd").ok()
    assert out.stdout == "upd\n"
    assert _limit(engine, "upd") == 96 * MIB
    assert _host(engine, "upd", "{{.HostConfig.Memory}} {{.HostConfig.MemorySwap}} "
                 "{{.HostConfig.CpuShares}} {{.HostConfig.PidsLimit}}") == \
        f"{96 * MIB} {192 * MIB} 512 50"
    docker(engine.env, "update", "--restart", "on-failure:3", "upd").ok()
    assert _host(engine, "upd", "{{.HostConfig.RestartPolicy.Name}} "
                 "{{.HostConfig.RestartPolicy.MaximumRetryCount}}") == "on-failure 3"
    # the CLI's --until is whole seconds: ask the API up to a second ahead
    now = int(time.time())
    body = engine.request("GET", f"/events?since={now - 60}&until={now + 1}&filters="
                          + urllib.parse.quote(json.dumps({"event": ["update"]}))).body
    updates = [json.loads(line)["Actor"]["Attributes"]["name"] for line in body.splitlines()]
    assert updates[-2:] == ["upd", "upd"]


def test_a_stopped_container_gets_the_limits_when_it_starts(engine: Engine) -> None:
    docker(engine.env, "create", "--name", "upd-stopped", "--memory", "64m", "busybox",
           "sleep", "300").ok()
    docker(engine.env, "update", "--memory", "80m", "--memory-swap", "160m",
           "upd-stopped").ok()
    docker(engine.env, "start", "upd-stopped").ok()
    assert _limit(engine, "upd-stopped") == 80 * MIB


def _refusals(engine: Engine) -> list[tuple[int, str]]:
    """Each refused update: exit code and message, container IDs masked."""
    name = "upd"
    docker(engine.env, "run", "-d", "--name", name, "--network", "none", "--memory", "64m",
           "--cpus", "0.5", "busybox", "sleep", "300").ok()
    docker(engine.env, "run", "-d", "--name", "upd-rm", "--network", "none", "--rm",
           "busybox", "sleep", "300").ok()
    results: list[Result] = [
        docker(engine.env, "update", "--memory", "256m", name),
        docker(engine.env, "update", "--memory", "4m", name),
        docker(engine.env, "update", "--memory", "100m", "--memory-swap", "50m", name),
        docker(engine.env, "update", "--cpu-period", "100000", name),
        docker(engine.env, "update", "--cpu-quota", "50000", name),
        docker(engine.env, "update", "--restart", "always", "upd-rm"),
        docker(engine.env, "update", "--memory", "96m", "nosuchcontainer"),
    ]
    return [(r.returncode, re.sub(r"[0-9a-f]{64}", "<ID>", r.stderr)) for r in results]


@pytest.mark.refdocker
def test_refusals_are_dockers(engine: Engine, refdocker: Engine,
                              offline_images: OfflineImages) -> None:
    reference = _with_busybox(refdocker, offline_images)
    try:
        expected = _refusals(reference)
    finally:
        docker(reference.env, "rm", "-f", "upd", "upd-rm")
    assert all(code == 1 for code, _ in expected), expected
    assert _refusals(engine) == expected


def test_ketch_update_prints_what_docker_prints(engine: Engine) -> None:
    """The same invocations through ``ketch`` and the docker CLI (tests/cli's
    runner), after each other on the same container."""
    from cli.runner import Runner, assert_same

    docker(engine.env, "run", "-d", "--name", "upd", "--memory", "64m", "busybox",
           "sleep", "300").ok()
    runner = Runner(engine.env)
    for args in (["update", "--memory", "72m", "--memory-swap", "144m", "upd"],
                 ["update", "--restart", "unless-stopped", "--cpus", "0.5", "upd", "nosuch"],
                 ["update", "upd"],
                 ["update", "--restart", "sometimes", "upd"],
                 ["container", "update", "--pids-limit", "-1", "upd"]):
        assert_same(*runner.both(*args))
    assert _host(engine, "upd", "{{.HostConfig.RestartPolicy.Name}} {{.HostConfig.NanoCpus}}") \
        == "unless-stopped 500000000"


@pytest.mark.refdocker
def test_swap_defaults_and_checks_at_create_are_dockers(
        engine: Engine, refdocker: Engine, offline_images: OfflineImages) -> None:
    """``--memory`` alone gets as much swap again (moby's adaptContainerSettings),
    applied to the cgroup; swap below memory, or without memory, is refused."""
    reference = _with_busybox(refdocker, offline_images)

    def outcome(target: Engine) -> list[tuple[int, str]]:
        made = docker(target.env, "create", "--network", "none", "--memory", "64m",
                      "busybox", "true").ok().stdout.strip()
        try:
            swap = _host(target, made, "{{.HostConfig.MemorySwap}}")
        finally:
            docker(target.env, "rm", made).ok()
        refused = [docker(target.env, "create", "--network", "none", *flags, "busybox", "true")
                   for flags in (["--memory", "64m", "--memory-swap", "32m"],
                                 ["--memory-swap", "64m"])]
        return [(0, swap)] + [(r.returncode, r.stderr) for r in refused]

    assert outcome(engine) == outcome(reference)
    docker(engine.env, "run", "-d", "--name", "upd", "--memory", "64m", "busybox",
           "sleep", "300").ok()
    swap_limit = docker(engine.env, "exec", "upd", "cat",
                        "/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes").ok().stdout
    assert int(swap_limit) == 128 * MIB
