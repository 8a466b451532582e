"""Run the real docker CLI (Docker 28) against an engine.

The CLI is the client whose behaviour ketchd must satisfy, so tests run the
binary itself rather than a re-implementation. Each engine gets its own
``DOCKER_CONFIG`` directory, so nothing from the machine's ~/.docker
(contexts, credential helpers, plugins' settings) leaks into a test.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

#: Docker 28's CLI; Debian's docker.io ships an older one as /usr/bin/docker,
#: so prefer the one in /usr/local/bin. KETCH_TEST_DOCKER_CLI overrides.
DOCKER_CLI = os.environ.get("KETCH_TEST_DOCKER_CLI") or (
    "/usr/local/bin/docker"
    if os.path.exists("/usr/local/bin/docker")
    else shutil.which("docker") or "docker"
)

#: Variables that would point the CLI somewhere else than the engine.
_CLEARED = (
    "DOCKER_CONTEXT",
    "DOCKER_TLS_VERIFY",
    "DOCKER_CERT_PATH",
    "DOCKER_API_VERSION",
    "DOCKER_DEFAULT_PLATFORM",
    "DOCKER_BUILDKIT",
)


def docker_cli_env(host: str, config_dir: Path) -> dict[str, str]:
    """Environment for the docker CLI talking to ``host`` and nothing else."""
    env = dict(os.environ)
    for var in _CLEARED:
        env.pop(var, None)
    env["DOCKER_HOST"] = host
    env["DOCKER_CONFIG"] = str(config_dir)
    env["DOCKER_CLI_HINTS"] = "false"
    # So that "docker" in a shell pipeline is the same CLI as DOCKER_CLI.
    cli_dir = os.path.dirname(DOCKER_CLI)
    if cli_dir:
        env["PATH"] = cli_dir + os.pathsep + env.get("PATH", "")
    return env


@dataclass
class Result:
    """What a command did: argv (or shell script), exit code, output."""

    argv: list[str]
    returncode: int
    stdout: str
    stderr: str
    stdout_bytes: bytes = b""

    @property
    def command(self) -> str:
        return shlex.join(self.argv)

    def describe(self) -> str:
        return (
            f"$ {self.command}\nexit {self.returncode}\n"
            f"--- stdout\n{self.stdout}--- stderr\n{self.stderr}"
        )

    def ok(self) -> Result:
        """Assert exit 0 (with the whole story in the message otherwise)."""
        assert self.returncode == 0, f"command failed:\n{self.describe()}"
        return self

    def fails(self, code: int = 1) -> Result:
        assert self.returncode == code, f"expected exit {code}:\n{self.describe()}"
        return self


def run(
    env: dict[str, str],
    argv: list[str],
    *,
    input: bytes | str | None = None,
    timeout: float = 120.0,
    cwd: Path | None = None,
) -> Result:
    """Run argv with env; never raises on a non-zero exit."""
    data = input.encode() if isinstance(input, str) else input
    proc = subprocess.run(
        argv,
        input=data if data is not None else b"",
        capture_output=True,
        env=env,
        timeout=timeout,
        cwd=cwd,
        check=False,
    )
    return Result(
        argv=argv,
        returncode=proc.returncode,
        stdout=proc.stdout.decode("utf-8", "replace"),
        stderr=proc.stderr.decode("utf-8", "replace"),
        stdout_bytes=proc.stdout,
    )


def docker(
    env: dict[str, str],
    *args: str,
    input: bytes | str | None = None,
    timeout: float = 120.0,
    cwd: Path | None = None,
) -> Result:
    """``docker ARGS...`` with the given engine environment."""
    return run(env, [DOCKER_CLI, *args], input=input, timeout=timeout, cwd=cwd)


def shell(
    env: dict[str, str],
    script: str,
    *,
    input: bytes | str | None = None,
    timeout: float = 120.0,
    cwd: Path | None = None,
) -> Result:
    """A bash pipeline (``docker save x | docker load``) with pipefail on."""
    argv = ["bash", "-o", "pipefail", "-c", script]
    return run(env, argv, input=input, timeout=timeout, cwd=cwd)


def cli_version() -> str:
    """The CLI's own version, for the test report header."""
    try:
        out = subprocess.run(
            [DOCKER_CLI, "version", "--format", "{{.Client.Version}}"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
            env={**os.environ, "DOCKER_HOST": "unix:///nonexistent"},
        )
    except OSError:
        return "missing"
    return out.stdout.strip() or "unknown"
