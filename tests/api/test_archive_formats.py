"""``docker load`` formats beyond the everyday docker-archive: the legacy
(pre-1.10) layout and the OCI image layout, compressed archives and layers."""

from __future__ import annotations

import gzip
import io
import json
import lzma
import tarfile
from pathlib import Path
from typing import Any

import pytest
from support.dockercli import docker

from .archives import image_config, layer_tar, sha256, tar_of


def _load(engine: Any, body: bytes) -> Any:
    response = engine.request("POST", "/images/load?quiet=1", body=body)
    assert response.status == 200, response.text
    return [json.loads(line) for line in response.body.splitlines() if line.strip()]


def _oci_layout(layers: list[bytes], name: str, nested: bool) -> tuple[bytes, str]:
    """An OCI layout with gzip layers; optionally behind a multi-platform index."""
    diff_ids = [sha256(layer) for layer in layers]
    config = image_config(diff_ids, Cmd=["sh"])
    blobs: dict[str, bytes] = {}

    def blob(data: bytes) -> dict[str, Any]:
        digest = sha256(data)
        blobs["blobs/sha256/" + digest.split(":")[1]] = data
        return {"digest": digest, "size": len(data)}

    gz_layers = [gzip.compress(layer, mtime=0) for layer in layers]
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **blob(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", **blob(gz)}
                   for gz in gz_layers],
    }).encode()
    manifest_desc = {"mediaType": "application/vnd.oci.image.manifest.v1+json", **blob(manifest),
                     "platform": {"architecture": "amd64", "os": "linux"}}
    top = manifest_desc
    if nested:
        other = {"mediaType": "application/vnd.oci.image.manifest.v1+json",
                 "digest": "sha256:" + "0" * 64, "size": 1,
                 "platform": {"architecture": "arm64", "os": "linux"}}
        index = json.dumps({"schemaVersion": 2,
                            "mediaType": "application/vnd.oci.image.index.v1+json",
                            "manifests": [other, manifest_desc]}).encode()
        top = {"mediaType": "application/vnd.oci.image.index.v1+json", **blob(index)}
    top = {**top, "annotations": {"io.containerd.image.name": name}}
    members = dict(blobs)
    members["oci-layout"] = b'{"imageLayoutVersion":"1.0.0"}'
    members["index.json"] = json.dumps({"schemaVersion": 2, "manifests": [top]}).encode()
    return tar_of(members), sha256(config)


@pytest.mark.parametrize("nested", [False, True])
def test_oci_layout(ketchd: Any, nested: bool) -> None:
    name = f"docker.io/library/ocitest:{'index' if nested else 'plain'}"
    archive, image_id = _oci_layout([layer_tar({"a": b"1"}), layer_tar({"b": b"2"})], name,
                                    nested)
    messages = _load(ketchd, archive)
    familiar = name.removeprefix("docker.io/library/")
    assert messages == [{"stream": f"Loaded image: {familiar}\n"}]
    inspect = ketchd.request("GET", f"/images/{familiar}/json").json()
    assert inspect["Id"] == image_id
    assert ketchd.request("DELETE", f"/images/{familiar}").status == 200


@pytest.mark.parametrize("compress", [gzip.compress, lzma.compress])
def test_compressed_archive(ketchd: Any, compress: Any) -> None:
    layer = layer_tar({"c": b"compressed archive"})
    config = image_config([sha256(layer)])
    archive = tar_of({"cfg.json": config, "l.tar": layer, "manifest.json": json.dumps(
        [{"Config": "cfg.json", "RepoTags": ["compressed:1"], "Layers": ["l.tar"]}]).encode()})
    assert _load(ketchd, compress(archive)) == [{"stream": "Loaded image: compressed:1\n"}]
    assert ketchd.request("GET", "/images/compressed:1/json").json()["Id"] == sha256(config)
    assert ketchd.request("DELETE", "/images/compressed:1").status == 200


def test_untagged_load_reports_id(ketchd: Any) -> None:
    layer = layer_tar({"u": b"untagged"})
    config = image_config([sha256(layer)])
    archive = tar_of({"cfg.json": config, "l.tar": layer, "manifest.json": json.dumps(
        [{"Config": "cfg.json", "RepoTags": None, "Layers": ["l.tar"]}]).encode()})
    assert _load(ketchd, archive) == [{"stream": f"Loaded image ID: {sha256(config)}\n"}]
    assert ketchd.request("DELETE", f"/images/{sha256(config)}").status == 200


def _strip_to_legacy(archive: Path, out: Path) -> None:
    """Keep only the pre-1.10 parts of a Docker 20.10 save: <id>/json,
    <id>/layer.tar, <id>/VERSION and repositories."""
    with tarfile.open(archive) as src, tarfile.open(out, "w") as dst:
        for member in src.getmembers():
            top_level_json = member.name.endswith(".json") and "/" not in member.name
            if top_level_json:  # manifest.json and the <config>.json files
                continue
            data = src.extractfile(member) if member.isfile() else None
            dst.addfile(member, io.BytesIO(data.read()) if data else None)


def test_legacy_format_gets_dockers_image_id(ketchd: Any, refdocker: Any,
                                             offline_images: Any, tmp_path: Path) -> None:
    """Docker 20.10 and ketch load the same legacy archive to the same ID."""
    docker(refdocker.env, "import", "--change", 'CMD ["sh"]', str(offline_images.busybox),
           "legacy:1").ok()
    full = tmp_path / "full.tar"
    docker(refdocker.env, "save", "-o", str(full), "legacy:1").ok()
    legacy = tmp_path / "legacy.tar"
    _strip_to_legacy(full, legacy)
    docker(refdocker.env, "rmi", "legacy:1").ok()
    docker(refdocker.env, "load", "-i", str(legacy)).ok()
    expected = docker(refdocker.env, "image", "inspect", "--format", "{{.Id}}",
                      "legacy:1").ok().stdout.strip()
    docker(refdocker.env, "rmi", "legacy:1").ok()

    messages = _load(ketchd, legacy.read_bytes())
    assert messages == [{"stream": "Loaded image: legacy:1\n"}]
    got = ketchd.request("GET", "/images/legacy:1/json").json()["Id"]
    assert ketchd.request("DELETE", "/images/legacy:1").status == 200
    assert got == expected
