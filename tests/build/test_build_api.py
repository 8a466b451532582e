"""Builds through the real docker CLI (classic builder) against ketchd, and
the same Dockerfiles on Docker 20.10: same outputs, same image configs."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.dockercli import docker
from support.engines import Engine
from support.images import OfflineImages, import_offline_images

pytestmark = pytest.mark.usefixtures("ketch_busybox")

DOCKERFILE = """\
FROM busybox
ARG V=1
ENV A=b PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin
COPY a.txt /a.txt
COPY d /dd/
RUN echo hi $V && echo err >&2 && mkdir -p /made && echo x > /made/f && rm /bin/vi
WORKDIR /w
USER 1:2
LABEL x=y "z z"=w
EXPOSE 80 53/udp
VOLUME /data
STOPSIGNAL SIGUSR1
HEALTHCHECK --interval=5s CMD true
ENTRYPOINT ["sh", "-c"]
CMD ["echo hello"]
"""


TAGS = ("built:1", "cached:1", "staged:1", "cmp:1")


@pytest.fixture(scope="module")
def ketch_busybox(ketchd: Engine, offline_images: OfflineImages) -> Iterator[None]:
    """busybox on the shared ketchd; afterwards the engine is left as found."""
    imported = docker(ketchd.env, "image", "inspect", "busybox:latest").returncode != 0
    if imported:
        import_offline_images(ketchd.env, offline_images, ("busybox",))
    yield
    docker(ketchd.env, "rmi", *TAGS)  # takes the untagged intermediate parents along
    docker(ketchd.env, "container", "prune", "-f")  # a failed RUN's container stays
    docker(ketchd.env, "image", "prune", "-f").ok()
    if imported:
        docker(ketchd.env, "rmi", "busybox:latest").ok()


def _context(tmp_path: Path, dockerfile: str) -> Path:
    (tmp_path / "a.txt").write_text("hello\n")
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "x").write_text("x\n")
    (tmp_path / "Dockerfile").write_text(dockerfile)
    return tmp_path


def _build(engine: Engine, *args: str) -> object:
    env = dict(engine.env, DOCKER_BUILDKIT="0")
    return docker(env, "build", *args, timeout=300)


def test_build_runs_every_kind_of_step(ketchd: Engine, tmp_path: Path) -> None:
    ctx = _context(tmp_path, DOCKERFILE)
    result = _build(ketchd, "-t", "built:1", str(ctx))
    assert result.returncode == 0, result.describe()
    out = result.stdout
    assert "Step 1/15 : FROM busybox" in out
    assert "hi 1\n" in out and "\x1b[91merr\n\x1b[0m" in out
    assert "Successfully tagged built:1" in out
    config = json.loads(docker(ketchd.env, "inspect", "built:1").ok().stdout)[0]["Config"]
    assert config["Env"] == ["PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", "A=b"]
    assert config["Cmd"] == ["echo hello"]
    assert config["Entrypoint"] == ["sh", "-c"]
    assert config["WorkingDir"] == "/w"
    assert config["User"] == "1:2"
    assert config["Labels"] == {"x": "y", "z z": "w"}
    assert config["ExposedPorts"] == {"80/tcp": {}, "53/udp": {}}
    assert config["Volumes"] == {"/data": {}}
    assert config["StopSignal"] == "SIGUSR1"
    assert config["Healthcheck"] == {"Test": ["CMD-SHELL", "true"], "Interval": 5_000_000_000}
    run = docker(ketchd.env, "run", "--rm", "--network", "none", "--user", "0",
                 "--entrypoint", "sh", "built:1", "-c",
                 "cat /a.txt /dd/x /made/f; test -e /bin/vi && echo vi-still-there; pwd")
    assert run.ok().stdout == "hello\nx\nx\n/w\n"


def test_second_build_is_all_cache_and_one_change_rebuilds_from_there(
        ketchd: Engine, tmp_path: Path) -> None:
    ctx = _context(tmp_path, "FROM busybox\nRUN echo one\nCOPY a.txt /a\nRUN echo two\n")
    first = _build(ketchd, "-t", "cached:1", str(ctx))
    assert first.returncode == 0, first.describe()
    second = _build(ketchd, "-t", "cached:1", str(ctx))
    assert second.returncode == 0, second.describe()
    assert second.stdout.count("Using cache") == 3
    (ctx / "a.txt").write_text("changed\n")
    third = _build(ketchd, "-t", "cached:1", str(ctx))
    assert third.stdout.count("Using cache") == 1, third.stdout
    assert "two\n" in third.stdout


def test_failing_run_exit_code_and_message(ketchd: Engine, tmp_path: Path) -> None:
    ctx = _context(tmp_path, "FROM busybox\nRUN exit 3\n")
    result = _build(ketchd, "--force-rm", str(ctx))  # leave no failed container behind
    assert result.returncode == 3
    assert "The command '/bin/sh -c exit 3' returned a non-zero code: 3" in result.stderr


def test_bad_dockerfile_names_the_line(ketchd: Engine, tmp_path: Path) -> None:
    ctx = _context(tmp_path, "FROM busybox\nFOO bar\n")
    result = _build(ketchd, str(ctx))
    assert result.returncode != 0
    assert "dockerfile parse error line 2: unknown instruction: FOO" in result.stderr


def test_multi_stage_target_and_copy_from(ketchd: Engine, tmp_path: Path) -> None:
    ctx = _context(tmp_path, (
        "FROM busybox AS base\nRUN echo base > /base\n"
        "FROM busybox AS unused\nRUN exit 1\n"
        "FROM busybox AS final\nCOPY --from=base /base /copied\nCMD cat /copied\n"))
    result = _build(ketchd, "-t", "staged:1", "--target", "final", str(ctx))
    assert result.returncode == 0, result.describe()
    run = docker(ketchd.env, "run", "--rm", "--network", "none", "staged:1")
    assert run.ok().stdout == "base\n"


def _summary(engine: Engine, ref: str) -> dict[str, object]:
    image = json.loads(docker(engine.env, "inspect", ref).ok().stdout)[0]
    config = image["Config"]
    keys = ("Env", "Cmd", "Entrypoint", "WorkingDir", "User", "ExposedPorts", "Volumes",
            "Labels", "Healthcheck", "StopSignal", "OnBuild")
    history = docker(engine.env, "history", "--no-trunc", "--format", "{{.CreatedBy}}",
                     ref).ok().stdout.splitlines()
    # COPY records the sources' content hash; the hashing schemes differ.
    history = [line.split(" file:")[0].split(" dir:")[0] for line in history]
    return {"config": {k: config.get(k) for k in keys}, "history": history}


def test_image_config_and_history_equal_docker_20_10(
        ketchd: Engine, refdocker: Engine, offline_images: OfflineImages,
        tmp_path: Path) -> None:
    import_offline_images(refdocker.env, offline_images, ("busybox",))
    ctx = _context(tmp_path, DOCKERFILE + "ONBUILD RUN echo child\nSHELL [\"/bin/sh\", \"-ec\"]\n"
                   "RUN echo with-new-shell\n")
    for engine in (ketchd, refdocker):
        result = _build(engine, "--build-arg", "V=2", "-t", "cmp:1", str(ctx))
        assert result.returncode == 0, result.describe()
    try:
        ours, theirs = _summary(ketchd, "cmp:1"), _summary(refdocker, "cmp:1")
    finally:
        # The reference engine is shared: remove the image and its
        # intermediate parents (rmi takes untagged parents along).
        docker(refdocker.env, "rmi", "cmp:1").ok()
    assert ours["config"] == theirs["config"]
    assert ours["history"][:-1] == theirs["history"][:-1]  # the base image's own line differs
