"""Fixtures of the CLI tests: an engine to talk to, its environment, test images.

``engine_host`` is the one thing the tests need from an engine: a ``unix://``
address that speaks the Docker Engine API. Here it is a reference dockerd of
the CLI tests' own (started through the session's EngineSet: own data root,
exec root and socket; stopped by pid at the end of the session), so that
commands that delete images (rmi, prune) cannot disturb other test modules.
Another engine (ketchd) can be offered behind the same fixture name.

The container tests use ``crunner``/``containers`` instead: the same Runner on
``container_engine``, which is parametrised by ``KETCH_TEST_CLI_ENGINES``, with
busybox and hello-world imported; ``containers`` removes every container after
each test.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.dockercli import docker_cli_env
from support.engines import DOCKERD_BIN, Engine, EngineError, EngineSet
from support.images import OfflineImages, import_offline_images

from .archives import standard_images, write_docker_archive
from .runner import Runner


@pytest.fixture(scope="session")
def cli_dockerd(engine_set: EngineSet) -> Engine:
    if not DOCKERD_BIN.exists():
        pytest.skip(f"reference engine {DOCKERD_BIN} is not installed "
                    "(apt-get install docker.io containerd)")
    try:
        return engine_set.dockerd()
    except EngineError as e:
        pytest.fail(str(e), pytrace=False)


@pytest.fixture(scope="session")
def engine_host(cli_dockerd: Engine) -> str:
    """``unix://...`` of the engine the CLI tests run against."""
    return cli_dockerd.host


@pytest.fixture(scope="session")
def cli_dir(session_dir: Path) -> Path:
    """Files of the CLI tests. Under the session directory rather than pytest's
    numbered temp dirs, which a concurrent pytest session may prune."""
    path = session_dir / "cli"
    path.mkdir(exist_ok=True)
    return path


@pytest.fixture
def workdir(cli_dir: Path) -> Path:
    """A fresh directory for one test."""
    return Path(tempfile.mkdtemp(prefix="t", dir=cli_dir))


@pytest.fixture(scope="session")
def standard_archive(cli_dir: Path) -> Path:
    return write_docker_archive(cli_dir / "standard.tar", standard_images())


@pytest.fixture(scope="session")
def runner(engine_host: str, cli_dir: Path, standard_archive: Path) -> Runner:
    """Runs ``ketch`` and the docker CLI against ``engine_host``, test images loaded."""
    config = cli_dir / "docker-config"
    config.mkdir(exist_ok=True)
    env = docker_cli_env(engine_host, config)
    env["KETCH_HOST"] = engine_host
    runner = Runner(env)
    runner.docker("load", "-i", str(standard_archive)).ok()
    return runner


# --- containers -------------------------------------------------------------------------

#: Engines the container tests run on (comma-separated): ``refdocker`` (the CLI tests'
#: own Docker 20.10) and ``ketchd`` by default.
CONTAINER_ENGINES = [
    name.strip() for name in os.environ.get("KETCH_TEST_CLI_ENGINES", "refdocker,ketchd").split(",")
    if name.strip()
]


@pytest.fixture(scope="session", params=CONTAINER_ENGINES)
def container_engine(request: pytest.FixtureRequest) -> Engine:
    """The engine the container commands are compared on (parametrised)."""
    fixture = {"refdocker": "cli_dockerd", "ketchd": "ketchd"}.get(request.param)
    if fixture is None:
        pytest.fail(f"unknown engine {request.param!r} in KETCH_TEST_CLI_ENGINES")
    engine: Engine = request.getfixturevalue(fixture)
    return engine


@pytest.fixture(scope="session")
def crunner(container_engine: Engine, offline_images: OfflineImages) -> Runner:
    """Runs ``ketch`` and docker against ``container_engine``, with busybox:latest and
    hello-world:latest imported."""
    env = dict(container_engine.env)
    import_offline_images(env, offline_images)
    return Runner(env)


@pytest.fixture
def containers(crunner: Runner) -> Iterator[Runner]:
    """``crunner``, and every container removed after the test (whatever it left)."""
    remove_all_containers(crunner)
    yield crunner
    remove_all_containers(crunner)


def remove_all_containers(runner: Runner) -> None:
    ids = runner.docker("ps", "-aq").ok().stdout.split()
    if ids:
        runner.docker("rm", "-f", *ids).ok()
