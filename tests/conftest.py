"""Fixtures shared by every test: engines, offline images, leak checks.

Engines (all with the same shape, see ``support.engines.Engine``):

- ``ketchd`` (session): one ketchd shared by the tests that only read or
  add state they clean up themselves.
- ``fresh_ketchd`` (function): a ketchd of its own, for tests that stop,
  restart (``.start()``) or ``.kill9()`` it.
- ``make_ketchd`` (function): factory, ``make_ketchd(data_root=None,
  config=None, start=True)``; everything it made is stopped after the test.
- ``refdocker`` (session): Debian's Docker 20.10 on its own socket and
  data root, the reference for conformance tests; skipped if not installed.

Images: ``offline_images`` (session) builds hello-world.tar and busybox.tar
once; ``support.images.import_offline_images(engine.env, offline_images)``
imports them into any engine with the docker CLI.

At the end of the session every engine is stopped, and the session fails
if any process started under the test directories is still alive or any
mount is left below them.

Environment knobs: ``KETCH_TEST_SUBJECT=dockerd`` makes the ketchd fixtures
start a second Docker instead (to check the tests themselves);
``KETCH_TEST_KEEP=1`` keeps the session directory for post-mortems.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from support import leaks
from support.dockercli import DOCKER_CLI, cli_version
from support.engines import DOCKERD_BIN, SUBJECT, Engine, EngineError, EngineSet
from support.images import OfflineImages, build_offline_images


def pytest_report_header(config: pytest.Config) -> list[str]:
    return [
        f"docker CLI: {DOCKER_CLI} ({cli_version()}); reference dockerd: {DOCKERD_BIN}"
        f"{'' if DOCKERD_BIN.exists() else ' (missing)'}; ketchd fixtures start: {SUBJECT}"
    ]


@pytest.fixture(scope="session", autouse=True)
def session_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Root of everything the fixtures start; checked for leaks at the end.

    Kept short and under /tmp: unix socket paths must stay below 108 bytes,
    and containerd puts its own sockets below the engines' directories.
    """
    root = Path(tempfile.mkdtemp(prefix="kt-", dir="/tmp"))
    yield root
    problems: list[str] = []
    for where in (root, tmp_path_factory.getbasetemp()):
        procs = leaks.processes_under(where)
        if procs:
            problems.append(f"processes left running under {where}:")
            problems += [f"  {p}" for p in procs]
            leaks.kill_processes(procs)
        mounts = leaks.mounts_under(where)
        if mounts:
            problems.append(f"mounts left under {where}:")
            problems += [f"  {m}" for m in mounts]
            leaks.unmount_all(mounts)
    if os.environ.get("KETCH_TEST_KEEP"):
        print(f"\nkeeping {root} (KETCH_TEST_KEEP)")
    elif not leaks.mounts_under(root):
        shutil.rmtree(root, ignore_errors=True)
    if problems:
        pytest.fail("leak check failed:\n" + "\n".join(problems), pytrace=False)


@pytest.fixture(scope="session")
def engine_set(session_dir: Path) -> Iterator[EngineSet]:
    engines = EngineSet(session_dir)
    yield engines
    problems = engines.stop_all()
    if problems:
        pytest.fail("engines did not stop cleanly:\n" + "\n".join(problems), pytrace=False)


def _start(make: Callable[[], Engine]) -> Engine:
    """Turn start-up failures into one clear test error, not a traceback."""
    try:
        return make()
    except EngineError as e:
        pytest.fail(str(e), pytrace=False)


@pytest.fixture(scope="session")
def ketchd(engine_set: EngineSet) -> Engine:
    """The session's shared ketchd."""
    return _start(engine_set.ketchd)


@pytest.fixture
def make_ketchd(engine_set: EngineSet) -> Iterator[Callable[..., Engine]]:
    """Factory for ketchds owned by one test; all stopped when it ends."""
    made: list[Engine] = []

    def make(**kw: Any) -> Engine:
        start = kw.pop("start", True)
        engine = _start(lambda: engine_set.ketchd(start=False, **kw))
        made.append(engine)
        if start:
            _start(engine.start)
        return engine

    yield make
    problems: list[str] = []
    for engine in reversed(made):
        try:
            engine.stop()
        except EngineError as e:
            problems.append(str(e))
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


@pytest.fixture
def fresh_ketchd(make_ketchd: Callable[..., Engine]) -> Engine:
    """A ketchd of this test's own, free to stop, restart or kill -9."""
    return make_ketchd()


@pytest.fixture(scope="session")
def refdocker(engine_set: EngineSet) -> Engine:
    """Debian's Docker 20.10, private to the test session."""
    if not DOCKERD_BIN.exists():
        pytest.skip(
            f"reference engine {DOCKERD_BIN} is not installed "
            "(apt-get install docker.io containerd; `make test` installs it)"
        )
    return _start(engine_set.dockerd)


@pytest.fixture(scope="session")
def offline_images(tmp_path_factory: pytest.TempPathFactory) -> OfflineImages:
    """hello-world.tar and busybox.tar, built once per session."""
    try:
        return build_offline_images(tmp_path_factory.mktemp("images"))
    except RuntimeError as e:
        pytest.fail(str(e), pytrace=False)
