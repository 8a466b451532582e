"""``COPY <<EOF`` heredoc sources, built by ketchd through the real docker CLI.

Docker 20.10's classic builder has no heredoc sources, so there is no
reference engine to compare with: the expected results are BuildKit's
(``dockerfile2llb``: a file named after the delimiter, holding the text,
mode 0644 unless ``--chmod``, owner per ``--chown``, variables expanded
unless the delimiter is quoted, leading tabs stripped for ``<<-``), checked
by running the built image.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from support.dockercli import docker
from support.engines import Engine
from support.images import OfflineImages, import_offline_images

from .buildhelp import docker_build

TAGS = ("heredoc:1", "heredoc:2", "heredoc:3")


@pytest.fixture(scope="module")
def busybox(ketchd: Engine, offline_images: OfflineImages) -> Iterator[Engine]:
    """busybox on the shared ketchd; afterwards the engine is left as found."""
    imported = docker(ketchd.env, "image", "inspect", "busybox:latest").returncode != 0
    if imported:
        import_offline_images(ketchd.env, offline_images, ("busybox",))
    yield ketchd
    docker(ketchd.env, "rmi", *TAGS)  # takes the untagged intermediate parents along
    docker(ketchd.env, "image", "prune", "-f").ok()  # a replaced tag's old chain
    if imported:
        docker(ketchd.env, "rmi", "busybox:latest").ok()


def _run(engine: Engine, image: str, script: str) -> str:
    return docker(engine.env, "run", "--rm", "--network", "none", image,
                  "sh", "-c", script).ok().stdout


def test_heredoc_files_hold_the_text_expanded_as_buildkit_does(
        busybox: Engine, tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("from the context\n")
    (tmp_path / "Dockerfile").write_text(
        "FROM busybox\n"
        "ARG WHO=world\n"
        "ENV GREETING=hello\n"
        "COPY <<EOF /etc/greeting\n"
        "$GREETING ${WHO}\n"
        "'quoted' \"$WHO\"\n"
        "EOF\n"
        "COPY <<\"EOF\" /literal\n"
        "$GREETING stays\n"
        "EOF\n"
        "COPY <<-EOF /chomped\n"
        "\t\tindented $WHO\n"
        "\tline two\n"
        "\tEOF\n"
        "COPY <<one <<two /many/\n"
        "first\n"
        "one\n"
        "second\n"
        "two\n"
        "COPY a.txt <<EOF /mixed/\n"
        "inline\n"
        "EOF\n"
        "ADD <<EOF /added\n"
        "added text\n"
        "EOF\n")
    result = docker_build(busybox, "--build-arg", "WHO=you", "-t", "heredoc:1", str(tmp_path))
    assert result.returncode == 0, result.describe()
    assert "Step 4/9 : COPY <<EOF /etc/greeting" in result.stdout
    out = _run(busybox, "heredoc:1",
               "cat /etc/greeting /literal /chomped /many/one /many/two /mixed/a.txt "
               "/mixed/EOF /added; stat -c '%a %u:%g %n' /etc/greeting /many/one /added")
    assert out == ("hello you\n'quoted' \"you\"\n"
                   "$GREETING stays\n"
                   "indented you\nline two\n"
                   "first\nsecond\n"
                   "from the context\ninline\n"
                   "added text\n"
                   "644 0:0 /etc/greeting\n644 0:0 /many/one\n644 0:0 /added\n")


def test_heredoc_chmod_and_chown(busybox: Engine, tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text(
        "FROM busybox\n"
        "COPY --chmod=0755 --chown=7:8 <<EOF /usr/local/bin/hi\n"
        "#!/bin/sh\n"
        "echo hi from heredoc\n"
        "EOF\n"
        "RUN mkdir -p /etc && echo 'app:x:1234:4321::/:/bin/sh' >> /etc/passwd && "
        "echo 'app:x:4321:' >> /etc/group\n"
        "COPY --chown=app <<EOF /owned\n"
        "x\n"
        "EOF\n")
    result = docker_build(busybox, "-t", "heredoc:2", str(tmp_path))
    assert result.returncode == 0, result.describe()
    out = _run(busybox, "heredoc:2",
               "hi; stat -c '%a %u:%g' /usr/local/bin/hi; stat -c '%a %u:%g' /owned")
    assert out == "hi from heredoc\n755 7:8\n644 1234:4321\n"
    history = docker(busybox.env, "history", "--no-trunc", "--format", "{{.CreatedBy}}",
                     "heredoc:2").ok().stdout
    assert "COPY --chmod=0755 --chown=7:8file:" in history


def test_heredoc_content_keys_the_cache(busybox: Engine, tmp_path: Path) -> None:
    def dockerfile(text: str) -> None:
        (tmp_path / "Dockerfile").write_text(
            f"FROM busybox\nCOPY <<EOF /f\n{text}\nEOF\nRUN cat /f\n")

    dockerfile("one")
    first = docker_build(busybox, "-t", "heredoc:3", str(tmp_path))
    assert first.returncode == 0, first.describe()
    again = docker_build(busybox, "-t", "heredoc:3", str(tmp_path))
    assert again.returncode == 0, again.describe()
    assert again.stdout.count("Using cache") == 2, again.stdout
    dockerfile("two")
    changed = docker_build(busybox, "-t", "heredoc:3", str(tmp_path))
    assert changed.returncode == 0, changed.describe()
    assert "Using cache" not in changed.stdout
    assert "\ntwo\n" in changed.stdout  # the RUN ran again and saw the new text


def test_heredoc_bad_chmod_and_bad_name_are_refused(busybox: Engine, tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM busybox\nCOPY --chmod=9 <<EOF /f\nx\nEOF\n")
    result = docker_build(busybox, str(tmp_path))
    assert result.returncode == 1, result.describe()
    assert ("invalid chmod parameter: '9'. it should be octal string and between 0 and "
            "07777") in result.stderr
    (tmp_path / "Dockerfile").write_text("FROM busybox\nCOPY <<a/b /f\nx\na/b\n")
    result = docker_build(busybox, str(tmp_path))
    assert result.returncode == 1, result.describe()
    assert "COPY failed: invalid heredoc name 'a/b'" in result.stderr


def test_chmod_without_heredocs_is_still_the_classic_error(
        busybox: Engine, tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x\n")
    (tmp_path / "Dockerfile").write_text("FROM busybox\nCOPY --chmod=755 f /f\n")
    result = docker_build(busybox, str(tmp_path))
    assert result.returncode == 1, result.describe()
    assert "the --chmod option requires BuildKit" in result.stderr
