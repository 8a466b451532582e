"""The CLI starts light: no asyncio/aiohttp ever, no HTTP client for --help."""

from __future__ import annotations

import subprocess
import sys

from .runner import Runner


def imported_modules(argv: list[str], env: dict[str, str] | None = None) -> set[str]:
    code = f"from ketch.cli.main import main; main({argv!r})"
    proc = subprocess.run([sys.executable, "-X", "importtime", "-c", code], capture_output=True,
                          text=True, env=env, timeout=60)
    names = set()
    for line in proc.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            names.add(line.rsplit("|", 1)[1].strip())
    return names


def test_help_imports_no_client() -> None:
    names = imported_modules(["version", "--help"])
    assert "ketch.cli.main" in names
    assert not names & {"asyncio", "aiohttp", "ketch.client", "http.client", "typing",
                        "dataclasses", "argparse"}


def test_commands_import_no_asyncio(runner: Runner) -> None:
    for argv in (["version"], ["images"], ["image", "inspect", "-f", "{{.Os}}",
                                           "ketchtest/busybox"]):
        names = imported_modules(argv, runner.env)
        assert "ketch.client" in names
        assert not names & {"asyncio", "aiohttp", "msgspec"}, argv


def test_container_commands_import_no_asyncio(crunner: Runner) -> None:
    names = imported_modules(["run", "--help"])
    assert not names & {"ketch.client", "http.client", "asyncio", "termios", "threading"}
    for argv in (["ps", "-a"], ["run", "--rm", "busybox", "true"],
                 ["run", "-i", "--rm", "busybox", "true"]):
        names = imported_modules(argv, crunner.env)
        assert "ketch.client" in names, argv
        assert not names & {"asyncio", "aiohttp", "msgspec"}, argv
