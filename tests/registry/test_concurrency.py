"""Concurrent pushes never corrupt; a kill -9 mid-push leaves a consistent store."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

from .conftest import BIN, Server, sha256


def _parallel(count: int, work: Callable[[int], None]) -> list[BaseException]:
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            work(i)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


def test_same_blob_and_tag_pushed_concurrently(registry: Server) -> None:
    layer = os.urandom(400_000)

    def push(i: int) -> None:
        registry.image("same", "latest", [layer, f"own {i}".encode()])

    assert _parallel(20, push) == []
    got = registry.request("GET", "/v2/same/manifests/latest")
    manifest = json.loads(got.body)
    assert got.headers["docker-content-digest"] == sha256(got.body)
    for desc in [manifest["config"], *manifest["layers"]]:
        blob = registry.request("GET", f"/v2/same/blobs/{desc['digest']}")
        assert blob.status == 200 and sha256(blob.body) == desc["digest"]
    assert not list(registry.root.rglob(".tmp-*"))


def test_kill9_during_concurrent_pushes(make_registry: Callable[..., Server],
                                        tmp_path: Path) -> None:
    server = make_registry()
    stop = threading.Event()

    def push(i: int) -> None:
        n = 0
        while not stop.is_set():
            try:
                server.image(f"crash/r{i}", f"t{n}", [os.urandom(100_000), os.urandom(3_000)])
            except (OSError, AssertionError, json.JSONDecodeError):
                return
            n += 1

    threads = [threading.Thread(target=push, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    time.sleep(2.0)
    server.kill9()
    stop.set()
    for t in threads:
        t.join()

    server = make_registry(root=server.root)
    names = server.request("GET", "/v2/_catalog").json()["repositories"]
    pulled = 0
    for name in names:
        listing = server.request("GET", f"/v2/{name}/tags/list")
        for tag in listing.json()["tags"] if listing.status == 200 else []:
            got = server.request("GET", f"/v2/{name}/manifests/{tag}")
            assert got.status == 200
            manifest = json.loads(got.body)
            for desc in [manifest["config"], *manifest["layers"]]:
                blob = server.request("GET", f"/v2/{name}/blobs/{desc['digest']}")
                assert blob.status == 200
                assert "sha256:" + hashlib.sha256(blob.body).hexdigest() == desc["digest"]
            pulled += 1
    assert pulled > 0
    server.stop()
    out = subprocess.run([str(BIN), "gc", "--root", str(server.root)], capture_output=True,
                         text=True, timeout=120, check=True).stdout
    assert "blobs marked" in out
    again = subprocess.run([str(BIN), "gc", "--dry-run", "--root", str(server.root)],
                           capture_output=True, text=True, timeout=120, check=True).stdout
    assert "would delete" not in again  # nothing orphaned is left
    server = make_registry(root=server.root)
    for name in names:
        listing = server.request("GET", f"/v2/{name}/tags/list")
        for tag in listing.json()["tags"] if listing.status == 200 else []:
            manifest = json.loads(server.request("GET", f"/v2/{name}/manifests/{tag}").body)
            for desc in manifest["layers"]:
                assert server.request("HEAD", f"/v2/{name}/blobs/{desc['digest']}").status == 200


def test_stale_uploads_are_purged(make_registry: Callable[..., Server], tmp_path: Path) -> None:
    config = tmp_path / "registry.toml"
    config.write_text("upload_max_age = 1.0\nupload_purge_interval = 0.5\n")
    server = make_registry("--config", str(config))
    loc = server.request("POST", "/v2/p/blobs/uploads/").headers["location"]
    assert server.request("GET", loc).status == 204
    deadline = time.monotonic() + 15
    while server.request("GET", loc).status != 404:
        assert time.monotonic() < deadline, "upload was not purged"
        time.sleep(0.3)
