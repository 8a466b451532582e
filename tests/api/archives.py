"""Build image archives and layer tars in memory, for tests that feed the
daemon well-formed and deliberately broken input."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path
from typing import Any


def layer_tar(files: dict[str, bytes], extra: list[tarfile.TarInfo] | None = None) -> bytes:
    """An uncompressed layer tar of regular files (plus raw extra entries)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            info.mtime = 1_700_000_000
            tar.addfile(info, io.BytesIO(data))
        for info in extra or []:
            tar.addfile(info)
    return buf.getvalue()


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def image_config(diff_ids: list[str], **config: Any) -> bytes:
    body = {
        "architecture": "amd64", "os": "linux", "created": "2024-01-02T03:04:05Z",
        "config": config or {"Cmd": ["sh"]},
        "history": [{"created": "2024-01-02T03:04:05Z", "created_by": f"layer {i}"}
                    for i in range(len(diff_ids))],
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }
    return json.dumps(body).encode()


def docker_archive(layers: list[bytes], tags: list[str], *, diff_ids: list[str] | None = None,
                   config: bytes | None = None) -> bytes:
    """A docker-archive (manifest.json) holding one image made of ``layers``."""
    ids = diff_ids if diff_ids is not None else [sha256(layer) for layer in layers]
    raw_config = config if config is not None else image_config(ids)
    config_name = sha256(raw_config).split(":")[1] + ".json"
    members: dict[str, bytes] = {config_name: raw_config}
    layer_names = []
    for index, layer in enumerate(layers):
        name = f"layer{index}/layer.tar"
        members[name] = layer
        layer_names.append(name)
    members["manifest.json"] = json.dumps(
        [{"Config": config_name, "RepoTags": tags, "Layers": layer_names}]).encode()
    return tar_of(members)


def tar_of(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def write_big_archive(path: Path, layer_count: int, layer_mib: int, tag: str) -> None:
    """A docker-archive with large random layers, written straight to disk."""
    import os

    layers = [layer_tar({f"blob{i}.bin": os.urandom(layer_mib << 20)})
              for i in range(layer_count)]
    path.write_bytes(docker_archive(layers, [tag]))


def stored_files(data_root: Path) -> dict[str, list[str]]:
    """What the store holds on disk: blobs, layer snapshots, leftovers."""
    blobs_root = data_root / "content" / "blobs"
    blobs = sorted(str(p.relative_to(blobs_root)) for p in blobs_root.rglob("*") if p.is_file())
    ingest = sorted(p.name for p in (data_root / "content" / "ingest").glob("*"))
    layers_root = data_root / "layers"
    snapshots = sorted(p.name for p in layers_root.iterdir()
                       if p.is_dir() and p.name not in ("l", "tmp"))
    tmp = sorted(p.name for p in (data_root / "tmp").glob("*"))
    return {"blobs": blobs, "ingest": ingest, "snapshots": snapshots, "tmp": tmp}
