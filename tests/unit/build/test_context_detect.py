"""Telling a build context archive from a Dockerfile body, and the client's tar."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import tarfile
from pathlib import Path

import pytest

from ketch.build.context import classify_body
from ketch.build.context_send import context_matcher, send_context
from ketch.errors import InvalidArgument


def _tar(names: list[str]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name in names:
            info = tarfile.TarInfo(name)
            info.size = 1
            tar.addfile(info, io.BytesIO(b"x"))
    return buf.getvalue()


TAR = _tar(["Dockerfile"])


@pytest.mark.parametrize(
    ("body", "kind"),
    [
        (TAR, "archive"),
        (_tar(["a" * 200 + "/b"]), "archive"),  # a PAX or GNU long-name header first
        (gzip.compress(TAR), "archive"),
        (bz2.compress(TAR), "archive"),
        (lzma.compress(TAR, lzma.FORMAT_XZ), "archive"),
        (b"\x28\xb5\x2f\xfd" + b"\0" * 20, "archive"),
        (b"", "empty"),
        (b"\0" * 1024, "empty"),
        (b"FROM busybox\nRUN echo hi\n", "dockerfile"),
        ("FROM busybox\nLABEL x=\u00e9t\u00e9\n".encode(), "dockerfile"),
        # a multi-byte character cut by the peek is still text
        (b"FROM x\n" + "\u00e9".encode() * 600, "dockerfile"),
    ],
)
def test_classify(body: bytes, kind: str) -> None:
    assert classify_body(body[:1024]) == kind


@pytest.mark.parametrize("body", [os.urandom(1024), b"FROM x\n\0\0\0", b"\xff\xfe\xfd text"])
def test_garbage_is_refused_clearly(body: bytes) -> None:
    with pytest.raises(InvalidArgument, match=r"neither a tar archive .* nor a text Dockerfile"):
        classify_body(body)


def test_client_tar_of_a_context(tmp_path: Path) -> None:
    ctx = tmp_path / "ctx"
    (ctx / "src").mkdir(parents=True)
    (ctx / "src" / "a.py").write_text("a")
    (ctx / "src" / "a.pyc").write_text("c")
    os.link(ctx / "src" / "a.py", ctx / "src" / "b.py")
    os.symlink("src", ctx / "link")
    (ctx / "Dockerfile").write_text("FROM x\n")
    (ctx / ".dockerignore").write_text("**/*.pyc\nDockerfile\n.dockerignore\n")
    os.utime(ctx / "src" / "a.py", (1_500_000_000.9, 1_500_000_000.9))
    out = io.BytesIO()
    assert send_context(ctx, out) == 6
    with tarfile.open(fileobj=io.BytesIO(out.getvalue())) as tar:
        members = {m.name: m for m in tar}
    assert list(members) == [".dockerignore", "Dockerfile", "link", "src", "src/a.py",
                             "src/b.py"]
    assert {(m.uid, m.gid) for m in members.values()} == {(0, 0)}
    assert members["src/b.py"].islnk() and members["src/b.py"].linkname == "src/a.py"
    assert members["link"].issym() and members["link"].linkname == "src"
    assert members["src/a.py"].mtime == 1_500_000_000
    # a Dockerfile in a subdirectory is kept the same way
    assert context_matcher(ctx, "sub/Dockerfile").patterns[-1].text == ".dockerignore"
