"""The files :func:`ketch.build.heredoc.write_heredoc_sources` writes for COPY
heredocs, and the cache digest they give (real files in a temp directory)."""

from __future__ import annotations

import dataclasses
import io
import os
import stat
import tarfile
from pathlib import Path

import pytest

from ketch.build.copy_digest import source_digest
from ketch.build.copysource import is_archive
from ketch.build.dockerfile import SourceContent
from ketch.build.heredoc import HEREDOC_FILE_MODE, write_heredoc_sources
from ketch.errors import InvalidArgument


def _write(directory: Path, *contents: SourceContent) -> list[Path]:
    sources = write_heredoc_sources(contents, directory)
    return [source.root / source.resolved for source in sources]


def test_each_heredoc_is_a_file_named_after_its_delimiter(tmp_path: Path) -> None:
    old = os.umask(0o077)
    try:
        paths = _write(tmp_path, SourceContent("EOF", "a\n", True),
                       SourceContent("conf.ini", "[x]\ny=1\n", False))
    finally:
        os.umask(old)
    assert [p.name for p in paths] == ["EOF", "conf.ini"]
    assert [p.read_text() for p in paths] == ["a\n", "[x]\ny=1\n"]
    for path in paths:
        assert stat.S_IMODE(path.stat().st_mode) == HEREDOC_FILE_MODE == 0o644


def test_the_same_name_twice_gives_two_files_in_order(tmp_path: Path) -> None:
    paths = _write(tmp_path, SourceContent("EOF", "first\n", True),
                   SourceContent("EOF", "second\n", True))
    assert [p.read_text() for p in paths] == ["first\n", "second\n"]
    assert paths[0] != paths[1]


@pytest.mark.parametrize("name", ["a/b", "..", ".", ""])
def test_a_name_that_is_not_a_file_name_is_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(InvalidArgument, match="COPY failed: invalid heredoc name"):
        write_heredoc_sources([SourceContent(name, "x", True)], tmp_path)
    assert not (tmp_path.parent / "b").exists()


def test_an_archive_looking_heredoc_is_never_unpacked_by_add(tmp_path: Path) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        info = tarfile.TarInfo("inside")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"abc"))
    text = buf.getvalue().decode("ascii")
    sources = write_heredoc_sources([SourceContent("t.tar", text, False)], tmp_path,
                                    cmd="ADD")
    assert (sources[0].root / "t.tar").read_bytes() == buf.getvalue()
    assert is_archive(dataclasses.replace(sources[0], from_url=False))  # a real tar
    assert not is_archive(sources[0])


def test_the_cache_digest_follows_the_text(tmp_path: Path) -> None:
    def digest(text: str, sub: str) -> str:
        (tmp_path / sub).mkdir()
        return source_digest(write_heredoc_sources([SourceContent("EOF", text, True)],
                                                   tmp_path / sub))

    assert digest("one\n", "a") == digest("one\n", "b")
    assert digest("one\n", "c") != digest("two\n", "d")
