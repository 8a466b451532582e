from __future__ import annotations

import io
from pathlib import Path

import pytest

from ketch.content import ContentStore
from ketch.errors import InvalidArgument
from ketch.oci.digest import digest_bytes


def test_blob_is_stored_under_its_digest(tmp_path: Path) -> None:
    store = ContentStore(tmp_path)
    digest = store.put(b"hello")
    assert digest == digest_bytes(b"hello")
    assert store.read(digest) == b"hello"
    assert list(store.list()) == [digest]


def test_mismatching_content_is_never_stored(tmp_path: Path) -> None:
    store = ContentStore(tmp_path)
    wrong = digest_bytes(b"something else")
    with pytest.raises(InvalidArgument, match="digest mismatch"):
        store.put_stream(io.BytesIO(b"hello"), expected=wrong)
    assert not store.exists(wrong)
    assert list(store.list()) == []
    assert list((tmp_path / "ingest").iterdir()) == []


def test_sha512(tmp_path: Path) -> None:
    store = ContentStore(tmp_path)
    expected = digest_bytes(b"x", "sha512")
    assert store.put(b"x", expected=expected) == expected


def test_leftover_ingests_are_cleaned(tmp_path: Path) -> None:
    store = ContentStore(tmp_path)
    (tmp_path / "ingest" / "half-written").write_bytes(b"partial")
    assert store.cleanup_ingests() == 1
    assert list((tmp_path / "ingest").iterdir()) == []


def test_bad_digest_is_refused(tmp_path: Path) -> None:
    store = ContentStore(tmp_path)
    with pytest.raises(InvalidArgument):
        store.path("sha256:../../etc/passwd")
