"""COPY/ADD source resolution in an untrusted tree, with Docker's messages.

Every test builds a real tree with real symlinks; the escape tests plant a
marker file on the host outside the tree and check that no resolution ever
reaches it.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from ketch.build.copy_scope import ScopeError, Tree, lexical_rel
from ketch.build.copysource import (
    UNNAMED_FILENAME,
    CopySource,
    check_sources,
    resolve_sources,
    url_filename,
    url_mtime,
    url_source,
)
from ketch.errors import InvalidArgument


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A context with files, dirs and hostile symlinks; a host secret beside it."""
    (tmp_path / "host").mkdir()
    (tmp_path / "host" / "passwd").write_text("HOST SECRET\n")
    root = tmp_path / "ctx"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "passwd").write_text("tree passwd\n")
    (root / "src" / "pkg").mkdir(parents=True)
    (root / "src" / "a.py").write_text("a")
    (root / "src" / "b.py").write_text("b")
    (root / "src" / "pkg" / "c.py").write_text("c")
    (root / "top.txt").write_text("top")
    (root / "x.txt").write_text("x")
    os.symlink("/etc", root / "abs")  # absolute: means the tree's /etc
    os.symlink("../../../../../../etc", root / "climb")  # .. stops at the tree root
    os.symlink(str(tmp_path / "host"), root / "hostdir")  # a host path: tree-relative
    os.symlink("src", root / "srclink")
    os.symlink("nowhere", root / "dangling")
    os.symlink("loop", root / "loop")
    os.symlink("top.txt", root / "toplink")
    return root


def _read(source: CopySource) -> bytes:
    with Tree(source.root) as t:
        return t.read_file(source.resolved, 1 << 20)


@pytest.mark.parametrize("path", ["abs/passwd", "climb/passwd", "/abs/passwd",
                                  "./climb/passwd", "srclink/../etc/passwd"])
def test_symlinks_stay_inside_the_tree(tree: Path, path: str) -> None:
    [source] = resolve_sources(tree, [path], "/dst")
    assert source.resolved == "etc/passwd"
    assert _read(source) == b"tree passwd\n"


def test_host_path_symlink_is_read_inside_the_tree(tree: Path) -> None:
    """A link to the host's real directory resolves below the tree instead."""
    with pytest.raises(InvalidArgument, match="stat hostdir/passwd: file does not exist"):
        resolve_sources(tree, ["hostdir/passwd"], "/dst")


def test_resolution_is_lexical_first(tree: Path) -> None:
    """``srclink/..`` is cleaned away before the link is read, as Docker does."""
    [source] = resolve_sources(tree, ["srclink/../top.txt"], "/dst")
    assert source.resolved == "top.txt"
    with Tree(tree) as t:
        assert t.resolve("srclink/pkg").rel == "src/pkg"
        assert t.resolve("missing/../top.txt").rel == "top.txt"
        assert t.resolve("missing/deeper").rel == "missing/deeper"
        assert not t.resolve("missing/deeper").exists
        assert t.resolve("").rel == ""
        assert t.resolve("/").is_dir


@pytest.mark.parametrize("path", ["../x", "src/../../x", "../../etc/passwd"])
def test_climbing_out_is_forbidden(tree: Path, path: str) -> None:
    with pytest.raises(InvalidArgument) as e:
        resolve_sources(tree, [path], "/dst")
    assert e.value.message == f"COPY failed: forbidden path outside the build context: {path} ()"


def test_lookup_below_a_file_is_forbidden(tree: Path) -> None:
    with pytest.raises(InvalidArgument) as e:
        resolve_sources(tree, ["top.txt/x"], "/dst")
    assert e.value.message == "COPY failed: forbidden path outside the build context: top.txt/x ()"


def test_symlink_loop_is_an_error(tree: Path) -> None:
    with Tree(tree) as t, pytest.raises(ScopeError):
        t.resolve("loop")


def test_missing_source_messages(tree: Path) -> None:
    with pytest.raises(InvalidArgument) as e:
        resolve_sources(tree, ["nothere"], "/dst")
    assert e.value.message == (
        "COPY failed: file not found in build context or excluded by .dockerignore: "
        "stat nothere: file does not exist")
    with pytest.raises(InvalidArgument) as e:
        resolve_sources(tree, ["dangling"], "/dst", cmd="ADD")
    assert e.value.message.startswith("ADD failed: file not found in build context")
    with pytest.raises(InvalidArgument) as e:
        resolve_sources(tree, ["/nothere"], "/dst", in_context=False)
    assert e.value.message == "COPY failed: stat nothere: file does not exist"


def test_wildcards(tree: Path) -> None:
    found = resolve_sources(tree, ["src/*.py"], "/dst/")
    assert [s.path for s in found] == ["src/a.py", "src/b.py"]
    assert [s.path for s in resolve_sources(tree, ["*.txt"], "/d/")] == ["top.txt", "x.txt"]
    # * never crosses a /, and symlinked directories are not walked into
    assert [s.path for s in resolve_sources(tree, ["*/*.py"], "/d/")] == ["src/a.py", "src/b.py"]
    # a matched symlink is followed; a matched directory is a directory source
    [link] = resolve_sources(tree, ["srcl?nk"], "/d")
    assert (link.path, link.resolved, link.is_dir) == ("srclink", "src", True)
    assert [s.path for s in resolve_sources(tree, ["s[q-s]c/pkg/?.py"], "/d")] == ["src/pkg/c.py"]
    # an escaped wildcard is a literal name
    with pytest.raises(InvalidArgument, match=re.escape("stat src/\\*.py")):
        resolve_sources(tree, ["src/\\*.py"], "/d")


def test_wildcard_matching_nothing(tree: Path) -> None:
    with pytest.raises(InvalidArgument) as e:
        resolve_sources(tree, ["*.nope"], "/d/")
    assert e.value.message == "COPY failed: no source files were specified"
    # a malformed pattern matches nothing, as in Docker
    with pytest.raises(InvalidArgument, match="no source files were specified"):
        resolve_sources(tree, ["[a"], "/d/")
    with pytest.raises(InvalidArgument, match="no source files were specified"):
        resolve_sources(tree, ["../*"], "/d/")
    # another source may still match
    assert len(resolve_sources(tree, ["*.nope", "top.txt"], "/d")) == 1


def test_several_sources_need_a_slash(tree: Path) -> None:
    with pytest.raises(InvalidArgument) as e:
        resolve_sources(tree, ["top.txt", "x.txt"], "/d")
    assert e.value.message == ("When using COPY with more than one source file, the "
                               "destination must be a directory and end with a /")
    # counted after wildcard expansion
    with pytest.raises(InvalidArgument, match="more than one source file"):
        resolve_sources(tree, ["*.txt"], "/d")
    assert len(resolve_sources(tree, ["top.*"], "/d")) == 1
    with pytest.raises(InvalidArgument, match="When using ADD"):
        check_sources(resolve_sources(tree, ["*.txt"], "/d/"), "/d", cmd="ADD")


def test_names_of_resolved_sources(tree: Path) -> None:
    [link] = resolve_sources(tree, ["toplink"], "/d/")
    assert (link.name, link.resolved, link.is_dir) == ("toplink", "top.txt", False)
    [whole] = resolve_sources(tree, ["."], "/d/")
    assert (whole.resolved, whole.is_dir) == ("", True)
    [slash] = resolve_sources(tree, ["src/"], "/d/")
    assert (slash.name, slash.resolved) == ("src", "src")


def test_lexical_rel() -> None:
    assert lexical_rel("/a/../b") == "b"
    assert lexical_rel("a/./b/") == "a/b"
    assert lexical_rel(".") == ""
    assert lexical_rel("/..") is None  # Go's Join cleans after joining: no clamping
    assert lexical_rel("/../x") is None
    assert lexical_rel("..") is None
    assert lexical_rel("a/../../b") is None


def test_tree_open_refuses_symlinks_on_the_way(tree: Path) -> None:
    with Tree(tree) as t, pytest.raises(OSError):
        t.open("srclink/a.py")


@pytest.mark.parametrize(
    ("url", "disposition", "name"),
    [
        ("https://example.invalid/files/app.tar.gz", None, "app.tar.gz"),
        ("https://example.invalid/files/app.tar.gz?x=1#frag", None, "app.tar.gz"),
        ("https://example.invalid/dir/", 'attachment; filename="r.txt"', "r.txt"),
        ("https://example.invalid", "attachment; filename=../../evil", "evil"),
        ("https://example.invalid/", None, ""),
        ("https://example.invalid/", 'attachment; filename="dir/"', ""),
    ],
)
def test_url_filename(url: str, disposition: str | None, name: str) -> None:
    assert url_filename(url, disposition) == name


def test_url_source_and_mtime(tmp_path: Path) -> None:
    assert url_mtime("Wed, 21 Oct 2015 07:28:00 GMT") == 1445412480
    assert url_mtime(None) == 0
    assert url_mtime("garbage") == 0
    src = url_source(tmp_path, "", "https://example.invalid/", "/dst")
    assert (src.path, src.from_url) == (UNNAMED_FILENAME, True)
    with pytest.raises(InvalidArgument) as e:
        url_source(tmp_path, "", "https://example.invalid/", "/dst/")
    assert e.value.message == (
        "ADD failed: cannot determine filename for source https://example.invalid/")
