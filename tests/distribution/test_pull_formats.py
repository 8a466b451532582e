"""Pull of images the engine did not write: gzip, zstd and plain layers, an
OCI index with several platforms, and bad content that must leave nothing."""

from __future__ import annotations

import json
from pathlib import Path

import zstandard
from support.dockercli import docker
from support.engines import Engine

from .rawpush import (
    OCI_INDEX,
    Layer,
    gzipped,
    layer_tar,
    push_image,
    put_manifest,
    sha256,
)
from .registry import DistRegistry


def _three_layers() -> list[Layer]:
    plain = layer_tar({"a.txt": b"plain layer\n"})
    gz = layer_tar({"b.txt": b"gzip layer\n"})
    zs = layer_tar({"c.txt": b"zstd layer\n"})
    return [
        Layer(plain, "application/vnd.oci.image.layer.v1.tar", sha256(plain)),
        Layer(gzipped(gz), "application/vnd.oci.image.layer.v1.tar+gzip", sha256(gz)),
        Layer(zstandard.ZstdCompressor().compress(zs),
              "application/vnd.oci.image.layer.v1.tar+zstd", sha256(zs)),
    ]


def _image_ids(engine: Engine) -> list[str]:
    out = docker(engine.env, "images", "-q", "--no-trunc").ok().stdout
    return sorted(out.split())


def _stored_blobs(engine: Engine) -> list[Path]:
    root = engine.data_root / "content" / "blobs"
    return sorted(p for p in root.rglob("*") if p.is_file())


def test_plain_gzip_and_zstd_layers(fresh_ketchd: Engine, registry: DistRegistry) -> None:
    digest, image_id = push_image(registry.host, "mixed", "v1", _three_layers())
    pulled = docker(fresh_ketchd.env, "pull", f"{registry.host}/mixed:v1").ok()
    assert pulled.stdout.count("Pull complete") == 3
    assert f"Digest: {digest}" in pulled.stdout
    info = json.loads(docker(fresh_ketchd.env, "image", "inspect",
                             f"{registry.host}/mixed:v1").ok().stdout)[0]
    assert info["Id"] == image_id
    assert info["RootFS"]["Layers"] == [layer.diff_id for layer in _three_layers()]


def test_index_platform_selection(fresh_ketchd: Engine, registry: DistRegistry) -> None:
    layers = _three_layers()[:1]
    host = registry.host
    amd, amd_id = push_image(host, "multi", "amd64-only", layers, architecture="amd64")
    arm, _ = push_image(host, "multi", "arm64-only", layers, architecture="arm64")
    sizes = {d: len(docker_manifest(registry, "multi", d)) for d in (amd, arm)}
    index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": arm,
         "size": sizes[arm], "platform": {"architecture": "arm64", "os": "linux"}},
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": amd,
         "size": sizes[amd], "platform": {"architecture": "amd64", "os": "linux"}},
    ]}
    index_digest = put_manifest(host, "multi", "latest", index, OCI_INDEX)
    pulled = docker(fresh_ketchd.env, "pull", f"{host}/multi").ok()
    assert f"Digest: {index_digest}" in pulled.stdout
    info = json.loads(docker(fresh_ketchd.env, "image", "inspect", f"{host}/multi").ok()
                      .stdout)[0]
    assert info["Id"] == amd_id
    assert info["RepoDigests"] == [f"{host}/multi@{index_digest}"]

    remote = fresh_ketchd.request("GET", f"/distribution/{host}/multi:latest/json")
    assert remote.status == 200, remote.text
    body = json.loads(remote.body)
    assert body["Descriptor"]["digest"] == index_digest
    assert {p["architecture"] for p in body["Platforms"]} == {"amd64", "arm64"}


def docker_manifest(registry: DistRegistry, repo: str, digest: str) -> bytes:
    import urllib.request

    request = urllib.request.Request(
        f"http://{registry.host}/v2/{repo}/manifests/{digest}",
        headers={"Accept": "application/vnd.oci.image.manifest.v1+json"})
    with urllib.request.urlopen(request) as response:
        data: bytes = response.read()
        return data


def test_corrupt_layer_blob_fails_and_keeps_nothing(
    fresh_ketchd: Engine, registry: DistRegistry,
) -> None:
    layers = _three_layers()
    push_image(registry.host, "bad", "v1", layers)
    blob = registry.blob_path(sha256(layers[2].blob))
    data = bytearray(blob.read_bytes())
    data[-1] ^= 0xFF  # same size, other content: only the digest can tell
    blob.write_bytes(bytes(data))
    before = _stored_blobs(fresh_ketchd)

    result = docker(fresh_ketchd.env, "pull", f"{registry.host}/bad:v1")
    assert result.returncode != 0, result.describe()
    assert "verification failed" in result.stderr + result.stdout, result.describe()
    assert _image_ids(fresh_ketchd) == []
    assert _stored_blobs(fresh_ketchd) == before
    layer_dirs = fresh_ketchd.data_root / "layers"
    assert [p for p in layer_dirs.iterdir() if len(p.name) == 64] == []
    assert list((fresh_ketchd.data_root / "tmp").iterdir()) == []


def test_config_diff_id_mismatch_fails_and_keeps_nothing(
    fresh_ketchd: Engine, registry: DistRegistry,
) -> None:
    layers = _three_layers()
    wrong = [layers[0].diff_id, sha256(b"not this layer"), layers[2].diff_id]
    push_image(registry.host, "lying", "v1", layers, diff_ids=wrong)
    result = docker(fresh_ketchd.env, "pull", f"{registry.host}/lying:v1")
    assert result.returncode != 0, result.describe()
    assert "digest mismatch" in result.stderr + result.stdout, result.describe()
    assert _image_ids(fresh_ketchd) == []
    assert _stored_blobs(fresh_ketchd) == []
    layer_dirs = fresh_ketchd.data_root / "layers"
    assert [p for p in layer_dirs.iterdir() if len(p.name) == 64] == []


def test_layers_beyond_the_download_limit_wait(
    fresh_ketchd: Engine, registry: DistRegistry,
) -> None:
    tars = [layer_tar({f"f{i}.txt": f"layer {i}\n".encode() * 1000}) for i in range(5)]
    layers = [Layer(gzipped(t), "application/vnd.oci.image.layer.v1.tar+gzip", sha256(t))
              for t in tars]
    push_image(registry.host, "five", "v1", layers)
    pulled = docker(fresh_ketchd.env, "pull", f"{registry.host}/five:v1").ok()
    # three downloads at a time (the default): the last two layers wait
    assert pulled.stdout.count(": Waiting") == 2, pulled.describe()
    assert pulled.stdout.count(": Pull complete") == 5
    info = json.loads(docker(fresh_ketchd.env, "image", "inspect",
                             f"{registry.host}/five:v1").ok().stdout)[0]
    assert info["RootFS"]["Layers"] == [sha256(t) for t in tars]
