"""The parser's messages and texts against the real thing: Docker 20.10's classic builder.

Each bad Dockerfile is built with the real docker CLI (``DOCKER_BUILDKIT=0``)
on the reference dockerd; what the CLI prints must be the message our
parser (in ``DOCKER_20_10`` mode) produces. The bad files fail before any
image is needed. One good Dockerfile (``FROM scratch`` and config-only
instructions) checks the ``Step n/m`` lines and the history texts.
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest
from support.dockercli import docker
from support.engines import Engine

from ketch.build.dockerfile import (
    DEFAULT_SHELL,
    DOCKER_20_10,
    Copy,
    DockerfileError,
    Env,
    Shell,
    Workdir,
    classic_rejection,
    commit_message,
    expand_from,
    expand_instruction,
    nop_created_by,
    normalize_workdir,
    parse_dockerfile,
    resolve_copy_from,
    single_item_comment,
)

pytestmark = pytest.mark.refdocker

BAD = {
    "unknown-instruction": "FROM scratch\nFOO bar\n",
    "from-no-args": "\nFROM\n",
    "from-two-args": "FROM a b\n",
    "stage-name": "FROM scratch AS 1x\n",
    "env-old-form": "FROM scratch\nENV x\n",
    "env-missing-equals": "FROM scratch\nENV a=1 x\n",
    "env-blank-name": "FROM scratch\nENV =x\n",
    "arg-blank-name": "FROM scratch\nARG =x\n",
    "empty": "",
    "comments-only": "# nothing here\n\n",
    "no-stage": "ARG a\nRUN x\n",
    "bad-escape": "# escape=x\nFROM scratch\n",
    "two-escapes": "# escape=`\n# escape=`\nFROM scratch\n",
    "backtick-continuation": "# escape=`\nFROM scratch\nENV a=1 `\n  b\n",
    "continuation-with-comments": "FROM scratch\nRUN a \\\n# note\n\n  b\nWHAT \\\n  ever\n",
    "unknown-flag": "FROM scratch\nCOPY --foo a b\n",
    "flag-without-value": "FROM scratch\nCOPY --chown a b\n",
    "duplicate-flag": "FROM scratch\nCOPY --from=a --from=b x y\n",
    "link-is-new": "FROM scratch\nCOPY --link a b\n",
    "json-not-strings": "FROM scratch\nCMD [1]\n",
    "shell-not-json": "FROM scratch\nSHELL sh -c\n",
    "copy-one-arg": "FROM scratch\nCOPY a\n",
    "healthcheck-retries": "FROM scratch\nHEALTHCHECK --retries=0 CMD x\n",
    "healthcheck-duration": "FROM scratch\nHEALTHCHECK --interval=1y CMD x\n",
    "healthcheck-type": "FROM scratch\nHEALTHCHECK FOO x\n",
    "onbuild-onbuild": "FROM scratch\nONBUILD ONBUILD RUN x\n",
    "onbuild-from": "FROM scratch\nONBUILD FROM x\n",
    "volume-empty": 'FROM scratch\nVOLUME [""]\n',
    "heredoc-unknown-to-20.10": "FROM scratch\nRUN <<EOF\necho hi\nEOF\n",
    # failures of the build steps themselves (expansion, refused flags)
    "run-mount": "FROM scratch\nRUN --mount=type=cache,target=/c make\n",
    "chmod": "FROM scratch\nCOPY --chmod=600 a /b\n",
    "expand-missing-brace": "FROM scratch\nENV a=${b:-x\n",
    "expand-bad-substitution": "FROM scratch\nLABEL a=${}\n",
    "expand-unset-required": "FROM scratch\nUSER ${NAME?need a name}\n",
    "meta-arg-expansion": 'ARG P="${"\nFROM scratch\n',
    "blank-base-name": "ARG X\nFROM $X\n",
    "workdir-nothing": "FROM scratch\nWORKDIR $NOTHING\n",
    "copy-from-current": "FROM scratch\nCOPY --from=0 a b\n",
}


def our_failure(text: str) -> str:
    """What our parser says about ``text``, walking it like the classic builder."""
    try:
        df = parse_dockerfile(text, options=DOCKER_20_10)
    except DockerfileError as e:
        return "Error response from daemon: " + e.message
    try:
        meta: dict[str, str] = {}
        for arg in df.meta_args:
            for a in expand_instruction(arg, meta).args:
                meta[a.key] = a.value or ""
        for stage in df.stages:
            df.check_stage_name(stage)
            expand_from(stage.from_, {k: v for k, v in meta.items() if v})
            env: dict[str, str] = {}
            workdir = ""
            for ins in stage.instructions:
                rejection = classic_rejection(ins)
                if rejection:
                    return rejection
                done = expand_instruction(ins, env)
                if isinstance(done, Env):
                    env.update({p.key: p.value for p in done.pairs})
                if isinstance(done, Workdir):
                    workdir = normalize_workdir(workdir, done.path)
                if isinstance(done, Copy) and done.from_stage:
                    resolve_copy_from(df, stage, done.from_stage)
    except DockerfileError as e:
        return e.message
    raise AssertionError(f"our parser accepts {text!r}")


def build(engine: Engine, context: Path, text: str, *args: str) -> tuple[int, str, str]:
    (context / "Dockerfile").write_text(text)
    env = dict(engine.env, DOCKER_BUILDKIT="0")
    result = docker(env, "build", *args, str(context), timeout=120)
    return result.returncode, result.stdout, result.stderr


@pytest.mark.parametrize("name", sorted(BAD))
def test_error_text_matches_docker(name: str, refdocker: Engine, tmp_path: Path) -> None:
    text = BAD[name]
    expected = our_failure(text)
    code, _, stderr = build(refdocker, tmp_path, text)
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert code != 0
    assert lines and lines[-1] == expected, f"docker said:\n{stderr}"


GOOD = "".join(
    line + "\n"
    for line in [
        "# syntax=docker/dockerfile:1",
        "ARG TAG=latest",
        "FROM scratch AS base",
        "ARG q=1 r",
        "ENV a=1 \\",
        '   b="2 $q"   \\',
        "# comment inside",
        "",
        "   c=${a:+set}",
        'LABEL x="y z" \\',
        "  q=r",
        'CMD ["a", "b"] trailing',
        "ENTRYPOINT  echo   hi  ",
        "EXPOSE 80 $a 22/udp",
        "VOLUME /a /b",
        'VOLUME ["/c"]',
        "USER  u:${a}",
        "WORKDIR rel",
        "WORKDIR ../abs/$b",
        "STOPSIGNAL SIGKILL",
        'SHELL ["/bin/bash", "-c"]',
        "HEALTHCHECK --interval=5s --timeout=1m30s --retries=3 CMD curl -f x",
        "ONBUILD   RUN echo \\",
        "  hi",
        "MAINTAINER me <m@x>",
        'CMD echo "q"',
    ]
)


def test_steps_and_history_match_docker(refdocker: Engine, tmp_path: Path) -> None:
    tag = f"ketch-dockerfile-test-{uuid.uuid4().hex[:12]}"
    code, stdout, stderr = build(refdocker, tmp_path, GOOD, "-t", tag)
    try:
        assert code == 0, stderr
        df = parse_dockerfile(GOOD, options=DOCKER_20_10)
        total = df.step_total()
        texts = [a.original for a in df.meta_args]
        texts += [df.stages[0].from_.original, *(i.original for i in df.stages[0].instructions)]
        steps = [f"Step {n}/{total} : {t}" for n, t in enumerate(texts, 1)]
        # Docker colours its warnings: drop the ANSI codes.
        output = re.sub(r"\x1b\[[0-9;]*m", "", stdout + stderr)
        assert [line for line in output.splitlines() if line.startswith("Step ")] == steps
        assert df.warnings[0].startswith("[WARNING]: Empty continuation line found in:")
        assert "\n".join(df.warnings) + "\n" in output

        # What our texts give for each config-only step, newest first like `docker history`.
        shell: tuple[str, ...] = DEFAULT_SHELL
        env: dict[str, str] = {"q": "1"}
        workdir = ""
        created: list[str] = []
        for ins in df.stages[0].instructions:
            done = expand_instruction(ins, env)
            if isinstance(done, Env):
                env.update({p.key: p.value for p in done.pairs})
            if isinstance(done, Workdir):
                workdir = normalize_workdir(workdir, done.path)
            if isinstance(done, Shell):
                shell = done.shell  # SHELL's own step already uses the new shell
            message = commit_message(done, shell=shell, workdir=workdir)
            assert message is not None
            created.append(nop_created_by(shell, message, single_item=single_item_comment(done)))
        history = docker(
            refdocker.env, "history", "--no-trunc", "--format", "{{.CreatedBy}}", tag
        ).ok()
        assert history.stdout.splitlines() == created[::-1]
    finally:
        docker(refdocker.env, "rmi", "-f", tag)
