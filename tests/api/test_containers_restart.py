"""Containers outlive the daemon: ``kill -9`` ketchd with containers running,
start it again, and everything is still there and manageable."""

from __future__ import annotations

import json
import time
from typing import Any

from support.dockercli import docker
from support.images import import_offline_images


def _ps(engine: Any) -> dict[str, str]:
    out = docker(engine.env, "ps", "-a", "--format", "{{.Names}} {{.State}}").ok().stdout
    return dict(line.split() for line in out.splitlines())


def test_kill9_with_running_containers(fresh_ketchd: Any, offline_images: Any) -> None:
    engine = fresh_ketchd
    import_offline_images(engine.env, offline_images, names=("busybox",))
    for i in range(10):
        docker(engine.env, "run", "-d", "--name", f"c{i}", "busybox", "sh", "-c",
               "trap 'exit 0' TERM; i=0; while true; do echo tick $i; i=$((i+1)); "
               "sleep 0.1; done").ok()
    docker(engine.env, "run", "-d", "--name", "short", "busybox", "sh", "-c",
           "sleep 1; echo during outage; exit 7").ok()
    assert list(_ps(engine).values()).count("running") == 11

    engine.kill9()
    time.sleep(1.5)  # c0..c9 keep ticking, "short" exits while nobody watches
    engine.start()

    states = _ps(engine)
    assert all(states[f"c{i}"] == "running" for i in range(10)), states
    assert states["short"] == "exited"
    inspect = json.loads(docker(engine.env, "inspect", "short").ok().stdout)[0]
    assert inspect["State"]["ExitCode"] == 7
    assert docker(engine.env, "logs", "short").ok().stdout == "during outage\n"

    # every line written during the outage is in the logs, none missing
    ticks = docker(engine.env, "logs", "c0").ok().stdout.split("\n")
    numbers = [int(line.split()[1]) for line in ticks if line.startswith("tick")]
    assert numbers == list(range(len(numbers))) and len(numbers) >= 15

    # fully manageable: exec, stop (exit recorded by the re-adopted monitor), rm
    assert docker(engine.env, "exec", "c1", "echo", "hi").ok().stdout == "hi\n"
    docker(engine.env, "stop", "-t", "5", "c1").ok()
    assert docker(engine.env, "wait", "c1").ok().stdout == "0\n"
    docker(engine.env, "kill", "c2").ok()
    assert docker(engine.env, "wait", "c2").ok().stdout == "137\n"
    names = [f"c{i}" for i in range(10)] + ["short"]
    docker(engine.env, "rm", "-f", *names).ok()
    assert _ps(engine) == {}
