"""What ketchd pushes is a normal image: Debian's Docker 20.10 pulls and runs it,
and what Docker pushes, ketchd pulls with the same image ID."""

from __future__ import annotations

import json
from collections.abc import Callable

from support.dockercli import docker
from support.engines import Engine
from support.images import OfflineImages, import_offline_images

from .registry import DistRegistry


def test_docker_pulls_and_runs_what_ketchd_pushed(
    make_ketchd: Callable[..., Engine], refdocker: Engine, offline_images: OfflineImages,
    registry: DistRegistry,
) -> None:
    source = make_ketchd()
    ids = import_offline_images(source.env, offline_images, ("busybox",))
    ref = f"{registry.host}/interop/box:k"
    docker(source.env, "tag", "busybox", ref).ok()
    docker(source.env, "push", ref).ok()
    try:
        docker(refdocker.env, "pull", ref).ok()
        info = json.loads(docker(refdocker.env, "image", "inspect", ref).ok().stdout)[0]
        assert info["Id"] == ids["busybox"]
        ran = docker(refdocker.env, "run", "--rm", ref, "echo", "ran in docker").ok()
        assert "ran in docker" in ran.stdout

        docker(refdocker.env, "tag", ref, f"{registry.host}/interop/box:d").ok()
        docker(refdocker.env, "push", f"{registry.host}/interop/box:d").ok()
        target = make_ketchd()
        docker(target.env, "pull", f"{registry.host}/interop/box:d").ok()
        back = json.loads(docker(target.env, "image", "inspect",
                                 f"{registry.host}/interop/box:d").ok().stdout)[0]
        assert back["Id"] == ids["busybox"]
    finally:
        docker(refdocker.env, "rmi", "-f", ref, f"{registry.host}/interop/box:d")
