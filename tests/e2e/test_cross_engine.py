"""An image saved by one engine loads into the other with the same ID.

The image ID is the sha256 of the config document, so it survives a
save/load only if both engines carry the config bytes unchanged and keep
the layers byte-identical (the diffIDs in the config must still match).
Both directions: Docker -> ketchd and ketchd -> Docker.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from support.conformance import ConformanceRunner
from support.dockercli import docker, shell
from support.engines import E2E_ENGINES, Engine

pytestmark = pytest.mark.skipif(
    "ketchd" not in E2E_ENGINES, reason="KETCH_TEST_ENGINES leaves ketchd out"
)

FIELDS = "{{.ID}} {{json .RepoTags}} {{json .RootFS.Layers}} {{json .Config}} {{.Created}}"


@pytest.mark.parametrize("direction", ["refdocker-to-ketchd", "ketchd-to-refdocker"])
def test_save_on_one_load_on_other(
    direction: str,
    refdocker: Engine,
    ketchd: Engine,
    runner: ConformanceRunner,
    tmp_path: Path,
) -> None:
    source, target = (refdocker, ketchd) if direction.startswith("ref") else (ketchd, refdocker)
    for engine in (source, target):
        runner.baseline.reset(engine)
    images = runner.images
    # An image only the source has: its ID records the time of this import.
    changes = ["--change", "ENV MADE_BY=" + source.name, "--change", 'CMD ["sh"]']
    made = docker(source.env, "import", *changes, str(images.busybox), "cross/made:1").ok()
    image_id = made.stdout.strip()
    docker(source.env, "tag", "hello-world", "cross/hello:2").ok()
    before = (
        docker(source.env, "image", "inspect", "--format", FIELDS, "cross/made:1", "cross/hello:2")
        .ok()
        .stdout
    )

    archive = tmp_path / "cross.tar"
    docker(source.env, "save", "-o", str(archive), "cross/made:1", "cross/hello:2").ok()
    loaded = docker(target.env, "load", "-i", str(archive)).ok()
    assert sorted(loaded.stdout.splitlines()) == [
        "Loaded image: cross/hello:2",
        "Loaded image: cross/made:1",
    ]
    after = (
        docker(target.env, "image", "inspect", "--format", FIELDS, "cross/made:1", "cross/hello:2")
        .ok()
        .stdout
    )
    assert after == before
    assert after.startswith(image_id + " ")
    # The busybox layer was already there (baseline): still stored once, and
    # deleting the new image must not take the baseline's layer with it.
    docker(target.env, "rmi", "cross/made:1", "cross/hello:2").ok()
    docker(target.env, "image", "inspect", "busybox").ok()
    for engine in (source, target):
        runner.baseline.reset(engine)


def test_pipe_between_engines(refdocker: Engine, ketchd: Engine, runner: ConformanceRunner) -> None:
    """`docker save | docker load` across two daemons, both ways."""
    for engine in (refdocker, ketchd):
        runner.baseline.reset(engine)
    made = docker(refdocker.env, "import", str(runner.images.hello_world), "pipe/hw:1").ok()
    script = (
        f"DOCKER_HOST={refdocker.host} docker save pipe/hw:1"
        f" | DOCKER_HOST={ketchd.host} docker load"
        f" && DOCKER_HOST={refdocker.host} docker rmi pipe/hw:1 >/dev/null"
        f" && DOCKER_HOST={ketchd.host} docker save pipe/hw:1"
        f" | DOCKER_HOST={refdocker.host} docker load"
    )
    r = shell(refdocker.env, script).ok()
    assert r.stdout == "Loaded image: pipe/hw:1\nLoaded image: pipe/hw:1\n"
    for engine in (refdocker, ketchd):
        got = docker(engine.env, "image", "inspect", "--format", "{{.Id}}", "pipe/hw:1").ok()
        assert got.stdout.strip() == made.stdout.strip()
        runner.baseline.reset(engine)
