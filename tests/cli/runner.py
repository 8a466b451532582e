"""Run ``ketch`` and the docker CLI side by side, and compare what they print.

Comparisons replace docker's own name in its messages ("docker: 'docker tag'
requires 2 arguments", "Cannot connect to the Docker daemon") with ketch's,
since that is the only difference the CLI is meant to have.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from pathlib import Path

from support.dockercli import DOCKER_CLI, Result, run

KETCH = str(Path(sys.executable).with_name("ketch"))


def as_ketch(text: str) -> str:
    """docker's wording with ketch's names."""
    return text.replace("docker", "ketch").replace("Docker", "ketch")


class Runner:
    def __init__(self, env: dict[str, str]) -> None:
        self.env = env

    def ketch(self, *args: str, input: bytes | str | None = None,
              env: dict[str, str] | None = None) -> Result:
        return run(env or self.env, [KETCH, *args], input=input, timeout=60)

    def docker(self, *args: str, input: bytes | str | None = None,
               env: dict[str, str] | None = None) -> Result:
        return run(env or self.env, [DOCKER_CLI, *args], input=input, timeout=60)

    def both(self, *args: str, input: bytes | str | None = None) -> tuple[Result, Result]:
        """(docker, ketch) for the same arguments and input."""
        return self.docker(*args, input=input), self.ketch(*args, input=input)


def assert_same(docker: Result, ketch: Result, *,
                normalize: Callable[[str], str] | None = None) -> None:
    """Same exit code, same stdout, same stderr (docker's names replaced)."""
    fix: Callable[[str], str] = normalize if normalize is not None else (lambda s: s)
    expected = (docker.returncode, fix(docker.stdout), fix(as_ketch(docker.stderr)))
    got = (ketch.returncode, fix(ketch.stdout), fix(ketch.stderr))
    assert got == expected, (
        f"ketch differs from docker\n--- docker\n{docker.describe()}\n"
        f"--- ketch\n{ketch.describe()}"
    )


_AGO = re.compile(r"(Less than a second|\d+ seconds?|About a minute|\d+ minutes|About an hour"
                  r"|\d+ hours|\d+ days|\d+ weeks|\d+ months|\d+ years) ago")


def without_ages(text: str) -> str:
    """Human ages and the padding that follows them, for rows created during the test."""
    return re.sub(r" {2,}", "  ", _AGO.sub("<age>", text))


def sorted_body(text: str) -> str:
    """Header kept, other lines sorted: the Docker CLI lists the repositories of one
    image in Go map order (random), so multi-repository listings compare as sets."""
    lines = text.splitlines()
    return "\n".join(lines[:1] + sorted(lines[1:]))
