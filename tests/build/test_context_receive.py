"""receive_context on real bodies: unpacked by the chroot'ed extractor, as root.

Each test feeds a body (tar, compressed tar, plain Dockerfile, garbage) to
:func:`receive_context` through a pipe-like stream and checks the context
directory it leaves, the Dockerfile it found, Docker's error messages, and
that nothing is left behind when it fails.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import tarfile
from pathlib import Path
from typing import Any

import pytest
import zstandard

from ketch.build.context import BuildContext, receive_context
from ketch.build.copysource import resolve_sources
from ketch.errors import InvalidArgument


class _Pipe(io.RawIOBase):
    """A forward-only stream returning short reads, like a request body."""

    def __init__(self, data: bytes) -> None:
        self._data = memoryview(data)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = min(len(buffer), len(self._data), 7000)
        buffer[:n] = self._data[:n]
        self._data = self._data[n:]
        return n


def _body(data: bytes) -> io.BufferedReader:
    return io.BufferedReader(_Pipe(data))


class Link(str):
    """A symlink's target, as an entry of :func:`_tar`."""


def _tar(*entries: tuple[str, bytes | str | None]) -> bytes:
    """A tar of (name, content) in order: text or bytes a file, None a
    directory, a :class:`Link` a symlink."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in entries:
            info = tarfile.TarInfo(name)
            if data is None:
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            elif isinstance(data, Link):
                info.type, info.linkname = tarfile.SYMTYPE, str(data)
                tar.addfile(info)
            else:
                raw = data.encode() if isinstance(data, str) else data
                info.size = len(raw)
                tar.addfile(info, io.BytesIO(raw))
    return buf.getvalue()


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    path = tmp_path / "work"
    path.mkdir()
    return path


def _receive(workdir: Path, data: bytes, dockerfile: str = "", **kw: Any) -> BuildContext:
    return receive_context(_body(data), workdir, dockerfile, **kw)


def _fails(workdir: Path, data: bytes, dockerfile: str = "", **kw: Any) -> str:
    with pytest.raises(InvalidArgument) as e:
        _receive(workdir, data, dockerfile, **kw)
    assert list(workdir.iterdir()) == [], "a failed receive must remove its directory"
    return e.value.message


CONTEXT = _tar(("Dockerfile", "FROM busybox\n"), ("app/", None), ("app/main.py", "print()\n"),
               ("README", "r"))


@pytest.mark.parametrize(
    "compress",
    [lambda b: b, gzip.compress, bz2.compress, lambda b: lzma.compress(b, lzma.FORMAT_XZ),
     lambda b: zstandard.ZstdCompressor().compress(b)],
    ids=["tar", "gzip", "bzip2", "xz", "zstd"],
)
def test_archive_contexts(workdir: Path, compress: Any) -> None:
    with _receive(workdir, compress(CONTEXT)) as ctx:
        assert ctx.dockerfile_name == "Dockerfile"
        assert ctx.dockerfile_text == b"FROM busybox\n"
        assert (ctx.root / "app" / "main.py").read_text() == "print()\n"
        assert ctx.root.parent == workdir
    assert list(workdir.iterdir()) == []
    ctx.close()  # idempotent


def test_dockerfile_parameter_and_lowercase_fallback(workdir: Path) -> None:
    data = _tar(("build/", None), ("build/Dockerfile.dev", "FROM dev\n"),
                ("dockerfile", "FROM low\n"))
    with _receive(workdir, data, "build/Dockerfile.dev") as ctx:
        assert (ctx.dockerfile_name, ctx.dockerfile_text) == ("build/Dockerfile.dev", b"FROM dev\n")
    with _receive(workdir, data) as ctx:
        assert (ctx.dockerfile_name, ctx.dockerfile_text) == ("dockerfile", b"FROM low\n")
    # the fallback is only for the default name
    assert _fails(workdir, data, "Other") == "Cannot locate specified Dockerfile: Other"


def test_dockerfile_symlinks_stay_in_the_context(workdir: Path) -> None:
    inside = _tar(("real/", None), ("real/df", "FROM inside\n"), ("Dockerfile", Link("/real/df")))
    with _receive(workdir, inside) as ctx:
        assert ctx.dockerfile_text == b"FROM inside\n"
    # a link to a host file resolves inside the context, where there is none
    escaping = _tar(("x", "x"), ("Dockerfile", Link("/etc/hostname")))
    assert _fails(workdir, escaping) == "Cannot locate specified Dockerfile: Dockerfile"
    climbing = _tar(("x", "x"), ("Dockerfile", Link("../../../../etc/hostname")))
    assert _fails(workdir, climbing) == "Cannot locate specified Dockerfile: Dockerfile"


def test_docker_errors(workdir: Path) -> None:
    assert _fails(workdir, CONTEXT, "../Dockerfile") == (
        "forbidden path outside the build context: ../Dockerfile ()")
    assert _fails(workdir, b"") == "Cannot locate specified Dockerfile: Dockerfile"
    assert _fails(workdir, _tar()) == "Cannot locate specified Dockerfile: Dockerfile"
    assert _fails(workdir, _tar(("Dockerfile", ""))) == (
        "the Dockerfile (Dockerfile) cannot be empty")
    assert "is a directory" in _fails(workdir, _tar(("Dockerfile/", None)))
    assert "larger than" in _fails(workdir, _tar(("Dockerfile", "#" * 2000)),
                                   max_dockerfile_size=1000)


def test_plain_dockerfile_body(workdir: Path) -> None:
    with _receive(workdir, b"FROM busybox\nRUN true\n", "ignored") as ctx:
        assert ctx.dockerfile_name == "Dockerfile"
        assert ctx.dockerfile_text == b"FROM busybox\nRUN true\n"
        assert sorted(p.name for p in ctx.root.iterdir()) == ["Dockerfile"]
    assert "larger than" in _fails(workdir, b"FROM x\n" + b"#" * 5000, max_dockerfile_size=4096)


def test_garbage_and_corrupt_bodies(workdir: Path) -> None:
    assert "neither a tar archive" in _fails(workdir, bytes(range(256)) * 8)
    compressed = gzip.compress(CONTEXT)
    cut = _fails(workdir, compressed[: len(compressed) // 2])
    assert cut.startswith("invalid build context:")
    truncated_tar = CONTEXT[:1300]
    assert _fails(workdir, truncated_tar).startswith("invalid build context:")


def test_escaping_entries_are_refused(workdir: Path, tmp_path: Path) -> None:
    evil = _tar(("Dockerfile", "FROM x\n"), ("../evil", "pwned"))
    message = _fails(workdir, evil)
    assert message.startswith("invalid build context:") and "escapes" in message
    assert not (tmp_path / "evil").exists()
    # an entry below a symlink to a host directory cannot reach the host:
    # in the chroot the link leads to a path that does not exist
    sneaky = _tar(("Dockerfile", "FROM x\n"), ("out", Link(str(tmp_path))), ("out/passwd", "pwned"))
    assert "out/passwd" in _fails(workdir, sneaky)
    assert not (tmp_path / "passwd").exists()
    # and one below an absolute link to a directory of the context lands there
    inside = _tar(("Dockerfile", "FROM x\n"), ("in/", None), ("out", Link("/in")),
                  ("out/passwd", "here"))
    with _receive(workdir, inside) as ctx:
        assert (ctx.root / "in" / "passwd").read_text() == "here"


def test_daemon_drops_only_the_ignored_build_files(workdir: Path) -> None:
    data = _tar(("Dockerfile", "FROM x\n"), (".dockerignore", "Dockerfile\n.dockerignore\n*.log\n"),
                ("a.log", "sent anyway"), ("keep", "k"))
    with _receive(workdir, data) as ctx:
        assert ctx.dockerfile_text == b"FROM x\n"
        # the client filters *.log; the daemon removes only the build files
        assert sorted(p.name for p in ctx.root.iterdir()) == ["a.log", "keep"]
    data = _tar(("Dockerfile", "FROM x\n"), (".dockerignore", "*.log\n"))
    with _receive(workdir, data) as ctx:
        assert sorted(p.name for p in ctx.root.iterdir()) == [".dockerignore", "Dockerfile"]
    # a pattern error in .dockerignore is ignored here, as Docker's daemon does
    data = _tar(("Dockerfile", "FROM x\n"), (".dockerignore", "[\n"))
    with _receive(workdir, data) as ctx:
        assert (ctx.root / ".dockerignore").exists()


def test_copy_from_received_context_reads_only_the_context(workdir: Path, tmp_path: Path) -> None:
    (tmp_path / "secret").write_text("host secret")
    data = _tar(("Dockerfile", "FROM x\n"), ("etc/", None), ("etc/passwd", "ctx passwd"),
                ("lnk", Link("/etc")), ("up", Link("../../../../../..")),
                ("host", Link(str(tmp_path))))
    with _receive(workdir, data) as ctx:
        for path in ("lnk/passwd", "up/etc/passwd"):
            [src] = resolve_sources(ctx.root, [path], "/x")
            assert src.resolved == "etc/passwd"
        with pytest.raises(InvalidArgument, match="file not found in build context"):
            resolve_sources(ctx.root, ["host/secret"], "/x")
    assert os.path.exists(tmp_path / "secret")


def test_special_file_as_dockerfile_is_never_opened(workdir: Path) -> None:
    """A FIFO would block and a device could be anything: refused before open."""
    for kind in (tarfile.FIFOTYPE, tarfile.CHRTYPE):
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            info = tarfile.TarInfo("Dockerfile")
            info.type, info.devmajor, info.devminor = kind, 1, 3
            tar.addfile(info)
        message = _fails(workdir, buf.getvalue())
        assert message == "unexpected error reading Dockerfile: Dockerfile: not a regular file"
