"""Container healthchecks through the real docker CLI: probes run as execs in
the container, ``State.Health``, ``docker ps`` status and filter, the
``health_status`` events, images with a HEALTHCHECK, daemon restarts, and
the same flags against the reference Docker 20.10.

Probes run every second, so each test waits a few seconds at most; the
containers of a test run side by side while it waits.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from support.dockercli import docker
from support.engines import Engine
from support.images import OfflineImages, import_offline_images

from ketch.containers.health import go_duration

NONE = ("--network", "none")
FAST = ("--health-interval", "1s")
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")


def _with_busybox(engine: Engine, offline_images: OfflineImages) -> Engine:
    if docker(engine.env, "image", "inspect", "busybox:latest").returncode != 0:
        import_offline_images(engine.env, offline_images, ("busybox",))
    return engine


@pytest.fixture
def engine(ketchd: Engine, offline_images: OfflineImages) -> Engine:
    return _with_busybox(ketchd, offline_images)


class Containers:
    """Runs containers on one engine and removes them all at the end."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.prefix = "kh" + secrets.token_hex(3)
        self.names: list[str] = []

    def run(self, name: str, *args: str, cmd: tuple[str, ...] = ("busybox", "sleep", "60")) -> str:
        full = f"{self.prefix}-{name}"
        self.names.append(full)
        docker(self.engine.env, "run", "-d", "--name", full, *NONE, *args, *cmd).ok()
        return full

    def health(self, name: str) -> dict[str, Any] | None:
        out = docker(self.engine.env, "inspect", "--format", "{{json .State.Health}}",
                     name).ok().stdout
        value: dict[str, Any] | None = json.loads(out)
        return value

    def ps(self, *args: str) -> dict[str, str]:
        """name -> Status of this test's containers in ``docker ps ARGS``."""
        out = docker(self.engine.env, "ps", "--format", "{{.Names}}\t{{.Status}}",
                     *args).ok().stdout
        rows = (line.split("\t") for line in out.splitlines())
        return {n: s for n, s in rows if n.startswith(self.prefix)}

    def cleanup(self) -> None:
        if self.names:
            docker(self.engine.env, "rm", "-f", *self.names)


@pytest.fixture
def containers(engine: Engine) -> Iterator[Containers]:
    made = Containers(engine)
    yield made
    made.cleanup()


def wait_for(what: str, check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.2)


def status_of(c: Containers, name: str) -> str | None:
    health = c.health(name)
    return None if health is None else str(health["Status"])


def test_passing_check_becomes_healthy(containers: Containers) -> None:
    since = time.time()
    name = containers.run("ok", "--health-cmd", "echo fine", *FAST)
    first = containers.health(name)
    assert first is not None and first["Status"] == "starting"
    assert first["FailingStreak"] == 0 and first["Log"] == []
    assert containers.ps()[name].endswith(" (health: starting)")
    assert name in containers.ps("--filter", "health=starting")

    wait_for("healthy", lambda: status_of(containers, name) == "healthy", 6)
    health = containers.health(name)
    assert health is not None and health["FailingStreak"] == 0
    entry = health["Log"][0]
    assert set(entry) == {"Start", "End", "ExitCode", "Output"}
    assert entry["ExitCode"] == 0 and entry["Output"] == "fine\n"
    assert RFC3339.match(entry["Start"]) and RFC3339.match(entry["End"])
    assert entry["Start"] <= entry["End"]
    assert re.fullmatch(r"Up .* \(healthy\)", containers.ps()[name])
    assert name in containers.ps("--filter", "health=healthy")
    assert name not in containers.ps("--filter", "health=starting")
    assert name not in containers.ps("--filter", "health=none")

    # Five results at most are kept, oldest first.
    wait_for("a full log", lambda: len((containers.health(name) or {})["Log"]) == 5, 9)
    time.sleep(1.5)
    log = (containers.health(name) or {})["Log"]
    assert len(log) == 5 and [e["Start"] for e in log] == sorted(e["Start"] for e in log)
    # Each probe's exec session is released (one may be running right now),
    # and none shows among the container's ExecIDs for long.
    cid = docker(containers.engine.env, "inspect", "--format", "{{.Id}}", name).ok().stdout
    sessions = containers.engine.exec_root / "runtime" / cid.strip() / "exec"
    if containers.engine.kind == "ketchd":
        assert len(list(sessions.iterdir())) <= 1

    events = docker(containers.engine.env, "events", "--since", f"{since:.6f}", "--until",
                    f"{time.time():.6f}", "--filter", f"container={name}", "--format",
                    "{{.Action}}").ok().stdout.splitlines()
    assert events.count("health_status: healthy") == 1
    assert "exec_create: /bin/sh -c echo fine" in events

    # A stopped container keeps its results; its status is unhealthy (as Docker's).
    docker(containers.engine.env, "stop", "-t", "0", name).ok()
    stopped = containers.health(name)
    assert stopped is not None and stopped["Status"] == "unhealthy" and stopped["Log"]
    assert containers.ps("-a")[name].startswith("Exited (")
    # Started again: starting over, with the old results still there.
    docker(containers.engine.env, "start", name).ok()
    again = containers.health(name)
    assert again is not None and again["Status"] == "starting" and again["Log"]
    wait_for("healthy again", lambda: status_of(containers, name) == "healthy", 6)


def test_failing_check_and_timeout_become_unhealthy(containers: Containers) -> None:
    since = time.time()
    failing = containers.run("bad", "--health-cmd", "echo boom >&2; exit 3", *FAST,
                             "--health-retries", "2")
    slow = containers.run("slow", "--health-cmd", "echo slow; sleep 5", *FAST,
                          "--health-timeout", "1s", "--health-retries", "1")
    chatty = containers.run("chatty", "--health-cmd", "head -c 5000 /dev/zero | tr '\\0' x",
                            *FAST)
    wait_for("unhealthy", lambda: status_of(containers, failing) == "unhealthy", 8)
    health = containers.health(failing)
    assert health is not None and health["FailingStreak"] >= 2
    assert all(e["ExitCode"] == 3 and e["Output"] == "boom\n" for e in health["Log"])
    assert re.fullmatch(r"Up .* \(unhealthy\)", containers.ps()[failing])

    wait_for("timed out", lambda: status_of(containers, slow) == "unhealthy", 8)
    health = containers.health(slow)
    assert health is not None and health["FailingStreak"] >= 1
    entry = health["Log"][0]
    assert entry["ExitCode"] == -1
    assert entry["Output"] == "Health check exceeded timeout (1s): slow\n"

    # Output is cut at 4096 bytes (stdout and stderr together), as Docker does.
    wait_for("healthy", lambda: status_of(containers, chatty) == "healthy", 4)
    assert (containers.health(chatty) or {})["Log"][0]["Output"] == "x" * 4096 + "..."

    unhealthy = containers.ps("--filter", "health=unhealthy")
    assert failing in unhealthy and slow in unhealthy
    assert set(containers.ps("--filter", "health=healthy")) == {chatty}
    events = docker(containers.engine.env, "events", "--since", f"{since:.6f}", "--until",
                    f"{time.time():.6f}", "--filter", f"container={failing}", "--format",
                    "{{.Action}}").ok().stdout.splitlines()
    assert events.count("health_status: unhealthy") == 1


def test_start_period(containers: Containers) -> None:
    """Failures within the start period do not count while the container has
    not been healthy; probes run every start interval meanwhile."""
    name = containers.run("grace", "--health-cmd", "exit 1", *FAST, "--health-retries", "1",
                          "--health-start-period", "30s", "--health-start-interval", "1s")
    other = containers.run("nograce", "--health-cmd", "exit 1", *FAST, "--health-retries", "1")
    wait_for("failed probes", lambda: len((containers.health(name) or {})["Log"]) >= 2, 6)
    health = containers.health(name)
    assert health is not None and health["Status"] == "starting"
    assert health["FailingStreak"] == 0
    assert all(e["ExitCode"] == 1 for e in health["Log"])
    wait_for("unhealthy", lambda: status_of(containers, other) == "unhealthy", 6)


def test_image_healthcheck_and_no_healthcheck(containers: Containers) -> None:
    env = containers.engine.env
    image = f"{containers.prefix}-img"
    source = docker(env, "create", *NONE, "busybox", "true").ok().stdout.strip()
    try:
        docker(env, "commit", "--change", "HEALTHCHECK --interval=1s CMD [\"true\"]",
               source, image).ok()
    finally:
        docker(env, "rm", source).ok()
    try:
        probed = containers.run("img", cmd=(image, "sleep", "60"))
        disabled = containers.run("off", "--no-healthcheck", cmd=(image, "sleep", "60"))
        plain = containers.run("plain", cmd=("busybox", "sleep", "60"))
        wait_for("healthy", lambda: status_of(containers, probed) == "healthy", 6)
        health = containers.health(probed)
        assert health is not None and health["Log"][0]["ExitCode"] == 0
        assert containers.health(disabled) is None and containers.health(plain) is None
        listed = containers.ps()
        assert re.fullmatch(r"Up [^(]*", listed[disabled])
        assert set(containers.ps("--filter", "health=none")) == {disabled, plain}
        r = docker(env, "ps", "--filter", "health=bogus").fails(1)
        assert "invalid filter 'health=bogus'" in r.stderr
    finally:
        containers.cleanup()
        containers.names.clear()
        docker(env, "rmi", image).ok()


def test_monitor_comes_back_after_daemon_restart(make_ketchd: Callable[..., Engine],
                                                 offline_images: OfflineImages) -> None:
    engine = _with_busybox(make_ketchd(), offline_images)
    c = Containers(engine)
    try:
        name = c.run("survivor", "--health-cmd", "true", *FAST,
                     cmd=("busybox", "sleep", "60"))
        wait_for("healthy", lambda: status_of(c, name) == "healthy", 6)
        engine.stop()
        engine.start()
        health = c.health(name)
        assert health is not None and health["Status"] in ("starting", "healthy")
        count = len(health["Log"])
        wait_for("new results", lambda: status_of(c, name) == "healthy" and
                 len((c.health(name) or {})["Log"]) > count, 6)
    finally:
        c.cleanup()


# -- the same flags on the reference Docker -----------------------------------------------

SCENARIOS: dict[str, tuple[str, ...]] = {
    "ok": ("--health-cmd", "echo fine", *FAST),
    "bad": ("--health-cmd", "echo boom; exit 1", *FAST, "--health-retries", "2"),
    "slow": ("--health-cmd", "sleep 5", *FAST, "--health-timeout", "1s",
             "--health-retries", "1"),
}
SETTLED = {"ok": "healthy", "bad": "unhealthy", "slow": "unhealthy"}


def _observe(engine: Engine) -> dict[str, Any]:
    """What inspect and ps show for each scenario: first, then once settled."""
    c = Containers(engine)
    try:
        names = {key: c.run(key, *args, cmd=("busybox", "sleep", "60"))
                 for key, args in SCENARIOS.items()}
        seen: dict[str, Any] = {key: {"first": c.health(n)} for key, n in names.items()}
        for key, name in names.items():
            wait_for(f"{key} settled", lambda n=name, k=key: status_of(c, n) == SETTLED[k], 10)
            health = c.health(name) or {}
            entry = health["Log"][-1]
            seen[key].update(
                keys=sorted(health), entry_keys=sorted(entry), status=health["Status"],
                exit_code=entry["ExitCode"], output=entry["Output"],
                streak=health["FailingStreak"] > 0,
                ps=re.sub(r"^Up .*? \(", "Up X (", c.ps()[name]))
        # Pausing and stopping end the monitor: the status says unhealthy.
        ok = names["ok"]
        docker(engine.env, "pause", ok).ok()
        seen["paused"] = [status_of(c, ok), re.sub(r"^Up .*? \(", "Up X (", c.ps()[ok])]
        docker(engine.env, "unpause", ok).ok()
        seen["unpaused"] = status_of(c, ok)
        docker(engine.env, "stop", "-t", "0", ok).ok()
        seen["stopped"] = status_of(c, ok)
        return seen
    finally:
        c.cleanup()


@pytest.mark.refdocker
def test_same_as_docker(engine: Engine, refdocker: Engine,
                        offline_images: OfflineImages) -> None:
    ours = _observe(engine)
    theirs = _observe(_with_busybox(refdocker, offline_images))
    # Docker 20.10 printed no output after the timeout message (newer ones do).
    assert theirs["slow"]["output"].startswith("Health check exceeded timeout (1s)")
    assert ours["slow"]["output"].startswith("Health check exceeded timeout (1s)")
    ours["slow"]["output"] = theirs["slow"]["output"] = ""
    assert theirs["paused"] == ["unhealthy", "Up X (Paused)"]
    assert theirs["stopped"] == "unhealthy"
    assert ours == theirs


def test_go_duration() -> None:
    """Timeouts appear in the failure message as Go prints durations."""
    second = 1_000_000_000
    cases = {1: "1ns", 1500: "1.5µs", 500_000_000: "500ms", second: "1s",
             1_500_000_000: "1.5s", 30 * second: "30s", 90 * second: "1m30s",
             3600 * second: "1h0m0s", 3725 * second: "1h2m5s"}
    assert {ns: go_duration(ns) for ns in cases} == cases


@pytest.mark.refdocker
def test_create_rejects_bad_healthcheck(engine: Engine, refdocker: Engine,
                                        offline_images: OfflineImages) -> None:
    """The daemon's own checks (the CLI checks some flags before sending)."""
    bad = [{"Test": ["CMD", "true"], "Interval": 5},
           {"Test": ["CMD", "true"], "Timeout": -1},
           {"Test": ["CMD", "true"], "Retries": -2},
           {"Test": ["CMD", "true"], "StartPeriod": 10}]

    def answers(target: Engine) -> list[tuple[int, str]]:
        result = []
        for health in bad:
            body = json.dumps({"Image": "busybox", "Healthcheck": health}).encode()
            r = target.request("POST", "/v1.41/containers/create", body,
                               {"Content-Type": "application/json"})
            result.append((r.status, r.json()["message"]))
        return result

    ours = answers(engine)
    assert ours == answers(_with_busybox(refdocker, offline_images))
    assert ours[0] == (400, "Interval in Healthcheck cannot be less than 1ms")
