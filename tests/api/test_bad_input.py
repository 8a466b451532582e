"""Bad input gets a clear error, leaves nothing in the store, and the daemon
keeps serving."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from .archives import docker_archive, layer_tar, sha256, stored_files


def _images(engine: Any) -> list[str]:
    response = engine.request("GET", "/images/json?all=1")
    assert response.status == 200
    return sorted(image["Id"] for image in response.json())


def _load(engine: Any, body: bytes) -> Any:
    return engine.request("POST", "/images/load?quiet=1", body=body,
                          headers={"Content-Type": "application/x-tar"})


def _assert_error(response: Any, status: int, fragment: str) -> None:
    assert response.status == status, response.text
    assert response.headers["content-type"] == "application/json"
    assert fragment in response.json()["message"], response.json()


@pytest.fixture
def before(ketchd: Any) -> dict[str, Any]:
    return {"images": _images(ketchd), "files": stored_files(Path(ketchd.data_root))}


def _assert_unchanged(engine: Any, before: dict[str, Any]) -> None:
    assert _images(engine) == before["images"]
    assert stored_files(Path(engine.data_root)) == before["files"]
    assert engine.request("GET", "/_ping").text == "OK"


def test_truncated_archive(ketchd: Any, before: dict[str, Any]) -> None:
    archive = docker_archive([layer_tar({"a": b"x" * 100_000})], ["trunc:1"])
    _assert_error(_load(ketchd, archive[: len(archive) // 2]), 400, "invalid image archive")
    _assert_unchanged(ketchd, before)


def test_garbage_archive(ketchd: Any, before: dict[str, Any]) -> None:
    _assert_error(_load(ketchd, b"this is not a tar archive at all" * 50), 400,
                  "invalid image archive")
    _assert_unchanged(ketchd, before)


def test_layer_digest_mismatch(ketchd: Any, before: dict[str, Any]) -> None:
    good = layer_tar({"good": b"1"})
    bad = layer_tar({"bad": b"2"})
    claimed = [sha256(good), sha256(layer_tar({"something else": b"3"}))]
    response = _load(ketchd, docker_archive([good, bad], ["mismatch:1"], diff_ids=claimed))
    _assert_error(response, 400, "digest mismatch")
    _assert_unchanged(ketchd, before)


def test_config_with_wrong_layer_count(ketchd: Any, before: dict[str, Any]) -> None:
    layer = layer_tar({"f": b"1"})
    response = _load(ketchd, docker_archive([layer, layer], ["count:1"],
                                            diff_ids=[sha256(layer)]))
    _assert_error(response, 400, "layers")
    _assert_unchanged(ketchd, before)


def test_layer_entry_escaping_target_is_refused(ketchd: Any, before: dict[str, Any],
                                                tmp_path: Path) -> None:
    escape = tarfile.TarInfo("../../../../../../tmp/ketch-escape-probe")
    escape.size = 0
    layer = layer_tar({"ok": b"fine"}, extra=[escape])
    response = _load(ketchd, docker_archive([layer], ["escape:1"]))
    _assert_error(response, 400, "ketch-escape-probe")
    assert not Path("/tmp/ketch-escape-probe").exists()
    _assert_unchanged(ketchd, before)


def test_import_with_hard_link_out_of_tree(ketchd: Any, before: dict[str, Any]) -> None:
    link = tarfile.TarInfo("passwd")
    link.type = tarfile.LNKTYPE
    link.linkname = "../../../../etc/passwd"
    body = layer_tar({"x": b"1"}, extra=[link])
    response = ketchd.request("POST", "/images/create?fromSrc=-&repo=hardlink", body=body)
    assert response.status == 400, response.text
    _assert_unchanged(ketchd, before)


def test_manifest_json_malformed(ketchd: Any, before: dict[str, Any]) -> None:
    from .archives import tar_of

    _assert_error(_load(ketchd, tar_of({"manifest.json": b"{not json"})), 400, "manifest.json")
    _assert_unchanged(ketchd, before)


@pytest.mark.parametrize("query, fragment", [
    ("filters=%7Bnot-json", "invalid filters"),
    ("filters=" + quote(json.dumps({"dangling": ["maybe"]})), "dangling=[maybe]"),
    ("filters=" + quote(json.dumps({"colour": ["red"]})), "invalid filter 'colour'"),
])
def test_bad_filters(ketchd: Any, query: str, fragment: str) -> None:
    _assert_error(ketchd.request("GET", f"/images/json?{query}"), 400, fragment)


def test_unknown_image(ketchd: Any) -> None:
    _assert_error(ketchd.request("GET", "/images/nothere/json"), 404,
                  "No such image: nothere:latest")
    _assert_error(ketchd.request("DELETE", "/images/nothere"), 404, "No such image")
    _assert_error(ketchd.request("GET", "/images/nothere/history"), 404, "No such image")


def test_bad_reference(ketchd: Any) -> None:
    _assert_error(ketchd.request("GET", "/images/UPPER/json"), 400, "must be lowercase")


def test_unknown_route_and_version(ketchd: Any) -> None:
    _assert_error(ketchd.request("GET", "/nothing/here"), 404, "page not found")
    _assert_error(ketchd.request("PUT", "/images/json"), 404, "page not found")
    _assert_error(ketchd.request("GET", "/v1.12/version"), 400, "is too old")
    _assert_error(ketchd.request("GET", "/v9.99/version"), 400, "is too new")
    assert ketchd.request("GET", "/v1.41/version").json()["ApiVersion"] == "1.50"


def test_tag_requires_repo_and_valid_tag(ketchd: Any) -> None:
    layer = layer_tar({"f": b"tagtest"})
    assert _load(ketchd, docker_archive([layer], ["tagcheck:1"])).status == 200
    try:
        _assert_error(ketchd.request("POST", "/images/tagcheck:1/tag"), 400, "repo")
        _assert_error(ketchd.request("POST", "/images/tagcheck:1/tag?repo=x&tag=bad%20tag"),
                      400, "invalid tag format")
        _assert_error(ketchd.request(
            "POST", "/images/tagcheck:1/tag?repo=x@sha256:" + "a" * 64), 400, "digest")
    finally:
        assert ketchd.request("DELETE", "/images/tagcheck:1").status == 200
