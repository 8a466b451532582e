"""Fixtures for the runtime driver tests (real runc and conmon, as root).

``async def`` tests here run in a fresh event loop each (no plugin needed).
Every test gets an ``Env`` (runtime root, bundles, logs under its tmp_path);
afterwards no runc container, no live process naming that directory and no
container directory may remain: the test fails (after a forced clean-up) if
one does.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from runtime.helpers import (
    Env,
    build_rootfs,
    force_cleanup,
    live_processes_mentioning,
    runc_containers,
)

HAVE_RUNTIME = os.geteuid() == 0 and bool(shutil.which("conmon")) and bool(shutil.which("runc"))


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    if inspect.iscoroutinefunction(pyfuncitem.obj):
        names = pyfuncitem._fixtureinfo.argnames
        kwargs: dict[str, Any] = {n: pyfuncitem.funcargs[n] for n in names}
        asyncio.run(pyfuncitem.obj(**kwargs))
        return True
    return None


@pytest.fixture(scope="session")
def rootfs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not HAVE_RUNTIME:
        pytest.skip("needs root, runc and conmon")
    return build_rootfs(tmp_path_factory.mktemp("busybox-rootfs"))


@pytest.fixture
def env(tmp_path: Path, rootfs: Path) -> Iterator[Env]:
    e = Env(tmp_path, rootfs)
    yield e
    problems: list[str] = []
    left = runc_containers(e.root / "runc")
    if left:
        problems.append(f"runc containers left: {left}")
    procs = live_processes_mentioning(e.root)
    if procs:
        problems.append(f"processes left: {procs}")
    dirs = [p.name for p in e.root.iterdir() if p.name != "runc"]
    if dirs:
        problems.append(f"container directories left: {dirs}")
    if problems:
        force_cleanup(e)
        pytest.fail("; ".join(problems))
