"""skopeo (containers/image) copies images into ketch-registry and back out."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from .conftest import Server
from .ocilayout import write_layout, write_multiarch_layout

SKOPEO = shutil.which("skopeo")
pytestmark = pytest.mark.skipif(SKOPEO is None, reason="skopeo is not installed")


def skopeo(*args: str) -> str:
    assert SKOPEO is not None
    result = subprocess.run([SKOPEO, *args], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_oci_layout_round_trip(registry: Server, tmp_path: Path) -> None:
    src = tmp_path / "src"
    digest = write_layout(src, "v1", [{"bin/hello": os.urandom(300_000)},
                                      {"etc/motd": b"hi\n"}])
    dest = f"docker://{registry.addr}/interop/app:v1"
    skopeo("copy", "--dest-tls-verify=false", f"oci:{src}:v1", dest)
    inspected = json.loads(skopeo("inspect", "--tls-verify=false", dest))
    assert inspected["Digest"] == digest
    raw = skopeo("inspect", "--raw", "--tls-verify=false", dest)
    assert raw.encode() == (src / "blobs" / "sha256" / digest.split(":")[1]).read_bytes()

    out = tmp_path / "out"
    skopeo("copy", "--src-tls-verify=false", dest, f"oci:{out}:v1")
    index = json.loads((out / "index.json").read_text())
    assert index["manifests"][0]["digest"] == digest
    for blob in (src / "blobs" / "sha256").iterdir():
        assert (out / "blobs" / "sha256" / blob.name).read_bytes() == blob.read_bytes()
    tags = json.loads(skopeo("list-tags", "--tls-verify=false",
                             f"docker://{registry.addr}/interop/app"))
    assert tags["Tags"] == ["v1"]


def test_docker_archive_in_and_out(registry: Server, tmp_path: Path) -> None:
    src = tmp_path / "src"
    write_layout(src, "v1", [{"hello": b"world"}])
    archive = tmp_path / "image.tar"
    skopeo("copy", f"oci:{src}:v1", f"docker-archive:{archive}:interop/arch:v1")
    dest = f"docker://{registry.addr}/interop/arch:v1"
    skopeo("copy", "--dest-tls-verify=false", f"docker-archive:{archive}", dest)
    pushed = json.loads(skopeo("inspect", "--raw", "--tls-verify=false", dest))
    assert pushed["mediaType"] == "application/vnd.docker.distribution.manifest.v2+json"
    back = tmp_path / "back.tar"
    skopeo("copy", "--src-tls-verify=false", dest, f"docker-archive:{back}:interop/arch:v1")
    before = json.loads(skopeo("inspect", f"docker-archive:{archive}"))
    after = json.loads(skopeo("inspect", f"docker-archive:{back}"))
    assert before["Layers"] == after["Layers"]


def test_copy_between_repositories_mounts(registry: Server, tmp_path: Path) -> None:
    src = tmp_path / "src"
    digest = write_layout(src, "v1", [{"a": os.urandom(50_000)}])
    skopeo("copy", "--dest-tls-verify=false", f"oci:{src}:v1",
           f"docker://{registry.addr}/one/app:v1")
    skopeo("copy", "--src-tls-verify=false", "--dest-tls-verify=false",
           f"docker://{registry.addr}/one/app:v1", f"docker://{registry.addr}/two/app:v1")
    copied = json.loads(skopeo("inspect", "--tls-verify=false",
                               f"docker://{registry.addr}/two/app:v1"))
    assert copied["Digest"] == digest


def test_multiarch_index_round_trip(registry: Server, tmp_path: Path) -> None:
    src = tmp_path / "src"
    digest = write_multiarch_layout(src, "multi")
    dest = f"docker://{registry.addr}/interop/multi:1"
    skopeo("copy", "--all", "--dest-tls-verify=false", f"oci:{src}:multi", dest)
    raw = skopeo("inspect", "--raw", "--tls-verify=false", dest)
    assert raw.encode() == (src / "blobs" / "sha256" / digest.split(":")[1]).read_bytes()
    got = registry.request("GET", "/v2/interop/multi/manifests/1")
    assert got.headers["content-type"] == "application/vnd.oci.image.index.v1+json"
    assert got.headers["docker-content-digest"] == digest
    out = tmp_path / "out"
    skopeo("copy", "--all", "--src-tls-verify=false", dest, f"oci:{out}:multi")
    assert json.loads((out / "index.json").read_text())["manifests"][0]["digest"] == digest
    for blob in (src / "blobs" / "sha256").iterdir():
        assert (out / "blobs" / "sha256" / blob.name).read_bytes() == blob.read_bytes()
