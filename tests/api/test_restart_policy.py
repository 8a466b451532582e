"""``--restart``: on-failure with a retry limit, always until stopped, and
policies applied to exits that happened while the daemon was down."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from support.dockercli import docker
from support.images import import_offline_images


def _state(engine: Any, name: str) -> dict[str, Any]:
    data = json.loads(docker(engine.env, "inspect", name).ok().stdout)[0]
    return {"status": data["State"]["Status"], "count": data["RestartCount"],
            "exit": data["State"]["ExitCode"]}


def _wait_for(predicate: Any, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("condition not reached in time")


@pytest.fixture
def engine(fresh_ketchd: Any, offline_images: Any) -> Any:
    import_offline_images(fresh_ketchd.env, offline_images, names=("busybox",))
    return fresh_ketchd


def test_on_failure_retries_then_gives_up(engine: Any) -> None:
    docker(engine.env, "run", "-d", "--name", "flaky", "--restart", "on-failure:2",
           "busybox", "sh", "-c", "echo attempt; exit 3").ok()
    _wait_for(lambda: _state(engine, "flaky") == {"status": "exited", "count": 2, "exit": 3})
    time.sleep(1)  # and no third attempt
    assert _state(engine, "flaky")["count"] == 2
    assert docker(engine.env, "logs", "flaky").ok().stdout == "attempt\n" * 3
    docker(engine.env, "rm", "flaky").ok()


def test_on_failure_leaves_a_clean_exit_alone(engine: Any) -> None:
    docker(engine.env, "run", "-d", "--name", "fine", "--restart", "on-failure",
           "busybox", "true").ok()
    _wait_for(lambda: _state(engine, "fine")["status"] == "exited")
    time.sleep(0.5)
    assert _state(engine, "fine")["count"] == 0
    docker(engine.env, "rm", "fine").ok()


def test_always_until_stopped(engine: Any) -> None:
    docker(engine.env, "run", "-d", "--name", "loop", "--restart", "always", "busybox",
           "sh", "-c", "sleep 0.2").ok()
    _wait_for(lambda: _state(engine, "loop")["count"] >= 2)
    docker(engine.env, "stop", "-t", "1", "loop").ok()
    _wait_for(lambda: _state(engine, "loop")["status"] == "exited")
    count = _state(engine, "loop")["count"]
    time.sleep(1)
    assert _state(engine, "loop") == {"status": "exited", "count": count,
                                      "exit": _state(engine, "loop")["exit"]}
    docker(engine.env, "rm", "loop").ok()


def test_exit_during_outage_is_restarted(engine: Any) -> None:
    docker(engine.env, "run", "-d", "--name", "phoenix", "--restart", "always", "busybox",
           "sh", "-c", "sleep 1; exit 1").ok()
    engine.kill9()
    time.sleep(1.5)  # the container exits while no daemon watches
    engine.start()
    _wait_for(lambda: _state(engine, "phoenix")["count"] >= 1)
    docker(engine.env, "rm", "-f", "phoenix").ok()
