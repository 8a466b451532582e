"""Command-line flags with the Docker CLI's grammar and error messages.

The Docker CLI parses flags with spf13/pflag, whose grammar differs from
argparse's in ways users rely on: booleans take a value only as ``--all=false``
(``-a=false``), short flags combine (``-aq``) and take attached values
(``-fdangling=true``), flags and arguments intersperse, and each mistake has a
known message and exit code (125 for flag errors, 1 for argument counts).
Scripts match those texts, so this small parser reproduces them instead of
translating argparse's. It also renders ``--help`` in Docker's layout.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing is not imported at run time: it costs startup time
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

#: Exit code of flag errors (cobra's flag-error path in the Docker CLI).
FLAG_ERROR_CODE = 125


class UsageError(Exception):
    """A command-line mistake; ``str(exc)`` is the whole message printed to stderr."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


class HelpRequested(Exception):
    """``-h``/``--help`` was given: print the command's help and exit 0."""


_TRUE = {"1", "t", "T", "TRUE", "true", "True"}
_FALSE = {"0", "f", "F", "FALSE", "false", "False"}


def parse_bool(text: str) -> bool | None:
    """Go's ``strconv.ParseBool``; None if the text is not a boolean."""
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    return None


class Flag:
    """One option. ``kind`` is bool, string, int, list (repeatable) or filter."""

    def __init__(self, long: str, help: str, short: str = "", kind: str = "bool",
                 default: Any = None, typename: str = "", hidden: bool = False,
                 convert: Callable[[str], Any] | None = None) -> None:
        self.long = long
        self.help = help
        self.short = short
        self.kind = kind
        self.default = default
        #: Shown in --help after the flag name ("string", "filter", "list").
        self.typename = typename
        self.hidden = hidden
        #: Validates/converts one value; raises ValueError(message) to reject it.
        self.convert = convert

    @property
    def dest(self) -> str:
        return self.long.replace("-", "_")

    @property
    def display(self) -> str:
        """``-f, --filter`` as pflag names a flag in its error messages."""
        return f"-{self.short}, --{self.long}" if self.short else f"--{self.long}"

    def initial(self) -> Any:
        if self.kind in ("list", "filter"):
            return list(self.default or [])
        if self.default is not None:
            return self.default
        return {"bool": False, "string": "", "int": 0}.get(self.kind)


class CommandSpec:
    """What ``--help`` and the parser need to know about one command."""

    def __init__(self, path: str, use: str, short: str, flags: list[Flag] | None = None,
                 min_args: int = 0, max_args: int | None = None, aliases: str = "",
                 interspersed: bool = True) -> None:
        self.path = path  # "ketch image ls"
        self.use = use  # "ls [OPTIONS] [REPOSITORY[:TAG]]"
        self.short = short
        self.flags = flags or []
        self.min_args = min_args
        self.max_args = max_args  # None: unlimited
        self.aliases = aliases
        self.interspersed = interspersed

    @property
    def use_line(self) -> str:
        parent = self.path.rsplit(" ", 1)[0]
        return f"{parent} {self.use}"

    def usage_suffix(self) -> str:
        return f"\n\nUsage:  {self.use_line}\n\nRun '{self.path} --help' for more information"

    def flag_error(self, message: str) -> UsageError:
        return UsageError(message + self.usage_suffix(), FLAG_ERROR_CODE)


class Parsed:
    """Flag values by destination name, positional arguments, and which flags were given."""

    def __init__(self, values: dict[str, Any], args: list[str], changed: set[str]) -> None:
        self.values = values
        self.args = args
        self.changed = changed

    def __getitem__(self, key: str) -> Any:
        return self.values[key]


def parse(spec: CommandSpec, argv: list[str]) -> Parsed:
    """Parse ``argv`` (the words after the command name) against ``spec``."""
    by_long = {f.long: f for f in spec.flags}
    by_short = {f.short: f for f in spec.flags if f.short}
    values = {f.dest: f.initial() for f in spec.flags}
    changed: set[str] = set()
    args: list[str] = []

    def set_value(flag: Flag, raw: str) -> None:
        if flag.kind == "bool":
            parsed = parse_bool(raw)
            if parsed is None:
                raise spec.flag_error(
                    f'invalid argument "{raw}" for "{flag.display}" flag: '
                    f'strconv.ParseBool: parsing "{raw}": invalid syntax'
                )
            values[flag.dest] = parsed
        else:
            value: Any = raw
            if flag.convert is not None:
                try:
                    value = flag.convert(raw)
                except ValueError as exc:
                    raise spec.flag_error(
                        f'invalid argument "{raw}" for "{flag.display}" flag: {exc}'
                    ) from None
            elif flag.kind == "int":
                try:
                    value = int(raw, 0)
                except ValueError:
                    raise spec.flag_error(
                        f'invalid argument "{raw}" for "{flag.display}" flag: '
                        f'strconv.ParseInt: parsing "{raw}": invalid syntax'
                    ) from None
            if flag.kind in ("list", "filter"):
                if value is not None and value != "":
                    values[flag.dest].append(value)
            else:
                values[flag.dest] = value
        changed.add(flag.dest)

    i = 0
    while i < len(argv):
        word = argv[i]
        i += 1
        if word == "--":
            args.extend(argv[i:])
            break
        if word.startswith("--") and len(word) > 2:
            name, eq, raw = word[2:].partition("=")
            if name == "help":
                raise HelpRequested()
            flag = by_long.get(name)
            if flag is None:
                raise spec.flag_error(f"unknown flag: --{name}")
            if eq:
                set_value(flag, raw)
            elif flag.kind == "bool":
                set_value(flag, "true")
            elif i < len(argv):
                set_value(flag, argv[i])
                i += 1
            else:
                raise spec.flag_error(f"flag needs an argument: --{name}")
            continue
        if word.startswith("-") and len(word) > 1:
            shorts = word[1:]
            j = 0
            while j < len(shorts):
                ch = shorts[j]
                flag = by_short.get(ch)
                if flag is None:
                    if ch == "h":
                        raise HelpRequested()
                    raise spec.flag_error(f"unknown shorthand flag: '{ch}' in -{shorts[j:]}")
                rest = shorts[j + 1:]
                if rest.startswith("="):
                    set_value(flag, rest[1:])
                    break
                if flag.kind == "bool":
                    set_value(flag, "true")
                    j += 1
                    continue
                if rest:
                    set_value(flag, rest)
                elif i < len(argv):
                    set_value(flag, argv[i])
                    i += 1
                else:
                    raise spec.flag_error(f"flag needs an argument: '{ch}' in -{shorts[j:]}")
                break
            continue
        args.append(word)
        if not spec.interspersed:
            args.extend(argv[i:])
            break
    check_args(spec, args)
    return Parsed(values, args, changed)


def _plural(word: str, n: int) -> str:
    return word if n == 1 else word + "s"


def check_args(spec: CommandSpec, args: list[str]) -> None:
    """Cobra's positional-argument checks, with the Docker CLI's messages (exit code 1)."""
    n = len(args)
    lo, hi = spec.min_args, spec.max_args
    bin_name = spec.path.split(" ", 1)[0]
    head = f"{bin_name}: '{spec.path}'"
    usage = f"\n\nUsage:  {spec.use_line}\n\n"
    run = f"Run '{spec.path} --help' for more information"
    if hi == 0:
        if n:
            raise UsageError(f"{head} accepts no arguments{usage}{run}")
    elif hi is None:
        if n < lo:
            raise UsageError(
                f"{head} requires at least {lo} {_plural('argument', lo)}{usage}"
                f"See '{spec.path} --help' for more information"
            )
    elif lo == hi:
        if n != lo:
            raise UsageError(f"{head} requires {lo} {_plural('argument', lo)}{usage}{run}")
    elif lo == 0:
        if n > hi:
            # Docker's own message has the "SRun" typo; we print what it prints.
            raise UsageError(f"{head} requires at most {hi} {_plural('argument', hi)}{usage}S{run}")
    elif not lo <= n <= hi:
        raise UsageError(
            f"{head} requires at least {lo} and at most {hi} {_plural('argument', hi)}{usage}{run}"
        )


def render_help(spec: CommandSpec) -> str:
    """``--help`` text in the Docker CLI's layout (descriptions wrapped as pflag wraps
    them: to the width of the terminal on stdin, else 80 columns, less one)."""
    lines = [f"Usage:  {spec.use_line}", "", spec.short]
    if spec.aliases:
        lines += ["", "Aliases:", f"  {spec.aliases}"]
    shown = [f for f in spec.flags if not f.hidden]
    if shown:
        lines += ["", "Options:"]
        heads: list[tuple[str, Flag]] = []
        for f in shown:
            head = f"  -{f.short}, --{f.long}" if f.short else f"      --{f.long}"
            if f.kind != "bool":
                head += " " + (f.typename or ("int" if f.kind == "int" else "string"))
            heads.append((head, f))
        width = max(len(h) for h, _ in heads) + 3
        columns = _help_columns()
        for head, f in heads:
            help_text = f.help
            if f.kind == "bool" and f.default is True:
                help_text += " (default true)"
            elif f.kind == "string" and f.default:
                help_text += f' (default "{f.default}")'
            elif f.kind == "int" and f.default:
                help_text += f" (default {f.default})"
            lines.append((head.ljust(width) + _wrap(width, columns, help_text)).rstrip())
    return "\n".join(lines) + "\n"


def _help_columns() -> int:
    import os

    try:
        return os.get_terminal_size(0).columns - 1
    except (OSError, ValueError):
        return 79


def _wrap(indent: int, width: int, text: str) -> str:
    """pflag's ``wrap``: ``text`` in lines of at most ``width`` columns, continuation
    lines indented by ``indent``; a short final word may overrun by a few columns."""
    room = width - indent
    pad = " " * indent
    out = ""
    if room < 24:  # too narrow: start the text on its own line, indented 16
        indent, pad = 16, " " * 16
        room = width - indent
        out = "\n" + pad
    if room < 24:
        return text.replace("\n", out)
    slop = 5
    room -= slop
    first, rest = _wrap_line(room, slop, text)
    out += first.replace("\n", "\n" + pad)
    while rest:
        line, rest = _wrap_line(room, slop, rest)
        out += "\n" + pad + line.replace("\n", "\n" + pad)
    return out


def _wrap_line(limit: int, slop: int, text: str) -> tuple[str, str]:
    """(the first line of ``text``, the rest), cut at the last blank before ``limit``."""
    if limit + slop > len(text):
        return text, ""
    cut = max(text.rfind(c, 0, limit) for c in " \t\n")
    if cut <= 0:
        return text, ""
    newline = text.rfind("\n", 0, limit)
    if 0 < newline < cut:
        return text[:newline], text[newline + 1:]
    return text[:cut], text[cut + 1:]
