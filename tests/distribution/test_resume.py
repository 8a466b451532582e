"""A layer download cut off half way resumes with ``Range`` and the pull
completes with the right content."""

from __future__ import annotations

import json
from collections.abc import Callable

from support.dockercli import docker
from support.engines import Engine
from support.images import OfflineImages, import_offline_images

from .cutproxy import CutProxy
from .registry import DistRegistry


def test_interrupted_download_resumes(
    make_ketchd: Callable[..., Engine], offline_images: OfflineImages, registry: DistRegistry,
) -> None:
    source = make_ketchd()
    ids = import_offline_images(source.env, offline_images, ("busybox",))
    docker(source.env, "tag", "busybox", f"{registry.host}/cut:1").ok()
    docker(source.env, "push", f"{registry.host}/cut:1").ok()

    proxy = CutProxy(registry.host).start()
    try:
        target = make_ketchd()
        ref = f"{proxy.host}/cut:1"
        pulled = docker(target.env, "pull", ref).ok()
        assert "Pull complete" in pulled.stdout
        assert proxy.cut, "the proxy never cut a download"
        assert proxy.ranges, "the engine did not resume with Range"
        path, value = proxy.ranges[0]
        assert path in proxy.cut and value.startswith("bytes=") and value != "bytes=0-"
        info = json.loads(docker(target.env, "image", "inspect", ref).ok().stdout)[0]
        assert info["Id"] == ids["busybox"]
    finally:
        proxy.stop()
