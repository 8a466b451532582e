"""Fixtures of the CLI tests: an engine to talk to, its environment, test images.

``engine_host`` is the one thing the tests need from an engine: a ``unix://``
address that speaks the Docker Engine API. Here it is a reference dockerd of
the CLI tests' own (started through the session's EngineSet: own data root,
exec root and socket; stopped by pid at the end of the session), so that
commands that delete images (rmi, prune) cannot disturb other test modules.
Another engine (ketchd) can be offered behind the same fixture name.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from support.dockercli import docker_cli_env
from support.engines import DOCKERD_BIN, Engine, EngineError, EngineSet

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
