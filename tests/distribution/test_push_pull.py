"""ketchd pushes to and pulls from Debian's docker-registry, driven by the real
docker CLI: progress stream, RepoDigests, skipped layers, implicit pull of run."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from support.dockercli import docker
from support.engines import Engine
from support.images import OfflineImages, import_offline_images

from .registry import DistRegistry


def _inspect(engine: Engine, ref: str) -> dict[str, Any]:
    result = docker(engine.env, "image", "inspect", ref).ok()
    data: list[dict[str, Any]] = json.loads(result.stdout)
    return data[0]


def test_push_then_pull_into_a_fresh_engine(
    make_ketchd: Callable[..., Engine], offline_images: OfflineImages, registry: DistRegistry,
) -> None:
    source = make_ketchd()
    ids = import_offline_images(source.env, offline_images, ("busybox",))
    target_ref = f"{registry.host}/team/box:1"
    docker(source.env, "tag", "busybox", target_ref).ok()

    pushed = docker(source.env, "push", target_ref).ok()
    assert f"The push refers to repository [{registry.host}/team/box]" in pushed.stdout
    assert "Pushed" in pushed.stdout
    assert "1: digest: sha256:" in pushed.stdout
    digest = pushed.stdout.split("digest: ", 1)[1].split()[0]
    assert f"{registry.host}/team/box@{digest}" in _inspect(source, target_ref)["RepoDigests"]

    again = docker(source.env, "push", target_ref).ok()
    assert "Layer already exists" in again.stdout and "Pushed" not in again.stdout

    fresh = make_ketchd()
    pulled = docker(fresh.env, "pull", target_ref).ok()
    assert "1: Pulling from team/box" in pulled.stdout
    assert "Pull complete" in pulled.stdout
    assert f"Digest: {digest}" in pulled.stdout
    assert f"Status: Downloaded newer image for {target_ref}" in pulled.stdout
    info = _inspect(fresh, target_ref)
    assert info["Id"] == ids["busybox"]
    assert info["RepoDigests"] == [f"{registry.host}/team/box@{digest}"]

    up_to_date = docker(fresh.env, "pull", target_ref).ok()
    assert f"Status: Image is up to date for {target_ref}" in up_to_date.stdout

    by_digest = docker(fresh.env, "pull", f"{registry.host}/team/box@{digest}").ok()
    assert f"Digest: {digest}" in by_digest.stdout


def test_layers_already_present_are_not_downloaded(
    make_ketchd: Callable[..., Engine], offline_images: OfflineImages, registry: DistRegistry,
) -> None:
    source = make_ketchd()
    import_offline_images(source.env, offline_images, ("busybox",))
    ref = f"{registry.host}/box:1"
    docker(source.env, "tag", "busybox", ref).ok()
    docker(source.env, "push", ref).ok()
    # Another image (its own config) over the same layer: the pull reuses the layer.
    target = make_ketchd()
    import_offline_images(target.env, offline_images, ("busybox",))
    pulled = docker(target.env, "pull", ref).ok()
    assert "Already exists" in pulled.stdout, pulled.describe()
    assert "Downloading" not in pulled.stdout
    assert "Downloaded newer image" in pulled.stdout


def test_pull_of_unknown_tag_fails_cleanly(ketchd: Engine, registry: DistRegistry) -> None:
    result = docker(ketchd.env, "pull", f"{registry.host}/nothing:here")
    assert result.returncode != 0
    assert "not found" in result.stderr or "denied" in result.stderr, result.describe()


def test_push_to_another_repository_mounts_the_layer(
    make_ketchd: Callable[..., Engine], offline_images: OfflineImages, registry: DistRegistry,
) -> None:
    engine = make_ketchd()
    import_offline_images(engine.env, offline_images, ("busybox",))
    first, second = f"{registry.host}/one/box:1", f"{registry.host}/two/box:1"
    docker(engine.env, "tag", "busybox", first).ok()
    docker(engine.env, "tag", "busybox", second).ok()
    docker(engine.env, "push", first).ok()
    mounted = docker(engine.env, "push", second).ok()
    assert "Mounted from one/box" in mounted.stdout, mounted.describe()
    assert "Pushed" not in mounted.stdout


def test_pull_all_tags(
    make_ketchd: Callable[..., Engine], offline_images: OfflineImages, registry: DistRegistry,
) -> None:
    source = make_ketchd()
    import_offline_images(source.env, offline_images)
    name = f"{registry.host}/many"
    docker(source.env, "tag", "busybox", f"{name}:a").ok()
    docker(source.env, "tag", "hello-world", f"{name}:b").ok()
    docker(source.env, "push", "--all-tags", name).ok()

    target = make_ketchd()
    pulled = docker(target.env, "pull", "--all-tags", name).ok()
    assert "a: Pulling from many" in pulled.stdout
    assert "b: Pulling from many" in pulled.stdout
    assert f"Status: Downloaded newer image for {name}" in pulled.stdout
    listed = docker(target.env, "images", "--format", "{{.Repository}}:{{.Tag}}", name).ok()
    assert sorted(listed.stdout.split()) == [f"{name}:a", f"{name}:b"]


def test_a_pulled_layer_is_stored_once_and_still_pushed_and_saved_exactly(
    make_ketchd: Callable[..., Engine], offline_images: OfflineImages, registry: DistRegistry,
    tmp_path: Path,
) -> None:
    """Pulled layers keep no tar blob: push and save rebuild the exact tar
    from the unpacked files (tar-split), so image IDs and digests hold."""
    source = make_ketchd()
    ids = import_offline_images(source.env, offline_images, ("busybox",))
    ref = f"{registry.host}/box:1"
    docker(source.env, "tag", "busybox", ref).ok()
    docker(source.env, "push", ref).ok()

    puller = make_ketchd()
    docker(puller.env, "pull", ref).ok()
    diff_ids = _inspect(puller, ref)["RootFS"]["Layers"]
    blobs = puller.data_root / "content" / "blobs" / "sha256"
    assert diff_ids and not any((blobs / d.split(":")[1]).exists() for d in diff_ids)

    # Another registry: nothing to mount from, so the layer is rebuilt,
    # compressed and uploaded.
    other = DistRegistry(tmp_path / "other").start()
    try:
        moved = f"{other.host}/moved/box:1"
        docker(puller.env, "tag", ref, moved).ok()
        pushed = docker(puller.env, "push", moved).ok()
        assert "Pushed" in pushed.stdout, pushed.describe()
        third = make_ketchd()
        docker(third.env, "pull", moved).ok()
        assert _inspect(third, moved)["Id"] == ids["busybox"]
    finally:
        other.cleanup()

    archive = tmp_path / "saved.tar"
    docker(puller.env, "save", "-o", str(archive), ref).ok()
    loader = make_ketchd()
    loaded = docker(loader.env, "load", "-i", str(archive)).ok()
    assert f"Loaded image: {ref}" in loaded.stdout
    assert _inspect(loader, ref)["Id"] == ids["busybox"]
