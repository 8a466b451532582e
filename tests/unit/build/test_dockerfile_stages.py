"""Stages, --target, stage dependencies, instruction expansion and history texts."""

from __future__ import annotations

import pytest

from ketch.build.dockerfile import (
    DEFAULT_SHELL,
    Add,
    Arg,
    ArgDef,
    Cmd,
    Copy,
    DockerfileError,
    Env,
    Expose,
    From,
    Healthcheck,
    Instruction,
    KeyValue,
    Label,
    Run,
    Stage,
    Volume,
    Workdir,
    commit_message,
    copy_commit_message,
    expand_from,
    expand_instruction,
    healthcheck_text,
    needed_stages,
    nop_cmd,
    nop_created_by,
    normalize_workdir,
    parse_dockerfile,
    prepend_build_args,
    resolve_command,
    resolve_copy_from,
    single_item_comment,
    stage_dependencies,
)
from ketch.build.dockerfile.gocompat import (
    DurationError,
    clean_path,
    format_duration,
    parse_duration,
    quote,
    quote_rune,
)

MULTI = """\
ARG BASE=alpine
ARG VERSION
FROM ${BASE}:3 AS deps
RUN fetch
FROM deps AS Build
COPY --from=deps /a /a
RUN make
FROM scratch AS unrelated
COPY --from=golang:1 /x /x
FROM $BASE AS test
COPY --from=1 /out /out
COPY --from=BUILD /out /out2
FROM busybox
COPY --from=build /bin/app /app
"""


def test_meta_args_and_stages() -> None:
    df = parse_dockerfile(MULTI)
    assert [a.args for a in df.meta_args] == [(ArgDef("BASE", "alpine"),), (ArgDef("VERSION"),)]
    assert [(s.index, s.name, s.base_name) for s in df.stages] == [
        (0, "deps", "${BASE}:3"),
        (1, "build", "deps"),
        (2, "unrelated", "scratch"),
        (3, "test", "$BASE"),
        (4, "", "busybox"),
    ]
    assert [len(s.instructions) for s in df.stages] == [1, 2, 1, 2, 1]
    assert df.stages[1].from_.original == "FROM deps AS Build"
    assert df.stages[0].line == 3


def test_stage_lookup() -> None:
    df = parse_dockerfile(MULTI)
    build = df.stage("BUILD")
    assert isinstance(build, Stage) and build.index == 1
    assert df.stage(4) is df.stages[4]
    assert df.stage(5) is None
    assert df.stage("nope") is None
    assert df.stage("") is None  # unnamed stages have no name to find


def test_target_like_the_classic_builder() -> None:
    df = parse_dockerfile(MULTI)
    assert df.stages_for_target(None) == df.stages
    assert [s.index for s in df.stages_for_target("Test")] == [0, 1, 2, 3]
    with pytest.raises(DockerfileError) as err:
        df.stages_for_target("missing")
    assert err.value.message == "failed to reach build target missing in Dockerfile"
    # Step n/m counts meta args, FROMs and instructions of the stages built.
    assert df.step_total() == 2 + 5 + 7
    assert df.step_total(df.stages_for_target("build"), extra=1) == 2 + 2 + 3 + 1


def test_dependencies() -> None:
    df = parse_dockerfile(MULTI)
    meta = {"BASE": "alpine", "VERSION": ""}

    def deps(i: int) -> list[int]:
        return [s.index for s in stage_dependencies(df, df.stages[i], meta_env=meta)]

    assert deps(0) == []
    assert deps(1) == [0]  # FROM deps
    assert deps(2) == []  # --from=golang:1 is an image
    assert deps(3) == [1]  # --from=1 by index, --from=BUILD by name
    assert deps(4) == [1]
    assert [s.index for s in needed_stages(df, meta_env=meta)] == [0, 1, 4]
    assert [s.index for s in needed_stages(df, "test", meta_env=meta)] == [0, 1, 3]
    assert [s.index for s in needed_stages(df, "unrelated")] == [2]


def test_from_expansion_decides_whether_it_is_a_stage() -> None:
    df = parse_dockerfile("ARG B=first\nFROM alpine AS first\nFROM $B\n")
    last = df.stages[1]
    assert stage_dependencies(df, last) == ()  # "$B" is no stage name as written
    assert stage_dependencies(df, last, meta_env={"B": "FIRST"}) == (df.stages[0],)
    assert stage_dependencies(df, last, meta_env={"B": "alpine"}) == ()


def test_only_earlier_stages_count() -> None:
    df = parse_dockerfile("FROM later AS first\nFROM alpine AS later\n")
    assert stage_dependencies(df, df.stages[0]) == ()


def test_copy_from_expander() -> None:
    df = parse_dockerfile("FROM a AS one\nFROM b\nARG SRC=one\nCOPY --from=$SRC /x /x\n")
    last = df.stages[1]
    assert stage_dependencies(df, last) == ()  # the classic builder does not expand it

    def expanded(stage: Stage, copy: Copy) -> str:
        return expand_instruction(copy, {"SRC": "one"}, expand_copy_from=True).from_stage

    assert stage_dependencies(df, last, copy_from=expanded) == (df.stages[0],)


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ("1", "invalid from flag value 1: refers to current build stage"),
        ("2", "invalid from flag value 2: index out of bounds"),
        ("-1", "invalid from flag value -1: index out of bounds"),
    ],
)
def test_copy_from_index_errors(ref: str, message: str) -> None:
    df = parse_dockerfile(f"FROM a\nFROM b\nCOPY --from={ref} /x /x\n")
    with pytest.raises(DockerfileError) as err:
        resolve_copy_from(df, df.stages[1], ref)
    assert err.value.message == message
    with pytest.raises(DockerfileError) as err:
        needed_stages(df)
    assert (err.value.message, err.value.line) == (message, 3)


def test_copy_from_resolution() -> None:
    df = parse_dockerfile("FROM a AS x\nFROM b\nFROM c\n")
    assert resolve_copy_from(df, df.stages[2], "X") is df.stages[0]
    assert resolve_copy_from(df, df.stages[2], "+1") is df.stages[1]
    assert resolve_copy_from(df, df.stages[2], "alpine:3") is None
    assert resolve_copy_from(df, df.stages[2], "99999999999999999999") is None


def test_duplicate_stage_names() -> None:
    df = parse_dockerfile("FROM a AS x\nFROM b AS X\n")
    df.check_stage_name(df.stages[0])
    with pytest.raises(DockerfileError) as err:
        df.check_stage_name(df.stages[1])
    assert err.value.message == "x stage name already used"


def test_options_reach_every_instruction() -> None:
    df = parse_dockerfile("FROM a\nRUN <<EOF\nx\nEOF\n")
    run = df.stages[0].instructions[0]
    assert isinstance(run, Run) and run.heredocs[0].content == "x\n"


# -- expansion ---------------------------------------------------------------------------


def first(line: str) -> Instruction:
    return parse_dockerfile("FROM a\n" + line + "\n").stages[0].instructions[0]


ENV = {"A": "1", "B": "two words", "P": "8080 9090", "U": "app", "D": "/srv", "EMPTY": ""}


@pytest.mark.parametrize(
    ("line", "field", "expected"),
    [
        ('ENV x=$A y="$B" $A=z', "pairs",
         (KeyValue("x", "1"), KeyValue("y", "two words"), KeyValue("1", "z"))),
        ("ENV old $A and '$B'", "pairs", (KeyValue("old", "1 and $B"),)),
        ('LABEL "k $A"=\'$B\'', "pairs", (KeyValue("k 1", "$B"),)),
        ("ARG x=$A y", "args", (ArgDef("x", "1"), ArgDef("y"))),
        ("WORKDIR $D/${U}", "path", "/srv/app"),
        ("USER ${U}:${U}", "user", "app:app"),
        ("STOPSIGNAL SIG${A:+KILL}", "signal", "SIGKILL"),
        ("VOLUME $D /x$A", "volumes", ("/srv", "/x1")),
        # sorted before expansion, as Docker does
        ("EXPOSE $P 22 $EMPTY", "ports", ("8080", "9090", "22")),
        ("COPY --chown=$U:$U $D/* /dst/$A/", "chown", "app:app"),
        ("COPY --chown=$U $D/* /dst/$A/", "sources", ("/srv/*",)),
        ("COPY --chown=$U $D/* /dst/$A/", "dest", "/dst/1/"),
        ("COPY --from=$U a b", "from_stage", "$U"),
        ("ADD --checksum=sha256:$A $D /x", "checksum", "sha256:1"),
        ("ADD $D \\$A", "dest", "$A"),
        # never expanded
        ("RUN echo $A", "command", ("echo $A",)),
        ("CMD echo $A", "command", ("echo $A",)),
        ('ENTRYPOINT ["$A"]', "command", ("$A",)),
        ("HEALTHCHECK CMD echo $A", "test", ("CMD-SHELL", "echo $A")),
        ("ONBUILD RUN $A", "expression", "RUN $A"),
        ("MAINTAINER $A", "maintainer", "$A"),
        ('SHELL ["$A"]', "shell", ("$A",)),
    ],
)
def test_expand_instruction(line: str, field: str, expected: object) -> None:
    original = first(line)
    expanded = expand_instruction(original, ENV)
    assert getattr(expanded, field) == expected
    assert type(expanded) is type(original)
    assert (expanded.line, expanded.original) == (original.line, original.original)


def test_expand_copy_from_and_heredoc_content_on_request() -> None:
    copy = first("COPY --from=$U <<a.txt <<'b.txt' /d/\n$A \"$B\"\na.txt\n$A\nb.txt")
    assert isinstance(copy, Copy)
    plain = expand_instruction(copy, ENV)
    assert plain.from_stage == "$U"
    assert plain.contents == copy.contents
    full = expand_instruction(copy, ENV, expand_copy_from=True, heredoc_content=True)
    assert full.from_stage == "app"
    assert [c.data for c in full.contents] == ['1 "two words"\n', "$A\n"]


def test_expand_with_backtick_escape() -> None:
    df = parse_dockerfile("# escape=`\nFROM a\nWORKDIR C:\\$U\\`$U\n")
    (workdir,) = df.stages[0].instructions
    assert expand_instruction(workdir, ENV, escape_token=df.escape_token).path == "C:\\app\\$U"


def test_expansion_errors_carry_the_line() -> None:
    with pytest.raises(DockerfileError) as err:
        expand_instruction(first("ENV a=${b"), {})
    assert err.value.message == "failed to process \"${b\": missing ':' in substitution"
    assert err.value.line == 2


def test_expand_from() -> None:
    df = parse_dockerfile("ARG V\nARG P\nFROM --platform=$P alpine:${V:-3} AS x\nFROM $NONE\n")
    frm = df.stages[0].from_
    done = expand_from(frm, {"V": "3.19", "P": "linux/arm64"})
    assert (done.image, done.platform, done.stage_name) == ("alpine:3.19", "linux/arm64", "x")
    assert expand_instruction(frm, {}).image == "alpine:3"
    with pytest.raises(DockerfileError) as err:
        expand_from(df.stages[1].from_, {})
    assert err.value.message == "base name ($NONE) should not be blank"
    bad = From(line=1, end_line=1, original="", image="a", platform="${P")
    with pytest.raises(DockerfileError) as err:
        expand_from(bad, {})
    assert err.value.message == (
        "failed to process arguments for platform : "
        "failed to process \"${P\": missing ':' in substitution"
    )


# -- history -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('ENV a=1 b="2 3"', "ENV a=1 b=2 3"),
        ('LABEL x="y z" q=r', "LABEL x=y z q=r"),
        ("MAINTAINER me <m@x>", "MAINTAINER me <m@x>"),
        ("ONBUILD   RUN echo \\\n  hi", "ONBUILD RUN echo   hi"),
        ('CMD ["a", "b"]', 'CMD ["a" "b"]'),
        ('CMD echo "q"', 'CMD ["/bin/sh" "-c" "echo \\"q\\""]'),
        ("ENTRYPOINT  echo   hi  ", 'ENTRYPOINT ["/bin/sh" "-c" "echo   hi"]'),
        ("ENTRYPOINT []", "ENTRYPOINT []"),
        ("EXPOSE 80 22/udp", "EXPOSE 22/udp 80"),
        ("VOLUME /a /b", "VOLUME [/a /b]"),
        ("USER  u:g ", "USER u:g"),
        ("STOPSIGNAL SIGKILL", "STOPSIGNAL SIGKILL"),
        ("ARG q=1 r", "ARG q=1 r"),
        ('SHELL ["/bin/bash", "-c"]', "SHELL [/bin/bash -c]"),
        ("HEALTHCHECK --interval=5s --retries=3 CMD curl -f x",
         "HEALTHCHECK &{[\"CMD-SHELL\" \"curl -f x\"] \"5s\" \"0s\" \"0s\" '\\x03'}"),
        ("HEALTHCHECK NONE", "HEALTHCHECK &{[\"NONE\"] \"0s\" \"0s\" \"0s\" '\\x00'}"),
        ("WORKDIR /abs/x", "WORKDIR /abs/x"),
        ("RUN x", None),
        ("COPY a b", None),
    ],
)
def test_commit_messages(line: str, message: str | None) -> None:
    ins = expand_instruction(first(line), {})
    assert commit_message(ins) == message


def test_cmd_uses_the_current_shell() -> None:
    cmd = first("CMD echo hi")
    assert commit_message(cmd, shell=("/bin/bash", "-c")) == 'CMD ["/bin/bash" "-c" "echo hi"]'


def test_workdir_records_the_resolved_directory() -> None:
    ins = first("WORKDIR rel")
    resolved = normalize_workdir("/srv", "rel")
    assert commit_message(ins, workdir=resolved) == "WORKDIR /srv/rel"
    assert single_item_comment(ins)
    assert nop_created_by(DEFAULT_SHELL, "WORKDIR /srv/rel", single_item=True) == (
        "/bin/sh -c #(nop) WORKDIR /srv/rel"
    )


def test_nop_created_by_two_items() -> None:
    assert nop_cmd(DEFAULT_SHELL, 'CMD ["sh"]') == ["/bin/sh", "-c", "#(nop) ", 'CMD ["sh"]']
    assert nop_created_by(DEFAULT_SHELL, 'CMD ["sh"]') == '/bin/sh -c #(nop)  CMD ["sh"]'
    assert not single_item_comment(first("CMD x"))


def test_copy_commit_message_quirks() -> None:
    assert copy_commit_message("COPY", "file:abc", "/dst") == "COPY file:abc in /dst "
    assert copy_commit_message("ADD", "dir:def", "/d/", chown="1:2") == (
        "ADD --chown=1:2dir:def in /d/ "
    )
    assert single_item_comment(first("ADD a b"))


def test_healthcheck_text_with_start_interval() -> None:
    ins = first("HEALTHCHECK --start-interval=2s --timeout=1m CMD x")
    assert isinstance(ins, Healthcheck)
    assert healthcheck_text(ins, start_interval=True) == (
        "&{[\"CMD-SHELL\" \"x\"] \"0s\" \"1m0s\" \"0s\" \"2s\" '\\x00'}"
    )


@pytest.mark.parametrize(
    ("current", "requested", "expected"),
    [
        ("", "rel", "/rel"),
        ("/a", "b/../c", "/a/c"),
        ("/a/", "./b/", "/a/b"),
        ("/a", "/abs/../x", "/abs/../x"),  # absolute paths are kept as written
        ("//a", "b", "/a/b"),
    ],
)
def test_normalize_workdir(current: str, requested: str, expected: str) -> None:
    assert normalize_workdir(current, requested) == expected


def test_normalize_workdir_nothing() -> None:
    with pytest.raises(DockerfileError) as err:
        normalize_workdir("/a", "")
    assert err.value.message == "cannot normalize nothing"


def test_resolve_command_and_build_args() -> None:
    assert resolve_command(("echo hi",), True) == ["/bin/sh", "-c", "echo hi"]
    assert resolve_command((), True) == ["/bin/sh", "-c"]
    assert resolve_command(("a",), False, ("x",)) == ["a"]
    assert resolve_command(None, True) is None
    cmd = ["/bin/sh", "-c", "make"]
    assert prepend_build_args(cmd, {}) == cmd
    assert prepend_build_args(cmd, {"B": "2", "A": "1"}) == ["|2", "A=1", "B=2", *cmd]


# -- Go formatting ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "ns"),
    [
        ("0", 0), ("0s", 0), ("1s", 10**9), ("-1.5h", -5400 * 10**9), ("+2m", 120 * 10**9),
        ("1h2m3.5s", 3723_500_000_000), ("300ms", 300_000_000), ("1us", 1000),
        ("1\u00b5s", 1000), ("1\u03bcs", 1000), ("7ns", 7), (".5s", 500_000_000),
        ("1.s", 10**9),
    ],
)
def test_parse_duration(text: str, ns: int) -> None:
    assert parse_duration(text) == ns


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", 'time: invalid duration ""'),
        ("s", 'time: invalid duration "s"'),
        (".s", 'time: invalid duration ".s"'),
        ("1", 'time: missing unit in duration "1"'),
        ("1d", 'time: unknown unit "d" in duration "1d"'),
        ("9999999999999999999h", 'time: invalid duration "9999999999999999999h"'),
        ("3000000h", 'time: invalid duration "3000000h"'),
    ],
)
def test_parse_duration_errors(text: str, message: str) -> None:
    with pytest.raises(DurationError) as err:
        parse_duration(text)
    assert str(err.value) == message


@pytest.mark.parametrize(
    ("ns", "text"),
    [
        (0, "0s"), (1, "1ns"), (1500, "1.5\u00b5s"), (2_000_000, "2ms"), (10**9, "1s"),
        (90 * 10**9, "1m30s"), (3600 * 10**9, "1h0m0s"), (3723_500_000_000, "1h2m3.5s"),
        (-5 * 10**9, "-5s"),
    ],
)
def test_format_duration(ns: int, text: str) -> None:
    assert format_duration(ns) == text


def test_go_quoting() -> None:
    assert quote('a"b\\c\n\t\x01\u00e9\U0001f600') == '"a\\"b\\\\c\\n\\t\\x01\u00e9\U0001f600"'
    assert quote("\udcff") == '"\\xff"'
    assert quote("\u200b") == '"\\u200b"'
    assert quote_rune(3) == "'\\x03'"
    assert quote_rune(65) == "'A'"
    assert quote_rune(39) == "'\\''"
    assert clean_path("//a/./b/../c/") == "/a/c"
    assert clean_path("") == "."


def test_instruction_types_cover_all_keywords() -> None:
    df = parse_dockerfile(
        "FROM a\nRUN a\nCMD a\nLABEL a=b\nMAINTAINER m\nEXPOSE 1\nENV a=b\nADD a b\n"
        "COPY a b\nENTRYPOINT a\nVOLUME /v\nUSER u\nWORKDIR /w\nARG a\nONBUILD RUN a\n"
        "STOPSIGNAL 9\nHEALTHCHECK NONE\nSHELL [\"sh\"]\n"
    )
    keywords = [i.keyword for i in df.stages[0].instructions]
    assert keywords == [
        "RUN", "CMD", "LABEL", "MAINTAINER", "EXPOSE", "ENV", "ADD", "COPY", "ENTRYPOINT",
        "VOLUME", "USER", "WORKDIR", "ARG", "ONBUILD", "STOPSIGNAL", "HEALTHCHECK", "SHELL",
    ]
    kinds = {type(i) for i in df.stages[0].instructions}
    assert {Run, Cmd, Label, Expose, Env, Add, Copy, Volume, Workdir, Arg, Healthcheck} <= kinds
    assert isinstance(df.stages[0].instructions[2], Label)
    assert isinstance(df.stages[0].instructions[5], Env)
