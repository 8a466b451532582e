"""``docker build --cache-from`` (classic builder) on ketchd and on Docker 20.10.

The same flows run on both engines and must give the same observable
results: which steps say ``Using cache``, the resulting image ID (the
source image itself when the whole build matches it), its layers, and
which of its history rows have an image (the intermediate images the
history-based cache makes, linked as parents).

The main flow: build an image, ``docker save`` it, and load it where the
local build cache knows nothing of it (a fresh ketchd; on the shared
reference Docker, after removing the image and its intermediate images),
then build again with ``--cache-from`` it.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from support.dockercli import docker
from support.engines import Engine
from support.images import OfflineImages, import_offline_images

from .buildhelp import docker_build

DOCKERFILE = """\
FROM busybox
LABEL run={run}
ENV A=1
COPY a.txt /a.txt
RUN echo built > /built
CMD ["cat", "/a.txt", "/built"]
"""
STEPS = 5  # after FROM


@pytest.fixture(scope="module")
def ketch_busybox(ketchd: Engine, offline_images: OfflineImages) -> Iterator[Engine]:
    imported = docker(ketchd.env, "image", "inspect", "busybox:latest").returncode != 0
    if imported:
        import_offline_images(ketchd.env, offline_images, ("busybox",))
    yield ketchd
    if imported:
        docker(ketchd.env, "image", "prune", "-f")
        docker(ketchd.env, "rmi", "busybox:latest").ok()


def _context(path: Path, text: str = "hello\n") -> Path:
    path.mkdir(exist_ok=True)
    (path / "a.txt").write_text(text)
    (path / "Dockerfile").write_text(DOCKERFILE.format(run=path.name))
    return path


def _image_id(engine: Engine, ref: str) -> str:
    return docker(engine.env, "inspect", "-f", "{{.Id}}", ref).ok().stdout.strip()


def _layers(engine: Engine, ref: str) -> list[str]:
    image = json.loads(docker(engine.env, "inspect", ref).ok().stdout)[0]
    return list(image["RootFS"]["Layers"])


def _history_pattern(engine: Engine, ref: str) -> list[bool]:
    """For each history row (newest first): whether it has an image ID."""
    rows = docker(engine.env, "history", "-q", ref).ok().stdout.split()
    return [row != "<missing>" for row in rows]


def _all_images(engine: Engine) -> set[str]:
    return set(docker(engine.env, "images", "-aq", "--no-trunc").ok().stdout.split())


@dataclass
class Outcome:
    """What a ``--cache-from`` build showed, comparable across engines."""

    cached_steps: int
    same_image: bool
    same_layers: bool
    history: list[bool]
    new_images: int
    runs: str


def _cache_from_build(engine: Engine, ctx: Path, source: str, tag: str,
                      source_id: str, source_layers: list[str]) -> Outcome:
    before = _all_images(engine)
    result = docker_build(engine, "--cache-from", source, "-t", tag, str(ctx))
    assert result.returncode == 0, result.describe()
    out = docker(engine.env, "run", "--rm", "--network", "none", tag).ok().stdout
    return Outcome(
        cached_steps=result.stdout.count(" ---> Using cache"),
        same_image=_image_id(engine, tag) == source_id,
        same_layers=_layers(engine, tag) == source_layers,
        history=_history_pattern(engine, tag),
        new_images=len(_all_images(engine) - before),
        runs=out,
    )


def _ketch_flow(engine: Engine, fresh: Engine, ctx: Path, tmp: Path) -> list[Outcome]:
    built = docker_build(engine, "-t", "cachefrom:1", str(ctx))
    assert built.returncode == 0, built.describe()
    source_id, layers = _image_id(engine, "cachefrom:1"), _layers(engine, "cachefrom:1")
    archive = tmp / "ketch-saved.tar"
    # busybox too: the fresh engine needs the very base image (an import is
    # dated, so importing it again would make another image)
    docker(engine.env, "save", "-o", str(archive), "cachefrom:1", "busybox:latest").ok()
    docker(engine.env, "rmi", "cachefrom:1").ok()
    docker(fresh.env, "load", "-i", str(archive)).ok()
    whole = _cache_from_build(fresh, ctx, "cachefrom:1", "cachefrom:2", source_id, layers)
    changed = _cache_from_build(fresh, _context(ctx, "changed\n"), "cachefrom:1",
                                "cachefrom:3", source_id, layers)
    return [whole, changed]


def _docker_flow(engine: Engine, ctx: Path, tmp: Path) -> list[Outcome]:
    built = docker_build(engine, "-t", "cachefrom:1", str(ctx))
    assert built.returncode == 0, built.describe()
    source_id, layers = _image_id(engine, "cachefrom:1"), _layers(engine, "cachefrom:1")
    archive = tmp / "docker-saved.tar"
    docker(engine.env, "save", "-o", str(archive), "cachefrom:1").ok()
    # rmi takes the intermediate images (Docker's local build cache) along
    docker(engine.env, "rmi", "cachefrom:1").ok()
    docker(engine.env, "load", "-i", str(archive)).ok()
    try:
        whole = _cache_from_build(engine, ctx, "cachefrom:1", "cachefrom:2", source_id,
                                  layers)
        changed = _cache_from_build(engine, _context(ctx, "changed\n"), "cachefrom:1",
                                    "cachefrom:3", source_id, layers)
    finally:
        docker(engine.env, "rmi", "cachefrom:1", "cachefrom:2", "cachefrom:3")
    return [whole, changed]


def test_cache_from_a_loaded_image_equals_docker_20_10(
        ketch_busybox: Engine, fresh_ketchd: Engine, ref_busybox: Engine,
        tmp_path: Path) -> None:
    run = "r" + secrets.token_hex(4)  # no local cache of another run can match
    ours = _ketch_flow(ketch_busybox, fresh_ketchd, _context(tmp_path / run), tmp_path)
    theirs = _docker_flow(ref_busybox, _context(tmp_path / run), tmp_path)
    whole, changed = ours
    # the whole build is the loaded image: every step cached, no new layer
    assert whole.cached_steps == STEPS
    assert whole.same_image and whole.same_layers
    assert whole.history == [True] * (STEPS + 1)  # busybox's one row, then ours
    assert whole.new_images == STEPS - 1  # the last step is the source itself
    assert whole.runs == "hello\nbuilt\n"
    # a changed file: the steps before its COPY are cached, none after
    assert changed.cached_steps == 2
    assert not changed.same_image
    assert changed.runs == "changed\nbuilt\n"
    assert ours == theirs


def _local_flow(engine: Engine, ctx: Path) -> tuple[int, int]:
    """Build twice (the local cache is then filled); then ``--cache-from``
    an unrelated image, then ``--cache-from`` the built image: how many
    steps each of the last two found in the cache."""
    for _ in range(2):
        result = docker_build(engine, "-t", "localcache:1", str(ctx))
        assert result.returncode == 0, result.describe()
    try:
        counts = []
        for source, tag in (("busybox:latest", "localcache:2"), ("localcache:1", "localcache:3")):
            result = docker_build(engine, "--cache-from", source, "-t", tag, str(ctx))
            assert result.returncode == 0, result.describe()
            counts.append(result.stdout.count(" ---> Using cache"))
    finally:
        # rmi takes the untagged intermediate parents along
        docker(engine.env, "rmi", "localcache:1", "localcache:2", "localcache:3")
    return counts[0], counts[1]


def test_cache_from_counts_local_hits_only_in_a_sources_ancestry(
        ketch_busybox: Engine, ref_busybox: Engine, tmp_path: Path) -> None:
    run = "l" + secrets.token_hex(4)
    ours = _local_flow(ketch_busybox, _context(tmp_path / run))
    theirs = _local_flow(ref_busybox, _context(tmp_path / run))
    assert ours == (0, STEPS)
    assert ours == theirs


def _unknown_flow(engine: Engine, ctx: Path) -> int:
    """Build twice, then ``--cache-from`` an image nobody has: steps cached."""
    try:
        for _ in range(2):
            plain = docker_build(engine, "-t", "unknowncache:1", str(ctx))
            assert plain.returncode == 0, plain.describe()
        result = docker_build(engine, "--cache-from", "no-such-image:7", "-t",
                              "unknowncache:2", str(ctx))
        assert result.returncode == 0, result.describe()
        return result.stdout.count(" ---> Using cache")
    finally:
        docker(engine.env, "rmi", "unknowncache:1", "unknowncache:2")


def test_cache_from_an_unknown_image_is_skipped_and_caches_nothing(
        ketch_busybox: Engine, ref_busybox: Engine, tmp_path: Path) -> None:
    run = "u" + secrets.token_hex(4)
    ours = _unknown_flow(ketch_busybox, _context(tmp_path / run))
    assert ours == 0
    assert ours == _unknown_flow(ref_busybox, _context(tmp_path / run))
