"""Typed Dockerfile instructions, built from the line parser's nodes.

This is Docker's second parsing pass (BuildKit's ``instructions`` package):
it checks each instruction's arguments and flags and produces a frozen
dataclass per instruction. Error texts are Docker 20.10's; the caller
(``stages.parse_dockerfile``) adds Docker's ``dockerfile parse error line
N:`` prefix.

Which flags are accepted depends on ``ParseOptions``: by default what
Docker 28's classic builder parses (which includes flags it then refuses at
build time, see ``classic_rejection``); ``DOCKER_20_10`` restricts it to
exactly what Docker 20.10 parses.

Every instruction keeps ``line``/``end_line`` and ``original``: the joined
source line (continuations removed, surrounding blanks trimmed), which is
what Docker prints as ``Step n/m : <original>``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import ClassVar, TypedDict

from ketch.build.dockerfile.errors import DockerfileError
from ketch.build.dockerfile.gocompat import (
    MILLISECOND,
    DurationError,
    IntError,
    parse_duration,
    parse_int,
    quote,
    strip,
)
from ketch.build.dockerfile.parser import Heredoc, Node, parse_heredoc, parse_lines

_STAGE_NAME = re.compile(r"[a-z][a-z0-9\-_.]*\Z")
_ONBUILD_PREFIX = re.compile(r"^[\t\n\f\r ]*ONBUILD[\t\n\f\r ]*", re.IGNORECASE)
_BUILDKIT_HINT = (
    "requires BuildKit. Refer to https://docs.docker.com/go/buildkit/ to learn how to "
    "build images with BuildKit enabled"
)


@dataclass(frozen=True)
class ParseOptions:
    """Which Docker the parser imitates, where Docker versions disagree.

    ``heredocs``: parse ``<<EOF`` here-documents on RUN/COPY/ADD (Docker 23+).
    ``modern``: accept the flags Docker 28 parses and 20.10 does not
    (``COPY/ADD --link --exclude``, ``ADD --checksum --keep-git-dir
    --unpack``, ``RUN --network --device``, ``HEALTHCHECK
    --start-interval``) and its relaxed HEALTHCHECK limits (``--retries=0``
    and zero durations allowed). Error wording is 20.10's either way.
    """

    heredocs: bool = True
    modern: bool = True


#: Parse exactly as Docker 20.10's classic builder (the reference engine) does.
DOCKER_20_10 = ParseOptions(heredocs=False, modern=False)
DEFAULT_OPTIONS = ParseOptions()


@dataclass(frozen=True)
class KeyValue:
    key: str
    value: str

    def __str__(self) -> str:
        return f"{self.key}={self.value}"


@dataclass(frozen=True)
class ArgDef:
    """One ``ARG`` definition: ``value`` is None for a bare ``ARG name``."""

    key: str
    value: str | None = None

    def __str__(self) -> str:
        return self.key if self.value is None else f"{self.key}={self.value}"


@dataclass(frozen=True)
class SourceContent:
    """A COPY/ADD source given inline as a heredoc: a file named ``path``."""

    path: str
    data: str
    expand: bool


@dataclass(frozen=True, kw_only=True)
class Instruction:
    """Base of every instruction: where it is and how Docker prints it."""

    line: int
    end_line: int
    original: str
    #: The instruction's keyword, upper case (``COPY``).
    keyword: ClassVar[str] = ""

    def __str__(self) -> str:
        return self.original


@dataclass(frozen=True, kw_only=True)
class From(Instruction):
    """``FROM [--platform=p] image [AS name]``; ``image`` is unexpanded."""

    keyword: ClassVar[str] = "FROM"
    image: str
    stage_name: str = ""
    platform: str = ""


@dataclass(frozen=True, kw_only=True)
class Run(Instruction):
    """``RUN``: ``command`` is ``(text,)`` in shell form, the argv in exec form.

    ``heredocs`` are the here-documents the line opened; ``script`` gives
    the shell text BuildKit would run for them. ``flags_used`` lists the
    flags present (the classic builder refuses any, see ``classic_rejection``).
    """

    keyword: ClassVar[str] = "RUN"
    command: tuple[str, ...]
    prepend_shell: bool
    heredocs: tuple[Heredoc, ...] = ()
    mounts: tuple[str, ...] = ()
    network: str = ""
    devices: tuple[str, ...] = ()
    flags_used: tuple[str, ...] = ()

    @property
    def script(self) -> str | None:
        """The shell-form text with heredocs resolved the way BuildKit does.

        A command that is only a heredoc (``RUN <<EOF``) runs the heredoc's
        text; otherwise the heredocs are appended to the command line so
        the shell reads them itself. None for exec form. (BuildKit runs a
        lone heredoc starting with ``#!`` as a script file instead.)
        """
        if not self.prepend_shell or len(self.command) != 1:
            return None
        text = self.command[0]
        if not self.heredocs:
            return text
        if parse_heredoc(text) is not None:
            return self.heredocs[0].data
        return text + "".join("\n" + h.content + h.name for h in self.heredocs)


@dataclass(frozen=True, kw_only=True)
class Cmd(Instruction):
    """``CMD``: shell form is ``(text,)`` with ``prepend_shell``."""

    keyword: ClassVar[str] = "CMD"
    command: tuple[str, ...]
    prepend_shell: bool


@dataclass(frozen=True, kw_only=True)
class Entrypoint(Instruction):
    """``ENTRYPOINT``: ``command`` is None for ``ENTRYPOINT []`` or no argument,
    which resets the image's entrypoint (Docker stores a null)."""

    keyword: ClassVar[str] = "ENTRYPOINT"
    command: tuple[str, ...] | None
    prepend_shell: bool


@dataclass(frozen=True, kw_only=True)
class Env(Instruction):
    keyword: ClassVar[str] = "ENV"
    pairs: tuple[KeyValue, ...]


@dataclass(frozen=True, kw_only=True)
class Label(Instruction):
    keyword: ClassVar[str] = "LABEL"
    pairs: tuple[KeyValue, ...]


@dataclass(frozen=True, kw_only=True)
class Arg(Instruction):
    keyword: ClassVar[str] = "ARG"
    args: tuple[ArgDef, ...]


@dataclass(frozen=True, kw_only=True)
class Expose(Instruction):
    """``EXPOSE``: ports as written, sorted as Docker sorts them before expansion."""

    keyword: ClassVar[str] = "EXPOSE"
    ports: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class Workdir(Instruction):
    keyword: ClassVar[str] = "WORKDIR"
    path: str


@dataclass(frozen=True, kw_only=True)
class User(Instruction):
    keyword: ClassVar[str] = "USER"
    user: str


@dataclass(frozen=True, kw_only=True)
class Volume(Instruction):
    keyword: ClassVar[str] = "VOLUME"
    volumes: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class Copy(Instruction):
    """``COPY``: ``sources`` are paths; heredoc sources are in ``contents``."""

    keyword: ClassVar[str] = "COPY"
    sources: tuple[str, ...]
    dest: str
    contents: tuple[SourceContent, ...] = ()
    from_stage: str = ""
    chown: str = ""
    chmod: str = ""
    link: bool = False
    excludes: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class Add(Instruction):
    """``ADD``: like COPY, plus URLs and archive extraction (the builder's job)."""

    keyword: ClassVar[str] = "ADD"
    sources: tuple[str, ...]
    dest: str
    contents: tuple[SourceContent, ...] = ()
    chown: str = ""
    chmod: str = ""
    link: bool = False
    checksum: str = ""
    keep_git_dir: bool | None = None
    unpack: bool | None = None
    excludes: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class Shell(Instruction):
    keyword: ClassVar[str] = "SHELL"
    shell: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class StopSignal(Instruction):
    keyword: ClassVar[str] = "STOPSIGNAL"
    signal: str


@dataclass(frozen=True, kw_only=True)
class Healthcheck(Instruction):
    """``HEALTHCHECK``: ``test`` is Docker's form (``("NONE",)``,
    ``("CMD", argv...)`` or ``("CMD-SHELL", text)``); durations in ns, 0 = unset."""

    keyword: ClassVar[str] = "HEALTHCHECK"
    test: tuple[str, ...]
    interval: int = 0
    timeout: int = 0
    start_period: int = 0
    start_interval: int = 0
    retries: int = 0

    @property
    def disabled(self) -> bool:
        return self.test == ("NONE",)


@dataclass(frozen=True, kw_only=True)
class Onbuild(Instruction):
    """``ONBUILD``: ``expression`` is the trigger text Docker stores in the image.

    ``trigger`` is that text parsed (as a child build will parse it), or
    None when it would fail there (Docker accepts, e.g., an unknown
    instruction here and fails only in the child build).
    """

    keyword: ClassVar[str] = "ONBUILD"
    expression: str
    trigger: Instruction | None = field(default=None, compare=False)


@dataclass(frozen=True, kw_only=True)
class Maintainer(Instruction):
    keyword: ClassVar[str] = "MAINTAINER"
    maintainer: str


# -- flags -----------------------------------------------------------------------


class _Flags:
    """Docker's instruction flags (``BFlags``): declared, then parsed at once."""

    def __init__(self, args: tuple[str, ...]) -> None:
        self.args = args
        self.kinds: dict[str, str] = {}
        self.values: dict[str, str] = {}
        self.lists: dict[str, list[str]] = {}
        self.used: list[str] = []

    def add_string(self, name: str, default: str = "") -> None:
        self.kinds[name] = "string"
        self.values[name] = default

    def add_bool(self, name: str) -> None:
        self.kinds[name] = "bool"
        self.values[name] = "false"

    def add_strings(self, name: str) -> None:
        self.kinds[name] = "strings"
        self.lists[name] = []

    def parse(self) -> None:
        for arg in self.args:
            if not arg.startswith("--"):
                raise DockerfileError(f"Arg should start with -- : {arg}")
            if arg == "--":
                return
            name, has_value, value = arg[2:].partition("=")
            kind = self.kinds.get(name)
            if kind is None:
                raise DockerfileError(f"Unknown flag: {name}")
            if name in self.used and kind != "strings":
                raise DockerfileError(f"Duplicate flag specified: {name}")
            if name not in self.used:
                self.used.append(name)
            if kind == "bool":
                if has_value and value == "":
                    raise DockerfileError(f"Missing a value on flag: {name}")
                lower = value.lower()
                if lower in ("", "true", "false"):
                    self.values[name] = lower or "true"
                else:
                    raise DockerfileError(
                        f"Expecting boolean value for flag {name}, not: {value}"
                    )
            elif not has_value:
                raise DockerfileError(f"Missing a value on flag: {name}")
            elif kind == "string":
                self.values[name] = value
            else:
                self.lists[name].append(value)

    def string(self, name: str) -> str:
        return self.values[name]

    def strings(self, name: str) -> tuple[str, ...]:
        return tuple(self.lists.get(name, ()))

    def boolean(self, name: str) -> bool:
        return self.values.get(name) == "true"

    def optional_bool(self, name: str) -> bool | None:
        return self.boolean(name) if name in self.used else None


# -- the per-instruction parsers ---------------------------------------------------


def _at_least_one(keyword: str) -> DockerfileError:
    return DockerfileError(f"{keyword} requires at least one argument")


def _exactly_one(keyword: str) -> DockerfileError:
    return DockerfileError(f"{keyword} requires exactly one argument")


def _no_destination(keyword: str) -> DockerfileError:
    return DockerfileError(
        f"{keyword} requires at least two arguments, but only one was provided. "
        "Destination could not be determined"
    )


class _Base(TypedDict):
    line: int
    end_line: int
    original: str


def _base(node: Node) -> _Base:
    return {"line": node.start_line, "end_line": node.end_line, "original": strip(node.original)}


def _key_values(args: tuple[str, ...], keyword: str) -> tuple[KeyValue, ...]:
    if not args:
        raise _at_least_one(keyword)
    if len(args) % 2:
        raise DockerfileError(f"Bad input to {keyword}, too many arguments")
    pairs = []
    for i in range(0, len(args), 2):
        if args[i] == "":
            raise DockerfileError(f"{keyword} names can not be blank")
        pairs.append(KeyValue(args[i], args[i + 1]))
    return tuple(pairs)


def _command_line(node: Node) -> tuple[str, ...]:
    """Docker's handleJSONArgs: exec form as is, shell form joined into one string."""
    if not node.args:
        return ()
    if node.json:
        return node.args
    return (" ".join(node.args),)


def _sources_and_dest(
    node: Node, keyword: str, options: ParseOptions
) -> tuple[tuple[str, ...], str, tuple[SourceContent, ...]]:
    sources, dest = node.args[:-1], node.args[-1]
    if not options.heredocs:
        return sources, dest, ()
    if parse_heredoc(dest) is not None:
        raise DockerfileError(f"{keyword} cannot accept a heredoc as a destination")
    by_name = {doc.name: doc for doc in node.heredocs}
    paths: list[str] = []
    contents: list[SourceContent] = []
    for src in sources:
        doc = parse_heredoc(src)
        if doc is None:
            paths.append(src)
            continue
        found = by_name.get(doc.name)
        content = found.content if found is not None else ""
        data = Heredoc(doc.name, content, chomp=doc.chomp).data
        contents.append(SourceContent(doc.name, data, doc.expand))
    return tuple(paths), dest, tuple(contents)


def _parse_from(node: Node, options: ParseOptions) -> From:
    args = node.args
    stage_name = ""
    if len(args) == 3 and args[1].lower() == "as":
        stage_name = args[2].lower()
        if not _STAGE_NAME.match(stage_name):
            raise DockerfileError(
                f"invalid name for build stage: {quote(args[2])}, name can't start with a number "
                "or contain symbols"
            )
    elif len(args) != 1:
        raise DockerfileError("FROM requires either one or three arguments")
    flags = _Flags(node.flags)
    flags.add_string("platform")
    flags.parse()
    return From(**_base(node), image=args[0], stage_name=stage_name,
                platform=flags.string("platform"))


def _parse_copy(node: Node, options: ParseOptions) -> Copy:
    if len(node.args) < 2:
        raise _no_destination("COPY")
    flags = _Flags(node.flags)
    flags.add_string("chown")
    flags.add_string("from")
    flags.add_string("chmod")
    if options.modern:
        flags.add_bool("link")
        flags.add_strings("exclude")
    flags.parse()
    sources, dest, contents = _sources_and_dest(node, "COPY", options)
    return Copy(
        **_base(node),
        sources=sources, dest=dest, contents=contents,
        from_stage=flags.string("from"), chown=flags.string("chown"),
        chmod=flags.string("chmod"), link=flags.boolean("link"),
        excludes=flags.strings("exclude"),
    )


def _parse_add(node: Node, options: ParseOptions) -> Add:
    if len(node.args) < 2:
        raise _no_destination("ADD")
    flags = _Flags(node.flags)
    flags.add_string("chown")
    flags.add_string("chmod")
    if options.modern:
        flags.add_bool("link")
        flags.add_bool("keep-git-dir")
        flags.add_string("checksum")
        flags.add_bool("unpack")
        flags.add_strings("exclude")
    flags.parse()
    sources, dest, contents = _sources_and_dest(node, "ADD", options)
    return Add(
        **_base(node),
        sources=sources, dest=dest, contents=contents,
        chown=flags.string("chown"), chmod=flags.string("chmod"),
        link=flags.boolean("link"), checksum=flags.values.get("checksum", ""),
        keep_git_dir=flags.optional_bool("keep-git-dir"),
        unpack=flags.optional_bool("unpack"), excludes=flags.strings("exclude"),
    )


def _parse_run(node: Node, options: ParseOptions) -> Run:
    flags = _Flags(node.flags)
    flags.add_strings("mount")
    if options.modern:
        flags.add_string("network", "default")
        flags.add_strings("device")
    flags.parse()
    network = flags.values.get("network", "")
    if options.modern and network not in ("default", "none", "host"):
        raise DockerfileError(f"invalid network mode {quote(network)}")
    return Run(
        **_base(node),
        command=_command_line(node), prepend_shell=not node.json,
        heredocs=node.heredocs, mounts=flags.strings("mount"),
        network=network if "network" in flags.used else "",
        devices=flags.strings("device"), flags_used=tuple(flags.used),
    )


def _duration(flags: _Flags, name: str, options: ParseOptions) -> int:
    text = flags.string(name)
    if text == "":
        return 0
    try:
        value = parse_duration(text)
    except DurationError as e:
        raise DockerfileError(str(e)) from None
    if value == 0 and options.modern:
        return 0
    if value < MILLISECOND:
        raise DockerfileError(f'Interval "{name}" cannot be less than 1ms')
    return value


def _parse_healthcheck(node: Node, options: ParseOptions) -> Healthcheck:
    if not node.args:
        raise _at_least_one("HEALTHCHECK")
    kind = node.args[0].upper()
    rest = node.args[1:]
    if kind == "NONE":
        if rest:
            raise DockerfileError("HEALTHCHECK NONE takes no arguments")
        return Healthcheck(**_base(node), test=("NONE",))
    flags = _Flags(node.flags)
    for name in ("interval", "timeout", "start-period"):
        flags.add_string(name)
    if options.modern:
        flags.add_string("start-interval")
    flags.add_string("retries")
    flags.parse()
    if kind != "CMD":
        raise DockerfileError(f"Unknown type {quote(kind)} in HEALTHCHECK (try CMD)")
    command = rest if node.json else ((" ".join(rest),) if rest else ())
    if not command:
        raise DockerfileError("Missing command after HEALTHCHECK CMD")
    test = ("CMD" if node.json else "CMD-SHELL", *command)
    interval = _duration(flags, "interval", options)
    timeout = _duration(flags, "timeout", options)
    start_period = _duration(flags, "start-period", options)
    start_interval = _duration(flags, "start-interval", options) if options.modern else 0
    retries = 0
    if flags.string("retries") != "":
        try:
            retries = parse_int(flags.string("retries"), 32)
        except IntError as e:
            raise DockerfileError(str(e)) from None
        if options.modern and retries < 0:
            raise DockerfileError(f"--retries cannot be negative ({retries})")
        if not options.modern and retries < 1:
            raise DockerfileError(f"--retries must be at least 1 (not {retries})")
    return Healthcheck(
        **_base(node),
        test=test, interval=interval, timeout=timeout, start_period=start_period,
        start_interval=start_interval, retries=retries,
    )


def _parse_onbuild(node: Node, options: ParseOptions) -> Onbuild:
    if not node.args:
        raise _at_least_one("ONBUILD")
    _Flags(node.flags).parse()
    trigger = strip(node.args[0]).upper()
    if trigger == "ONBUILD":
        raise DockerfileError("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed")
    if trigger in ("MAINTAINER", "FROM"):
        raise DockerfileError(f"{trigger} isn't allowed as an ONBUILD trigger")
    expression = _ONBUILD_PREFIX.sub("", node.original, count=1)
    for doc in node.heredocs:
        expression += "\n" + doc.content + doc.name
    try:
        parsed: Instruction | None = parse_onbuild_trigger(expression, options)
    except DockerfileError:
        parsed = None
    return Onbuild(**_base(node), expression=expression, trigger=parsed)


def _parse_simple(node: Node, options: ParseOptions) -> Instruction:
    """The instructions whose parsing is a count check and a flags check."""
    kw = node.keyword
    base = _base(node)
    args = node.args
    if kw == "env":
        flags = _Flags(node.flags)
        flags.parse()
        return Env(**base, pairs=_key_values(args, "ENV"))
    if kw == "label":
        _Flags(node.flags).parse()
        return Label(**base, pairs=_key_values(args, "LABEL"))
    if kw == "maintainer":
        if len(args) != 1:
            raise _exactly_one("MAINTAINER")
        _Flags(node.flags).parse()
        return Maintainer(**base, maintainer=args[0])
    if kw == "workdir":
        if len(args) != 1:
            raise _exactly_one("WORKDIR")
        _Flags(node.flags).parse()
        return Workdir(**base, path=args[0])
    if kw == "user":
        if len(args) != 1:
            raise _exactly_one("USER")
        _Flags(node.flags).parse()
        return User(**base, user=args[0])
    if kw == "stopsignal":
        # Docker does not check STOPSIGNAL's flags at all.
        if len(args) != 1:
            raise _exactly_one("STOPSIGNAL")
        return StopSignal(**base, signal=args[0])
    if kw == "expose":
        if not args:
            raise _at_least_one("EXPOSE")
        _Flags(node.flags).parse()
        return Expose(**base, ports=tuple(sorted(args)))
    if kw == "volume":
        if not args:
            raise _at_least_one("VOLUME")
        _Flags(node.flags).parse()
        volumes = []
        for v in args:
            v = strip(v)
            if v == "":
                raise DockerfileError("VOLUME specified can not be an empty string")
            volumes.append(v)
        return Volume(**base, volumes=tuple(volumes))
    if kw == "cmd":
        _Flags(node.flags).parse()
        return Cmd(**base, command=_command_line(node),
                   prepend_shell=not node.json)
    if kw == "entrypoint":
        _Flags(node.flags).parse()
        command = _command_line(node)
        return Entrypoint(**base, command=command or None,
                          prepend_shell=not node.json)
    if kw == "shell":
        _Flags(node.flags).parse()
        shell = _command_line(node)
        if not shell:
            raise _at_least_one("SHELL")
        if not node.json:
            raise DockerfileError("SHELL requires the arguments to be in JSON form")
        return Shell(**base, shell=shell)
    if kw == "arg":
        # Docker does not check ARG's flags either.
        if not args:
            raise _at_least_one("ARG")
        defs = []
        for arg in args:
            if "=" in arg:
                key, _, value = arg.partition("=")
                if key == "":
                    raise DockerfileError("ARG names can not be blank")
                defs.append(ArgDef(key, value))
            else:
                defs.append(ArgDef(arg))
        return Arg(**base, args=tuple(defs))
    raise DockerfileError(f"unknown instruction: {kw.upper()}")


_PARSERS = {
    "from": _parse_from,
    "copy": _parse_copy,
    "add": _parse_add,
    "run": _parse_run,
    "healthcheck": _parse_healthcheck,
    "onbuild": _parse_onbuild,
}


def parse_instruction(node: Node, options: ParseOptions = DEFAULT_OPTIONS) -> Instruction:
    """The typed instruction for a node; errors carry Docker's bare reason."""
    parser = _PARSERS.get(node.keyword, _parse_simple)
    try:
        return parser(node, options)
    except DockerfileError as e:
        raise e.with_line(node.start_line) from None


def parse_onbuild_trigger(expression: str, options: ParseOptions = DEFAULT_OPTIONS) -> Instruction:
    """Parse an ONBUILD trigger the way a child build does when it runs it.

    Docker parses the stored text as a one-line Dockerfile with default
    directives (escape ``\\``), and reports errors without any prefix.
    """
    try:
        result = parse_lines(expression, heredocs=options.heredocs)
    except DockerfileError as e:
        raise DockerfileError(e.reason) from None
    if len(result.nodes) != 1:
        raise DockerfileError("onbuild trigger should be a single expression")
    instruction = parse_instruction(result.nodes[0], options)
    if isinstance(instruction, From):
        raise DockerfileError("*instructions.Stage is not a command type")
    return instruction


def classic_rejection(instruction: Instruction) -> str | None:
    """The error Docker's classic builder gives when it reaches an instruction
    it parses but cannot run (RUN flags, ``--chmod``), else None."""
    if isinstance(instruction, Run) and instruction.flags_used:
        return f"the --{instruction.flags_used[0]} option {_BUILDKIT_HINT}"
    if isinstance(instruction, (Copy, Add)) and instruction.chmod:
        return f"the --chmod option {_BUILDKIT_HINT}"
    return None
