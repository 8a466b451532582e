"""The same docker commands against the reference Docker 20.10 and ketchd: what
``inspect`` says about a container's mounts, and what the container sees in
/proc/mounts, must agree (volume names and data roots aside).

Only behaviour Docker 20.10 and 28 share is compared (20.10 uses ``ro`` where
28 uses ``rro`` for read-only binds: both show ``ro`` in /proc/mounts).
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.dockercli import docker
from support.engines import Engine
from support.images import OfflineImages, import_offline_images

pytestmark = pytest.mark.refdocker

IMAGE = "kvvolimg"


def _with_images(engine: Engine, offline_images: OfflineImages) -> Engine:
    """busybox, and an image with ``VOLUME /data`` holding a file (by commit)."""
    if docker(engine.env, "image", "inspect", "busybox:latest").returncode != 0:
        import_offline_images(engine.env, offline_images, ("busybox",))
    if docker(engine.env, "image", "inspect", IMAGE).returncode != 0:
        cid = docker(engine.env, "create", "--network", "none", "busybox", "sh", "-c",
                     "mkdir /data && echo seed > /data/seed").ok().stdout.strip()
        try:
            docker(engine.env, "start", "-a", cid).ok()
            docker(engine.env, "commit", "--change", "VOLUME /data", cid, IMAGE).ok()
        finally:
            docker(engine.env, "rm", cid)
    return engine


@pytest.fixture
def engines(refdocker: Engine, ketchd: Engine,
            offline_images: OfflineImages) -> tuple[Engine, Engine]:
    return _with_images(refdocker, offline_images), _with_images(ketchd, offline_images)


@pytest.fixture
def host_dir(tmp_path: Path) -> Iterator[Path]:
    where = tmp_path / "h"
    where.mkdir()
    (where / "f").write_text("host\n")
    yield where


def _normalized(doc: Any, engine: Engine, names: dict[str, str]) -> Any:
    """*doc* with the engine's data root and anonymous volume names replaced."""
    text = json.dumps(doc).replace(str(engine.data_root), "<root>")

    def anon(match: re.Match[str]) -> str:
        return names.setdefault(match.group(0), f"<anon{len(names)}>")

    return json.loads(re.sub(r"\b[0-9a-f]{64}\b", anon, text))


def _scenario(engine: Engine, host: Path, t: str) -> dict[str, Any]:
    """Create and run containers with every kind of mount; what each showed."""
    env = engine.env
    made: list[str] = []
    try:
        def create(*args: str) -> str:
            cid = docker(env, "create", "--network", "none", *args).ok().stdout.strip()
            made.append(cid)
            return cid

        source = create("--name", f"kvsrc{t}", "-v", f"kvn{t}:/named:ro", "-v", "/anon",
                        "-v", f"{host}:/bound:ro", "--mount",
                        f"type=volume,src=kvm{t},dst=/m,volume-nocopy", "--mount",
                        f"type=bind,src={host},dst=/mb", "--tmpfs", "/tt:size=1m", IMAGE,
                        "sh", "-c", "cat /data/seed /bound/f; ls -A /m /tt; "
                        "for d in /named /anon /bound /m /mb /tt /data; do "
                        "grep \" $d \" /proc/mounts | cut -d' ' -f2-4; done")
        # (not a --mount type=tmpfs: Docker then fails --volumes-from with
        # "get: no such volume", where ketch passes the tmpfs mount on)
        tmpfs = create("--mount", "type=tmpfs,dst=/mt,tmpfs-size=1m,tmpfs-mode=1700",
                       "busybox", "sh", "-c", "grep ' /mt ' /proc/mounts | cut -d' ' -f2-4")
        reader = create("--volumes-from", f"kvsrc{t}:ro", "busybox", "sh", "-c",
                        "for d in /named /anon /bound /m /mb /data; do "
                        "grep \" $d \" /proc/mounts | cut -d' ' -f2-4; done")
        out = {}
        for cid in (source, reader, tmpfs):
            run = docker(env, "start", "-a", cid).ok()
            inspect = json.loads(docker(env, "inspect", cid).ok().stdout)[0]
            out[cid] = {
                "output": run.stdout,
                "mounts": sorted(inspect["Mounts"], key=lambda m: m["Destination"]),
                "volumes": inspect["Config"]["Volumes"],
                "host": {k: inspect["HostConfig"].get(k) for k in
                         ("Mounts", "Tmpfs", "VolumesFrom", "VolumeDriver")},
                # the docker CLI sends -v values in Go map order (random)
                "binds": sorted(inspect["HostConfig"].get("Binds") or []),
            }
        plain = create("busybox")
        plain_inspect = json.loads(docker(env, "inspect", plain).ok().stdout)[0]
        return {"source": out[source], "reader": out[reader], "tmpfs": out[tmpfs],
                "plain": (plain_inspect["Config"]["Volumes"], plain_inspect["Mounts"])}
    finally:
        if made:
            docker(env, "rm", "-fv", *made)
        docker(env, "volume", "rm", f"kvn{t}", f"kvm{t}")


def test_mounts_match_docker(engines: tuple[Engine, Engine], host_dir: Path) -> None:
    reference, ketchd = engines
    t = secrets.token_hex(4)
    theirs = _normalized(_scenario(reference, host_dir, t), reference, {})
    ours = _normalized(_scenario(ketchd, host_dir, t), ketchd, {})
    assert ours["plain"] == theirs["plain"] == [None, []]
    for part in ("source", "reader", "tmpfs"):
        assert ours[part]["mounts"] == theirs[part]["mounts"], part
        assert ours[part]["volumes"] == theirs[part]["volumes"], part
        assert ours[part]["host"] == theirs[part]["host"], part
        assert ours[part]["output"] == theirs[part]["output"], part
    assert theirs["source"]["output"].startswith("seed\nhost\n")
