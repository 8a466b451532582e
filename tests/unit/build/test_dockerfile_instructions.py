"""Typed instructions: what each Dockerfile line becomes, and Docker's errors."""

from __future__ import annotations

import pytest

from ketch.build.dockerfile import (
    DOCKER_20_10,
    Add,
    Arg,
    ArgDef,
    Cmd,
    Copy,
    DockerfileError,
    Entrypoint,
    Env,
    Expose,
    From,
    Healthcheck,
    Instruction,
    KeyValue,
    Label,
    Maintainer,
    Onbuild,
    ParseOptions,
    Run,
    Shell,
    SourceContent,
    StopSignal,
    User,
    Volume,
    Workdir,
    classic_rejection,
    parse_dockerfile,
    parse_onbuild_trigger,
)

S = 1_000_000_000


def one(line: str, options: ParseOptions | None = None) -> Instruction:
    """The single instruction ``line`` becomes inside a one-stage Dockerfile."""
    text = "FROM base\n" + line + "\n"
    df = parse_dockerfile(text) if options is None else parse_dockerfile(text, options=options)
    (instruction,) = df.stages[0].instructions
    return instruction


def loc(line: int = 2, end: int | None = None, original: str = "") -> dict[str, object]:
    return {"line": line, "end_line": end or line, "original": original}


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("RUN echo  hi", Run(**loc(original="RUN echo  hi"), command=("echo  hi",),
                             prepend_shell=True)),
        ('RUN ["a", "b"]', Run(**loc(original='RUN ["a", "b"]'), command=("a", "b"),
                               prepend_shell=False)),
        ("RUN --mount=type=cache,target=/c --network=none make",
         Run(**loc(original="RUN --mount=type=cache,target=/c --network=none make"),
             command=("make",), prepend_shell=True, mounts=("type=cache,target=/c",),
             network="none", flags_used=("mount", "network"))),
        ("CMD echo hi", Cmd(**loc(original="CMD echo hi"), command=("echo hi",),
                            prepend_shell=True)),
        ("CMD []", Cmd(**loc(original="CMD []"), command=(), prepend_shell=False)),
        ('ENTRYPOINT ["/bin/x"]', Entrypoint(**loc(original='ENTRYPOINT ["/bin/x"]'),
                                              command=("/bin/x",), prepend_shell=False)),
        ("ENTRYPOINT []", Entrypoint(**loc(original="ENTRYPOINT []"), command=None,
                                     prepend_shell=False)),
        ("ENTRYPOINT", Entrypoint(**loc(original="ENTRYPOINT"), command=None,
                                  prepend_shell=True)),
        ('ENV a=1 b="2 3"', Env(**loc(original='ENV a=1 b="2 3"'),
                                pairs=(KeyValue("a", "1"), KeyValue("b", '"2 3"')))),
        ("ENV a b c", Env(**loc(original="ENV a b c"), pairs=(KeyValue("a", "b c"),))),
        ('LABEL "x y"=z', Label(**loc(original='LABEL "x y"=z'),
                                pairs=(KeyValue('"x y"', "z"),))),
        ("ARG a b=1 c=", Arg(**loc(original="ARG a b=1 c="),
                             args=(ArgDef("a"), ArgDef("b", "1"), ArgDef("c", "")))),
        ("EXPOSE 8080 80/udp 443", Expose(**loc(original="EXPOSE 8080 80/udp 443"),
                                          ports=("443", "80/udp", "8080"))),
        ("WORKDIR /app", Workdir(**loc(original="WORKDIR /app"), path="/app")),
        ("USER 1000:1000", User(**loc(original="USER 1000:1000"), user="1000:1000")),
        ("VOLUME /a /b", Volume(**loc(original="VOLUME /a /b"), volumes=("/a", "/b"))),
        ('VOLUME [" /a "]', Volume(**loc(original='VOLUME [" /a "]'), volumes=("/a",))),
        ("STOPSIGNAL SIGTERM", StopSignal(**loc(original="STOPSIGNAL SIGTERM"),
                                          signal="SIGTERM")),
        ('SHELL ["/bin/bash", "-c"]', Shell(**loc(original='SHELL ["/bin/bash", "-c"]'),
                                            shell=("/bin/bash", "-c"))),
        ("MAINTAINER Me <me@x>", Maintainer(**loc(original="MAINTAINER Me <me@x>"),
                                            maintainer="Me <me@x>")),
        ("COPY --from=build --chown=1:2 a b /dst/",
         Copy(**loc(original="COPY --from=build --chown=1:2 a b /dst/"), sources=("a", "b"),
              dest="/dst/", from_stage="build", chown="1:2")),
        ('COPY ["a b", "/c"]', Copy(**loc(original='COPY ["a b", "/c"]'), sources=("a b",),
                                    dest="/c")),
        ("COPY --link --exclude=*.md --exclude=x . /",
         Copy(**loc(original="COPY --link --exclude=*.md --exclude=x . /"), sources=(".",),
              dest="/", link=True, excludes=("*.md", "x"))),
        ("ADD --chmod=644 http://x/y /z",
         Add(**loc(original="ADD --chmod=644 http://x/y /z"), sources=("http://x/y",),
             dest="/z", chmod="644")),
        ("ADD --keep-git-dir=false --checksum=sha256:ab x /y",
         Add(**loc(original="ADD --keep-git-dir=false --checksum=sha256:ab x /y"),
             sources=("x",), dest="/y", keep_git_dir=False, checksum="sha256:ab")),
        ("HEALTHCHECK NONE", Healthcheck(**loc(original="HEALTHCHECK NONE"), test=("NONE",))),
        ("HEALTHCHECK --interval=5s --timeout=1m30s --start-period=1.5s --start-interval=500ms "
         "--retries=3 CMD curl -f http://x/",
         Healthcheck(**loc(original="HEALTHCHECK --interval=5s --timeout=1m30s "
                           "--start-period=1.5s --start-interval=500ms --retries=3 CMD "
                           "curl -f http://x/"),
                     test=("CMD-SHELL", "curl -f http://x/"), interval=5 * S, timeout=90 * S,
                     start_period=1500_000_000, start_interval=500_000_000, retries=3)),
        ('healthcheck cmd ["a", "b"]', Healthcheck(**loc(original='healthcheck cmd ["a", "b"]'),
                                                   test=("CMD", "a", "b"))),
        ("ONBUILD  run  echo hi", Onbuild(**loc(original="ONBUILD  run  echo hi"),
                                          expression="run  echo hi")),
    ],
)
def test_instructions(line: str, expected: Instruction) -> None:
    assert one(line) == expected


def test_keywords_and_str() -> None:
    df = parse_dockerfile("FROM a AS b\nRUN x\nCOPY a b\n")
    frm = df.stages[0].from_
    assert (frm.keyword, str(frm)) == ("FROM", "FROM a AS b")
    assert [i.keyword for i in df.stages[0].instructions] == ["RUN", "COPY"]


def test_from() -> None:
    df = parse_dockerfile("FROM --platform=$P alpine:3 As Build-1.x\n")
    assert df.stages[0].from_ == From(
        **loc(1, original="FROM --platform=$P alpine:3 As Build-1.x"),
        image="alpine:3", stage_name="build-1.x", platform="$P",
    )


def test_multi_line_original_is_what_docker_prints() -> None:
    df = parse_dockerfile("FROM a\nRUN apt-get update && \\\n    apt-get install -y x  \n")
    run = df.stages[0].instructions[0]
    assert run.original == "RUN apt-get update &&     apt-get install -y x"
    assert (run.line, run.end_line) == (2, 3)


def test_onbuild_keeps_a_parsed_trigger() -> None:
    ins = one("ONBUILD COPY --from=x a /b")
    assert isinstance(ins, Onbuild)
    assert ins.expression == "COPY --from=x a /b"
    assert isinstance(ins.trigger, Copy)
    assert ins.trigger.from_stage == "x"
    # Docker accepts triggers it cannot parse; the child build fails on them.
    bad = one("ONBUILD FOO bar")
    assert isinstance(bad, Onbuild) and bad.trigger is None
    with pytest.raises(DockerfileError) as err:
        parse_onbuild_trigger(bad.expression)
    assert err.value.message == "unknown instruction: FOO"


def test_onbuild_heredoc_expression() -> None:
    ins = one("ONBUILD RUN <<EOF\necho hi\nEOF")
    assert isinstance(ins, Onbuild)
    assert ins.expression == "RUN <<EOF\necho hi\nEOF"
    assert isinstance(ins.trigger, Run)
    assert ins.trigger.heredocs[0].content == "echo hi\n"


def test_copy_heredoc_sources() -> None:
    ins = one("COPY <<a.txt <<-'b.sh' real.txt /dst/\nhello $X\na.txt\n\techo\n\tb.sh")
    assert isinstance(ins, Copy)
    assert ins.sources == ("real.txt",)
    assert ins.contents == (
        SourceContent("a.txt", "hello $X\n", True),
        SourceContent("b.sh", "echo\n", False),
    )


def test_run_script_resolves_heredocs_like_buildkit() -> None:
    lone = one("RUN <<-EOF\n\techo $HOME\nEOF")
    assert isinstance(lone, Run) and lone.script == "echo $HOME\n"
    mixed = one("RUN cat <<A >/x\nline\nA")
    assert isinstance(mixed, Run) and mixed.script == "cat <<A >/x\nline\nA"
    plain = one("RUN echo hi")
    assert isinstance(plain, Run) and plain.script == "echo hi"
    execf = one('RUN ["echo"]')
    assert isinstance(execf, Run) and execf.script is None


def test_classic_rejection() -> None:
    hint = ("requires BuildKit. Refer to https://docs.docker.com/go/buildkit/ to learn how to "
            "build images with BuildKit enabled")
    mount = one("RUN --mount=type=tmpfs,target=/t x")
    assert classic_rejection(mount) == "the --mount option " + hint
    assert classic_rejection(one("COPY --chmod=600 a b")) == "the --chmod option " + hint
    assert classic_rejection(one("ADD --chmod=600 a b")) == "the --chmod option " + hint
    assert classic_rejection(one("RUN x")) is None


# -- errors -----------------------------------------------------------------------------


def errors_of(text: str, options: ParseOptions | None = None) -> DockerfileError:
    with pytest.raises(DockerfileError) as err:
        if options is None:
            parse_dockerfile(text)
        else:
            parse_dockerfile(text, options=options)
    return err.value


#: (line 2 of a Dockerfile after "FROM base", reason Docker gives)
INSTRUCTION_ERRORS = [
    ("FOO bar", "unknown instruction: FOO"),
    ("foo", "unknown instruction: FOO"),
    ("ENV", "ENV requires at least one argument"),
    ("ENV =x", "ENV names can not be blank"),
    ("LABEL", "LABEL requires at least one argument"),
    ("LABEL =x", "LABEL names can not be blank"),
    ("ARG", "ARG requires at least one argument"),
    ("ARG =x", "ARG names can not be blank"),
    ("EXPOSE", "EXPOSE requires at least one argument"),
    ("VOLUME", "VOLUME requires at least one argument"),
    ('VOLUME [""]', "VOLUME specified can not be an empty string"),
    ("WORKDIR", "WORKDIR requires exactly one argument"),
    ("USER", "USER requires exactly one argument"),
    ("STOPSIGNAL", "STOPSIGNAL requires exactly one argument"),
    ("MAINTAINER", "MAINTAINER requires exactly one argument"),
    ("ONBUILD", "ONBUILD requires at least one argument"),
    ("ONBUILD ONBUILD RUN x", "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed"),
    ("ONBUILD FROM x", "FROM isn't allowed as an ONBUILD trigger"),
    ("ONBUILD maintainer x", "MAINTAINER isn't allowed as an ONBUILD trigger"),
    ("ONBUILD --x RUN a", "Unknown flag: x"),
    ("COPY a", "COPY requires at least two arguments, but only one was provided. "
               "Destination could not be determined"),
    ("ADD a", "ADD requires at least two arguments, but only one was provided. "
              "Destination could not be determined"),
    ("COPY --foo a b", "Unknown flag: foo"),
    ("COPY --chown a b", "Missing a value on flag: chown"),
    ("COPY --from=x --from=y a b", "Duplicate flag specified: from"),
    ("COPY --link=maybe a b", "Expecting boolean value for flag link, not: maybe"),
    ("COPY --link= a b", "Missing a value on flag: link"),
    ("ADD --from=x a b", "Unknown flag: from"),
    ("COPY <<EOF <<EOF2\nx\nEOF\ny\nEOF2", "COPY cannot accept a heredoc as a destination"),
    ("RUN --network=bridge x", 'invalid network mode "bridge"'),
    ("RUN --foo x", "Unknown flag: foo"),
    ("CMD --x a", "Unknown flag: x"),
    ("ENV --x=1 a=b", "Unknown flag: x"),
    ("SHELL", "SHELL requires at least one argument"),
    ("SHELL []", "SHELL requires at least one argument"),
    ("SHELL sh -c", "SHELL requires the arguments to be in JSON form"),
    ("HEALTHCHECK", "HEALTHCHECK requires at least one argument"),
    ("HEALTHCHECK NONE x", "HEALTHCHECK NONE takes no arguments"),
    ("HEALTHCHECK FOO x", 'Unknown type "FOO" in HEALTHCHECK (try CMD)'),
    ("HEALTHCHECK CMD", "Missing command after HEALTHCHECK CMD"),
    ("HEALTHCHECK --foo=1 CMD x", "Unknown flag: foo"),
    ("HEALTHCHECK --retries=x CMD a", 'strconv.ParseInt: parsing "x": invalid syntax'),
    ("HEALTHCHECK --retries=99999999999 CMD a",
     'strconv.ParseInt: parsing "99999999999": value out of range'),
    ("HEALTHCHECK --retries=-1 CMD a", "--retries cannot be negative (-1)"),
    ("HEALTHCHECK --interval=abc CMD a", 'time: invalid duration "abc"'),
    ("HEALTHCHECK --timeout=1 CMD a", 'time: missing unit in duration "1"'),
    ("HEALTHCHECK --timeout=1x CMD a", 'time: unknown unit "x" in duration "1x"'),
    ("HEALTHCHECK --interval=1us CMD a", 'Interval "interval" cannot be less than 1ms'),
    ("HEALTHCHECK --start-period=-1s CMD a", 'Interval "start-period" cannot be less than 1ms'),
    ("HEALTHCHECK --interval=99999999999h CMD a", 'time: invalid duration "99999999999h"'),
    # flags are scanned byte by byte: Docker shows the UTF-8 bytes as Latin-1
    ("HEALTHCHECK --interval=1\u00b5s CMD a",
     'time: unknown unit "\\xc3\\x82\\xc2\\xb5s" in duration "1\\xc3\\x82\\xc2\\xb5s"'),
    ("FROM", "FROM requires either one or three arguments"),
    ("FROM a b", "FROM requires either one or three arguments"),
    ("FROM a AS 1x", 'invalid name for build stage: "1x", name can\'t start with a number '
                     "or contain symbols"),
    ("FROM a as b!", 'invalid name for build stage: "b!", name can\'t start with a number '
                     "or contain symbols"),
    ("FROM --foo=x a", "Unknown flag: foo"),
]


@pytest.mark.parametrize(("line", "reason"), INSTRUCTION_ERRORS)
def test_instruction_errors(line: str, reason: str) -> None:
    err = errors_of("FROM base\n" + line + "\n")
    assert err.message == f"dockerfile parse error line 2: {reason}"
    assert err.reason == reason
    assert err.line == 2
    assert err.status == 400


def test_errors_flags_docker_does_not_check() -> None:
    # Docker never parses ARG's and STOPSIGNAL's flags, nor HEALTHCHECK NONE's.
    df = parse_dockerfile(
        "FROM a\nARG --x=1 a=b\nSTOPSIGNAL --y 9\nHEALTHCHECK --z NONE\n"
    )
    assert [i.keyword for i in df.stages[0].instructions] == ["ARG", "STOPSIGNAL", "HEALTHCHECK"]


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("COPY --link a b", "Unknown flag: link"),
        ("COPY --exclude=x a b", "Unknown flag: exclude"),
        ("ADD --checksum=x a b", "Unknown flag: checksum"),
        ("RUN --network=none x", "Unknown flag: network"),
        ("HEALTHCHECK --start-interval=1s CMD x", "Unknown flag: start-interval"),
        ("HEALTHCHECK --retries=0 CMD x", "--retries must be at least 1 (not 0)"),
        ("HEALTHCHECK --interval=0s CMD x", 'Interval "interval" cannot be less than 1ms'),
    ],
)
def test_docker_20_10_refuses_newer_flags(line: str, reason: str) -> None:
    err = errors_of("FROM base\n" + line + "\n", DOCKER_20_10)
    assert err.message == f"dockerfile parse error line 2: {reason}"


def test_docker_28_accepts_zero_retries_and_durations() -> None:
    ins = one("HEALTHCHECK --retries=0 --interval=0s CMD x")
    assert isinstance(ins, Healthcheck)
    assert (ins.retries, ins.interval) == (0, 0)


@pytest.mark.parametrize(
    ("text", "line"),
    [("RUN x\n", 1), ("ARG a\nRUN x\n", 2), ("ARG a\nENV a=b\nFROM x\n", 2)],
)
def test_no_build_stage(text: str, line: int) -> None:
    err = errors_of(text)
    assert err.message == "no build stage in current context"
    assert err.line == line


def test_line_parser_errors_come_before_instruction_errors() -> None:
    # Docker runs its line parser over the whole file first.
    err = errors_of("FROM a\nFOO\nENV x\n")
    assert err.message == "failed to parse Dockerfile: ENV must have two arguments"
    assert err.line == 3


def test_unknown_instruction_line_is_the_start_line() -> None:
    err = errors_of("FROM a\nRUN ok\nBAD \\\n  more\n")
    assert err.message == "dockerfile parse error line 3: unknown instruction: BAD"


def test_onbuild_trigger_errors_are_bare() -> None:
    with pytest.raises(DockerfileError) as err:
        parse_onbuild_trigger("ENV x")
    assert err.value.message == "ENV must have two arguments"
    with pytest.raises(DockerfileError) as err:
        parse_onbuild_trigger("COPY a")
    assert err.value.message.startswith("COPY requires at least two arguments")
