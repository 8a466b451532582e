"""Write small OCI image layouts for the client interop tests."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from pathlib import Path
from typing import Any


def _blob(layout: Path, data: bytes) -> dict[str, Any]:
    digest = hashlib.sha256(data).hexdigest()
    path = layout / "blobs" / "sha256" / digest
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return {"digest": f"sha256:{digest}", "size": len(data)}


def _layer_tar(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, content in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(content), 0, 0o755
            tar.addfile(info, io.BytesIO(content))
    return buf.getvalue()


def _image(layout: Path, layers: list[dict[str, bytes]], cmd: list[str] | None,
           arch: str = "amd64") -> dict[str, Any]:
    layout.mkdir(parents=True, exist_ok=True)
    (layout / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    descs, diff_ids = [], []
    for files in layers:
        raw = _layer_tar(files)
        diff_ids.append("sha256:" + hashlib.sha256(raw).hexdigest())
        gz = gzip.compress(raw, mtime=0)
        descs.append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                      **_blob(layout, gz)})
    config = {"architecture": arch, "os": "linux",
              "config": {"Cmd": cmd or ["/bin/sh"]},
              "rootfs": {"type": "layers", "diff_ids": diff_ids}, "history": []}
    cdesc = {"mediaType": "application/vnd.oci.image.config.v1+json",
             **_blob(layout, json.dumps(config).encode())}
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": cdesc, "layers": descs}
    return {"mediaType": "application/vnd.oci.image.manifest.v1+json",
            **_blob(layout, json.dumps(manifest, indent=2).encode())}


def write_layout(layout: Path, tag: str, layers: list[dict[str, bytes]],
                 cmd: list[str] | None = None) -> str:
    """An OCI layout holding one linux/amd64 image; returns the manifest digest."""
    mdesc = _image(layout, layers, cmd)
    mdesc["annotations"] = {"org.opencontainers.image.ref.name": tag}
    (layout / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [mdesc]}))
    return str(mdesc["digest"])


def write_multiarch_layout(layout: Path, tag: str) -> str:
    """An OCI layout whose tag names an index of amd64 and arm64 images."""
    children = []
    for arch in ("amd64", "arm64"):
        desc = _image(layout, [{f"bin/{arch}": arch.encode() * 100}], None, arch)
        desc["platform"] = {"architecture": arch, "os": "linux"}
        children.append(desc)
    index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
             "manifests": children}
    idesc = {"mediaType": "application/vnd.oci.image.index.v1+json",
             **_blob(layout, json.dumps(index).encode()),
             "annotations": {"org.opencontainers.image.ref.name": tag}}
    (layout / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [idesc]}))
    return str(idesc["digest"])
