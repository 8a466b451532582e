"""Flag parsing with pflag's grammar and the Docker CLI's messages and exit codes."""

from __future__ import annotations

import pytest

from ketch.cli.flags import CommandSpec, Flag, HelpRequested, UsageError, parse, render_help


def spec(**kw: object) -> CommandSpec:
    return CommandSpec(
        "ketch images", "images [OPTIONS] [REPOSITORY[:TAG]]", "List images",
        flags=[
            Flag("all", "Show all", short="a"),
            Flag("quiet", "Only IDs", short="q"),
            Flag("format", "Format", kind="string"),
            Flag("filter", "Filter", short="f", kind="list", typename="filter"),
            Flag("human", "Human", short="H", default=True),
            Flag("count", "Count", short="n", kind="int"),
        ],
        **kw,  # type: ignore[arg-type]
    )


def test_grammar() -> None:
    p = parse(spec(), ["-aq", "--format", "{{.ID}}", "-fdangling=true", "-f", "x=y", "repo",
                       "--human=false", "-n=3"])
    assert p["all"] and p["quiet"] and p["format"] == "{{.ID}}"
    assert p["filter"] == ["dangling=true", "x=y"]
    assert p["human"] is False and p["count"] == 3
    assert p.args == ["repo"]
    assert parse(spec(), ["--format={{.ID}}", "-H=0"])["format"] == "{{.ID}}"
    assert parse(spec(), ["--", "-a"]).args == ["-a"]
    assert parse(spec(interspersed=False), ["x", "-a"]).args == ["x", "-a"]


def _usage_error(argv: list[str], **kw: object) -> UsageError:
    with pytest.raises(UsageError) as info:
        parse(spec(**kw), argv)
    return info.value


SUFFIX = ("\n\nUsage:  ketch images [OPTIONS] [REPOSITORY[:TAG]]\n\n"
          "Run 'ketch images --help' for more information")


@pytest.mark.parametrize(("argv", "message"), [
    (["--bogus"], "unknown flag: --bogus"),
    (["-x"], "unknown shorthand flag: 'x' in -x"),
    (["-aZq"], "unknown shorthand flag: 'Z' in -Zq"),
    (["--format"], "flag needs an argument: --format"),
    (["-f"], "flag needs an argument: 'f' in -f"),
    (["--all=maybe"], 'invalid argument "maybe" for "-a, --all" flag: '
                      'strconv.ParseBool: parsing "maybe": invalid syntax'),
    (["-n", "x"], 'invalid argument "x" for "-n, --count" flag: '
                  'strconv.ParseInt: parsing "x": invalid syntax'),
])
def test_flag_errors_exit_125(argv: list[str], message: str) -> None:
    err = _usage_error(argv)
    assert (str(err), err.code) == (message + SUFFIX, 125)


def test_converters_reject_values() -> None:
    def positive(text: str) -> int:
        if not text.isdigit():
            raise ValueError("must be a number")
        return int(text)

    s = CommandSpec("ketch x", "x", "X", flags=[Flag("n", "N", kind="string", convert=positive)])
    with pytest.raises(UsageError, match='invalid argument "a" for "--n" flag: must be a number'):
        parse(s, ["--n", "a"])
    assert parse(s, ["--n", "7"])["n"] == 7


@pytest.mark.parametrize(("lo", "hi", "argv", "message"), [
    (2, 2, ["a"], "ketch: 'ketch images' requires 2 arguments"),
    (1, 1, [], "ketch: 'ketch images' requires 1 argument"),
    (1, None, [], "ketch: 'ketch images' requires at least 1 argument"),
    (0, 1, ["a", "b"], "ketch: 'ketch images' requires at most 1 argument"),
    (0, 0, ["a"], "ketch: 'ketch images' accepts no arguments"),
    (1, 2, ["a", "b", "c"], "ketch: 'ketch images' requires at least 1 and at most 2 arguments"),
])
def test_argument_count_errors_exit_1(lo: int, hi: int | None, argv: list[str],
                                      message: str) -> None:
    err = _usage_error(argv, min_args=lo, max_args=hi)
    assert err.code == 1
    assert str(err).startswith(message + "\n\nUsage:  ketch images [OPTIONS]")
    # Docker's own texts: "See" for minimum counts, "SRun" (sic) for maximum counts.
    tail = str(err).rsplit("\n", 1)[1]
    expected = {None: "See", 1: "SRun" if lo == 0 else "Run"}.get(hi, "Run")
    assert tail.startswith(expected + " 'ketch images --help'")


def test_help() -> None:
    with pytest.raises(HelpRequested):
        parse(spec(), ["-a", "--help"])
    with pytest.raises(HelpRequested):
        parse(spec(), ["-h"])
    text = render_help(spec(aliases="ketch image ls, ketch images"))
    assert text.startswith("Usage:  ketch images [OPTIONS] [REPOSITORY[:TAG]]\n\nList images\n")
    assert "Aliases:\n  ketch image ls, ketch images\n" in text
    options = text.split("Options:\n", 1)[1].splitlines()
    column = options[0].index("Show all")  # descriptions share one column
    assert options[0] == "  -a, --all".ljust(column) + "Show all"
    assert "      --format string".ljust(column) + "Format" in options
    assert "  -H, --human".ljust(column) + "Human (default true)" in options
    assert "  -f, --filter filter".ljust(column) + "Filter" in options
    assert column == len("  -f, --filter filter") + 3


def test_help_wraps_long_descriptions_as_pflag() -> None:
    long_help = ("Show logs since timestamp (e.g. \"2013-01-02T13:23:37Z\") or relative "
                 "(e.g. \"42m\" for 42 minutes)")
    text = render_help(CommandSpec("ketch logs", "logs [OPTIONS] CONTAINER", "Fetch",
                                   flags=[Flag("since", long_help, kind="string"),
                                          Flag("tail", "Lines", short="n", kind="string",
                                               default="all"),
                                          Flag("last", "Last n", kind="int", default=-1)]))
    assert text.split("Options:\n", 1)[1] == (  # flags in the order given
        "      --since string   Show logs since timestamp (e.g.\n"
        "                       \"2013-01-02T13:23:37Z\") or relative (e.g. \"42m\"\n"
        "                       for 42 minutes)\n"
        "  -n, --tail string    Lines (default \"all\")\n"
        "      --last int       Last n (default -1)\n")
