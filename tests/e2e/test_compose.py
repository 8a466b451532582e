"""docker-compose (Debian's 1.29, on docker-py) drives ketchd unchanged: a
two-service project with a user network, a named volume, a published port
and service-name DNS comes up, answers, and goes away without leftovers."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.dockercli import docker
from support.engines import Engine, EngineSet
from support.images import OfflineImages, import_offline_images

COMPOSE = shutil.which("docker-compose")

PROJECT = """\
version: "3.8"
services:
  web:
    image: busybox
    command: >-
      sh -c "mkdir -p /www && echo hello-from-web > /www/index.html
      && exec httpd -f -p 8080 -h /www"
    ports:
      - "127.0.0.1:{port}:8080"
    volumes:
      - data:/data
    environment:
      GREETING: hi
  client:
    image: busybox
    depends_on: [web]
    command: sh -c "until wget -qO- http://web:8080/; do sleep 0.2; done; sleep 60"
volumes:
  data: {{}}
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def engine(engine_set: EngineSet, offline_images: OfflineImages) -> Iterator[Engine]:
    if COMPOSE is None:
        pytest.skip("docker-compose is not installed (`make deps` installs it)")
    made = engine_set.ketchd()
    import_offline_images(made.env, offline_images, names=("busybox",))
    yield made
    made.stop()


def test_compose_project_up_and_down(engine: Engine, tmp_path: Path) -> None:
    assert COMPOSE is not None
    port = _free_port()
    (tmp_path / "docker-compose.yml").write_text(PROJECT.format(port=port))
    env = dict(os.environ, **engine.env, COMPOSE_PROJECT_NAME="kcomp")

    def compose(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([COMPOSE, *args], cwd=tmp_path, env=env, capture_output=True,
                              text=True, timeout=120)

    try:
        up = compose("up", "-d")
        assert up.returncode == 0, up.stderr
        deadline = time.monotonic() + 20
        while "hello-from-web" not in (logs := compose("logs", "client").stdout):
            assert time.monotonic() < deadline, logs  # the client found "web" by name
            time.sleep(0.3)
        ps = compose("ps").stdout
        assert "kcomp_web_1" in ps and "kcomp_client_1" in ps and ps.count(" Up ") == 2, ps
        assert f"127.0.0.1:{port}->8080/tcp" in ps
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as page:
            assert page.read() == b"hello-from-web\n"
        greeting = compose("exec", "-T", "web", "sh", "-c", "echo $GREETING")
        assert greeting.stdout == "hi\n", greeting.stderr
    finally:
        down = compose("down", "-v")
    assert down.returncode == 0, down.stderr
    assert docker(engine.env, "ps", "-aq").ok().stdout == ""
    assert "kcomp_default" not in docker(engine.env, "network", "ls").ok().stdout
    assert "kcomp_data" not in docker(engine.env, "volume", "ls", "-q").ok().stdout


BUILD_PROJECT = """\
version: "3.8"
services:
  app:
    build:
      context: ./app
      args:
        GREETING: built-by-compose
    image: kcomp/app:1
    command: cat /greeting
"""


def test_compose_builds_through_the_build_api(engine: Engine, tmp_path: Path) -> None:
    """``docker-compose build`` with docker-py's own build call (not the CLI):
    build args, the image runs, a second build is all cache hits."""
    assert COMPOSE is not None
    (tmp_path / "docker-compose.yml").write_text(BUILD_PROJECT)
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "Dockerfile").write_text(
        'FROM busybox\nARG GREETING\nRUN echo "$GREETING" > /greeting\n')
    env = dict(os.environ, **engine.env, COMPOSE_PROJECT_NAME="kbuild",
               COMPOSE_DOCKER_CLI_BUILD="0")

    def compose(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([COMPOSE, *args], cwd=tmp_path, env=env, capture_output=True,
                              text=True, timeout=120)

    try:
        built = compose("build")
        assert built.returncode == 0, built.stderr
        assert "Successfully tagged kcomp/app:1" in built.stdout, built.stdout
        up = compose("up")
        assert up.returncode == 0, up.stderr
        assert "built-by-compose" in up.stdout, up.stdout
        again = compose("build")
        assert again.stdout.count("Using cache") == 2, again.stdout
    finally:
        compose("down", "--rmi", "all")
    assert docker(engine.env, "image", "inspect", "kcomp/app:1").returncode != 0


HEALTH_PROJECT = """\
version: "2.4"
services:
  db:
    image: busybox
    command: sh -c "sleep 2; touch /ready; sleep 60"
    healthcheck:
      test: ["CMD", "test", "-f", "/ready"]
      interval: 1s
      retries: 10
  app:
    image: busybox
    command: echo app-started-after-db
    depends_on:
      db:
        condition: service_healthy
"""


def test_compose_waits_for_a_healthy_service(engine: Engine, tmp_path: Path) -> None:
    """``depends_on: condition: service_healthy`` (compose sends null healthcheck
    fields, which Docker reads as zero): app starts only once db is healthy."""
    assert COMPOSE is not None
    (tmp_path / "docker-compose.yml").write_text(HEALTH_PROJECT)
    env = dict(os.environ, **engine.env, COMPOSE_PROJECT_NAME="khealth")

    def compose(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([COMPOSE, *args], cwd=tmp_path, env=env, capture_output=True,
                              text=True, timeout=120)

    try:
        started = time.monotonic()
        up = compose("up", "-d")
        assert up.returncode == 0, up.stderr
        assert time.monotonic() - started >= 2  # it waited for /ready
        ps = compose("ps").stdout
        assert "Up (healthy)" in ps, ps
        deadline = time.monotonic() + 10
        while "app-started-after-db" not in (logs := compose("logs", "app").stdout):
            assert time.monotonic() < deadline, logs
            time.sleep(0.2)
    finally:
        down = compose("down")
    assert down.returncode == 0, down.stderr
