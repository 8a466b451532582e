"""Hostile or broken build input through a real ketchd: clear errors, nothing left.

Each test sends one kind of bad input (a hand-made context tar with names
that climb out or are absolute, symlinks that point outside the context, a
huge Dockerfile, a missing or escaping COPY source), checks the message the
client gets, and checks that the daemon kept nothing of it: no file
outside its stores (a context is unpacked under the data root's tmp/ and
removed), no build container, no mount, no image. Paths the input aims
at outside the daemon (a sentinel directory of the test) must stay empty.

Docker 20.10's wording is the reference; its messages here were checked
against Debian's dockerd 20.10 with the same inputs. Where Docker accepts
an input and ketchd refuses it (a ``..`` entry in the context tar, which
Docker's chrooted untar writes at the context root), the test says so.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from support.dockercli import docker
from support.engines import Engine, EngineSet
from support.images import OfflineImages

from ketch.build.context import MAX_DOCKERFILE_SIZE

from .buildhelp import (
    EngineState,
    Link,
    build_api,
    docker_build,
    ketch,
    private_ketchd,
    tar_of,
)


@pytest.fixture(scope="module")
def engine(engine_set: EngineSet, offline_images: OfflineImages) -> Iterator[Engine]:
    engine = private_ketchd(engine_set, offline_images)
    yield engine
    engine.stop()


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A directory outside every context that bad input aims at; must stay empty."""
    path = tmp_path / "outside"
    path.mkdir()
    return path


def _unchanged(engine: Engine, before: EngineState) -> None:
    problems = EngineState.take(engine).changes_since(before)
    assert not problems, "the failed build left state behind:\n" + "\n".join(problems)


# -- context tars no client would send ----------------------------------------------------


@pytest.mark.parametrize("name", ["../x", "a/../../x", "../../../../../../tmp/x", "./.."])
def test_context_entry_climbing_out_is_refused(engine: Engine, name: str) -> None:
    """Docker 20.10 untars the context chrooted, which quietly writes ``../x``
    as ``x``; ketchd refuses such a tar outright with a 400 naming the entry."""
    before = EngineState.take(engine)
    body = tar_of(("Dockerfile", "FROM busybox\nCOPY . /c/\n"), ("ok", "fine\n"),
                  (name, "evil\n"))
    build = build_api(engine, body)
    assert build.status == 400, build.describe()
    assert build.error == f'invalid build context: entry "{name}" escapes the build context'
    _unchanged(engine, before)


def test_context_entry_with_absolute_name_lands_inside_the_context(
        engine: Engine, outside: Path) -> None:
    """A leading ``/`` is dropped, as Docker does: the file is in the context
    (and so in the image under COPY's destination), never at the host path."""
    before = EngineState.take(engine)
    evil = outside / "evil"
    body = tar_of(("Dockerfile", "FROM busybox\nCOPY . /c/\n"), (str(evil), "evil\n"))
    build = build_api(engine, body, t="abs-names:1")
    assert build.status == 200 and build.error is None, build.describe()
    try:
        run = docker(engine.env, "run", "--rm", "--network", "none", "abs-names:1",
                     "cat", f"/c{evil}")
        assert run.ok().stdout == "evil\n"
        problems = EngineState.take(engine).changes_since(before, new_images=True)
        assert not problems, "\n".join(problems)
        assert list(outside.iterdir()) == []
    finally:
        docker(engine.env, "rmi", "abs-names:1").ok()


def test_context_entry_written_through_a_symlink_is_refused(
        engine: Engine, outside: Path) -> None:
    """``link -> /outside`` then ``link/evil``: the chrooted extractor sees no
    such directory; Docker 20.10 fails the same way (a 500 there)."""
    before = EngineState.take(engine)
    body = tar_of(("link", Link(str(outside))), ("link/evil", "evil\n"),
                  ("Dockerfile", "FROM busybox\n"))
    build = build_api(engine, body)
    assert build.status == 400, build.describe()
    assert build.error is not None
    assert build.error.startswith('invalid build context: entry "link/evil"'), build.error
    assert list(outside.iterdir()) == []
    _unchanged(engine, before)


# -- symlinks in the context ----------------------------------------------------------------


def _symlink_context(ctx: Path, dockerfile: str) -> Path:
    """A context whose links lead outside it, absolutely and relatively."""
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(dockerfile)
    (ctx / "abs").symlink_to("/etc")
    (ctx / "rel").symlink_to("../../../../../../../../etc")
    (ctx / "passwd-link").symlink_to("/etc/passwd")
    return ctx


@pytest.mark.parametrize("source", ["abs/passwd", "rel/passwd", "passwd-link"])
def test_copy_through_a_symlink_out_of_the_context_finds_nothing(
        engine: Engine, tmp_path: Path, source: str) -> None:
    """Links are followed inside the context only: ``abs -> /etc`` means the
    context's own etc/, which has no passwd here. Docker's message."""
    ctx = _symlink_context(tmp_path / "ctx", f"FROM busybox\nCOPY {source} /p\n")
    before = EngineState.take(engine)
    result = docker_build(engine, "--network", "none", str(ctx))
    assert result.returncode == 1, result.describe()
    assert ("COPY failed: file not found in build context or excluded by .dockerignore: "
            f"stat {source}: file does not exist") in result.stderr
    _unchanged(engine, before)


def test_copy_through_a_symlink_out_of_the_context_reads_the_contexts_file(
        engine: Engine, tmp_path: Path) -> None:
    """With an etc/passwd in the context, every one of those links copies it,
    not the host's /etc/passwd."""
    ctx = _symlink_context(tmp_path / "ctx", (
        "FROM busybox\nCOPY abs/passwd /a\nCOPY rel/passwd /r\nCOPY passwd-link /l\n"
        "COPY abs /dir/\n"))
    (ctx / "etc").mkdir()
    (ctx / "etc" / "passwd").write_text("the context's passwd\n")
    result = ketch(engine, "build", "-q", "--network", "none", "-t", "links:1", str(ctx))
    assert result.returncode == 0, result.describe()
    try:
        run = docker(engine.env, "run", "--rm", "--network", "none", "links:1",
                     "cat", "/a", "/r", "/l", "/dir/passwd")
        assert run.ok().stdout == "the context's passwd\n" * 4
    finally:
        docker(engine.env, "rmi", "links:1").ok()


# -- the Dockerfile -----------------------------------------------------------------------


def test_huge_dockerfile_is_refused_before_the_build(engine: Engine, tmp_path: Path) -> None:
    """Docker has no size limit, only 64 KiB per line; ketchd caps the whole
    Dockerfile (it is held and parsed in memory) and says so, whether it
    comes in a context tar (from the docker CLI) or as the bare body."""
    line = "# " + "y" * 97 + "\n"
    text = "FROM busybox\n" + line * (MAX_DOCKERFILE_SIZE // len(line) + 1) + "COPY a /a\n"
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(text)
    (ctx / "a").write_text("a\n")
    before = EngineState.take(engine)
    limit = f"is larger than {MAX_DOCKERFILE_SIZE} bytes, the most this daemon accepts"
    result = docker_build(engine, str(ctx))
    assert result.returncode == 1, result.describe()
    assert f"Error response from daemon: the Dockerfile (Dockerfile) {limit}" in result.stderr
    bare = build_api(engine, text.encode())
    assert bare.status == 400, bare.describe()
    assert bare.error == f"the Dockerfile (Dockerfile) {limit}"
    _unchanged(engine, before)


def test_dockerfile_line_too_long_is_docker_s_parse_error(
        engine: Engine, tmp_path: Path) -> None:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile.long").write_text("FROM busybox\nRUN echo " + "x" * 70_000 + "\n")
    before = EngineState.take(engine)
    result = docker_build(engine, "-f", "Dockerfile.long", str(ctx), cwd=ctx)
    assert result.returncode == 1, result.describe()
    assert ("Error response from daemon: failed to parse Dockerfile.long: dockerfile line "
            "greater than max allowed size of 65535") in result.stderr
    _unchanged(engine, before)


# -- COPY sources -----------------------------------------------------------------------


@pytest.mark.parametrize(("instruction", "message"), [
    ("COPY missing /x", "COPY failed: file not found in build context or excluded by "
     ".dockerignore: stat missing: file does not exist"),
    ("COPY a missing /x/", "COPY failed: file not found in build context or excluded by "
     ".dockerignore: stat missing: file does not exist"),
    ("ADD missing.tar /x/", "ADD failed: file not found in build context or excluded by "
     ".dockerignore: stat missing.tar: file does not exist"),
    ("COPY missing* /x/", "COPY failed: no source files were specified"),
    ("COPY ignored /x", "COPY failed: file not found in build context or excluded by "
     ".dockerignore: stat ignored: file does not exist"),
    ("COPY --from=busybox /nonexistent /x", "COPY failed: stat nonexistent: file does not exist"),
])
def test_missing_copy_source_fails_with_docker_s_message(
        engine: Engine, tmp_path: Path, instruction: str, message: str) -> None:
    """The step fails before anything is committed; ``--from`` mounts the
    image to look, and that container and mount are gone afterwards too."""
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(f"FROM busybox\n{instruction}\n")
    (ctx / "a").write_text("a\n")
    (ctx / "ignored").write_text("ignored\n")
    (ctx / ".dockerignore").write_text("ignored\n")
    before = EngineState.take(engine)
    result = docker_build(engine, "--network", "none", str(ctx))
    assert result.returncode == 1, result.describe()
    assert result.stderr.rstrip("\n").endswith(message), result.describe()
    via_ketch = ketch(engine, "build", "--network", "none", str(ctx))
    assert via_ketch.returncode == 1, via_ketch.describe()
    assert message in via_ketch.stderr, via_ketch.describe()
    _unchanged(engine, before)


@pytest.mark.parametrize(("instruction", "message"), [
    ("COPY ../x /x", "COPY failed: forbidden path outside the build context: ../x ()"),
    ("ADD ../x /x", "ADD failed: forbidden path outside the build context: ../x ()"),
    ("COPY a/../../x /x", "COPY failed: forbidden path outside the build context: a/../../x ()"),
    ("COPY /../x /x", "COPY failed: forbidden path outside the build context: ../x ()"),
    ("COPY ../../../etc/passwd /x",
     "COPY failed: forbidden path outside the build context: ../../../etc/passwd ()"),
])
def test_copy_source_climbing_out_of_the_context_is_refused(
        engine: Engine, tmp_path: Path, instruction: str, message: str) -> None:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (tmp_path / "x").write_text("next to the context\n")
    (ctx / "Dockerfile").write_text(f"FROM busybox\n{instruction}\n")
    (ctx / "a").mkdir()
    before = EngineState.take(engine)
    result = docker_build(engine, "--network", "none", str(ctx))
    assert result.returncode == 1, result.describe()
    assert result.stderr.rstrip("\n").endswith(message), result.describe()
    _unchanged(engine, before)
