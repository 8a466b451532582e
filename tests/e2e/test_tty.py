"""Interactive terminals through the real docker CLI on a real pseudo-terminal:
``run -it``, window size and resize, detach keys, ``attach``, ``exec -it``."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pexpect
import pytest
from support.dockercli import DOCKER_CLI, docker
from support.engines import Engine
from support.images import import_image

IMAGE = "ttybox:latest"


@pytest.fixture
def tty_engine(engine: Engine, offline_images: Any) -> Iterator[Engine]:
    import_image(engine.env, offline_images, "busybox", IMAGE)
    yield engine
    names = docker(engine.env, "ps", "-aq", "--filter", "name=tty").stdout.split()
    if names:
        docker(engine.env, "rm", "-f", *names)


def _spawn(engine: Engine, args: str, rows: int = 24, cols: int = 80) -> pexpect.spawn:
    env = {**engine.env, "TERM": "xterm"}
    return pexpect.spawn(f"{DOCKER_CLI} {args}", env=env, dimensions=(rows, cols),
                         timeout=15)


def test_run_it_size_resize_and_detach(tty_engine: Engine) -> None:
    child = _spawn(tty_engine, f"run -it --name ttyone --network none {IMAGE} sh", 30, 100)
    child.expect(r"/ # ")
    child.sendline("stty size")
    child.expect(r"30 100")
    child.setwinsize(40, 120)  # SIGWINCH: the CLI sends a resize
    time.sleep(0.5)
    child.sendline("stty size; echo $TERM; tty")
    child.expect(r"40 120")
    child.expect("xterm")
    child.expect("/dev/pts/0")
    child.sendcontrol("p")
    child.sendcontrol("q")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    state = docker(tty_engine.env, "inspect", "--format", "{{.State.Status}}", "ttyone")
    assert state.ok().stdout == "running\n"

    again = _spawn(tty_engine, "attach ttyone")
    again.sendline("echo attached-again")
    again.expect("attached-again")
    again.sendline("exit 3")
    again.expect(pexpect.EOF)
    again.close()
    assert again.exitstatus == 3


def test_exec_it(tty_engine: Engine) -> None:
    docker(tty_engine.env, "run", "-d", "--name", "ttyexec", "--network", "none", IMAGE,
           "sleep", "300").ok()
    child = _spawn(tty_engine, "exec -it ttyexec sh", 25, 90)
    child.expect(r"/ # ")
    child.sendline("stty size")
    child.expect("25 90")
    child.sendline("exit 5")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 5
