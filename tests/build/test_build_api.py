"""Builds through the real docker CLI (classic builder) against ketchd, and
the same Dockerfiles on Docker 20.10: same outputs, same image configs."""

from __future__ import annotations

import io
import json
import os
import stat
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.dockercli import docker
from support.engines import Engine
from support.images import OfflineImages, import_offline_images
from support.unixhttp import UnixHTTPConnection

from ketch.layers.extract import extract_layer
from ketch.oci.chain import chain_ids

pytestmark = pytest.mark.usefixtures("ketch_busybox")

DOCKERFILE = """\
FROM busybox
ARG V=1
ENV A=b PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin
COPY a.txt /a.txt
COPY d /dd/
RUN echo hi $V && echo err >&2 && mkdir -p /made && echo x > /made/f && rm /bin/vi
WORKDIR /w
USER 1:2
LABEL x=y "z z"=w
EXPOSE 80 53/udp
VOLUME /data
STOPSIGNAL SIGUSR1
HEALTHCHECK --interval=5s CMD true
ENTRYPOINT ["sh", "-c"]
CMD ["echo hello"]
"""


TAGS = ("built:1", "cached:1", "staged:1", "cmp:1")


@pytest.fixture(scope="module")
def ketch_busybox(ketchd: Engine, offline_images: OfflineImages) -> Iterator[None]:
    """busybox on the shared ketchd; afterwards the engine is left as found."""
    imported = docker(ketchd.env, "image", "inspect", "busybox:latest").returncode != 0
    if imported:
        import_offline_images(ketchd.env, offline_images, ("busybox",))
    yield
    docker(ketchd.env, "rmi", *TAGS)  # takes the untagged intermediate parents along
    docker(ketchd.env, "container", "prune", "-f")  # a failed RUN's container stays
    docker(ketchd.env, "image", "prune", "-f").ok()
    if imported:
        docker(ketchd.env, "rmi", "busybox:latest").ok()


def _context(tmp_path: Path, dockerfile: str) -> Path:
    (tmp_path / "a.txt").write_text("hello\n")
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "x").write_text("x\n")
    (tmp_path / "Dockerfile").write_text(dockerfile)
    return tmp_path


def _build(engine: Engine, *args: str) -> object:
    env = dict(engine.env, DOCKER_BUILDKIT="0")
    return docker(env, "build", *args, timeout=300)


def test_build_runs_every_kind_of_step(ketchd: Engine, tmp_path: Path) -> None:
    ctx = _context(tmp_path, DOCKERFILE)
    result = _build(ketchd, "-t", "built:1", str(ctx))
    assert result.returncode == 0, result.describe()
    out = result.stdout
    assert "Step 1/15 : FROM busybox" in out
    assert "hi 1\n" in out and "\x1b[91merr\n\x1b[0m" in out
    assert "Successfully tagged built:1" in out
    config = json.loads(docker(ketchd.env, "inspect", "built:1").ok().stdout)[0]["Config"]
    assert config["Env"] == ["PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", "A=b"]
    assert config["Cmd"] == ["echo hello"]
    assert config["Entrypoint"] == ["sh", "-c"]
    assert config["WorkingDir"] == "/w"
    assert config["User"] == "1:2"
    assert config["Labels"] == {"x": "y", "z z": "w"}
    assert config["ExposedPorts"] == {"80/tcp": {}, "53/udp": {}}
    assert config["Volumes"] == {"/data": {}}
    assert config["StopSignal"] == "SIGUSR1"
    assert config["Healthcheck"] == {"Test": ["CMD-SHELL", "true"], "Interval": 5_000_000_000}
    run = docker(ketchd.env, "run", "--rm", "--network", "none", "--user", "0",
                 "--entrypoint", "sh", "built:1", "-c",
                 "cat /a.txt /dd/x /made/f; test -e /bin/vi && echo vi-still-there; pwd")
    assert run.ok().stdout == "hello\nx\nx\n/w\n"


def test_second_build_is_all_cache_and_one_change_rebuilds_from_there(
        ketchd: Engine, tmp_path: Path) -> None:
    ctx = _context(tmp_path, "FROM busybox\nRUN echo one\nCOPY a.txt /a\nRUN echo two\n")
    first = _build(ketchd, "-t", "cached:1", str(ctx))
    assert first.returncode == 0, first.describe()
    second = _build(ketchd, "-t", "cached:1", str(ctx))
    assert second.returncode == 0, second.describe()
    assert second.stdout.count("Using cache") == 3
    (ctx / "a.txt").write_text("changed\n")
    third = _build(ketchd, "-t", "cached:1", str(ctx))
    assert third.stdout.count("Using cache") == 1, third.stdout
    assert "two\n" in third.stdout


def test_failing_run_exit_code_and_message(ketchd: Engine, tmp_path: Path) -> None:
    ctx = _context(tmp_path, "FROM busybox\nRUN exit 3\n")
    result = _build(ketchd, "--force-rm", str(ctx))  # leave no failed container behind
    assert result.returncode == 3
    assert "The command '/bin/sh -c exit 3' returned a non-zero code: 3" in result.stderr


def test_bad_dockerfile_names_the_line(ketchd: Engine, tmp_path: Path) -> None:
    ctx = _context(tmp_path, "FROM busybox\nFOO bar\n")
    result = _build(ketchd, str(ctx))
    assert result.returncode != 0
    assert "dockerfile parse error line 2: unknown instruction: FOO" in result.stderr


def test_multi_stage_target_and_copy_from(ketchd: Engine, tmp_path: Path) -> None:
    ctx = _context(tmp_path, (
        "FROM busybox AS base\nRUN echo base > /base\n"
        "FROM busybox AS unused\nRUN exit 1\n"
        "FROM busybox AS final\nCOPY --from=base /base /copied\nCMD cat /copied\n"))
    result = _build(ketchd, "-t", "staged:1", "--target", "final", str(ctx))
    assert result.returncode == 0, result.describe()
    run = docker(ketchd.env, "run", "--rm", "--network", "none", "staged:1")
    assert run.ok().stdout == "base\n"


def _tree(root: Path) -> dict[str, tuple[object, ...]]:
    """Type, mode, owner, whole-second mtime and content or target of each entry."""
    found: dict[str, tuple[object, ...]] = {}
    for top, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(top, name)
            st = os.lstat(path)
            data: object = None
            if stat.S_ISREG(st.st_mode):
                data = path.read_bytes()
            elif stat.S_ISLNK(st.st_mode):
                data = os.readlink(path)
            found[str(path.relative_to(root))] = (
                st.st_mode, st.st_uid, st.st_gid, st.st_mtime_ns // 1_000_000_000, data)
    return found


def test_copy_layers_are_their_tars_unpacked_and_leave_nothing_behind(
        ketchd: Engine, tmp_path: Path) -> None:
    """A COPY's step root becomes its layer's snapshot without a second unpack:
    the snapshot must hold what its stored tar holds (what push, save and a
    pull elsewhere see), and no container or step root may remain."""
    (tmp_path / "ctx").mkdir()
    ctx = _context(tmp_path / "ctx", "FROM busybox\nCOPY --chown=7:8 d /usr/share/dd/\n"
                                     "COPY a.txt /etc/a.txt\n"
                                     "COPY --from=busybox /bin/true /opt/true\n")
    (tmp_path / "ctx" / "d" / "sub").mkdir()
    (tmp_path / "ctx" / "d" / "sub" / "f").write_text("deep\n")
    os.symlink("x", tmp_path / "ctx" / "d" / "link")
    containers_before = docker(ketchd.env, "ps", "-aq").ok().stdout
    result = _build(ketchd, "-t", "snap:1", str(ctx))
    assert result.returncode == 0, result.describe()
    layers = json.loads(docker(ketchd.env, "inspect", "snap:1").ok().stdout)[0]["RootFS"][
        "Layers"]
    chains = chain_ids(layers)
    for diff_id, chain in list(zip(layers, chains, strict=True))[-3:]:
        snapshot = ketchd.data_root / "layers" / chain.split(":")[1] / "diff"
        unpacked = tmp_path / diff_id.split(":")[1][:12]
        unpacked.mkdir()
        blob = ketchd.data_root / "content" / "blobs" / "sha256" / diff_id.split(":")[1]
        with blob.open("rb") as tar:
            extract_layer(tar, unpacked, whiteouts=True)
        assert _tree(snapshot) == _tree(unpacked), diff_id
    run = docker(ketchd.env, "run", "--rm", "--network", "none", "snap:1", "sh", "-c",
                 "stat -c '%u:%g %n' /usr/share/dd/sub/f; cat /etc/a.txt; /opt/true && echo ok")
    assert run.ok().stdout == "7:8 /usr/share/dd/sub/f\nhello\nok\n"
    assert docker(ketchd.env, "ps", "-aq").ok().stdout == containers_before
    assert not [n for n in os.listdir(ketchd.data_root / "containers")
                if n.startswith("build-")]
    docker(ketchd.env, "rmi", "snap:1").ok()


def _context_tar(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _leftover_contexts(engine: Engine) -> list[str]:
    return [n for n in os.listdir(engine.data_root / "tmp") if n.startswith("context-")]


def test_context_unpacked_while_it_arrives_in_slow_chunks(ketchd: Engine) -> None:
    """The body goes to the unpacker as it comes (chunked, with pauses)."""
    body = _context_tar({"Dockerfile": b"FROM busybox\nCOPY big /big\n",
                         "big": os.urandom(3 << 20)})
    conn = UnixHTTPConnection(str(ketchd.socket), timeout=120)
    try:
        conn.putrequest("POST", "/v1.41/build?q=1&rm=1")
        conn.putheader("Content-Type", "application/x-tar")
        conn.putheader("Transfer-Encoding", "chunked")
        conn.endheaders()
        for start in range(0, len(body), 256 << 10):
            piece = body[start:start + (256 << 10)]
            conn.send(b"%x\r\n%s\r\n" % (len(piece), piece))
            time.sleep(0.02)
        conn.send(b"0\r\n\r\n")
        response = conn.getresponse()
        lines = [json.loads(line) for line in response.read().splitlines() if line.strip()]
    finally:
        conn.close()
    assert response.status == 200
    image_id = next(line["aux"]["ID"] for line in lines if "aux" in line)
    docker(ketchd.env, "rmi", image_id).ok()


def test_an_upload_cut_short_leaves_no_context_behind(ketchd: Engine) -> None:
    body = _context_tar({"Dockerfile": b"FROM busybox\n", "f": os.urandom(4 << 20)})
    before = _leftover_contexts(ketchd)
    conn = UnixHTTPConnection(str(ketchd.socket), timeout=30)
    try:
        conn.putrequest("POST", "/v1.41/build?q=1")
        conn.putheader("Content-Type", "application/x-tar")
        conn.putheader("Content-Length", str(len(body)))
        conn.endheaders()
        conn.send(body[: len(body) // 2])
    finally:
        conn.close()
    deadline = time.monotonic() + 15
    while _leftover_contexts(ketchd) != before and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _leftover_contexts(ketchd) == before
    truncated = ketchd.request("POST", "/v1.41/build?q=1", body[: len(body) // 2],
                               {"Content-Type": "application/x-tar"})
    assert truncated.status == 400, truncated.text
    assert _leftover_contexts(ketchd) == before


def _summary(engine: Engine, ref: str) -> dict[str, object]:
    image = json.loads(docker(engine.env, "inspect", ref).ok().stdout)[0]
    config = image["Config"]
    keys = ("Env", "Cmd", "Entrypoint", "WorkingDir", "User", "ExposedPorts", "Volumes",
            "Labels", "Healthcheck", "StopSignal", "OnBuild")
    history = docker(engine.env, "history", "--no-trunc", "--format", "{{.CreatedBy}}",
                     ref).ok().stdout.splitlines()
    # COPY records the sources' content hash; the hashing schemes differ.
    history = [line.split(" file:")[0].split(" dir:")[0] for line in history]
    return {"config": {k: config.get(k) for k in keys}, "history": history}


def test_image_config_and_history_equal_docker_20_10(
        ketchd: Engine, refdocker: Engine, offline_images: OfflineImages,
        tmp_path: Path) -> None:
    import_offline_images(refdocker.env, offline_images, ("busybox",))
    ctx = _context(tmp_path, DOCKERFILE + "ONBUILD RUN echo child\nSHELL [\"/bin/sh\", \"-ec\"]\n"
                   "RUN echo with-new-shell\n")
    for engine in (ketchd, refdocker):
        result = _build(engine, "--build-arg", "V=2", "-t", "cmp:1", str(ctx))
        assert result.returncode == 0, result.describe()
    try:
        ours, theirs = _summary(ketchd, "cmp:1"), _summary(refdocker, "cmp:1")
    finally:
        # The reference engine is shared: remove the image and its
        # intermediate parents (rmi takes untagged parents along).
        docker(refdocker.env, "rmi", "cmp:1").ok()
    assert ours["config"] == theirs["config"]
    assert ours["history"][:-1] == theirs["history"][:-1]  # the base image's own line differs
