"""The trash: a discarded tree is gone at once and deleted soon after."""

from __future__ import annotations

from pathlib import Path

from ketch.trash import Trash


def _tree(root: Path, files: int) -> Path:
    root.mkdir()
    for i in range(files):
        (root / f"d{i % 7}").mkdir(exist_ok=True)
        (root / f"d{i % 7}" / f"f{i}").write_text("x")
    (root / "link").symlink_to("/etc")
    return root


def test_discarded_tree_disappears_and_is_deleted(tmp_path: Path) -> None:
    trash = Trash(tmp_path / "trash")
    tree = _tree(tmp_path / "tree", 200)
    trash.discard(tree)
    assert not tree.exists()
    trash.wait()
    assert list((tmp_path / "trash").iterdir()) == []
    assert Path("/etc/passwd").exists()  # a symlink inside is removed, not followed


def test_missing_path_is_fine_and_leftovers_are_deleted_at_start(tmp_path: Path) -> None:
    Trash(tmp_path / "trash").discard(tmp_path / "absent")
    assert not (tmp_path / "trash").exists()  # made on first use only
    (tmp_path / "trash").mkdir()
    _tree(tmp_path / "trash" / "left-by-a-crash", 10)
    trash = Trash(tmp_path / "trash")
    trash.wait()
    assert list((tmp_path / "trash").iterdir()) == []
