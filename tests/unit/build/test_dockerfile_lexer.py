"""Docker's variable expansion and word splitting (BuildKit's shell.Lex semantics)."""

from __future__ import annotations

import pytest

from ketch.build.dockerfile import (
    DockerfileError,
    ShellLex,
    env_from_list,
    process_word,
    process_words,
)

ENV = {
    "PWD": "/home",
    "SHELL": "bash",
    "EMPTY": "",
    "SPACED": "a  b",
    "FILE": "archive.tar.gz",
    "PATHISH": "/usr/local/bin",
    "x": "lower",
    "ARR": "x",
}


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("plain", "plain"),
        ("$PWD", "/home"),
        ("${PWD}", "/home"),
        ("$PWD/x", "/home/x"),
        ("${PWD}x", "/homex"),
        ("$PWDx", ""),  # the name runs on
        ("$x", "lower"),
        ("$X", ""),  # names are case-sensitive on Linux
        ("$UNSET", ""),
        ("$", "$"),
        ("a$", "a$"),
        ("$1", ""),
        ("$12x", "x"),
        ("$@x", "x"),
        ("$-", ""),
        ("\\$PWD", "$PWD"),
        ("\\\\$PWD", "\\/home"),
        ("a\\ b", "a b"),
        ("a\\", "a"),  # a trailing escape is dropped
        ("'$PWD'", "$PWD"),
        ("'a\\b'", "a\\b"),
        ('"$PWD"', "/home"),
        ('"\\$PWD"', "$PWD"),
        ('"a\\"b"', 'a"b'),
        ('"a\\b"', "a\\b"),  # only \\ \" and \$ are escapes inside double quotes
        ('"a\\\\b"', "a\\b"),
        ("\"it's\"", "it's"),
        ("'say \"hi\"'", 'say "hi"'),
        ("a'b'\"c\"d", "abcd"),
        ("${SPACED}", "a  b"),
        # defaults and alternatives
        ("${UNSET:-def}", "def"),
        ("${EMPTY:-def}", "def"),
        ("${PWD:-def}", "/home"),
        ("${UNSET-def}", "def"),
        ("${EMPTY-def}", ""),
        ("${UNSET:+alt}", ""),
        ("${EMPTY:+alt}", ""),
        ("${PWD:+alt}", "alt"),
        ("${UNSET+alt}", ""),
        ("${EMPTY+alt}", "alt"),
        ("${UNSET:-$PWD/x}", "/home/x"),
        ("${UNSET:-${SHELL:-no}}", "bash"),
        ("${UNSET:-'q'}", "q"),
        ("${UNSET:-a b}", "a b"),
        ("${PWD?}", "/home"),
        ("${EMPTY?x}", ""),
        ("${PWD:?x}", "/home"),
        # pattern operators
        ("${FILE#*.}", "tar.gz"),
        ("${FILE##*.}", "gz"),
        ("${FILE%.*}", "archive.tar"),
        ("${FILE%%.*}", "archive"),
        ("${FILE#nomatch}", "archive.tar.gz"),
        ("${FILE%.t?r.gz}", "archive"),
        ("${PATHISH/\\//:}", ":usr/local/bin"),
        ("${PATHISH//\\//:}", ":usr:local:bin"),
        ("${FILE/a/A}", "Archive.tar.gz"),
        ("${FILE//a/}", "rchive.tr.gz"),
        ("${FILE//a/$$}", "rchive.tr.gz"),  # $$ is the (unset) variable "$"
        ("${UNSET/a/b}", ""),
    ],
)
def test_process_word(word: str, expected: str) -> None:
    assert process_word(word, ENV) == expected


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("a b  c", ["a", "b", "c"]),
        ("  a  ", ["a"]),
        ("", []),
        ("$SPACED", ["a", "b"]),  # spaces from a variable split words
        ('"$SPACED"', ["a  b"]),  # unless quoted
        ("x$SPACED", ["xa", "b"]),
        ("'a b' c", ["a b", "c"]),
        ("a\\ b c", ["a b", "c"]),
        ("$EMPTY", []),
        ("80 $UNSET 443", ["80", "443"]),
        ("cat << EOF", ["cat", "<< EOF"]),  # kept together for heredoc detection
        ("a${UNSET:-b}c d", ["abc", "d"]),
    ],
)
def test_process_words(word: str, expected: list[str]) -> None:
    assert process_words(word, ENV) == expected


@pytest.mark.parametrize(
    ("word", "reason"),
    [
        ("${", "syntax error: missing '}'"),
        ("${x", "missing ':' in substitution"),
        ("${}", "syntax error: bad substitution"),
        ("${:x}", "syntax error: bad substitution"),
        ("${{x}}", "syntax error: bad substitution"),
        ("${x:-y", "syntax error: missing '}'"),
        ("${x:*y}", "unsupported modifier (*) in substitution"),
        ("${x:#y}", "unsupported modifier (#) in substitution"),
        ("${x!}", "missing ':' in substitution"),
        ("${UNSET?}", "UNSET: is not allowed to be unset"),
        ("${UNSET:?}", "UNSET: is not allowed to be unset"),
        ("${EMPTY:?}", "EMPTY: is not allowed to be empty"),
        ("${UNSET?custom message}", "UNSET: custom message"),
        ("'abc", "unexpected end of statement while looking for matching single-quote"),
        ('"abc', "unexpected end of statement while looking for matching double-quote"),
        ("${x/a", "syntax error: missing '/' in ${}"),
        ("${x/a/b", "syntax error: missing '}'"),
        ("${FILE#\\a}", "invalid pattern (\\a) in substitution: invalid escape '\\a'"),
    ],
)
def test_errors(word: str, reason: str) -> None:
    from ketch.build.dockerfile.gocompat import quote

    with pytest.raises(DockerfileError) as err:
        process_word(word, ENV)
    assert err.value.message == f"failed to process {quote(word)}: {reason}"


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("`$PWD", "$PWD"),
        ("a\\b", "a\\b"),
        ('"a`"b"', 'a"b'),
        ("C:\\dir\\$PWD", "C:\\dir\\/home"),
    ],
)
def test_backtick_escape(word: str, expected: str) -> None:
    assert process_word(word, ENV, escape_token="`") == expected


def test_lexer_flags_used_for_heredocs() -> None:
    raw = ShellLex("\\", raw_quotes=True, raw_escapes=True, skip_unset_env=True)
    assert raw.process_words("cat <<'EOF' \\$X $UNSET ${Y:-z}", {}) == [
        "cat", "<<'EOF'", "\\$X", "$UNSET", "${Y:-z}",
    ]
    keep = ShellLex("\\", skip_process_quotes=True)
    assert keep.process_word("'$PWD' \"$PWD\"", ENV) == "'/home' \"/home\""


def test_matched_and_unmatched_names() -> None:
    lex = ShellLex()
    lex.process_word("$PWD ${NOPE:-x} $PWD", ENV)
    assert (lex.matched, lex.unmatched) == ({"PWD"}, {"NOPE"})


def test_env_from_list() -> None:
    assert env_from_list(["A=1", "B", "A=2", "C=x=y"]) == {"A": "2", "B": "", "C": "x=y"}
