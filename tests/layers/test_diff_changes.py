"""changes() on lower and upper dirs made by hand: Docker 20.10's rules one by one.

Docker's overlay2 driver compares the container's merged tree with the
image's; these trees are shaped as overlayfs leaves them (whiteouts as 0/0
character devices, opaque directories by xattr) so that each rule is
checked alone. test_diff_overlay.py and test_diff_docker.py check the whole
on a real overlay and against a real Docker 20.10. Needs root.
"""

from __future__ import annotations

import os
import shutil
import struct
from pathlib import Path

import pytest

from ketch.errors import InternalError
from ketch.layers.diff import CHANGE_ADD, CHANGE_DELETE, CHANGE_MODIFY, Change, changes

from .tars import require_root
from .test_diff_tar import opaque, whiteout

SECOND_NS = 1_600_000_000 * 10**9


@pytest.fixture
def dirs(tmp_path: Path) -> tuple[Path, Path, Path]:
    """(upper, top lower, base lower), empty."""
    require_root()
    made = tuple(tmp_path / n for n in ("upper", "top", "base"))
    for d in made:
        d.mkdir()
    return made  # type: ignore[return-value]


def put(path: Path, data: bytes = b"", mtime_ns: int = SECOND_NS, mode: int = 0o644) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    os.chmod(path, mode)
    os.utime(path, ns=(mtime_ns, mtime_ns))
    return path


def copy_up(lower: Path, upper: Path, rel: str) -> Path:
    """What overlayfs does before changing a lower entry: same data and metadata."""
    src, dst = lower / rel, upper / rel
    for parent in reversed(Path(rel).parents[:-1]):
        if not (upper / parent).exists():
            (upper / parent).mkdir()
            shutil.copystat(lower / parent, upper / parent)
    if src.is_dir():
        dst.mkdir()
    else:
        shutil.copy2(src, dst)
    shutil.copystat(src, dst)
    return dst


def diff(upper: Path, *lowers: Path, exclude: tuple[str, ...] = ()) -> list[tuple[str, str]]:
    return [(c.letter, c.path) for c in changes(upper, list(lowers), exclude=exclude)]


def test_added_modified_deleted(dirs: tuple[Path, Path, Path]) -> None:
    upper, lower, _ = dirs
    put(lower / "etc/passwd", b"root\n")
    put(lower / "etc/group", b"root\n")
    put(lower / "bin/sh", b"sh")
    copy_up(lower, upper, "etc/passwd").write_bytes(b"root\nme\n")
    whiteout(upper / "etc/group")
    put(upper / "etc/new")
    put(upper / "opt/a/b/file")
    assert diff(upper, lower) == [
        ("C", "/etc"), ("D", "/etc/group"), ("A", "/etc/new"), ("C", "/etc/passwd"),
        ("A", "/opt"), ("A", "/opt/a"), ("A", "/opt/a/b"), ("A", "/opt/a/b/file"),
    ]
    assert changes(upper, [lower])[0] == Change("/etc", CHANGE_MODIFY)
    assert (CHANGE_MODIFY, CHANGE_ADD, CHANGE_DELETE) == (0, 1, 2)


def test_a_copy_up_that_changed_nothing_is_no_change(dirs: tuple[Path, Path, Path]) -> None:
    upper, lower, _ = dirs
    put(lower / "etc/passwd", b"root\n")
    copy_up(lower, upper, "etc/passwd")
    os.utime(upper / "etc", ns=(SECOND_NS + 5, SECOND_NS + 5))  # dir times never count
    assert diff(upper, lower) == []
    # a layer's times are whole seconds: any fraction on the copy matches them
    os.utime(upper / "etc/passwd", ns=(SECOND_NS + 123, SECOND_NS + 123))
    assert diff(upper, lower) == []
    os.utime(upper / "etc/passwd", ns=(SECOND_NS + 10**9, SECOND_NS + 10**9))
    assert diff(upper, lower) == [("C", "/etc"), ("C", "/etc/passwd")]


def test_metadata_changes(dirs: tuple[Path, Path, Path]) -> None:
    upper, lower, _ = dirs
    put(lower / "tmp/f")
    put(lower / "var/f")
    put(lower / "srv/f")
    os.chmod(copy_up(lower, upper, "tmp"), 0o1777)  # mode of a directory
    os.chown(copy_up(lower, upper, "var/f"), 1000, 1000)  # owner of a file
    cap = struct.pack("<IIIII", (2 << 24) | 1, 1 << 13, 0, 0, 0)
    os.setxattr(copy_up(lower, upper, "srv/f"), "security.capability", cap)
    assert diff(upper, lower) == [("C", "/srv"), ("C", "/srv/f"), ("C", "/tmp"),
                                  ("C", "/var"), ("C", "/var/f")]


def test_opaque_directory_deletes_what_it_hides(dirs: tuple[Path, Path, Path]) -> None:
    """rm -rf /usr; mkdir -p /usr/bin; touch /usr/bin/new /usr/fresh."""
    upper, lower, _ = dirs
    put(lower / "usr/bin/tool")
    put(lower / "usr/lib/libc")
    (lower / "usr/share").mkdir()
    opaque(upper / "usr")
    (upper / "usr/bin").mkdir()  # not opaque itself: its opaque parent hides the image's
    put(upper / "usr/bin/new")
    put(upper / "usr/fresh")
    assert diff(upper, lower) == [
        ("C", "/usr"), ("C", "/usr/bin"), ("A", "/usr/bin/new"), ("D", "/usr/bin/tool"),
        ("A", "/usr/fresh"), ("D", "/usr/lib"), ("D", "/usr/share"),
    ]


def test_type_changes(dirs: tuple[Path, Path, Path]) -> None:
    upper, lower, _ = dirs
    put(lower / "etc/group", b"root\n")
    (lower / "var/lib").mkdir(parents=True)
    put(lower / "var/lib/x")
    copy_up(lower, upper, "etc")
    opaque(upper / "etc/group")  # rm /etc/group; mkdir /etc/group
    put(upper / "etc/group/inside")
    put(upper / "var", b"now a file")  # rm -r /var; echo > /var
    assert diff(upper, lower) == [
        ("C", "/etc"), ("C", "/etc/group"), ("A", "/etc/group/inside"),
        ("C", "/var"),  # what was below the directory is not listed
    ]


def test_lowers_merge_with_overlay_rules(dirs: tuple[Path, Path, Path]) -> None:
    upper, top, base = dirs
    put(base / "a/x")
    put(base / "a/y")
    put(base / "b/z")
    put(base / "c/old")
    (top / "a").mkdir()
    whiteout(top / "a/x")  # the image has no /a/x
    opaque(top / "b")  # nor /b/z
    put(top / "b/w")
    put(top / "c", b"a file hides the directory below")
    copy_up(top, upper, "a")
    whiteout(upper / "a/x")  # stale: nothing to delete
    whiteout(upper / "a/y")
    copy_up(top, upper, "b")
    os.removexattr(upper / "b", "trusted.overlay.opaque")
    put(upper / "b/z")
    put(upper / "c/old")  # /c was a file in the image: a new directory, all added
    os.chmod(upper / "c", 0o755)
    assert diff(upper, top, base) == [
        ("C", "/a"), ("D", "/a/y"), ("C", "/b"), ("A", "/b/z"), ("C", "/c"),
        ("A", "/c/old"),
    ]


def test_engine_made_paths_are_not_changes(dirs: tuple[Path, Path, Path]) -> None:
    upper, lower, _ = dirs
    (lower / "proc").mkdir()
    exclude = ("/etc/hosts", "/etc/hostname", "/etc/resolv.conf", "/proc", "/dev")
    for name in ("hosts", "hostname", "resolv.conf"):
        put(upper / "etc" / name)  # /etc made by the engine: the image has none
    (upper / "dev").mkdir()
    assert diff(upper, lower, exclude=exclude) == []
    put(upper / "etc/motd")
    assert diff(upper, lower, exclude=exclude) == [("C", "/etc"), ("A", "/etc/motd")]
    assert ("A", "/etc/hosts") in diff(upper, lower)


def test_no_lowers_means_everything_is_added(dirs: tuple[Path, Path, Path]) -> None:
    upper, _, _ = dirs
    put(upper / "hello")
    whiteout(upper / "gone")
    assert diff(upper) == [("A", "/hello")]


def test_non_utf8_names_keep_their_bytes(dirs: tuple[Path, Path, Path]) -> None:
    upper, lower, _ = dirs
    put(upper / os.fsdecode(b"caf\xe9"))
    (change,) = changes(upper, [lower])
    assert os.fsencode(change.path) == b"/caf\xe9"


def test_redirects_are_refused(dirs: tuple[Path, Path, Path]) -> None:
    upper, lower, _ = dirs
    (lower / "orig").mkdir()
    (upper / "moved").mkdir()
    os.setxattr(upper / "moved", "trusted.overlay.redirect", b"orig")
    with pytest.raises(InternalError, match="redirect_dir=off"):
        changes(upper, [lower])
