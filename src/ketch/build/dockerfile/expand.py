"""Variable expansion of instructions, applied where Docker applies it.

The classic builder expands, just before running an instruction, with the
stage's environment (the image's ``Env`` plus the build args in scope):

- ENV and LABEL (keys and values), ARG (names and defaults), WORKDIR,
  USER, VOLUME, STOPSIGNAL: each word with ``process_word``;
- ADD and COPY: the sources, the destination, ``--chown`` (and ``--chmod``
  and ADD's ``--checksum``, as Docker 23+ does), but not ``--from``
  (``expand_copy_from=True`` expands it too, as BuildKit does);
- EXPOSE: each port with ``process_words``, so ``EXPOSE $PORTS`` with
  ``PORTS="80 443"`` gives two ports;
- FROM: the image and ``--platform``, with the meta args only (see
  ``expand_from``).

RUN, CMD, ENTRYPOINT, SHELL, HEALTHCHECK, ONBUILD and MAINTAINER are never
expanded (the shell sees ``$VAR`` itself). Labels that come from ``docker
build --label`` are not Dockerfile instructions and are not expanded either.

Heredoc sources of COPY/ADD whose delimiter was not quoted are expanded
(with quotes left alone) when ``heredoc_content`` is true, as BuildKit
does; Docker's classic builder ignores heredoc sources altogether.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import TypeVar, cast

from ketch.build.dockerfile.errors import DockerfileError
from ketch.build.dockerfile.instructions import (
    Add,
    Arg,
    ArgDef,
    Copy,
    Env,
    Expose,
    From,
    Instruction,
    KeyValue,
    Label,
    SourceContent,
    StopSignal,
    User,
    Volume,
    Workdir,
)
from ketch.build.dockerfile.lexer import ShellLex

InstructionT = TypeVar("InstructionT", bound=Instruction)
_Word = Callable[[str], str]


def expand_instruction(
    instruction: InstructionT,
    env: Mapping[str, str],
    *,
    escape_token: str = "\\",
    expand_copy_from: bool = False,
    heredoc_content: bool = False,
) -> InstructionT:
    """A copy of ``instruction`` with variables expanded as Docker does.

    Instructions Docker does not expand come back unchanged. A FROM is
    expanded with ``env`` taken as the meta args (``expand_from``).
    Errors are ``DockerfileError`` with Docker's ``failed to process`` text.
    """
    if isinstance(instruction, From):
        return cast(InstructionT, expand_from(instruction, env, escape_token=escape_token))
    lex = ShellLex(escape_token)

    def word(text: str) -> str:
        return lex.process_word(text, env)

    try:
        result = _expand(instruction, word, lex, env, expand_copy_from, heredoc_content)
    except DockerfileError as e:
        raise DockerfileError(e.message, line=instruction.line) from None
    return cast(InstructionT, result)


def _expand(
    ins: Instruction,
    word: _Word,
    lex: ShellLex,
    env: Mapping[str, str],
    expand_copy_from: bool,
    heredoc_content: bool,
) -> Instruction:
    replace = dataclasses.replace
    if isinstance(ins, Env):
        return replace(ins, pairs=tuple(KeyValue(word(p.key), word(p.value)) for p in ins.pairs))
    if isinstance(ins, Label):
        return replace(ins, pairs=tuple(KeyValue(word(p.key), word(p.value)) for p in ins.pairs))
    if isinstance(ins, Arg):
        return replace(
            ins,
            args=tuple(
                ArgDef(word(a.key), None if a.value is None else word(a.value)) for a in ins.args
            ),
        )
    if isinstance(ins, Workdir):
        return replace(ins, path=word(ins.path))
    if isinstance(ins, User):
        return replace(ins, user=word(ins.user))
    if isinstance(ins, StopSignal):
        return replace(ins, signal=word(ins.signal))
    if isinstance(ins, Volume):
        return replace(ins, volumes=tuple(word(v) for v in ins.volumes))
    if isinstance(ins, Expose):
        ports: list[str] = []
        for port in ins.ports:
            ports += lex.process_words(port, env)
        return replace(ins, ports=tuple(ports))
    if isinstance(ins, Copy):
        return replace(
            ins,
            chown=word(ins.chown),
            chmod=word(ins.chmod),
            sources=tuple(word(s) for s in ins.sources),
            dest=word(ins.dest),
            from_stage=word(ins.from_stage) if expand_copy_from else ins.from_stage,
            contents=_contents(ins.contents, env) if heredoc_content else ins.contents,
        )
    if isinstance(ins, Add):
        return replace(
            ins,
            chown=word(ins.chown),
            chmod=word(ins.chmod),
            checksum=word(ins.checksum),
            sources=tuple(word(s) for s in ins.sources),
            dest=word(ins.dest),
            contents=_contents(ins.contents, env) if heredoc_content else ins.contents,
        )
    return ins


def _contents(
    contents: tuple[SourceContent, ...], env: Mapping[str, str]
) -> tuple[SourceContent, ...]:
    lex = ShellLex("\\", skip_process_quotes=True)
    return tuple(
        dataclasses.replace(c, data=lex.process_word(c.data, env)) if c.expand else c
        for c in contents
    )


def expand_from(
    instruction: From, meta_env: Mapping[str, str], *, escape_token: str = "\\"
) -> From:
    """FROM's image and platform expanded with the meta args, as the classic builder does.

    An image that expands to nothing is Docker's ``base name (...) should
    not be blank`` error.
    """
    lex = ShellLex(escape_token)
    platform = instruction.platform
    if platform:
        try:
            platform = lex.process_word(platform, meta_env)
        except DockerfileError as e:
            # Docker wraps with the (failed, hence empty) expansion result.
            raise DockerfileError(
                f"failed to process arguments for platform : {e.message}", line=instruction.line
            ) from None
    try:
        image = lex.process_word(instruction.image, meta_env)
    except DockerfileError as e:
        raise DockerfileError(e.message, line=instruction.line) from None
    if image == "":
        raise DockerfileError(
            f"base name ({instruction.image}) should not be blank", line=instruction.line
        )
    return dataclasses.replace(instruction, image=image, platform=platform)
