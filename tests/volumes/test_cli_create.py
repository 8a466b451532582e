"""``ketch create`` sends the create body the Docker CLI 28 sends for the mount flags.

Both CLIs talk to the capturing server of test_mountopts (it records the body
of ``POST /containers/create`` and refuses it), run with the same flags from
the same directory; the bodies must be equal field for field and key order
of ``HostConfig`` included. Mistakes in the flags give docker's message.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cli.runner import KETCH, as_ketch
from support.dockercli import DOCKER_CLI, docker_cli_env, run

from .test_mountopts import _Handler, _Server, docker_sends


@pytest.fixture(scope="module")
def capture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[_Server, dict[str, str]]]:
    where = tmp_path_factory.mktemp("capture")
    server = _Server(str(where / "d.sock"), _Handler)
    server.captured = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    (where / "cfg").mkdir()
    try:
        env = docker_cli_env(f"unix://{where / 'd.sock'}", where / "cfg")
        env["KETCH_HOST"] = env["DOCKER_HOST"]
        yield server, env
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def ketch_sends(capture: tuple[_Server, dict[str, str]], args: list[str],
                cwd: Path) -> dict[str, Any]:
    server, env = capture
    server.captured.clear()
    result = run(env, [KETCH, "create", *args, "busybox"], cwd=cwd)
    assert result.returncode != 0 and "captured" in result.stderr, result.describe()
    assert len(server.captured) == 1
    return server.captured[0]


CASES = [
    ["-v", "vol:/data:ro", "-v", "/anon", "-v", "./rel:/r", "-v", "/h:/h:rshared"],
    ["--mount", "type=bind,src=/tmp,dst=/b,readonly", "--mount", "type=tmpfs,dst=/t,"
     "tmpfs-size=1m", "--mount", "type=volume,src=v,dst=/v,volume-nocopy"],
    ["--volumes-from", "other:ro", "--volumes-from", "third", "--volume-driver", "local"],
    ["--tmpfs", "/run:size=1m", "--tmpfs", "/tmp", "-v", "x:/x", "--mount", "dst=/m"],
    ["--tmpfs", "", "--volumes-from", "", "--mount", "type=foo,dst=/x"],  # the daemon refuses
]


@pytest.mark.parametrize("flags", CASES, ids=[" ".join(c)[:40] for c in CASES])
def test_create_body_like_docker(capture: tuple[_Server, dict[str, str]], flags: list[str],
                                 tmp_path: Path) -> None:
    theirs = docker_sends(capture, flags, cwd=tmp_path)
    ours = ketch_sends(capture, flags, cwd=tmp_path)
    # -v values go through a Go map: Binds come in any order
    for body in (theirs, ours):
        body["HostConfig"]["Binds"] = sorted(body["HostConfig"]["Binds"] or [])
    assert ours == theirs
    assert list(ours["HostConfig"]) == list(theirs["HostConfig"])
    assert json.dumps(ours["HostConfig"].get("Mounts")) == \
        json.dumps(theirs["HostConfig"].get("Mounts"))


@pytest.mark.parametrize("flags", [["-v", "/a:/b:ro:x"], ["--mount", "type=bind"],
                                   ["--mount", "type=volume,foo=bar"], ["-v", ""],
                                   ["-v", "/x", "-v", ""]])
def test_flag_errors_like_docker(capture: tuple[_Server, dict[str, str]], flags: list[str],
                                 tmp_path: Path) -> None:
    _, env = capture
    theirs = run(env, [DOCKER_CLI, "create", *flags, "busybox"], cwd=tmp_path)
    ours = run(env, [KETCH, "create", *flags, "busybox"], cwd=tmp_path)
    assert "captured" not in theirs.stderr
    assert (ours.returncode, ours.stderr) == (theirs.returncode, as_ketch(theirs.stderr))
