"""The filesystem driver's contract and the storage rules, without HTTP."""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

import pytest

from ketch.registry.errcodes import ErrorCode, RegistryError
from ketch.registry.fsdriver import FilesystemDriver
from ketch.registry.storage import RegistryStorage, blob_path

from .driver_suite import check_driver


def test_filesystem_driver_contract(tmp_path: Path) -> None:
    check_driver(FilesystemDriver(str(tmp_path / "root")))


def test_filesystem_driver_stays_below_root(tmp_path: Path) -> None:
    driver = FilesystemDriver(str(tmp_path / "root"))
    for bad in ("../x", "/etc/passwd", "a/../../x"):
        with pytest.raises(ValueError):
            driver.put_content(bad, b"x")
    assert not (tmp_path / "x").exists()


def test_put_content_leaves_no_temp_files(tmp_path: Path) -> None:
    driver = FilesystemDriver(str(tmp_path))
    for i in range(20):
        driver.put_content("k", str(i).encode())
    assert os.listdir(tmp_path) == ["k"]


def _upload(storage: RegistryStorage, name: str, data: bytes, digest: str) -> None:
    state = storage.start_upload(name)
    writer = storage.open_upload_writer(name, state.uuid)
    for i in range(0, len(data), 4096):
        writer.write(data[i:i + 4096])
    writer.close()
    storage.finish_upload(name, state.uuid, digest)


def test_blob_verified_before_visible(tmp_path: Path) -> None:
    storage = RegistryStorage(FilesystemDriver(str(tmp_path)))
    data = os.urandom(10000)
    wrong = "sha256:" + hashlib.sha256(b"x").hexdigest()
    with pytest.raises(RegistryError) as err:
        _upload(storage, "r", data, wrong)
    assert err.value.code is ErrorCode.DIGEST_INVALID
    assert storage.blob_size(wrong) is None
    assert not (tmp_path / "blobs").exists()
    assert storage.driver.list("repositories/r/_uploads") == []
    sha512 = "sha512:" + hashlib.sha512(data).hexdigest()
    _upload(storage, "r", data, sha512)
    assert (tmp_path / blob_path(sha512)).read_bytes() == data


def test_resumed_upload_after_restart_rehashes(tmp_path: Path) -> None:
    data = os.urandom(50000)
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    first = RegistryStorage(FilesystemDriver(str(tmp_path)))
    state = first.start_upload("r")
    writer = first.open_upload_writer("r", state.uuid)
    writer.write(data[:20000])
    writer.close()
    second = RegistryStorage(FilesystemDriver(str(tmp_path)))  # a restarted server
    assert second.upload_state("r", state.uuid).offset == 20000
    writer = second.open_upload_writer("r", state.uuid)
    writer.write(data[20000:])
    writer.close()
    assert second.finish_upload("r", state.uuid, digest) == len(data)
    assert second.repo_blob_size("r", digest) == len(data)


def test_concurrent_uploads_of_one_blob(tmp_path: Path) -> None:
    storage = RegistryStorage(FilesystemDriver(str(tmp_path)))
    data = os.urandom(300_000)
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    errors: list[BaseException] = []

    def push(i: int) -> None:
        try:
            _upload(storage, f"repo{i % 3}", data, digest)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=push, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert (tmp_path / blob_path(digest)).read_bytes() == data
    for i in range(3):
        assert storage.repo_blob_size(f"repo{i}", digest) == len(data)


def test_upload_purge(tmp_path: Path) -> None:
    storage = RegistryStorage(FilesystemDriver(str(tmp_path)))
    old = storage.start_upload("a/b")
    fresh = storage.start_upload("a/b")
    removed = storage.purge_uploads(max_age=60, now=old.started_at + 120)
    assert sorted(removed) == sorted([f"a/b/{old.uuid}", f"a/b/{fresh.uuid}"])
    kept = storage.start_upload("a/b")
    assert storage.purge_uploads(max_age=60) == []
    assert storage.upload_state("a/b", kept.uuid).offset == 0
