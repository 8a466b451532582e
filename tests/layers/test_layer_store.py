"""LayerStore on a real directory: layout, atomic create, removal, repair."""

from __future__ import annotations

import hashlib
import io
import os
import re
import shutil
from pathlib import Path

import pytest

from ketch.errors import Conflict, InvalidArgument, NotFound
from ketch.layers.store import LayerStore

from .tars import TarBuilder, require_root, tree


@pytest.fixture(autouse=True)
def _root() -> None:
    require_root()


@pytest.fixture
def store(tmp_path: Path) -> LayerStore:
    return LayerStore(tmp_path / "layers")


def chain(n: int) -> str:
    return "sha256:" + hashlib.sha256(str(n).encode()).hexdigest()


def layer(*names: str) -> io.BytesIO:
    tar = TarBuilder()
    for name in names:
        tar.file(name, name.encode())
    return io.BytesIO(tar.data())


def assert_clean(store: LayerStore) -> None:
    """Nothing but the empty skeleton: no layer, no link, no temp dir."""
    assert sorted(os.listdir(store.root)) == ["l", "tmp"]
    assert os.listdir(store.root / "l") == []
    assert os.listdir(store.root / "tmp") == []


def test_create_lays_out_diff_link_and_short_symlink(store: LayerStore) -> None:
    cid = chain(1)
    result = store.create(cid, layer("etc/hostname", "bin/sh"))
    assert result.size == len("etc/hostname") + len("bin/sh")
    hex_id = cid.removeprefix("sha256:")

    assert store.exists(cid)
    assert store.diff_dir(cid) == store.root / hex_id / "diff"
    assert (store.diff_dir(cid) / "etc/hostname").read_bytes() == b"etc/hostname"
    short = (store.root / hex_id / "link").read_text()
    assert re.fullmatch(r"[A-Z2-7]{26}", short)
    link = store.root / "l" / short
    assert os.readlink(link) == f"../{hex_id}/diff"
    assert link.resolve() == store.diff_dir(cid).resolve()
    assert store.list() == [cid]
    assert os.listdir(store.root / "tmp") == []


def test_create_from_a_path(store: LayerStore, tmp_path: Path) -> None:
    path = TarBuilder().file("a", b"abc").write(tmp_path / "l.tar")
    assert store.create(chain(1), path).size == 3
    assert (store.diff_dir(chain(1)) / "a").read_bytes() == b"abc"


def test_create_twice_is_a_conflict_and_keeps_the_first(store: LayerStore) -> None:
    cid = chain(1)
    store.create(cid, layer("first"))
    with pytest.raises(Conflict, match="already exists"):
        store.create(cid, layer("second"))
    assert os.listdir(store.diff_dir(cid)) == ["first"]
    assert len(os.listdir(store.root / "l")) == 1
    assert os.listdir(store.root / "tmp") == []


def test_lost_race_is_a_conflict_and_leaves_nothing(store: LayerStore) -> None:
    """A concurrent create that commits first wins; the loser cleans up."""
    cid = chain(1)

    class Racer(io.BytesIO):
        def read(self, size: int | None = -1) -> bytes:
            data = super().read(size)
            if not data and not store.exists(cid):
                store.create(cid, layer("winner"))
            return data

    with pytest.raises(Conflict):
        store.create(cid, Racer(layer("loser").getvalue()))
    assert os.listdir(store.diff_dir(cid)) == ["winner"]
    assert len(os.listdir(store.root / "l")) == 1
    assert os.listdir(store.root / "tmp") == []


@pytest.mark.parametrize(
    "data",
    [
        b"\x00garbage" * 200,
        TarBuilder().file("a", b"x" * 4000).data()[:2000],
        TarBuilder().file("ok", b"1").file("../escape", b"2").data(),
        TarBuilder().hardlink("p", "../../etc/passwd").data(),
    ],
    ids=["garbage", "truncated", "dotdot", "hardlink-out"],
)
def test_failed_create_leaves_nothing(store: LayerStore, data: bytes) -> None:
    with pytest.raises(InvalidArgument, match="invalid layer archive"):
        store.create(chain(1), io.BytesIO(data))
    assert not store.exists(chain(1))
    assert store.list() == []
    assert_clean(store)


@pytest.mark.parametrize(
    "bad",
    [
        "sha256:../../../etc",
        "sha256:" + "A" * 64,
        "sha256:" + "a" * 63,
        "sha256:" + "a" * 65,
        "sha512:" + "a" * 64,
        "a" * 64,
        "sha256:" + "a" * 63 + "/",
        "",
    ],
)
def test_bad_chain_ids_are_rejected_everywhere(store: LayerStore, bad: str) -> None:
    for call in (
        lambda: store.create(bad, layer("a")),
        lambda: store.exists(bad),
        lambda: store.diff_dir(bad),
        lambda: store.remove(bad),
        lambda: store.lower_dirs([bad]),
    ):
        with pytest.raises(InvalidArgument, match="invalid layer chain ID"):
            call()
    assert_clean(store)


def test_missing_layer(store: LayerStore) -> None:
    assert not store.exists(chain(9))
    with pytest.raises(NotFound):
        store.diff_dir(chain(9))
    with pytest.raises(NotFound):
        store.lower_dirs([chain(9)])


def test_remove_deletes_layer_and_link_and_is_idempotent(store: LayerStore) -> None:
    store.create(chain(1), layer("a"))
    store.create(chain(2), layer("b"))
    store.remove(chain(1))
    assert store.list() == [chain(2)]
    assert not store.exists(chain(1))
    assert len(os.listdir(store.root / "l")) == 1
    store.remove(chain(1))  # absent: not an error
    store.remove(chain(2))
    assert_clean(store)


@pytest.mark.parametrize("damage", ["link-file", "short-link", "diff", "everything-but-link"])
def test_remove_copes_with_half_present_layers(store: LayerStore, damage: str) -> None:
    cid = chain(1)
    store.create(cid, layer("a/b/c"))
    layer_dir = store.root / cid.removeprefix("sha256:")
    short = (layer_dir / "link").read_text()
    if damage == "link-file":
        (layer_dir / "link").unlink()
    elif damage == "short-link":
        (store.root / "l" / short).unlink()
    elif damage == "diff":
        shutil.rmtree(layer_dir / "diff")
    else:
        for entry in layer_dir.iterdir():
            if entry.name != "link":
                shutil.rmtree(entry)
    store.remove(cid)
    assert_clean(store)


def test_remove_handles_unwritable_modes(store: LayerStore) -> None:
    tar = TarBuilder().dir("ro", mode=0o500).file("ro/f", b"x", mode=0o000).dir("./", mode=0o000)
    store.create(chain(1), io.BytesIO(tar.data()))
    store.remove(chain(1))
    assert_clean(store)


def test_lower_dirs_lists_the_top_layer_first(store: LayerStore) -> None:
    ids = [chain(1), chain(2), chain(3)]
    for cid in ids:
        store.create(cid, layer("x"))
    shorts = [(store.root / c.removeprefix("sha256:") / "link").read_text() for c in ids]
    assert store.lower_dirs(ids) == f"l/{shorts[2]}:l/{shorts[1]}:l/{shorts[0]}"
    assert store.lower_dirs(ids[:1]) == f"l/{shorts[0]}"
    with pytest.raises(InvalidArgument):
        store.lower_dirs([])


def test_cleanup_incomplete_repairs_a_crashed_store(store: LayerStore) -> None:
    good, unlinked, no_link_file = chain(1), chain(2), chain(3)
    for cid in (good, unlinked, no_link_file):
        store.create(cid, layer("f"))
    root = store.root
    # a crash mid-create: a temp dir and a dangling short link
    (root / "tmp/abc-123/diff/usr").mkdir(parents=True)
    (root / "tmp/abc-123/link").write_text("Z" * 26)
    (root / "l" / ("Z" * 26)).symlink_to("../" + "0" * 64 + "/diff")
    (root / "l/garbage").write_text("not a link")
    # a crash mid-remove: a layer moved into tmp/ with its files
    (root / "tmp/def-rm-456/layer/diff").mkdir(parents=True)
    # a layer whose short link vanished, one whose link file did, and a
    # second short link to a layer
    short = (root / unlinked.removeprefix("sha256:") / "link").read_text()
    (root / "l" / short).unlink()
    kept = (root / no_link_file.removeprefix("sha256:") / "link").read_text()
    (root / no_link_file.removeprefix("sha256:") / "link").unlink()
    (root / "l" / ("A" * 26)).symlink_to(f"../{good.removeprefix('sha256:')}/diff")

    store.cleanup_incomplete()

    assert os.listdir(root / "tmp") == []
    assert store.list() == sorted([good, unlinked, no_link_file])
    links = sorted(os.listdir(root / "l"))
    assert len(links) == 3 and "A" * 26 not in links
    assert (root / no_link_file.removeprefix("sha256:") / "link").read_text() == kept
    for cid in (good, unlinked, no_link_file):
        lower = store.lower_dirs([cid])
        assert (root / lower).resolve() == store.diff_dir(cid).resolve()
        assert (root / lower / "f").read_bytes() == b"f"
    store.cleanup_incomplete()  # nothing left to do
    assert sorted(os.listdir(root / "l")) == links


def test_list_ignores_foreign_entries(store: LayerStore) -> None:
    store.create(chain(1), layer("a"))
    (store.root / "notes.txt").write_text("x")
    (store.root / ("b" * 64)).mkdir()  # no diff/: not a layer
    assert store.list() == [chain(1)]
    assert tree(store.root / ("b" * 64)) == []
