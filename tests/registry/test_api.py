"""Every endpoint of the distribution API, and its errors, over raw HTTP."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable

from .conftest import Server, sha256

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"


def test_version_check(registry: Server) -> None:
    reply = registry.request("GET", "/v2/")
    assert reply.status == 200
    assert reply.headers["docker-distribution-api-version"] == "registry/2.0"
    assert reply.json() == {}


# -- blobs ----------------------------------------------------------------

def test_monolithic_post_put_then_get_head_range(registry: Server) -> None:
    data = os.urandom(5000)
    digest = sha256(data)
    start = registry.request("POST", "/v2/lib/app/blobs/uploads/")
    assert start.status == 202
    location = start.headers["location"]
    assert start.headers["docker-upload-uuid"] in location
    done = registry.request("PUT", f"{location}?digest={digest}", data,
                            {"Content-Type": "application/octet-stream"})
    assert done.status == 201
    assert done.headers["docker-content-digest"] == digest
    assert done.headers["location"] == f"/v2/lib/app/blobs/{digest}"

    head = registry.request("HEAD", f"/v2/lib/app/blobs/{digest}")
    assert head.status == 200 and head.body == b""
    assert head.headers["content-length"] == "5000"
    assert head.headers["docker-content-digest"] == digest
    full = registry.request("GET", f"/v2/lib/app/blobs/{digest}")
    assert full.status == 200 and full.body == data
    part = registry.request("GET", f"/v2/lib/app/blobs/{digest}", headers={"Range": "bytes=10-19"})
    assert part.status == 206 and part.body == data[10:20]
    assert part.headers["content-range"] == "bytes 10-19/5000"
    tail = registry.request("GET", f"/v2/lib/app/blobs/{digest}", headers={"Range": "bytes=4990-"})
    assert tail.status == 206 and tail.body == data[4990:]
    bad = registry.request("GET", f"/v2/lib/app/blobs/{digest}", headers={"Range": "bytes=9000-"})
    assert bad.status == 416


def test_single_post_with_digest_and_sha512(registry: Server) -> None:
    data = b"sha512 content"
    digest = "sha512:" + hashlib.sha512(data).hexdigest()
    reply = registry.request("POST", f"/v2/x/blobs/uploads/?digest={digest}", data)
    assert reply.status == 201
    assert registry.request("GET", f"/v2/x/blobs/{digest}").body == data


def test_chunked_upload_in_order_and_out_of_order(registry: Server) -> None:
    data = os.urandom(3000)
    start = registry.request("POST", "/v2/c/blobs/uploads/")
    loc = start.headers["location"]
    first = registry.request("PATCH", loc, data[:1000],
                             {"Content-Range": "0-999", "Content-Type": "application/octet-stream"})
    assert first.status == 202 and first.headers["range"] == "0-999"
    loc = first.headers["location"]
    skipped = registry.request("PATCH", loc, data[2000:], {"Content-Range": "2000-2999"})
    assert skipped.status == 416 and skipped.error_codes() == ["BLOB_UPLOAD_INVALID"]
    assert skipped.headers["range"] == "0-999"
    status = registry.request("GET", loc)
    assert status.status == 204 and status.headers["range"] == "0-999"
    second = registry.request("PATCH", loc, data[1000:2000], {"Content-Range": "1000-1999"})
    assert second.status == 202 and second.headers["range"] == "0-1999"
    done = registry.request("PUT", f"{loc}?digest={sha256(data)}", data[2000:],
                            {"Content-Range": "2000-2999"})
    assert done.status == 201
    assert registry.request("GET", f"/v2/c/blobs/{sha256(data)}").body == data


def test_streamed_patch_without_content_range(registry: Server) -> None:
    data = os.urandom(200_000)
    loc = registry.request("POST", "/v2/s/blobs/uploads/").headers["location"]
    patched = registry.request("PATCH", loc, data)
    assert patched.status == 202 and patched.headers["range"] == f"0-{len(data) - 1}"
    assert registry.request("PUT", f"{loc}?digest={sha256(data)}").status == 201


def test_digest_mismatch_stores_nothing(registry: Server) -> None:
    data, wrong = b"real bytes", sha256(b"other bytes")
    loc = registry.request("POST", "/v2/d/blobs/uploads/").headers["location"]
    reply = registry.request("PUT", f"{loc}?digest={wrong}", data)
    assert reply.status == 400 and reply.error_codes() == ["DIGEST_INVALID"]
    assert registry.request("HEAD", f"/v2/d/blobs/{wrong}").status == 404
    assert registry.request("HEAD", f"/v2/d/blobs/{sha256(data)}").status == 404
    assert registry.request("GET", loc).status == 404  # the upload is gone too
    assert not list((registry.root / "blobs").rglob("data"))


def test_upload_cancel_and_unknown(registry: Server) -> None:
    loc = registry.request("POST", "/v2/u/blobs/uploads/").headers["location"]
    assert registry.request("DELETE", loc).status == 204
    gone = registry.request("GET", loc)
    assert gone.status == 404 and gone.error_codes() == ["BLOB_UPLOAD_UNKNOWN"]
    bogus = registry.request("PATCH", "/v2/u/blobs/uploads/not-an-upload", b"x")
    assert bogus.status == 404 and bogus.error_codes() == ["BLOB_UPLOAD_UNKNOWN"]


def test_put_without_digest_is_invalid(registry: Server) -> None:
    loc = registry.request("POST", "/v2/u/blobs/uploads/").headers["location"]
    reply = registry.request("PUT", loc, b"abc")
    assert reply.status == 400 and reply.error_codes() == ["DIGEST_INVALID"]


def test_cross_repository_mount_and_fallback(registry: Server) -> None:
    digest = registry.push_blob("src/repo", b"mount me")
    mounted = registry.request("POST", f"/v2/dst/blobs/uploads/?mount={digest}&from=src/repo")
    assert mounted.status == 201 and mounted.headers["docker-content-digest"] == digest
    assert registry.request("GET", f"/v2/dst/blobs/{digest}").body == b"mount me"
    missing = sha256(b"nowhere")
    fallback = registry.request("POST", f"/v2/dst/blobs/uploads/?mount={missing}&from=src/repo")
    assert fallback.status == 202 and "/blobs/uploads/" in fallback.headers["location"]


def test_blob_unknown_in_other_repository(registry: Server) -> None:
    digest = registry.push_blob("one", b"private")
    reply = registry.request("GET", f"/v2/two/blobs/{digest}")
    assert reply.status == 404 and reply.error_codes() == ["BLOB_UNKNOWN"]


def test_blob_delete(registry: Server, make_registry: Callable[..., Server]) -> None:
    digest = registry.push_blob("del", b"bye")
    assert registry.request("DELETE", f"/v2/del/blobs/{digest}").status == 202
    assert registry.request("HEAD", f"/v2/del/blobs/{digest}").status == 404
    assert registry.request("DELETE", f"/v2/del/blobs/{digest}").error_codes() == ["BLOB_UNKNOWN"]
    no_delete = make_registry()
    digest = no_delete.push_blob("del", b"stay")
    reply = no_delete.request("DELETE", f"/v2/del/blobs/{digest}")
    assert reply.status == 405 and reply.error_codes() == ["UNSUPPORTED"]


def test_invalid_digest_and_name(registry: Server) -> None:
    assert registry.request("GET", "/v2/x/blobs/sha256:abc").error_codes() == ["DIGEST_INVALID"]
    for name in ("UPPER", "a//b", "-x", "a/../b"):
        reply = registry.request("GET", f"/v2/{name}/tags/list")
        assert reply.status == 400 and reply.error_codes() == ["NAME_INVALID"], name
    traversal = registry.request("POST", "/v2/..%2F..%2Fetc/blobs/uploads/")
    assert traversal.status in (400, 404)
    assert not (registry.root.parent / "etc").exists()


# -- manifests ------------------------------------------------------------

def test_manifest_put_get_head_exact_bytes(registry: Server) -> None:
    digest, body = registry.image("app", "v1", [b"layer one", b"layer two"])
    assert digest == sha256(body)
    for ref in ("v1", digest):
        got = registry.request("GET", f"/v2/app/manifests/{ref}",
                               headers={"Accept": OCI_MANIFEST})
        assert got.status == 200 and got.body == body
        assert got.headers["content-type"] == OCI_MANIFEST
        assert got.headers["docker-content-digest"] == digest
        head = registry.request("HEAD", f"/v2/app/manifests/{ref}")
        assert head.status == 200 and head.body == b""
        assert head.headers["content-length"] == str(len(body))


def test_manifest_by_digest_must_match(registry: Server) -> None:
    _, body = registry.image("app", "v1", [b"l"])
    wrong = sha256(b"not it")
    reply = registry.push_manifest("app", wrong, body)
    assert reply.status == 400 and reply.error_codes() == ["DIGEST_INVALID"]
    right = registry.push_manifest("app", sha256(body), body)
    assert right.status == 201


def test_manifest_missing_blobs(registry: Server) -> None:
    config = registry.push_blob("m", b"{}")
    manifest = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                           "digest": config, "size": 2},
                "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                            "digest": sha256(b"missing"), "size": 7}]}
    reply = registry.push_manifest("m", "t", manifest)
    assert reply.status == 404 and reply.error_codes() == ["MANIFEST_BLOB_UNKNOWN"]
    assert registry.request("GET", "/v2/m/manifests/t").status == 404


def test_malformed_manifests(registry: Server) -> None:
    cases = [b"{not json", b"[]", json.dumps({"schemaVersion": 1}).encode(),
             json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST}).encode(),
             json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                         "config": {"mediaType": "x", "digest": "sha256:zz", "size": 1},
                         "layers": []}).encode()]
    for body in cases:
        reply = registry.push_manifest("bad", "t", body)
        assert reply.status == 400 and reply.error_codes() == ["MANIFEST_INVALID"], body
    mismatch = registry.push_manifest("bad", "t", {"schemaVersion": 2, "mediaType": DOCKER_LIST,
                                                   "manifests": []}, OCI_INDEX)
    assert mismatch.error_codes() == ["MANIFEST_INVALID"]
    assert registry.request("GET", "/v2/bad/tags/list").status == 404


def test_manifest_size_limit(registry: Server) -> None:
    config = registry.push_blob("big", b"{}")
    base = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                       "digest": config, "size": 2}, "layers": []}
    fits = dict(base, annotations={"pad": "x" * (4 * 1024 * 1024 - 400)})
    body = json.dumps(fits).encode()
    assert len(body) < 4 * 1024 * 1024
    assert registry.push_manifest("big", "fits", body).status == 201
    assert registry.request("GET", "/v2/big/manifests/fits").body == body
    huge = dict(base, annotations={"pad": "x" * (4 * 1024 * 1024 + 10)})
    reply = registry.push_manifest("big", "huge", huge)
    assert reply.status == 413 and reply.error_codes() == ["SIZE_INVALID"]


def test_invalid_tag(registry: Server) -> None:
    _, body = registry.image("t", "ok", [b"l"])
    reply = registry.push_manifest("t", "-bad", body)
    assert reply.status == 400 and reply.error_codes() == ["MANIFEST_INVALID"]


def test_docker_schema2_and_manifest_list(registry: Server) -> None:
    config = registry.push_blob("d", b'{"architecture":"amd64","os":"linux"}')
    layer = registry.push_blob("d", b"gzipped?")
    manifest = {"schemaVersion": 2, "mediaType": DOCKER_MANIFEST,
                "config": {"mediaType": "application/vnd.docker.container.image.v1+json",
                           "digest": config, "size": 37},
                "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                            "digest": layer, "size": 8}]}
    put = registry.push_manifest("d", "amd64", manifest, DOCKER_MANIFEST)
    assert put.status == 201
    child = put.headers["docker-content-digest"]
    index = {"schemaVersion": 2, "mediaType": DOCKER_LIST,
             "manifests": [{"mediaType": DOCKER_MANIFEST, "digest": child, "size": 10,
                            "platform": {"architecture": "amd64", "os": "linux"}}]}
    assert registry.push_manifest("d", "multi", index, DOCKER_LIST).status == 201
    got = registry.request("GET", "/v2/d/manifests/multi")
    assert got.headers["content-type"] == DOCKER_LIST
    orphan = dict(index, manifests=[dict(index["manifests"][0], digest=sha256(b"x"))])
    reply = registry.push_manifest("d", "orphan", orphan, DOCKER_LIST)
    assert reply.error_codes() == ["MANIFEST_BLOB_UNKNOWN"]
    oci_index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": index["manifests"]}
    assert registry.push_manifest("d", "oci", oci_index, OCI_INDEX).status == 201


def test_schema1_refused(registry: Server) -> None:
    body = {"schemaVersion": 1, "name": "x", "tag": "y", "fsLayers": []}
    reply = registry.push_manifest("s1", "t", body,
                                   "application/vnd.docker.distribution.manifest.v1+prettyjws")
    assert reply.error_codes() == ["MANIFEST_INVALID"]


def test_manifest_unknown_and_delete(registry: Server) -> None:
    assert registry.request("GET", "/v2/app/manifests/nope").error_codes() == ["MANIFEST_UNKNOWN"]
    digest, _ = registry.image("app", "v1", [b"l"])
    registry.push_manifest("app", "v2", registry.request("GET", "/v2/app/manifests/v1").body)
    assert registry.request("DELETE", "/v2/app/manifests/v2").status == 202  # tag delete
    assert registry.request("GET", "/v2/app/manifests/v2").status == 404
    assert registry.request("GET", "/v2/app/manifests/v1").status == 200
    assert registry.request("DELETE", f"/v2/app/manifests/{digest}").status == 202
    assert registry.request("GET", f"/v2/app/manifests/{digest}").status == 404
    assert registry.request("GET", "/v2/app/manifests/v1").status == 404
    assert registry.request("DELETE", f"/v2/app/manifests/{digest}").status == 404


# -- tags and catalog ----------------------------------------------------

def test_tag_list_pagination(registry: Server) -> None:
    _, body = registry.image("pg", "a", [b"l"])
    for tag in ("d", "b", "c", "e"):
        assert registry.push_manifest("pg", tag, body).status == 201
    assert registry.request("GET", "/v2/pg/tags/list").json() == {
        "name": "pg", "tags": ["a", "b", "c", "d", "e"]}
    first = registry.request("GET", "/v2/pg/tags/list?n=2")
    assert first.json()["tags"] == ["a", "b"]
    assert first.headers["link"] == '</v2/pg/tags/list?n=2&last=b>; rel="next"'
    second = registry.request("GET", "/v2/pg/tags/list?n=2&last=b")
    assert second.json()["tags"] == ["c", "d"]
    last = registry.request("GET", "/v2/pg/tags/list?n=2&last=d")
    assert last.json()["tags"] == ["e"] and "link" not in last.headers
    assert registry.request("GET", "/v2/pg/tags/list?n=0").json()["tags"] == []
    bad = registry.request("GET", "/v2/pg/tags/list?n=abc")
    assert bad.status == 400 and bad.error_codes() == ["UNSUPPORTED"]
    unknown = registry.request("GET", "/v2/nothing/tags/list")
    assert unknown.status == 404 and unknown.error_codes() == ["NAME_UNKNOWN"]


def test_catalog_pagination(registry: Server) -> None:
    for name in ("zeta", "alpha/one", "alpha/two", "beta"):
        registry.push_blob(name, name.encode())
    assert registry.request("GET", "/v2/_catalog").json() == {
        "repositories": ["alpha/one", "alpha/two", "beta", "zeta"]}
    page = registry.request("GET", "/v2/_catalog?n=3")
    assert page.json()["repositories"] == ["alpha/one", "alpha/two", "beta"]
    assert page.headers["link"] == '</v2/_catalog?n=3&last=beta>; rel="next"'
    rest = registry.request("GET", "/v2/_catalog?n=3&last=beta")
    assert rest.json()["repositories"] == ["zeta"]


# -- referrers -----------------------------------------------------------

def test_referrers_and_subject_header(registry: Server) -> None:
    subject, body = registry.image("ref", "v1", [b"l"])
    empty = registry.push_blob("ref", b"{}")
    results = {}
    for kind in ("application/vnd.example.sbom", "application/vnd.example.sig"):
        artifact = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": kind,
                    "config": {"mediaType": "application/vnd.oci.empty.v1+json",
                               "digest": empty, "size": 2},
                    "layers": [],
                    "subject": {"mediaType": OCI_MANIFEST, "digest": subject,
                                "size": len(body)},
                    "annotations": {"kind": kind}}
        reply = registry.push_manifest("ref", sha256(json.dumps(artifact).encode()), artifact)
        assert reply.status == 201, reply.body
        assert reply.headers["oci-subject"] == subject
        results[kind] = reply.headers["docker-content-digest"]
    listing = registry.request("GET", f"/v2/ref/referrers/{subject}")
    assert listing.status == 200
    assert listing.headers["content-type"] == OCI_INDEX
    index = listing.json()
    assert index["mediaType"] == OCI_INDEX
    assert sorted(d["digest"] for d in index["manifests"]) == sorted(results.values())
    assert {d["artifactType"] for d in index["manifests"]} == set(results)
    filtered = registry.request(
        "GET", f"/v2/ref/referrers/{subject}?artifactType=application/vnd.example.sig")
    assert filtered.headers["oci-filters-applied"] == "artifactType"
    assert [d["digest"] for d in filtered.json()["manifests"]] == [
        results["application/vnd.example.sig"]]
    nothing = registry.request("GET", f"/v2/ref/referrers/{sha256(b'none')}")
    assert nothing.status == 200 and nothing.json()["manifests"] == []
    assert registry.request("GET", "/v2/ref/referrers/bogus").error_codes() == ["DIGEST_INVALID"]
    # Deleting a referrer removes it from the listing.
    sig = results["application/vnd.example.sig"]
    assert registry.request("DELETE", f"/v2/ref/manifests/{sig}").status == 202
    after = registry.request("GET", f"/v2/ref/referrers/{subject}").json()["manifests"]
    assert [d["digest"] for d in after] == [results["application/vnd.example.sbom"]]


# -- modes ---------------------------------------------------------------

def test_read_only_mode(make_registry: Callable[..., Server], tmp_path: object) -> None:
    writable = make_registry()
    digest, _ = writable.image("ro", "v1", [b"l"])
    writable.stop()
    ro = make_registry("--read-only", root=writable.root)
    assert ro.request("GET", "/v2/ro/manifests/v1").headers["docker-content-digest"] == digest
    reply = ro.request("POST", "/v2/ro/blobs/uploads/")
    assert reply.status == 405 and reply.error_codes() == ["UNSUPPORTED"]


def test_method_not_allowed(registry: Server) -> None:
    reply = registry.request("PATCH", "/v2/x/tags/list")
    assert reply.status == 405 and reply.error_codes() == ["UNSUPPORTED"]


SPEC_CODES = {"BLOB_UNKNOWN", "BLOB_UPLOAD_INVALID", "BLOB_UPLOAD_UNKNOWN", "DIGEST_INVALID",
              "MANIFEST_BLOB_UNKNOWN", "MANIFEST_INVALID", "MANIFEST_UNKNOWN", "NAME_INVALID",
              "NAME_UNKNOWN", "SIZE_INVALID", "UNAUTHORIZED", "DENIED", "UNSUPPORTED",
              "TOOMANYREQUESTS"}


def test_error_table_uses_spec_codes() -> None:
    from ketch.registry.errcodes import ErrorCode

    for code in ErrorCode:
        if code.status < 500:
            assert code.wire in SPEC_CODES, code


def test_concurrent_patches_on_one_upload_serialise(registry: Server) -> None:
    import threading

    data = os.urandom(4_000_000)
    loc = registry.request("POST", "/v2/race/blobs/uploads/").headers["location"]
    statuses: list[int] = []

    def patch() -> None:
        reply = registry.request("PATCH", loc, data, {"Content-Range": f"0-{len(data) - 1}"})
        statuses.append(reply.status)

    threads = [threading.Thread(target=patch) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [202, 416, 416, 416]
    assert registry.request("PUT", f"{loc}?digest={sha256(data)}").status == 201
    assert registry.request("GET", f"/v2/race/blobs/{sha256(data)}").body == data
