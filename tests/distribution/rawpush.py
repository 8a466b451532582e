"""Put hand-made images straight into a registry over HTTP (no engine involved),
to test what the engine does with layers and manifests it did not write."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
import urllib.request
from dataclasses import dataclass
from typing import Any

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def layer_tar(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 1_700_000_000
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def gzipped(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


@dataclass
class Layer:
    blob: bytes
    media_type: str
    diff_id: str


def put_blob(host: str, repo: str, data: bytes) -> str:
    digest = sha256(data)
    start = urllib.request.Request(f"http://{host}/v2/{repo}/blobs/uploads/", method="POST")
    with urllib.request.urlopen(start) as response:
        location = response.headers["Location"]
    if location.startswith("/"):
        location = f"http://{host}{location}"
    sep = "&" if "?" in location else "?"
    put = urllib.request.Request(f"{location}{sep}digest={digest}", data=data, method="PUT",
                                 headers={"Content-Type": "application/octet-stream"})
    urllib.request.urlopen(put).close()
    return digest


def put_manifest(host: str, repo: str, reference: str, body: dict[str, Any],
                 media_type: str) -> str:
    raw = json.dumps(body).encode()
    request = urllib.request.Request(f"http://{host}/v2/{repo}/manifests/{reference}",
                                     data=raw, method="PUT",
                                     headers={"Content-Type": media_type})
    urllib.request.urlopen(request).close()
    return sha256(raw)


def push_image(host: str, repo: str, tag: str, layers: list[Layer],
               diff_ids: list[str] | None = None, architecture: str = "amd64",
               manifest_type: str = OCI_MANIFEST) -> tuple[str, str]:
    """Push config, layers and a manifest; returns ``(manifest digest, image ID)``."""
    config = json.dumps({
        "architecture": architecture, "os": "linux", "config": {"Cmd": ["/bin/true"]},
        "rootfs": {"type": "layers",
                   "diff_ids": diff_ids if diff_ids is not None
                   else [layer.diff_id for layer in layers]},
    }).encode()
    config_digest = put_blob(host, repo, config)
    descriptors = [{"mediaType": layer.media_type, "size": len(layer.blob),
                    "digest": put_blob(host, repo, layer.blob)} for layer in layers]
    config_type = ("application/vnd.oci.image.config.v1+json" if manifest_type == OCI_MANIFEST
                   else "application/vnd.docker.container.image.v1+json")
    manifest = {"schemaVersion": 2, "mediaType": manifest_type,
                "config": {"mediaType": config_type, "size": len(config),
                           "digest": config_digest},
                "layers": descriptors}
    return put_manifest(host, repo, tag, manifest, manifest_type), config_digest
