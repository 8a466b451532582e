"""Docker's .dockerignore semantics: reading the file, matching, walking a context.

The expectations come from Docker's documentation of .dockerignore and from
the behaviour of moby/patternmatcher and the docker CLI's context walk; the
few cases where Docker differs from what one would guess (``**/a*`` vs
``a/**``, the textual rule for entering excluded directories, the
``.dockerignore``/Dockerfile exceptions) are spelled out.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ketch.build.dockerignore import (
    BadPattern,
    IgnoreMatcher,
    filepath_match,
    go_clean,
    has_wildcards,
    keep_build_files,
    parse_dockerignore,
    read_ignore_lines,
    validate_context,
    walk_context,
)
from ketch.errors import InvalidArgument

# -- reading the file ---------------------------------------------------------------


def test_read_comments_whitespace_and_cleaning() -> None:
    text = (
        "\ufeff# a comment\n"
        "\n"
        "   \t\n"
        "  node_modules  \n"
        " # not a comment: the # is not first\n"
        "/build/\n"
        "./dist/../out\n"
        "!  keep.me  \n"
        "!/abs/\n"
        "a//b/./c\r\n"
        "/\n"
        "last-without-newline"
    )
    assert read_ignore_lines(text) == [
        "node_modules",
        "# not a comment: the # is not first",
        "build",
        "out",
        "!keep.me",
        "!abs",
        "a/b/c",
        "/",
        "last-without-newline",
    ]


def test_read_bytes_and_bom_only_on_first_line() -> None:
    assert read_ignore_lines(b"\xef\xbb\xbf*.md\n") == ["*.md"]
    # A BOM further down is part of the pattern, as in Docker.
    assert read_ignore_lines("a\n\ufeffb\n") == ["a", "\ufeffb"]
    assert read_ignore_lines("") == []
    assert read_ignore_lines("\n\n") == []


def test_parse_rejects_bad_patterns() -> None:
    with pytest.raises(BadPattern, match="syntax error in pattern"):
        parse_dockerignore("ok\n[unclosed\n")
    with pytest.raises(BadPattern, match='illegal exclusion pattern: "!"'):
        parse_dockerignore("!\n")
    # BadPattern is an InvalidArgument: the API answers 400.
    assert issubclass(BadPattern, InvalidArgument)


def test_go_clean() -> None:
    assert go_clean("") == "."
    assert go_clean("//a//b/") == "/a/b"
    assert go_clean("a/../../b") == "../b"
    assert go_clean("/../x") == "/x"


# -- one pattern, every parent checked -------------------------------------------------

# (pattern, path, excluded) for a matcher with that one pattern.
SINGLE = [
    # Docker's documented examples
    ("*/temp*", "somedir/temporary.txt", True),
    ("*/temp*", "somedir/temp", True),
    ("*/temp*", "temp", False),
    ("*/temp*", "a/b/temp", False),
    ("*/*/temp*", "somedir/subdir/temporary.txt", True),
    ("*/*/temp*", "somedir/temporary.txt", False),
    ("temp?", "tempa", True),
    ("temp?", "temp", False),
    ("temp?", "tempab", False),
    ("**/*.go", "main.go", True),
    ("**/*.go", "cmd/tool/main.go", True),
    ("**/*.go", "main.go.txt", False),
    # a pattern naming a directory excludes what is below it
    ("node_modules", "node_modules/x/y.js", True),
    ("node_modules", "src/node_modules", False),
    ("**/node_modules", "src/node_modules/x", True),
    # ** forms
    ("**", "anything/at/all", True),
    ("a/**", "a/b", True),
    ("a/**", "a", False),
    ("a**", "abc/d", True),
    ("**/b", "b", True),
    ("x/**/y", "x/y", True),
    ("x/**/y", "x/p/q/y", True),
    ("x/**/y", "x/p/qy", False),
    # classes, ? and escapes
    ("f[a-c]o", "fbo", True),
    ("f[a-c]o", "fdo", False),
    ("f[^a-c]o", "fdo", True),
    ("f[!a]o", "f!o", True),  # ! is not negation: it is a member
    ("f?o", "f/o", False),
    ("a\\*b", "a*b", True),
    ("a\\*b", "axb", False),
    # regexp metacharacters are literal
    ("v1.2+build(3)", "v1.2+build(3)", True),
    ("v1.2", "v1x2", False),
    ("$HOME", "$HOME", True),
    # the pattern is not cleaned against the path: a trailing newline in a
    # name is never matched by an end anchor
    ("a*", "a\n", True),
    ("ab", "ab\n", False),
]


@pytest.mark.parametrize(("pattern", "path", "excluded"), SINGLE)
def test_single_pattern(pattern: str, path: str, excluded: bool) -> None:
    matcher = IgnoreMatcher([pattern])
    assert matcher.matches(path) is excluded
    # Carrying the parents' results down a walk gives the same answer.
    parts = path.split("/")
    info = None
    for i in range(len(parts) - 1):
        _, info = matcher.matches_in_walk("/".join(parts[: i + 1]), info)
    assert matcher.matches_in_walk(path, info)[0] is excluded


def test_context_root_is_never_excluded() -> None:
    assert not IgnoreMatcher(["**"]).matches(".")
    assert not IgnoreMatcher(["*"]).matches("")


# -- several patterns: order and exceptions ---------------------------------------------


@pytest.mark.parametrize(
    ("patterns", "path", "excluded"),
    [
        (["*.md", "!README.md"], "README.md", False),
        (["*.md", "!README.md"], "CHANGES.md", True),
        (["*.md", "!README*.md", "README-secret.md"], "README-secret.md", True),
        (["*.md", "!README*.md", "README-secret.md"], "README-public.md", False),
        (["*.md", "README-secret.md", "!README*.md"], "README-secret.md", False),
        (["docs", "!docs/keep"], "docs/keep", False),
        (["docs", "!docs/keep"], "docs/keep/deep/file", False),
        (["docs", "!docs/keep"], "docs/other", True),
        (["**", "!src", "src/gen"], "src/gen/x.py", True),
        (["**", "!src", "src/gen"], "src/main.py", False),
    ],
)
def test_pattern_order(patterns: list[str], path: str, excluded: bool) -> None:
    assert IgnoreMatcher(patterns).matches(path) is excluded


def test_one_parent_check_differs_from_every_parent() -> None:
    """The deprecated check only tries the parent at the pattern's own depth."""
    matcher = IgnoreMatcher(["a/b"])
    assert matcher.matches("a/b/c/d")
    assert not matcher.matches_one_parent("x/a/b/c")
    assert matcher.matches_one_parent("a/b/c/d")
    deep = IgnoreMatcher(["*"])
    assert deep.matches_one_parent("sub/Dockerfile")


def test_keep_build_files() -> None:
    assert keep_build_files(["*.txt"], "Dockerfile") == ["*.txt"]
    assert keep_build_files(["*"], "Dockerfile") == ["*", "!.dockerignore", "!Dockerfile"]
    assert keep_build_files([".*", "build"], "build/Dockerfile.dev") == [
        ".*", "build", "!.dockerignore", "!build/Dockerfile.dev"]
    assert keep_build_files(["*"], "Dockerfile", dockerfile_from_stdin=True) == [
        "*", "!.dockerignore"]


# -- filepath.Match -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "name", "matched"),
    [
        ("*.txt", "a.txt", True),
        ("*.txt", "dir/a.txt", False),
        ("*/*.txt", "dir/a.txt", True),
        ("a?c", "abc", True),
        ("a?c", "a/c", False),
        ("[a-c]x", "bx", True),
        ("[^a-c]x", "dx", True),
        ("[^a-c]x", "ax", False),
        ("a[/]b", "a/b", True),  # a class may match the separator in Go
        ("\\[x]", "[x]", True),
        ("[\\]]", "]", True),
        ("*", "", True),
        ("", "", True),
        ("a*b*c", "aXbYbZc", True),
        ("a*b*c", "aXbYbZ", False),
    ],
)
def test_filepath_match(pattern: str, name: str, matched: bool) -> None:
    assert filepath_match(pattern, name) is matched


@pytest.mark.parametrize("pattern", ["[", "a[", "[]", "[^]", "[-a]", "[a-]", "a\\", "[z"])
def test_filepath_match_bad_patterns(pattern: str) -> None:
    with pytest.raises(BadPattern):
        filepath_match(pattern, "zz")


def test_has_wildcards() -> None:
    assert has_wildcards("*.py")
    assert has_wildcards("a/b?")
    assert has_wildcards("x[12]")
    assert not has_wildcards("plain/path")
    assert not has_wildcards("a\\*b")
    assert has_wildcards("a\\*b*")


# -- walking a real context ----------------------------------------------------------------


def _make(root: Path, files: list[str]) -> None:
    for rel in files:
        path = root / rel
        if rel.endswith("/"):
            path.mkdir(parents=True, exist_ok=True)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(rel)


def test_walk_skips_excluded_and_reenters_for_exceptions(tmp_path: Path) -> None:
    _make(tmp_path, ["Dockerfile", ".dockerignore", "a.txt", "b.md", "README.md",
                     "docs/keep/k.txt", "docs/other.txt", "logs/x.log", "logs/y.log",
                     "src/main.py", "src/main.pyc", "empty/"])
    os.symlink("src", tmp_path / "link")
    patterns = keep_build_files(
        ["*.md", "!README.md", "docs", "!docs/keep", "logs", "**/*.pyc", "Dockerfile",
         ".dockerignore"], "Dockerfile")
    sent = list(walk_context(tmp_path, IgnoreMatcher(patterns)))
    assert sent == [
        ".dockerignore",
        "Dockerfile",
        "README.md",
        "a.txt",
        "docs/keep",
        "docs/keep/k.txt",
        "empty",
        "link",
        "src",
        "src/main.py",
    ]


def test_walk_enters_excluded_dirs_only_for_textual_exceptions(tmp_path: Path) -> None:
    _make(tmp_path, ["dir/keep", "dir/drop", "dir/sub/keep"])
    # "!**/keep" does not start with "dir/": Docker never looks inside dir.
    assert list(walk_context(tmp_path, IgnoreMatcher(["dir", "!**/keep"]))) == []
    assert list(walk_context(tmp_path, IgnoreMatcher(["dir", "!dir/sub/keep"]))) == [
        "dir/sub/keep"]


def test_walk_order_is_bytewise(tmp_path: Path) -> None:
    _make(tmp_path, ["b", "a/z", "a.b", "B", "\u00e9"])
    assert list(walk_context(tmp_path, IgnoreMatcher())) == ["B", "a", "a/z", "a.b", "b",
                                                            "\u00e9"]


def test_validate_context_reports_unreadable_files(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root can read every file")
    _make(tmp_path, ["ok", "secret"])
    (tmp_path / "secret").chmod(0)
    with pytest.raises(InvalidArgument, match="no permission to read from"):
        validate_context(tmp_path, IgnoreMatcher())
    validate_context(tmp_path, IgnoreMatcher(["secret"]))


def test_validate_context_skips_fifos(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe")
    validate_context(tmp_path, IgnoreMatcher())
