"""``ketch-registry gc``: mark from tags, follow indexes and referrers, sweep."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable

from .conftest import BIN, Server, sha256

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"


def gc(server: Server, *args: str) -> str:
    result = subprocess.run([str(BIN), "gc", "--root", str(server.root), *args],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout


def _artifact(server: Server, name: str, subject: str, size: int) -> str:
    empty = server.push_blob(name, b"{}")
    blob = server.push_blob(name, b"signature bytes")
    body = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "artifactType": "application/vnd.example.sig",
            "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": empty,
                       "size": 2},
            "layers": [{"mediaType": "application/octet-stream", "digest": blob, "size": 15}],
            "subject": {"mediaType": OCI_MANIFEST, "digest": subject, "size": size}}
    raw = json.dumps(body).encode()
    assert server.push_manifest(name, sha256(raw), raw).status == 201
    return blob


def test_gc_mark_and_sweep(make_registry: Callable[..., Server]) -> None:
    server = make_registry("--delete-enabled")
    kept, kept_body = server.image("app", "v1", [b"kept layer"])
    signature_blob = _artifact(server, "app", kept, len(kept_body))
    child, child_body = server.image("app", "child", [b"child layer"])
    index = {"schemaVersion": 2, "mediaType": OCI_INDEX,
             "manifests": [{"mediaType": OCI_MANIFEST, "digest": child,
                            "size": len(child_body)}]}
    assert server.push_manifest("app", "multi", index, OCI_INDEX).status == 201
    assert server.request("DELETE", "/v2/app/manifests/child").status == 202  # untag child
    untagged, _ = server.image("app", "old", [b"untagged layer"])
    assert server.request("DELETE", "/v2/app/manifests/old").status == 202
    orphan = server.push_blob("app", b"orphan layer")  # never referenced
    server.stop()

    dry = gc(server, "--dry-run")
    assert f"would delete blob {orphan}" in dry
    assert server.root.joinpath("blobs").exists()
    assert orphan.split(":")[1] in str(list(server.root.rglob(orphan.split(":")[1])))

    out = gc(server)
    assert f"deleted blob {orphan}" in out
    assert sha256(b"untagged layer") not in out  # untagged manifests are kept by default

    out = gc(server, "--delete-untagged")
    assert f"deleted manifest app@{untagged}" in out
    assert f"deleted blob {sha256(b'untagged layer')}" in out
    for needed in (sha256(b"kept layer"), sha256(b"child layer"), signature_blob):
        assert needed not in out

    server = make_registry(root=server.root)
    for digest, blob in ((kept, b"kept layer"), (child, b"child layer")):
        assert server.request("GET", f"/v2/app/manifests/{digest}").status == 200
        assert server.request("GET", f"/v2/app/blobs/{sha256(blob)}").body == blob
    refs = server.request("GET", f"/v2/app/referrers/{kept}").json()["manifests"]
    assert len(refs) == 1
    assert server.request("GET", f"/v2/app/blobs/{orphan}").status == 404
    assert server.request("GET", f"/v2/app/manifests/{untagged}").status == 404


def test_gc_alongside_read_only_server(make_registry: Callable[..., Server]) -> None:
    server = make_registry()
    digest, _ = server.image("ro", "v1", [b"layer a", b"layer b"])
    orphan = server.push_blob("ro", b"unreferenced")
    server.stop()
    reader = make_registry("--read-only", root=server.root)
    out = gc(reader)
    assert f"deleted blob {orphan}" in out
    got = reader.request("GET", "/v2/ro/manifests/v1")
    assert got.headers["docker-content-digest"] == digest
    for desc in json.loads(got.body)["layers"]:
        assert reader.request("GET", f"/v2/ro/blobs/{desc['digest']}").status == 200
    assert reader.request("GET", f"/v2/ro/blobs/{orphan}").status == 404
