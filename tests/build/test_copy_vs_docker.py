"""Our COPY/ADD pipeline against Docker 20.10's classic builder, side by side.

One context (dockerignore rules, symlinks pointing out, hard links, a
setuid file, a tar.gz) is built by the real Docker with ``DOCKER_BUILDKIT=0``
and listed from a container; the same context goes through our pipeline
(client tar, :func:`receive_context`, :func:`resolve_sources`,
:func:`write_copy_tar`, then the chroot'ed extractor into a directory) and
must give the same names, types, modes, owners, link targets and file
times. A few failing instructions must fail with Docker's words.
"""

from __future__ import annotations

import gzip
import io
import os
import stat
import tarfile
from pathlib import Path

import pytest
from support.dockercli import docker
from support.engines import Engine

from ketch.build.context import receive_context
from ketch.build.context_send import send_context
from ketch.build.copy_tar import resolve_destination, write_copy_tar
from ketch.build.copysource import resolve_sources
from ketch.containers.rootfs import mkdir_in_root
from ketch.errors import InvalidArgument
from ketch.layers.extract import extract_layer

pytestmark = pytest.mark.refdocker

MTIME = 1_650_000_000

# (instruction, sources, dest, chown) in Dockerfile order
STEPS: list[tuple[str, list[str], str, tuple[int, int]]] = [
    ("COPY", ["."], "/dst/all/", (0, 0)),
    ("COPY", ["d"], "/dst/d", (0, 0)),
    ("COPY", ["d"], "/dst/dc/", (1000, 1001)),
    ("COPY", ["*.txt"], "/dst/g/", (0, 0)),
    ("COPY", ["d/ln", "lnk/passwd", "up/hosts"], "/dst/files/", (0, 0)),
    ("COPY", ["top.txt"], "/dst/new/deep/t", (0, 0)),
    ("COPY", ["top.txt", "run"], "/dst/own/deep/", (5, 6)),
    ("COPY", ["run"], "/dst/run", (0, 0)),
    ("ADD", ["arch.tar.gz"], "/dst/add", (0, 0)),
    ("ADD", ["top.txt"], "/dst/add/", (0, 0)),
]


def _dockerfile() -> str:
    lines = ["FROM busybox"]
    for cmd, sources, dest, chown in STEPS:
        flag = f"--chown={chown[0]}:{chown[1]} " if chown != (0, 0) else ""
        lines.append(f"{cmd} {flag}{' '.join(sources)} {dest}")
    return "\n".join(lines) + "\n"


def _archive() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, kind, mode, data in [
            ("pkg", tarfile.DIRTYPE, 0o711, b""),
            ("pkg/bin", tarfile.REGTYPE, 0o4755, b"#!/bin/sh\n"),
            ("pkg/lnk", tarfile.SYMTYPE, 0o777, b""),
            # Docker applies a hard link entry's mode to the shared inode;
            # ketch's extractor keeps the first entry's. Same mode here.
            ("pkg/hard", tarfile.LNKTYPE, 0o4755, b""),
        ]:
            info = tarfile.TarInfo(name)
            info.type, info.mode, info.uid, info.gid, info.mtime = kind, mode, 5, 6, MTIME
            if kind == tarfile.SYMTYPE:
                info.linkname = "bin"
            elif kind == tarfile.LNKTYPE:
                info.linkname = "pkg/bin"
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return gzip.compress(buf.getvalue())


def _make_context(ctx: Path) -> None:
    files = {
        "d/f": 0o640, "d/sub/g": 0o644, "d/x.tmp": 0o644, "top.txt": 0o600, "a.txt": 0o644,
        "b.txt": 0o664, "run": 0o4755, "etc/passwd": 0o644, "etc/hosts": 0o644,
        "docs/keep/k.txt": 0o644, "docs/other.txt": 0o644, "app.log": 0o644,
    }
    for rel, mode in files.items():
        path = ctx / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"{rel}\n")
        path.chmod(mode)
    (ctx / "d").chmod(0o750)
    (ctx / "d" / "sub").chmod(0o700)
    os.link(ctx / "d" / "f", ctx / "d" / "hl")
    os.symlink("f", ctx / "d" / "ln")
    os.symlink("/etc", ctx / "lnk")
    os.symlink("../../../etc", ctx / "up")
    (ctx / "arch.tar.gz").write_bytes(_archive())
    (ctx / ".dockerignore").write_text(
        "*.log\ndocs\n!docs/keep\n**/*.tmp\nDockerfile\n.dockerignore\n")
    (ctx / "Dockerfile").write_text(_dockerfile())
    for dirpath, dirnames, filenames in os.walk(ctx):
        for name in dirnames + filenames:
            os.utime(os.path.join(dirpath, name), (MTIME, MTIME), follow_symlinks=False)


Listing = dict[str, tuple[str, int, int, str, int]]


def _docker_listing(engine: Engine, ctx: Path, tag: str) -> Listing:
    env = dict(engine.env, DOCKER_BUILDKIT="0")
    docker(env, "build", "-q", "-t", tag, str(ctx), timeout=300).ok()
    try:
        script = ('cd /dst && find . | while read -r p; do '
                  'echo "$p|$(stat -c %f "$p")|$(stat -c %u:%g "$p")|$(readlink "$p")|'
                  '$(stat -c %Y "$p")"; done')
        out = docker(env, "run", "--rm", "--network", "none", tag, "sh", "-c", script).ok()
    finally:
        docker(env, "rmi", "-f", tag)
    listing: Listing = {}
    for line in out.stdout.splitlines():
        path, mode_hex, owner, link, mtime = line.split("|")
        mode = int(mode_hex, 16)
        if path == ".":
            continue
        listing[path.removeprefix("./")] = _row(mode, owner, link, int(mtime))
    return listing


def _row(mode: int, owner: str, link: str, mtime: int) -> tuple[str, int, int, str, int]:
    kind = {stat.S_IFDIR: "dir", stat.S_IFREG: "file", stat.S_IFLNK: "link",
            stat.S_IFIFO: "fifo"}.get(stat.S_IFMT(mode), "other")
    uid, gid = (int(x) for x in owner.split(":"))
    # New directories get the time of the build; only other entries' times are kept.
    return (kind, stat.S_IMODE(mode), uid * 100000 + gid, link,
            0 if kind == "dir" else mtime)


def _our_listing(ctx: Path, work: Path) -> Listing:
    body = io.BytesIO()
    send_context(ctx, body)
    body.seek(0)
    rootfs = work / "rootfs"
    rootfs.mkdir()
    with receive_context(body, work) as context:
        for cmd, sources, dest, chown in STEPS:
            found = resolve_sources(context.root, sources, dest, cmd=cmd)
            target = resolve_destination(rootfs, dest)
            tar = io.BytesIO()
            stats = write_copy_tar(found, target, chown=chown, out=tar,
                                   extract_archives=cmd == "ADD", cmd=cmd)
            for spec in stats.mkdirs:
                mkdir_in_root(rootfs, spec.path, spec.mode, spec.uid, spec.gid)
            tar.seek(0)
            extract_layer(tar, rootfs)
    listing: Listing = {}
    top = rootfs / "dst"
    for dirpath, dirnames, filenames in os.walk(top):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            link = os.readlink(path) if stat.S_ISLNK(st.st_mode) else ""
            rel = os.path.relpath(path, top)
            listing[rel] = _row(st.st_mode, f"{st.st_uid}:{st.st_gid}", link, int(st.st_mtime))
    return listing


def test_copy_layout_matches_docker(ref_busybox: Engine, tmp_path: Path) -> None:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    _make_context(ctx)
    theirs = _docker_listing(ref_busybox, ctx, "ketch-test-copy-layout:latest")
    work = tmp_path / "work"
    work.mkdir()
    ours = _our_listing(ctx, work)
    assert sorted(ours) == sorted(theirs)
    differences = {p: (ours[p], theirs[p]) for p in theirs if ours[p] != theirs[p]}
    assert differences == {}
    # the points of the exercise, spelled out
    assert "all/docs/keep/k.txt" in ours and "all/docs/other.txt" not in ours
    assert "all/Dockerfile" not in ours and "all/app.log" not in ours
    assert ours["files/passwd"][0] == "file"  # read inside the context, not the host
    assert ours["run"][1] == 0o755  # set-user-ID cleared by the owner change


@pytest.mark.parametrize(
    ("sources", "dest"),
    [(["nothere"], "/x"), (["*.nope"], "/x/"), (["../x"], "/x"), (["a.txt", "b.txt"], "/x"),
     (["top.txt/x"], "/x")],
)
def test_errors_match_docker(ref_busybox: Engine, tmp_path: Path, sources: list[str],
                             dest: str) -> None:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    for name in ("a.txt", "b.txt", "top.txt"):
        (ctx / name).write_text(name)
    (ctx / "Dockerfile").write_text(f"FROM busybox\nCOPY {' '.join(sources)} {dest}\n")
    env = dict(ref_busybox.env, DOCKER_BUILDKIT="0")
    result = docker(env, "build", "-q", str(ctx), timeout=300)
    assert result.returncode != 0
    with pytest.raises(InvalidArgument) as e:
        resolve_sources(ctx, sources, dest)
    assert e.value.message in result.stderr, result.stderr


IGNORE_CASES = {
    "textual-exception": "dir\n!**/keep\n",
    "reinclude-deep": "**\n!Dockerfile\n!a/b/c.txt\n",
    "order": "*\n!src\nsrc/gen\n",
    "dir-children": "a/*\n!a/keep*\n",
}


@pytest.mark.parametrize("ignore", list(IGNORE_CASES.values()), ids=list(IGNORE_CASES))
def test_dockerignore_matches_docker(ref_busybox: Engine, tmp_path: Path, ignore: str) -> None:
    ctx = tmp_path / "ctx"
    for rel in ("dir/keep", "dir/drop", "a/b/c.txt", "a/b/d.txt", "a/keep1", "a/x",
                "src/main.py", "src/gen/out.py", "top"):
        (ctx / rel).parent.mkdir(parents=True, exist_ok=True)
        (ctx / rel).write_text(rel)
    (ctx / ".dockerignore").write_text(ignore)
    (ctx / "Dockerfile").write_text("FROM busybox\nCOPY . /ctx/\n")
    env = dict(ref_busybox.env, DOCKER_BUILDKIT="0")
    tag = "ketch-test-ignore:latest"
    docker(env, "build", "-q", "-t", tag, str(ctx), timeout=300).ok()
    try:
        out = docker(env, "run", "--rm", "--network", "none", tag, "sh", "-c",
                     "cd /ctx && find . -mindepth 1").ok()
    finally:
        docker(env, "rmi", "-f", tag)
    theirs = sorted(line.removeprefix("./") for line in out.stdout.splitlines())
    body = io.BytesIO()
    send_context(ctx, body)
    body.seek(0)
    work = tmp_path / "work"
    work.mkdir()
    with receive_context(body, work) as context:
        ours = sorted(str(p.relative_to(context.root)) for p in context.root.rglob("*"))
    assert ours == theirs
