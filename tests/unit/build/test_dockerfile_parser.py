"""The line parser: directives, comments, continuations, flags, heredocs, limits.

Expected values follow Docker's behaviour (checked against Docker 20.10 in
test_dockerfile_refdocker.py for the error texts).
"""

from __future__ import annotations

import pytest

from ketch.build.dockerfile import (
    MAX_DOCKERFILE_SIZE,
    MAX_LINE_LENGTH,
    DockerfileError,
    Heredoc,
    Node,
    parse_lines,
)


def nodes(text: str, **kw: bool) -> list[tuple[str, tuple[str, ...]]]:
    return [(n.keyword, n.args) for n in parse_lines(text, **kw).nodes]


def only(text: str, **kw: bool) -> Node:
    result = parse_lines(text, **kw).nodes
    assert len(result) == 1, result
    return result[0]


# -- directives ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "escape", "directives"),
    [
        ("FROM a\n", "\\", {}),
        ("# escape=`\nFROM a\n", "`", {"escape": "`"}),
        ("#escape=\\\nFROM a\n", "\\", {"escape": "\\"}),
        ("# ESCAPE = ` \nFROM a\n", "`", {"escape": "`"}),
        ("# syntax=docker/dockerfile:1\n# escape=`\nFROM a\n", "`",
         {"syntax": "docker/dockerfile:1", "escape": "`"}),
        ("# check=skip=all\n# escape=`\nFROM a\n", "`", {"check": "skip=all", "escape": "`"}),
        # An unknown directive, a plain comment or a blank line ends the block.
        ("# foo=bar\n# escape=`\nFROM a\n", "\\", {}),
        ("# hello\n# escape=`\nFROM a\n", "\\", {}),
        ("\n# escape=`\nFROM a\n", "\\", {}),
        ("FROM a\n# escape=`\n", "\\", {}),
        # The BOM is not part of the first line.
        ("\ufeff# escape=`\nFROM a\n", "`", {"escape": "`"}),
    ],
)
def test_directives(text: str, escape: str, directives: dict[str, str]) -> None:
    result = parse_lines(text)
    assert result.escape_token == escape
    assert result.directives == directives


@pytest.mark.parametrize(
    ("text", "message", "line"),
    [
        ("# escape=x\nFROM a\n",
         "failed to parse Dockerfile: invalid escape token 'x' does not match ` or \\", 1),
        ("# escape=`\n# escape=\\\nFROM a\n",
         "failed to parse Dockerfile: only one escape parser directive can be used", 2),
        ("# syntax=a\n# SYNTAX=b\nFROM a\n",
         "failed to parse Dockerfile: only one syntax parser directive can be used", 2),
    ],
)
def test_directive_errors(text: str, message: str, line: int) -> None:
    with pytest.raises(DockerfileError) as err:
        parse_lines(text)
    assert err.value.message == message
    assert err.value.line == line


def test_backtick_escape_continues_lines_and_keeps_backslashes() -> None:
    text = "# escape=`\nFROM a\nRUN dir c:\\ `\n  /w\nCOPY C:\\src\\ D:\\dst\n"
    got = nodes(text)
    assert got == [
        ("from", ("a",)),
        ("run", ("dir c:\\   /w",)),
        ("copy", ("C:\\src\\", "D:\\dst")),
    ]


# -- comments and continuations -----------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # plain continuation: the escape goes, the next line is appended as is
        ("RUN a \\\n    b\n", [("run", ("a     b",))]),
        # trailing blanks after the escape still continue the line
        ("RUN a \\  \t\nb\n", [("run", ("a b",))]),
        # comment lines inside a continuation are dropped
        ("RUN a \\\n# note\n  # indented note\n b\n", [("run", ("a  b",))]),
        # a continuation at the end of the file just ends
        ("RUN a \\\n", [("run", ("a",))]),
        # an escaped escape at the end is not a continuation
        ("RUN echo \\\\\nFROM x\n", [("run", ("echo \\\\",)), ("from", ("x",))]),
        # an escape alone on a line continues
        ("RUN a \\\n\\\n b\n", [("run", ("a  b",))]),
        # a line holding only an escape before any instruction
        ("\\\nFROM a\n", [("from", ("a",))]),
        # leading blanks of the first line do not count, comments anywhere
        ("   FROM a   \n\t# c\n  RUN b\n", [("from", ("a",)), ("run", ("b",))]),
        # keywords are case-insensitive
        ("from a\nRuN b\n", [("from", ("a",)), ("run", ("b",))]),
        # CRLF line endings
        ("FROM a\r\nRUN b \\\r\n c\r\n", [("from", ("a",)), ("run", ("b  c",))]),
        # a '#' inside an instruction is not a comment
        ("RUN echo # not a comment\n", [("run", ("echo # not a comment",))]),
    ],
)
def test_continuations_and_comments(text: str, expected: list[object]) -> None:
    assert nodes(text) == expected


def test_empty_continuation_lines_warn_like_docker() -> None:
    result = parse_lines("FROM a\nENV a=1 \\\n\n   b=2\n")
    assert [(n.keyword, n.args) for n in result.nodes] == [
        ("from", ("a",)), ("env", ("a", "1", "b", "2")),
    ]
    assert result.warnings == (
        "[WARNING]: Empty continuation line found in:\n    ENV a=1    b=2",
        "[WARNING]: Empty continuation lines will become errors in a future release.",
    )


def test_original_text_and_line_numbers() -> None:
    result = parse_lines("FROM a\n\n# c\nRUN one \\\n  two \\\n  three  \nUSER x\n")
    run, user = result.nodes[1], result.nodes[2]
    assert run.original == "RUN one   two   three  "
    assert (run.start_line, run.end_line) == (4, 6)
    assert (user.start_line, user.end_line) == (7, 7)


# -- argument shapes -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "args", "is_json"),
    [
        ('CMD ["a", "b c"]', ("a", "b c"), True),
        ("CMD [ \"a\" ]", ("a",), True),
        ('CMD ["a"] trailing', ("a",), True),  # Docker 20.10 ignores what follows
        ("CMD []", (), True),
        ('CMD ["a", "b"', ('["a", "b"',), False),  # not JSON: shell form
        ("CMD [a]", ("[a]",), False),
        ('CMD ["\\u00e9\\n"]', ("\u00e9\n",), True),
        ("CMD  echo   hi  ", ("echo   hi",), False),
        ("CMD", (), False),
        ("RUN [NaN]", ("[NaN]",), False),
        ("COPY a  b\tc", ("a", "b", "c"), False),
        ('COPY ["a b", "c"]', ("a b", "c"), True),
        ("VOLUME /a /b", ("/a", "/b"), False),
        ('VOLUME ["/a"]', ("/a",), True),
        ("EXPOSE 80  443/udp", ("80", "443/udp"), False),
        ("FROM a AS b", ("a", "AS", "b"), False),
        ("USER a b", ("a b",), False),
        ("WORKDIR  /x y ", ("/x y",), False),
        ("STOPSIGNAL SIGKILL", ("SIGKILL",), False),
        ("MAINTAINER me <me@x>", ("me <me@x>",), False),
        ("HEALTHCHECK CMD curl -f x", ("CMD", "curl -f x"), False),
        ('HEALTHCHECK CMD ["curl", "x"]', ("CMD", "curl", "x"), True),
        ("HEALTHCHECK NONE", ("NONE",), False),
        ("ONBUILD RUN echo hi", ("run", "echo hi"), False),
        ("UNKNOWN whatever here", (), False),
    ],
)
def test_argument_shapes(line: str, args: tuple[str, ...], is_json: bool) -> None:
    node = only(line + "\n")
    assert node.args == args
    assert node.json == is_json


@pytest.mark.parametrize(
    ("line", "args"),
    [
        ("ENV a=1 b=2", ("a", "1", "b", "2")),
        ('ENV a="x y" b=\'z\'', ("a", '"x y"', "b", "'z'")),  # quotes stay for expansion
        ("ENV a b c  d", ("a", "b c  d")),  # the old one-variable form
        ('ENV a=x\\ y', ("a", "x\\ y")),
        ("ENV a= b=", ("a", "", "b", "")),
        ("LABEL a.b=c \"d e\"=f", ("a.b", "c", '"d e"', "f")),
        ("ARG a b=1 c=", ("a", "b=1", "c=")),
        ('ARG a="x y"', ('a="x y"',)),
        ("ENV", ()),
        ("ARG", ()),
    ],
)
def test_key_value_shapes(line: str, args: tuple[str, ...]) -> None:
    assert only(line + "\n").args == args


NOT_STRINGS = "when using JSON array syntax, arrays must be comprised of strings only"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("ENV a", "ENV must have two arguments"),
        ("LABEL a", "LABEL must have two arguments"),
        ("ENV a=1 b", 'Syntax error - can\'t find = in "b". Must be of the form: name=value'),
        ("RUN [\"a\", 1]", NOT_STRINGS),
        ("VOLUME [null]", NOT_STRINGS),
        ("ONBUILD ENV a", "ENV must have two arguments"),
    ],
)
def test_line_parser_errors(line: str, message: str) -> None:
    with pytest.raises(DockerfileError) as err:
        parse_lines("FROM a\n" + line + "\n")
    assert err.value.message == "failed to parse Dockerfile: " + message
    assert err.value.reason == message
    assert err.value.line == 2


@pytest.mark.parametrize(
    ("line", "flags", "args"),
    [
        ("COPY --from=a --chown=1:2 x y", ("--from=a", "--chown=1:2"), ("x", "y")),
        ('COPY --chown="a b" x y', ("--chown=a b",), ("x", "y")),
        ("COPY --chown=a\\ b x y", ("--chown=a b",), ("x", "y")),
        ("COPY -- --from=a y", (), ("--from=a", "y")),
        ("COPY --link x y", ("--link",), ("x", "y")),
        ("RUN --mount=type=cache,target=/c make", ("--mount=type=cache,target=/c",), ("make",)),
        ("RUN -x", (), ("-x",)),
        # Docker scans flags byte by byte: non-ASCII comes out as Latin-1 bytes
        ("COPY --chown=jos\u00e9 x y", ("--chown=jos\u00c3\u00a9",), ("x", "y")),
    ],
)
def test_flags(line: str, flags: tuple[str, ...], args: tuple[str, ...]) -> None:
    node = only(line + "\n")
    assert node.flags == flags
    assert node.args == args


# -- heredocs ------------------------------------------------------------------------


def test_run_heredoc() -> None:
    node = only("RUN <<EOF\necho $HOME\n  echo two\nEOF\n")
    assert node.args == ("<<EOF",)
    assert node.heredocs == (Heredoc("EOF", "echo $HOME\n  echo two\n", True, False, 0),)
    assert (node.start_line, node.end_line) == (1, 4)


def test_heredoc_chomp_quotes_and_several() -> None:
    text = 'RUN <<-"A" 3<<\'B\' cat\n\tone\n\tA\ntwo\nB\nUSER x\n'
    run, user = parse_lines(text).nodes
    a, b = run.heredocs
    assert (a.name, a.content, a.data, a.expand, a.chomp) == ("A", "\tone\n", "one\n", False, True)
    assert (b.name, b.content, b.expand, b.fd) == ("B", "two\n", False, 3)
    assert (user.keyword, user.start_line) == ("user", 6)


@pytest.mark.parametrize(
    ("line", "names"),
    [
        ("RUN cat <<EOF", ["EOF"]),
        ("RUN cat << EOF", ["EOF"]),  # blanks after << are allowed
        ("RUN cat <<-EOF", ["EOF"]),
        ('RUN cat <<"E O"', ["E O"]),
        ("RUN cat <<EOF >out", ["EOF"]),
        ("RUN echo 1 \\<<EOF", []),
        ('RUN ["cat", "<<EOF"]', []),  # exec form has no heredocs
        ("USER <<EOF", []),  # only RUN, COPY and ADD take heredocs
    ],
)
def test_heredoc_detection(line: str, names: list[str]) -> None:
    body = "".join(f"x\n{name}\n" for name in names)
    node = parse_lines(line + "\n" + body + "FROM z\n").nodes[0]
    assert [h.name for h in node.heredocs] == names


def test_heredoc_terminator_with_crlf_and_content_kept_verbatim() -> None:
    node = only("COPY <<EOF /x\r\nline\r\nEOF\r\n")
    assert node.heredocs[0].content == "line\r\n"


def test_onbuild_heredoc_attaches_to_onbuild() -> None:
    node = only("ONBUILD RUN <<EOF\necho hi\nEOF\n")
    assert node.heredocs[0].content == "echo hi\n"
    assert node.child is not None and node.child.keyword == "run"


def test_unterminated_heredoc() -> None:
    with pytest.raises(DockerfileError) as err:
        parse_lines("FROM a\nRUN <<EOF\necho\n")
    assert err.value.message == "failed to parse Dockerfile: unterminated heredoc"
    assert err.value.line == 2


def test_heredocs_off_is_docker_20_10() -> None:
    got = nodes("RUN <<EOF\necho hi\nEOF\n", heredocs=False)
    assert got == [("run", ("<<EOF",)), ("echo", ()), ("eof", ())]


# -- limits ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "the Dockerfile (Dockerfile) cannot be empty"),
        (b"", "the Dockerfile (Dockerfile) cannot be empty"),
        ("\n\n  \n", "failed to parse Dockerfile: file with no instructions"),
        ("# just a comment\n", "failed to parse Dockerfile: file with no instructions"),
        ("\ufeff", "failed to parse Dockerfile: file with no instructions"),
    ],
)
def test_empty(text: str | bytes, message: str) -> None:
    with pytest.raises(DockerfileError) as err:
        parse_lines(text)
    assert err.value.message == message


def test_name_appears_in_messages() -> None:
    with pytest.raises(DockerfileError) as err:
        parse_lines("", name="build/Dockerfile.dev")
    assert err.value.message == "the Dockerfile (build/Dockerfile.dev) cannot be empty"


def test_line_length_limit_is_docker_scanner_limit() -> None:
    ok = "RUN " + "x" * (MAX_LINE_LENGTH - 4) + "\n"
    assert parse_lines("FROM a\n" + ok).nodes[1].args[0] == "x" * (MAX_LINE_LENGTH - 4)
    too_long = "RUN " + "x" * (MAX_LINE_LENGTH - 3) + "\n"
    with pytest.raises(DockerfileError) as err:
        parse_lines("FROM a\n" + too_long)
    assert err.value.message == (
        "failed to parse Dockerfile: dockerfile line greater than max allowed size of 65535"
    )
    # multi-byte characters count as bytes, like Go's
    with pytest.raises(DockerfileError):
        parse_lines("FROM a\nRUN " + "\u00e9" * 40000 + "\n")


def test_overall_size_limit() -> None:
    data = b"FROM a\n" + b"#" * MAX_DOCKERFILE_SIZE
    with pytest.raises(DockerfileError) as err:
        parse_lines(data)
    assert "larger than" in err.value.message
    assert err.value.status == 400


def test_undecodable_bytes_survive() -> None:
    node = parse_lines(b"FROM a\nRUN echo \xff\xfe\n").nodes[1]
    assert node.args == ("echo \udcff\udcfe",)
