"""A layer unpacked with a tar-split record gives back its exact tar.

Each case unpacks a real tar with the chrooted child, rebuilds the tar from
the files and the record, and compares bytes; the tricky cases are the
ones where the tar's contents are no longer all on disk as the tar named
them (a file overwritten or deleted by a later entry, a directory replaced,
a path through a symlink the same layer made, aufs hard-link targets).
"""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
from pathlib import Path

import pytest

from ketch.errors import InternalError
from ketch.layers.store import LayerStore
from ketch.layers.tarsplit import RECORD, SPILL_DIR

from .tars import TarBuilder, require_root

CHAIN = "sha256:" + "ab" * 32


@pytest.fixture(autouse=True)
def _root() -> None:
    require_root()


@pytest.fixture
def store(tmp_path: Path) -> LayerStore:
    return LayerStore(tmp_path / "layers")


def rebuilt(store: LayerStore, data: bytes, check: bool = True) -> bytes:
    store.create(CHAIN, io.BytesIO(data), split=True)
    opened = store.open_tar(CHAIN, "sha256:" + hashlib.sha256(data).hexdigest() if check else None)
    assert opened is not None
    stream, size = opened
    with stream:
        out = stream.read()
    assert size == len(out)
    return out


def round_trips(store: LayerStore, data: bytes) -> None:
    assert rebuilt(store, data) == data


def test_ordinary_layer(store: LayerStore) -> None:
    tar = (TarBuilder().dir("etc").file("etc/hosts", b"127.0.0.1 localhost\n")
           .file("etc/big", os.urandom(3 << 20), mode=0o600, uid=7, gid=8)
           .file("empty").symlink("etc/link", "hosts").hardlink("etc/hard", "etc/hosts")
           .device("null", tarfile.CHRTYPE, 1, 3).fifo("pipe")
           .file("x" * 150 + "/long", b"long name in a PAX header")
           .file("attr", b"x", xattrs={"user.k": b"v"})
           .whiteout("gone").opaque("etc").data())
    round_trips(store, tar)
    assert not (store.root / CHAIN.split(":")[1] / SPILL_DIR).exists()


def test_file_overwritten_by_a_later_entry(store: LayerStore) -> None:
    tar = TarBuilder().file("a", b"first").file("a", b"second, longer").data()
    round_trips(store, tar)
    assert (store.diff_dir(CHAIN) / "a").read_bytes() == b"second, longer"
    assert (store.root / CHAIN.split(":")[1] / SPILL_DIR / "0").read_bytes() == b"first"


def test_directory_replaced_and_file_whited_out_in_the_same_tar(store: LayerStore) -> None:
    tar = (TarBuilder().dir("d").file("d/one", b"1").file("d/two", b"2")
           .file("d", b"now a file").file("w", b"doomed").whiteout("w").data())
    round_trips(store, tar)


def test_paths_through_a_symlink_the_layer_made(store: LayerStore) -> None:
    tar = (TarBuilder().dir("real").symlink("via", "/real").file("via/f", b"through link")
           .file("via/f", b"again through link").data())
    round_trips(store, tar)
    assert (store.diff_dir(CHAIN) / "real" / "f").read_bytes() == b"again through link"


def test_aufs_hard_link_targets(store: LayerStore) -> None:
    tar = (TarBuilder().dir(".wh..wh.plnk").file(".wh..wh.plnk/1234.5", b"shared")
           .hardlink("bin/a", ".wh..wh.plnk/1234.5").data())
    round_trips(store, tar)
    assert not (store.diff_dir(CHAIN) / ".wh..wh.plnk").exists()


def test_trailing_bytes_and_old_style_tar(store: LayerStore) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        info = tarfile.TarInfo("n" * 120)
        data = os.urandom(1000)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    round_trips(store, buf.getvalue() + b"\0" * 4096 + b"trailing garbage")


def test_empty_stream(store: LayerStore) -> None:
    round_trips(store, b"")


def test_a_changed_file_is_reported_not_hidden(store: LayerStore) -> None:
    data = TarBuilder().file("f", b"original").data()
    store.create(CHAIN, io.BytesIO(data), split=True)
    (store.diff_dir(CHAIN) / "f").write_bytes(b"tampered")  # same length
    opened = store.open_tar(CHAIN, "sha256:" + hashlib.sha256(data).hexdigest())
    assert opened is not None
    with opened[0] as stream, pytest.raises(InternalError, match="changed on disk"):
        stream.read()
    (store.diff_dir(CHAIN) / "f").write_bytes(b"longer than before")
    opened = store.open_tar(CHAIN)
    assert opened is not None
    with opened[0] as stream, pytest.raises(InternalError, match="no longer has its size"):
        stream.read()


def test_a_file_replaced_by_a_symlink_is_not_followed(store: LayerStore, tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_bytes(b"host!!!!")
    data = TarBuilder().file("f", b"original").data()
    store.create(CHAIN, io.BytesIO(data), split=True)
    target = store.diff_dir(CHAIN) / "f"
    target.unlink()
    target.symlink_to(secret)
    opened = store.open_tar(CHAIN)
    assert opened is not None
    with opened[0] as stream, pytest.raises(InternalError, match="cannot be read back"):
        stream.read()


def test_layers_without_a_record(store: LayerStore) -> None:
    store.create(CHAIN, io.BytesIO(TarBuilder().file("f", b"x").data()))
    assert store.open_tar(CHAIN) is None
    assert not (store.root / CHAIN.split(":")[1] / RECORD).exists()
