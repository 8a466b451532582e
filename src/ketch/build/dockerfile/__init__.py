"""Dockerfile parsing for ketch's builder, faithful to Docker's classic builder.

Modules, one job each:

- ``parser``: Docker's line parser (directives, comments, continuations,
  heredocs, flags, argument shapes) producing ``Node``s;
- ``instructions``: Docker's instruction parser, producing frozen
  dataclasses (``From``, ``Run``, ``Copy``, ...);
- ``stages``: ``parse_dockerfile`` (both passes, grouped into stages),
  ``--target`` selection and stage dependencies;
- ``lexer``: Docker's variable expansion and word splitting;
- ``expand``: which instruction fields are expanded, and how;
- ``history``: the ``#(nop)`` comments and ``created_by`` texts;
- ``gocompat``: the Go formatting and parsing Docker's texts depend on;
- ``errors``: ``DockerfileError``.

Error messages are those of Docker 20.10's classic builder (the reference
engine); see ``instructions.ParseOptions`` for the Docker 28 behaviours.
"""

from ketch.build.dockerfile.errors import DockerfileError
from ketch.build.dockerfile.expand import expand_from, expand_instruction
from ketch.build.dockerfile.history import (
    DEFAULT_SHELL,
    commit_message,
    copy_commit_message,
    healthcheck_text,
    nop_cmd,
    nop_created_by,
    normalize_workdir,
    prepend_build_args,
    resolve_command,
    single_item_comment,
)
from ketch.build.dockerfile.instructions import (
    DEFAULT_OPTIONS,
    DOCKER_20_10,
    Add,
    Arg,
    ArgDef,
    Cmd,
    Copy,
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
    parse_onbuild_trigger,
)
from ketch.build.dockerfile.lexer import ShellLex, env_from_list, process_word, process_words
from ketch.build.dockerfile.parser import (
    MAX_DOCKERFILE_SIZE,
    MAX_LINE_LENGTH,
    Heredoc,
    Node,
    ParseResult,
    parse_lines,
)
from ketch.build.dockerfile.stages import (
    Dockerfile,
    Stage,
    needed_stages,
    parse_dockerfile,
    resolve_copy_from,
    resolve_from,
    stage_dependencies,
)

__all__ = [
    "DEFAULT_OPTIONS",
    "DEFAULT_SHELL",
    "DOCKER_20_10",
    "MAX_DOCKERFILE_SIZE",
    "MAX_LINE_LENGTH",
    "Add",
    "Arg",
    "ArgDef",
    "Cmd",
    "Copy",
    "Dockerfile",
    "DockerfileError",
    "Entrypoint",
    "Env",
    "Expose",
    "From",
    "Healthcheck",
    "Heredoc",
    "Instruction",
    "KeyValue",
    "Label",
    "Maintainer",
    "Node",
    "Onbuild",
    "ParseOptions",
    "ParseResult",
    "Run",
    "Shell",
    "ShellLex",
    "SourceContent",
    "Stage",
    "StopSignal",
    "User",
    "Volume",
    "Workdir",
    "classic_rejection",
    "commit_message",
    "copy_commit_message",
    "env_from_list",
    "expand_from",
    "expand_instruction",
    "healthcheck_text",
    "needed_stages",
    "nop_cmd",
    "nop_created_by",
    "normalize_workdir",
    "parse_dockerfile",
    "parse_lines",
    "parse_onbuild_trigger",
    "prepend_build_args",
    "process_word",
    "process_words",
    "resolve_command",
    "resolve_copy_from",
    "resolve_from",
    "single_item_comment",
    "stage_dependencies",
]
