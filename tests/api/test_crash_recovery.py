"""``kill -9`` in the middle of a load leaves a store that the next start
makes consistent: no half image listed, no orphan blob or snapshot kept."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from .archives import stored_files, write_big_archive


def _upload(engine: Any, archive: Path, outcome: dict[str, Any]) -> None:
    try:
        outcome["response"] = engine.request("POST", "/images/load?quiet=1",
                                             body=archive.read_bytes(), timeout=120)
    except OSError as exc:  # the daemon died under us: expected
        outcome["error"] = exc


def _wait_for_partial_state(data_root: Path, timeout: float = 60) -> dict[str, list[str]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        files = stored_files(data_root)
        if files["blobs"] or files["snapshots"]:
            return files
        time.sleep(0.005)
    raise AssertionError("the load never started writing to the store")


def test_kill9_during_load(fresh_ketchd: Any, tmp_path: Path) -> None:
    data_root = Path(fresh_ketchd.data_root)
    archive = tmp_path / "big.tar"
    write_big_archive(archive, layer_count=4, layer_mib=48, tag="big:1")
    outcome: dict[str, Any] = {}
    uploader = threading.Thread(target=_upload, args=(fresh_ketchd, archive, outcome))
    uploader.start()
    partial = _wait_for_partial_state(data_root)
    fresh_ketchd.kill9()
    uploader.join(timeout=60)
    assert "response" not in outcome, "the load finished before the kill: make it bigger"
    assert partial["blobs"] or partial["snapshots"]

    fresh_ketchd.start()
    assert fresh_ketchd.request("GET", "/images/json?all=1").json() == []
    assert stored_files(data_root) == {"blobs": [], "ingest": [], "snapshots": [], "tmp": []}

    # and the store still works: the same archive loads completely now
    response = fresh_ketchd.request("POST", "/images/load?quiet=1", body=archive.read_bytes(),
                                    timeout=120)
    assert response.status == 200, response.text
    assert b"Loaded image: big:1" in response.body
    files = stored_files(data_root)
    # the config is a blob; each layer is its snapshot plus a tar-split record
    assert len(files["snapshots"]) == 4 and len(files["blobs"]) == 1
    assert all((data_root / "layers" / hex_id / "tar-split").is_file()
               for hex_id in files["snapshots"])
