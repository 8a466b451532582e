"""The text the classic builder records for each step: cache keys and history.

For every instruction that only changes the image config, Docker's classic
builder commits a layer-less image whose ``ContainerConfig.Cmd`` (part of
the cache key) is the stage's shell followed by a ``#(nop)`` comment; the
image history's ``created_by`` is that list joined with spaces::

    /bin/sh -c #(nop)  CMD ["sh"]          (comment as two list items)
    /bin/sh -c #(nop) WORKDIR /app          (WORKDIR, COPY, ADD: one item)
    /bin/sh -c #(nop) COPY file:<sha256> in /dst    (note the trailing space)

``commit_message`` gives the comment for an instruction *after* expansion
(``expand_instruction``), ``nop_cmd``/``nop_created_by`` wrap it. What the
builder must still supply itself:

- WORKDIR: the resolved directory (``normalize_workdir``), which is what
  Docker records, not the argument;
- COPY/ADD: the source hash, ``file:<sha256 of the file's tar header+data>``,
  ``dir:<...>`` or ``multi:<...>`` (Docker's context hashing), for
  ``copy_commit_message``;
- RUN: no comment; ``created_by`` is the command itself, prefixed with the
  build args in use (``prepend_build_args``);
- the current SHELL (``DEFAULT_SHELL`` unless a SHELL instruction ran).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ketch.build.dockerfile.errors import DockerfileError
from ketch.build.dockerfile.gocompat import (
    format_duration,
    format_list,
    join_path,
    quote,
    quote_list,
    quote_rune,
)
from ketch.build.dockerfile.instructions import (
    Add,
    Arg,
    Cmd,
    Copy,
    Entrypoint,
    Env,
    Expose,
    Healthcheck,
    Instruction,
    Label,
    Maintainer,
    Onbuild,
    Shell,
    StopSignal,
    User,
    Volume,
    Workdir,
)

#: The shell Linux images get when no SHELL instruction changed it.
DEFAULT_SHELL: tuple[str, ...] = ("/bin/sh", "-c")


def resolve_command(
    command: Sequence[str] | None, prepend_shell: bool, shell: Sequence[str] = DEFAULT_SHELL
) -> list[str] | None:
    """The argv Docker stores for RUN/CMD/ENTRYPOINT: the shell first for shell form.

    ``None`` stays None (``ENTRYPOINT []``); an empty shell-form command
    (``CMD`` with no argument) becomes the bare shell, as in Docker.
    """
    if command is None:
        return None
    if prepend_shell:
        return [*shell, *command]
    return list(command)


def normalize_workdir(current: str, requested: str) -> str:
    """The working directory after ``WORKDIR requested`` (Docker's normalizeWorkdir).

    A relative path is joined to the current directory and cleaned; an
    absolute one is kept as written.
    """
    if requested == "":
        raise DockerfileError("cannot normalize nothing")
    if not requested.startswith("/"):
        return join_path("/", current, requested)
    return requested


def healthcheck_text(instruction: Healthcheck, *, start_interval: bool = False) -> str:
    """``fmt``'s ``%q`` of Docker's HealthConfig, as in the HEALTHCHECK comment.

    ``start_interval`` includes the field Docker 25+ has (and 20.10 lacks).
    """
    fields = [
        quote_list(instruction.test),
        quote(format_duration(instruction.interval)),
        quote(format_duration(instruction.timeout)),
        quote(format_duration(instruction.start_period)),
    ]
    if start_interval:
        fields.append(quote(format_duration(instruction.start_interval)))
    fields.append(quote_rune(instruction.retries))
    return "&{" + " ".join(fields) + "}"


def commit_message(
    instruction: Instruction,
    *,
    shell: Sequence[str] = DEFAULT_SHELL,
    workdir: str | None = None,
    health_start_interval: bool = False,
) -> str | None:
    """The ``#(nop)`` comment Docker commits for a config-only instruction.

    ``instruction`` must already be expanded. ``shell`` is the stage's
    current shell (CMD and ENTRYPOINT record the resolved argv); ``workdir``
    is the resolved directory for WORKDIR (defaults to the argument).
    Docker applies a step before committing it, so a SHELL step's own
    ``#(nop)`` line already uses the new shell.
    Returns None for instructions that do not commit a comment (FROM, RUN,
    COPY, ADD: see ``copy_commit_message``).
    """
    ins = instruction
    if isinstance(ins, Env):
        return "ENV" + "".join(f" {p}" for p in ins.pairs)
    if isinstance(ins, Label):
        return "LABEL" + "".join(f" {p}" for p in ins.pairs)
    if isinstance(ins, Maintainer):
        return "MAINTAINER " + ins.maintainer
    if isinstance(ins, Onbuild):
        return "ONBUILD " + ins.expression
    if isinstance(ins, Workdir):
        return "WORKDIR " + (workdir if workdir is not None else ins.path)
    if isinstance(ins, Cmd):
        return "CMD " + quote_list(resolve_command(ins.command, ins.prepend_shell, shell))
    if isinstance(ins, Entrypoint):
        return "ENTRYPOINT " + quote_list(resolve_command(ins.command, ins.prepend_shell, shell))
    if isinstance(ins, Healthcheck):
        return "HEALTHCHECK " + healthcheck_text(ins, start_interval=health_start_interval)
    if isinstance(ins, Expose):
        return "EXPOSE " + " ".join(ins.ports)
    if isinstance(ins, User):
        return "USER " + ins.user
    if isinstance(ins, Volume):
        return "VOLUME " + format_list(ins.volumes)
    if isinstance(ins, StopSignal):
        return "STOPSIGNAL " + ins.signal
    if isinstance(ins, Arg):
        return "ARG " + " ".join(str(a) for a in ins.args)
    if isinstance(ins, Shell):
        return "SHELL " + format_list(ins.shell)
    return None


def copy_commit_message(keyword: str, source_hash: str, dest: str, chown: str = "") -> str:
    """The comment of a COPY/ADD step, Docker's quirks included.

    Docker writes ``--chown=`` and the hash with no space between them and
    leaves a trailing space: ``COPY --chown=1:1file:abc in /dst ``.
    """
    chown_text = f"--chown={chown}" if chown else ""
    return f"{keyword} {chown_text}{source_hash} in {dest} "


def single_item_comment(instruction: Instruction) -> bool:
    """Whether Docker stores the comment as one Cmd item (WORKDIR, COPY, ADD)."""
    return isinstance(instruction, (Workdir, Copy, Add))


def nop_cmd(shell: Sequence[str], message: str, *, single_item: bool = False) -> list[str]:
    """The ``ContainerConfig.Cmd`` of a config-only step (its cache key)."""
    if single_item:
        return [*shell, "#(nop) " + message]
    return [*shell, "#(nop) ", message]


def nop_created_by(shell: Sequence[str], message: str, *, single_item: bool = False) -> str:
    """The history ``created_by`` of a config-only step."""
    return " ".join(nop_cmd(shell, message, single_item=single_item))


def prepend_build_args(command: Sequence[str], build_args: Mapping[str, str]) -> list[str]:
    """RUN's recorded Cmd when build args are in use: ``|N k=v ... cmd``.

    ``build_args`` are those Docker counts (declared and either referenced
    or not one of the built-in proxy args); they are sorted as Docker does.
    """
    if not build_args:
        return list(command)
    pairs = sorted(f"{k}={v}" for k, v in build_args.items())
    return [f"|{len(pairs)}", *pairs, *command]
