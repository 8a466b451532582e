"""``ketch volume ...`` against the Docker CLI 28, both talking to the same daemon.

The daemon is the mini daemon (the real volume API on a real VolumeService)
or the real ketchd; ``ketch`` runs as its own process. Outputs must be equal
byte for byte, docker's own name aside.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Callable, Iterator

import pytest
from cli.runner import KETCH, as_ketch
from support.dockercli import DOCKER_CLI, Result, docker_cli_env, run
from support.engines import Engine

from .conftest import MiniDaemon


@pytest.fixture(params=["mini", "ketchd"])
def host_env(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
             ) -> Iterator[dict[str, str]]:
    if request.param == "mini":
        mini: MiniDaemon = request.getfixturevalue("mini_daemon")
        yield mini.env
    else:
        engine: Engine = request.getfixturevalue("ketchd")
        yield docker_cli_env(engine.host, tmp_path_factory.mktemp("cfg"))


class Both:
    def __init__(self, env: dict[str, str]) -> None:
        self.env = env

    def docker(self, *args: str, input: str = "") -> Result:
        return run(self.env, [DOCKER_CLI, "volume", *args], input=input)

    def ketch(self, *args: str, input: str = "") -> Result:
        env = {**self.env, "KETCH_HOST": self.env["DOCKER_HOST"]}
        return run(env, [KETCH, "volume", *args], input=input)

    def same(self, *args: str, input: str = "",
             setup: Callable[[], object] | None = None) -> Result:
        """Run both; *setup* (if any) runs before each, for commands that change
        state (anonymous volume names then differ, and compare as ``<anon>``)."""
        fix: Callable[[str], str] = (lambda text: text) if setup is None else anon
        if setup is not None:
            setup()
        theirs = self.docker(*args, input=input)
        if setup is not None:
            setup()
        ours = self.ketch(*args, input=input)
        expected = (theirs.returncode, fix(theirs.stdout), fix(as_ketch(theirs.stderr)))
        assert (ours.returncode, fix(ours.stdout), fix(ours.stderr)) == expected, (
            f"--- docker\n{theirs.describe()}\n--- ketch\n{ours.describe()}")
        return ours


def anon(text: str) -> str:
    return re.sub(r"\b[0-9a-f]{64}\b", "<anon>", text)


@pytest.fixture
def both(host_env: dict[str, str]) -> Both:
    return Both(host_env)


def tag() -> str:
    return secrets.token_hex(3)


def test_create_ls_inspect_rm(both: Both) -> None:
    t = tag()
    names = [f"kv{t}-10", f"kv{t}-9", f"kv{t}-a"]
    for i, name in enumerate(names):
        tool = both.docker if i % 2 else both.ketch
        result = tool("create", "--label", f"t={t}", "-o", "type=tmpfs", "-o", "device=tmpfs",
                      name)
        assert (result.returncode, result.stdout) == (0, name + "\n"), result.describe()
    flt = ["--filter", f"label=t={t}"]
    listing = both.same("ls", *flt)
    assert listing.stdout.splitlines()[1:] == [  # natural order: 9 before 10
        f"local     kv{t}-9", f"local     kv{t}-10", f"local     kv{t}-a"]
    both.same("ls", "-q", *flt)
    both.same("ls", *flt, "--format", "{{.Name}}\t{{.Driver}} {{.Labels}} {{.Scope}}")
    both.same("ls", *flt, "--format", "table {{.Name}}\t{{.Mountpoint}}")
    both.same("ls", *flt, "--format", "json")
    both.same("ls", "--filter", f"name=kv{t}-1", "--filter", "dangling=true")
    both.same("ls", "--filter", "bogus=1")
    both.same("inspect", names[0])
    both.same("inspect", names[0], "nosuch-" + t, names[1])
    both.same("inspect", "-f", "{{.Name}} {{json .Options}} {{.Driver}}", *names)
    both.same("inspect", "--format", "json", names[2])

    def recreate() -> None:
        for name in names:
            both.docker("create", "--label", f"t={t}", name).ok()

    both.same("rm", names[0], "nosuch-" + t, names[1], setup=recreate)
    both.same("rm", "-f", "nosuch-" + t)
    both.same("rm", *names, setup=recreate)
    both.same("ls", "-q", *flt)


def test_create_errors(both: Both) -> None:
    both.same("create", "x/y")
    both.same("create", "-o", "bogus=1", "kv" + tag())
    both.same("create", "--name", "a" + tag(), "b" + tag())
    both.same("create", "--label", " =x", "kv" + tag())
    both.same("create", "-d", "nfs", "kv" + tag())
    both.same("create", "a", "b")


def test_create_anonymous(both: Both) -> None:
    for tool in (both.docker, both.ketch):
        result = tool("create")
        name = result.stdout.strip()
        assert result.returncode == 0 and len(name) == 64
        inspected = json.loads(both.docker("inspect", name).stdout)[0]
        assert inspected["Labels"] == {"com.docker.volume.anonymous": ""}
        both.docker("rm", name)


def test_prune(both: Both) -> None:
    t = tag()
    flt = ["--filter", f"label=p={t}"]

    def make() -> None:
        for name in (f"kvp{t}-1", f"kvp{t}-2", ""):
            both.docker("create", "--label", f"p={t}", *([name] if name else [])).ok()

    make()
    both.same("prune", *flt, input="n\n")  # cancelled: nothing removed, exit 0
    assert len(both.docker("ls", "-q", *flt).stdout.split()) == 3
    both.docker("prune", "-a", "-f", *flt).ok()
    result = both.same("prune", *flt, input="y\n", setup=make)
    assert anon(result.stdout).endswith("Deleted Volumes:\n<anon>\n\n"
                                        "Total reclaimed space: 0B\n")
    both.same("prune", "-f", *flt, setup=make)
    both.same("prune", "-f", *flt)  # nothing left to prune
    both.same("prune", "-a", "--filter", "all=1")
    result = both.same("prune", "-a", "-f", *flt, setup=make)
    assert sorted(anon(result.stdout).splitlines()[1:4]) == [
        "<anon>", f"kvp{t}-1", f"kvp{t}-2"]
    both.same("ls", "-q", *flt)
