"""A parsed Dockerfile as build stages, and the stage bookkeeping builds need.

``parse_dockerfile`` runs both of Docker's parsing passes and groups the
instructions: ARGs before the first FROM are the *meta args* (usable in
FROM lines), every FROM starts a stage. It raises ``DockerfileError`` with
Docker 20.10's wording.

Two ways to pick the stages for ``--target``:

- ``Dockerfile.stages_for_target``: what Docker's classic builder does,
  every stage up to and including the target, in order;
- ``needed_stages``: only the stages the target depends on (``FROM
  <stage>`` and ``COPY --from=<stage name or index>``), in order, as
  BuildKit does.

Stage references are resolved the way the classic builder resolves them
while building: by name (case-insensitively) or, for ``COPY --from``, by
index, and only among *earlier* stages; anything else is an image
reference. A FROM line's image is expanded with the meta args first, which
the caller supplies (they include ``--build-arg`` overrides). The classic
builder does not expand ``COPY --from``; a caller that wants to (as
BuildKit does) passes ``copy_from``, a function giving the expanded text.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from ketch.build.dockerfile.errors import DockerfileError, instruction_failure
from ketch.build.dockerfile.gocompat import IntError, parse_int
from ketch.build.dockerfile.instructions import (
    DEFAULT_OPTIONS,
    Arg,
    Copy,
    From,
    Instruction,
    ParseOptions,
    parse_instruction,
)
from ketch.build.dockerfile.lexer import ShellLex
from ketch.build.dockerfile.parser import parse_lines


@dataclass(frozen=True)
class Stage:
    """One build stage: its FROM and the instructions after it."""

    index: int
    from_: From
    instructions: tuple[Instruction, ...]

    @property
    def name(self) -> str:
        """The ``AS`` name, lower case; empty when the stage has none."""
        return self.from_.stage_name

    @property
    def base_name(self) -> str:
        """The FROM image as written (before meta-arg expansion)."""
        return self.from_.image

    @property
    def platform(self) -> str:
        """FROM's ``--platform`` as written; empty when not given."""
        return self.from_.platform

    @property
    def line(self) -> int:
        return self.from_.line


@dataclass(frozen=True)
class Dockerfile:
    """A whole parsed Dockerfile."""

    stages: tuple[Stage, ...]
    meta_args: tuple[Arg, ...]
    escape_token: str = "\\"
    #: Parser directives found at the top (``syntax``, ``escape``, ``check``).
    directives: dict[str, str] = field(default_factory=dict)
    #: Docker's warning lines (empty continuation lines) for the build output.
    warnings: tuple[str, ...] = ()
    name: str = "Dockerfile"

    def stage(self, ref: str | int) -> Stage | None:
        """A stage by name (case-insensitive, first match) or index."""
        if isinstance(ref, int):
            return self.stages[ref] if 0 <= ref < len(self.stages) else None
        for stage in self.stages:
            if stage.name and stage.name == ref.lower():
                return stage
        return None

    def target_index(self, target: str) -> int:
        """Index of the ``--target`` stage, or Docker 20.10's error."""
        for stage in self.stages:
            if stage.name == target.lower():
                return stage.index
        raise DockerfileError(f"failed to reach build target {target} in Dockerfile")

    def stages_for_target(self, target: str | None = None) -> tuple[Stage, ...]:
        """The stages the classic builder builds: all of them up to the target."""
        if not target:
            return self.stages
        return self.stages[: self.target_index(target) + 1]

    def step_total(self, stages: tuple[Stage, ...] | None = None, extra: int = 0) -> int:
        """The ``m`` of ``Step n/m``: meta args, FROMs and instructions.

        ``extra`` is for the LABEL steps Docker appends for ``--label``.
        """
        chosen = self.stages if stages is None else stages
        return len(self.meta_args) + sum(1 + len(s.instructions) for s in chosen) + extra

    def check_stage_name(self, stage: Stage) -> None:
        """Docker's error for a stage reusing an earlier stage's name.

        The classic builder reports it only when it reaches that stage.
        """
        if stage.name and any(s.name == stage.name for s in self.stages[: stage.index]):
            raise DockerfileError(f"{stage.name} stage name already used", line=stage.line)


def parse_dockerfile(
    data: bytes | str,
    *,
    name: str = "Dockerfile",
    options: ParseOptions = DEFAULT_OPTIONS,
) -> Dockerfile:
    """Parse a Dockerfile into stages; ``name`` is used in error messages."""
    result = parse_lines(data, name=name, heredocs=options.heredocs)
    meta_args: list[Arg] = []
    stages: list[tuple[From, list[Instruction]]] = []
    for node in result.nodes:
        try:
            instruction = parse_instruction(node, options)
        except DockerfileError as e:
            raise instruction_failure(node.start_line, e.reason) from None
        if isinstance(instruction, From):
            stages.append((instruction, []))
        elif not stages and isinstance(instruction, Arg):
            meta_args.append(instruction)
        elif not stages:
            raise DockerfileError("no build stage in current context", line=node.start_line)
        else:
            stages[-1][1].append(instruction)
    return Dockerfile(
        stages=tuple(
            Stage(index=i, from_=frm, instructions=tuple(body))
            for i, (frm, body) in enumerate(stages)
        ),
        meta_args=tuple(meta_args),
        escape_token=result.escape_token,
        directives=result.directives,
        warnings=result.warnings,
        name=name,
    )


# -- stage references ---------------------------------------------------------------


def _by_name(dockerfile: Dockerfile, name: str, before: int) -> Stage | None:
    wanted = name.lower()
    for stage in dockerfile.stages[:before]:
        if stage.name and stage.name == wanted:
            return stage
    return None


def resolve_from(dockerfile: Dockerfile, stage: Stage, image: str) -> Stage | None:
    """The earlier stage a FROM's (expanded) image names, or None for an image."""
    return _by_name(dockerfile, image, stage.index)


def resolve_copy_from(dockerfile: Dockerfile, stage: Stage, ref: str) -> Stage | None:
    """The stage ``COPY --from=ref`` in ``stage`` reads, or None for an image.

    Raises Docker's ``invalid from flag value`` errors for an index that is
    the current stage or beyond it.
    """
    found = _by_name(dockerfile, ref, stage.index)
    if found is not None:
        return found
    try:
        index = parse_int(ref)
    except IntError:
        return None
    if index == stage.index:
        reason = "refers to current build stage"
    elif index < 0 or index > stage.index:
        reason = "index out of bounds"
    else:
        return dockerfile.stages[index]
    raise DockerfileError(f"invalid from flag value {ref}: {reason}")


def stage_dependencies(
    dockerfile: Dockerfile,
    stage: Stage,
    *,
    meta_env: Mapping[str, str] | None = None,
    copy_from: Callable[[Stage, Copy], str] | None = None,
) -> tuple[Stage, ...]:
    """The earlier stages ``stage`` uses directly, in stage order.

    ``meta_env`` expands the FROM image (without it the text is taken as
    written); ``copy_from`` gives the expanded ``--from`` of a COPY (the
    classic builder uses it as written).
    """
    image = stage.base_name
    if meta_env is not None:
        image = ShellLex(dockerfile.escape_token).process_word(image, meta_env)
    found: dict[int, Stage] = {}
    base = resolve_from(dockerfile, stage, image)
    if base is not None:
        found[base.index] = base
    for instruction in stage.instructions:
        if isinstance(instruction, Copy) and instruction.from_stage:
            ref = copy_from(stage, instruction) if copy_from else instruction.from_stage
            try:
                source = resolve_copy_from(dockerfile, stage, ref)
            except DockerfileError as e:
                raise DockerfileError(e.message, line=instruction.line) from None
            if source is not None:
                found[source.index] = source
    return tuple(found[i] for i in sorted(found))


def needed_stages(
    dockerfile: Dockerfile,
    target: str | None = None,
    *,
    meta_env: Mapping[str, str] | None = None,
    copy_from: Callable[[Stage, Copy], str] | None = None,
) -> tuple[Stage, ...]:
    """The target stage (default: the last) and every stage it depends on, in order."""
    if not dockerfile.stages:
        return ()
    last = dockerfile.target_index(target) if target else len(dockerfile.stages) - 1
    wanted = {last}
    pending = [dockerfile.stages[last]]
    while pending:
        stage = pending.pop()
        for dep in stage_dependencies(
            dockerfile, stage, meta_env=meta_env, copy_from=copy_from
        ):
            if dep.index not in wanted:
                wanted.add(dep.index)
                pending.append(dep)
    return tuple(dockerfile.stages[i] for i in sorted(wanted))
