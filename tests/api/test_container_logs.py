"""Container logs through the docker CLI: rotation by --log-opt, filters."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import pytest
from support.dockercli import docker
from support.images import import_offline_images


@pytest.fixture(scope="module")
def engine(ketchd: Any, offline_images: Any) -> Any:
    import_offline_images(ketchd.env, offline_images, names=("busybox",))
    return ketchd


def test_rotation_keeps_max_file_files_of_max_size(engine: Any) -> None:
    script = "i=0; while [ $i -lt 3000 ]; do echo line-$i-padding-padding-padding; i=$((i+1)); done"
    docker(engine.env, "run", "--name", "chatty", "--log-opt", "max-size=20k",
           "--log-opt", "max-file=3", "busybox", "sh", "-c", script).ok()
    try:
        inspect = json.loads(docker(engine.env, "inspect", "chatty").ok().stdout)[0]
        assert inspect["HostConfig"]["LogConfig"] == {
            "Type": "json-file", "Config": {"max-size": "20k", "max-file": "3"}}
        log_path = Path(inspect["LogPath"])
        files = [p for p in log_path.parent.iterdir() if p.name.startswith(log_path.name)]
        assert all(p.stat().st_size <= 20_000 for p in files)
        lines = docker(engine.env, "logs", "chatty").ok().stdout.splitlines()
        numbers = [int(line.split("-")[1]) for line in lines]
        assert numbers[-1] == 2999  # the newest lines are all there
        assert numbers == sorted(set(numbers))  # in order, none repeated
        # Old lines rotated away, at least the newest file's worth kept (a file
        # holds ~280 of these lines). A burst faster than rotation can be
        # followed may drop middle files: conmon replaces its log file itself
        # (see ketch.runtime.logrotate), so "3 files" is not guaranteed.
        assert 250 < len(numbers) < 3000
    finally:
        docker(engine.env, "rm", "chatty").ok()


def test_timestamps_since_until_tail(engine: Any) -> None:
    docker(engine.env, "run", "--name", "timed", "busybox", "sh", "-c",
           "echo first; sleep 1.2; echo second").ok()
    try:
        stamped = docker(engine.env, "logs", "-t", "timed").ok().stdout.splitlines()
        assert len(stamped) == 2
        assert all(re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z ", s) for s in stamped)
        second_at = stamped[1].split()[0]
        assert docker(engine.env, "logs", "--since", second_at, "timed").ok().stdout == \
            "second\n"
        assert docker(engine.env, "logs", "--until", second_at[:19] + "Z",
                      "timed").ok().stdout == "first\n"
        assert docker(engine.env, "logs", "-n", "1", "timed").ok().stdout == "second\n"
        assert docker(engine.env, "logs", "--tail", "0", "timed").ok().stdout == ""
    finally:
        docker(engine.env, "rm", "timed").ok()


def test_logs_of_a_running_container_follow(engine: Any) -> None:
    docker(engine.env, "run", "-d", "--name", "live", "busybox", "sh", "-c",
           "echo a; sleep 0.5; echo b; sleep 0.5; echo c").ok()
    try:
        start = time.monotonic()
        out = docker(engine.env, "logs", "-f", "live").ok().stdout
        assert out == "a\nb\nc\n" and time.monotonic() - start < 10
    finally:
        docker(engine.env, "rm", "-f", "live").ok()
