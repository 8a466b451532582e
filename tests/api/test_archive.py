"""``HEAD/GET/PUT /containers/{id}/archive`` (``docker cp``'s API) on both engines.

Most tests run on the reference Docker (20.10) and on ketchd with the same
assertions, on a running and on a stopped busybox container made by the
same script: the stat header's fields (checked against ``stat`` run in
the container), the tar entries of a file, a directory, ``dir/.``, a
symlink and ``/``; the extraction rules (into an existing directory,
``noOverwriteDirNonDir``, archive ownership, the ``./`` entry); errors and
their messages; volumes and binds read and written through.

The security tests point symlinks inside the container at ``/etc`` and at
``../../../..`` and check that reading ``link/passwd`` gives the
container's file and that writing ``link/x`` lands in the container, with
the host's files untouched; archives that try to leave the target directory
are refused as Docker refuses them.

Differences kept on purpose (Docker 28 is followed where 20.10 differs):
20.10 answers 500 for a read-only target (28: 400), prefixes extraction
errors with ``Error processing tar file(exit status 1): ``, puts host
paths in ``lstat`` errors, and looks ``copyUIDGID``'s user up on the host.

The last group tests :mod:`ketch.containers.archive` directly on
directories made here (lookups that must not escape, mount substitution,
extraction in the chroot'ed unpacker), and ketchd's own mount handling.
"""

from __future__ import annotations

import base64
import calendar
import io
import json
import os
import re
import secrets
import shutil
import stat
import tarfile
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from support.dockercli import docker
from support.engines import Engine
from support.images import OfflineImages, import_offline_images
from support.unixhttp import Response

from ketch.containers.archive import (
    CopyMount,
    CopyView,
    ExtractTarget,
    container_path,
    extract_archive,
    extract_target,
)
from ketch.errors import InternalError, InvalidArgument

V = "/v1.41"
PREFIX = "kt-cp-api"
#: What every test container holds (and keeps running with, when it runs).
SETUP = ("mkdir -p /d/sub && echo hi > /d/f && chmod 4755 /d/f && echo x > /d/sub/g && "
         "ln -s /etc /lnk && ln -s ../../../.. /up && ln -s /nonexist/a /broken && "
         "ln -s d /dl && mkfifo /fifo && mkdir /tmp/x && echo f > /tmp/x/file && "
         "mkdir /tmp/x/sub")
STATES = ("running", "stopped")

# Go os.FileMode bits
DIR, SYMLINK, PIPE, SETUID = 1 << 31, 1 << 27, 1 << 25, 1 << 23


def _ensure_busybox(engine: Engine, images: OfflineImages) -> None:
    if docker(engine.env, "image", "inspect", "busybox:latest").returncode != 0:
        import_offline_images(engine.env, images, names=("busybox",))


def _cleanup(engine: Engine) -> None:
    names = docker(engine.env, "ps", "-aq", "--filter", f"name={PREFIX}").ok().stdout.split()
    if names:
        docker(engine.env, "rm", "-fv", *names).ok()
    volumes = docker(engine.env, "volume", "ls", "-q", "--filter",
                     f"name={PREFIX}").stdout.split()
    if volumes:
        docker(engine.env, "volume", "rm", "-f", *volumes)


@pytest.fixture(scope="module", params=["refdocker", "ketchd"])
def engine(request: pytest.FixtureRequest, offline_images: OfflineImages) -> Iterator[Engine]:
    engine: Engine = request.getfixturevalue(request.param)
    _ensure_busybox(engine, offline_images)
    _cleanup(engine)
    yield engine
    _cleanup(engine)


@pytest.fixture(scope="module")
def containers(engine: Engine) -> dict[str, str]:
    """A running and a stopped container with SETUP's files, by state."""
    running = f"{PREFIX}-running"
    stopped = f"{PREFIX}-stopped"
    docker(engine.env, "run", "-d", "--network", "none", "--name", running, "busybox",
           "sh", "-c", f"{SETUP} && sleep 600").ok()
    docker(engine.env, "run", "--network", "none", "--name", stopped, "busybox",
           "sh", "-c", SETUP).ok()
    _wait(lambda: _exec(engine, running, "test", "-d", "/tmp/x/sub").returncode == 0,
          "the running container ran its set-up")
    return {"running": running, "stopped": stopped}


@pytest.fixture(params=STATES)
def state(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _exec(engine: Engine, name: str, *argv: str) -> Any:
    return docker(engine.env, "exec", name, *argv)


def _wait(predicate: Any, what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.05)


def _url(name: str, path: str | None, **params: str) -> str:
    query = {} if path is None else {"path": path}
    query.update(params)
    return f"{V}/containers/{name}/archive?{urlencode(query, quote_via=quote)}"


def _head(engine: Engine, name: str, path: str) -> tuple[int, dict[str, Any] | None]:
    response = engine.request("HEAD", _url(name, path))
    header = response.headers.get("x-docker-container-path-stat")
    return response.status, (json.loads(base64.b64decode(header)) if header else None)


def _get(engine: Engine, name: str, path: str | None) -> Response:
    return engine.request("GET", _url(name, path), timeout=60)


def _put(engine: Engine, name: str, path: str, body: bytes, **params: str) -> Response:
    return engine.request("PUT", _url(name, path, **params), body,
                          {"Content-Type": "application/x-tar"}, timeout=60)


def _message(response: Response) -> str:
    """The error message, without 20.10's chrootarchive prefix."""
    text = str(response.json()["message"])
    return text.removeprefix("Error processing tar file(exit status 1): ")


def _entries(data: bytes) -> list[tuple[str, str, str]]:
    """(name as written, type, link target) of each entry of a tar."""
    out = []
    with tarfile.open(fileobj=io.BytesIO(data), mode="r|") as tar:
        for member in tar:
            kind = "dir" if member.isdir() else "sym" if member.issym() else \
                "link" if member.islnk() else "file" if member.isreg() else "other"
            name = member.name + ("/" if member.isdir() and member.name != "/" else "")
            out.append((name, kind, member.linkname))
    return out


def _tar(*members: tuple[str, str, bytes | str], mode: int = 0o644, uid: int = 0,
         gid: int = 0) -> bytes:
    """A tar of (name, kind, data-or-link-target) entries; kind: file, dir, sym, link."""
    buf = io.BytesIO()
    kinds = {"file": tarfile.REGTYPE, "dir": tarfile.DIRTYPE, "sym": tarfile.SYMTYPE,
             "link": tarfile.LNKTYPE}
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, kind, payload in members:
            info = tarfile.TarInfo(name)
            info.type = kinds[kind]
            info.mode, info.uid, info.gid, info.mtime = mode, uid, gid, 1_700_000_000
            data = b""
            if kind == "file":
                data = payload if isinstance(payload, bytes) else payload.encode()
                info.size = len(data)
            elif kind in ("sym", "link"):
                info.linkname = str(payload)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _read(engine: Engine, name: str, path: str) -> bytes:
    """The content of file *path* in the container, through the archive API."""
    response = _get(engine, name, path)
    assert response.status == 200, response.text
    with tarfile.open(fileobj=io.BytesIO(response.body), mode="r|") as tar:
        for member in tar:
            data = tar.extractfile(member)
            assert data is not None, f"{path} is not a regular file"
            return data.read()
    raise AssertionError(f"empty archive for {path}")


def _invalid_status(engine: Engine) -> int:
    """A refused extraction target: 400 in Docker 28 (and ketchd), 500 in 20.10."""
    return 500 if engine.kind == "dockerd" else 400


def _go_mode(raw_hex: str) -> int:
    raw = int(raw_hex, 16)
    mode = raw & 0o777
    mode |= {stat.S_IFDIR: DIR, stat.S_IFLNK: SYMLINK, stat.S_IFIFO: PIPE}.get(
        stat.S_IFMT(raw), 0)
    return mode | (SETUID if raw & stat.S_ISUID else 0)


# --- stat ------------------------------------------------------------------------------------

#: request path -> (name, linkTarget, path to `stat` in the container)
STAT_CASES = {
    "/d": ("d", "", "/d"),
    "/d/f": ("f", "", "/d/f"),
    "/lnk": ("lnk", "/etc", "/lnk"),
    "/lnk/": ("lnk", "", "/etc"),
    "/lnk/.": (".", "", "/etc"),
    "/up": ("up", "/", "/up"),
    "/broken": ("broken", "/nonexist/a", "/broken"),
    "/dl": ("dl", "/d", "/dl"),
    "/dl/": ("dl", "", "/d"),
    "/": ("/", "", "/"),
    "/fifo": ("fifo", "", "/fifo"),
    "/up/etc/passwd": ("passwd", "", "/etc/passwd"),
    "d/../d/f": ("f", "", "/d/f"),
}


def test_stat_header_describes_files_dirs_and_symlinks(engine: Engine,
                                                       containers: dict[str, str]) -> None:
    """HEAD on the running container: every field checked against ``stat`` run inside;
    the stopped container's stats agree on everything but times and directory sizes."""
    running, stopped = containers["running"], containers["stopped"]
    for path, (name, target, real) in STAT_CASES.items():
        status, found = _head(engine, running, path)
        assert status == 200 and found is not None, path
        size, raw, mtime = _exec(engine, running, "stat", "-c", "%s %f %Y", real).ok() \
            .stdout.split()
        assert list(found) == ["name", "size", "mode", "mtime", "linkTarget"]
        assert (found["name"], found["size"], found["mode"], found["linkTarget"]) == \
            (name, int(size), _go_mode(raw), target), path
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z", found["mtime"])
        stamp = time.strptime(found["mtime"].split(".")[0].rstrip("Z"), "%Y-%m-%dT%H:%M:%S")
        assert calendar.timegm(stamp) == int(mtime), path
        status, other = _head(engine, stopped, path)
        assert status == 200 and other is not None, path
        keys = ("name", "mode", "linkTarget") + (() if found["mode"] & DIR else ("size",))
        assert {k: other[k] for k in keys} == {k: found[k] for k in keys}, path


def test_missing_path_is_docker_404(engine: Engine, containers: dict[str, str],
                                    state: str) -> None:
    name = containers[state]
    assert _head(engine, name, "/nope") == (404, None)
    response = _get(engine, name, "/nope")
    assert response.status == 404
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"message": f"Could not find the file /nope in container {name}"}
    response = _put(engine, name, "/nope/deeper", _tar(("a", "file", "a")))
    assert (response.status, _message(response)) == (
        404, f"Could not find the file /nope/deeper in container {name}")
    response = _get(engine, name, "/d/f/")
    assert response.status == 500
    assert re.fullmatch(r"lstat (\S*/merged)?/d/f/: not a directory", _message(response))


def test_path_parameter_is_required(engine: Engine, containers: dict[str, str]) -> None:
    for method in ("GET", "PUT"):
        response = engine.request(method, _url(containers["running"], None))
        assert response.status == 400
        # 20.10 says "pathcannot be empty"
        assert _message(response).replace("pathcannot", "path cannot") == \
            "bad parameter: path cannot be empty"
    response = engine.request("GET", _url(f"{PREFIX}-none", "/"))
    assert (response.status, _message(response)) == (404, f"No such container: {PREFIX}-none")


# --- archive ---------------------------------------------------------------------------------


def test_archive_entries_are_rebased_to_the_base_name(engine: Engine, containers: dict[str, str],
                                                      state: str) -> None:
    name = containers[state]
    tree = [("d/", "dir", ""), ("d/f", "file", ""), ("d/sub/", "dir", ""),
            ("d/sub/g", "file", "")]
    expected = {
        "/d": tree,
        "/d/": tree,
        "/d/.": [(n.replace("d/", "./", 1), k, t) for n, k, t in tree],
        "/dl/": [(n.replace("d/", "dl/", 1), k, t) for n, k, t in tree],
        "/d/f": [("f", "file", "")],
        "/lnk": [("lnk", "sym", "/etc")],
        "/broken": [("broken", "sym", "/nonexist/a")],
        "/up/etc/passwd": [("passwd", "file", "")],
    }
    for path, entries in expected.items():
        response = _get(engine, name, path)
        assert response.status == 200, (path, response.text)
        assert response.headers["content-type"] == "application/x-tar"
        assert json.loads(base64.b64decode(response.headers["x-docker-container-path-stat"])) \
            == _head(engine, name, path)[1]
        assert _entries(response.body) == entries, path
    assert _read(engine, name, "/d/f") == b"hi\n"
    whole = _entries(_get(engine, name, "/").body)
    assert whole[0] == ("/", "dir", "")
    names = {n for n, _, _ in whole}
    assert {"/bin/", "/bin/busybox", "/d/f", "/lnk", "/tmp/x/file"} <= names
    assert all(n.startswith("/") for n in names)
    assert [e for e in whole if e[0] == "/lnk"] == [("/lnk", "sym", "/etc")]
    # hard links name the first entry of their inode, rebased too
    assert all(t.startswith("/") for _, k, t in whole if k == "link")


def test_symlinks_never_read_the_host(engine: Engine, containers: dict[str, str],
                                      state: str) -> None:
    """``lnk -> /etc`` and ``up -> ../../../..`` resolve in the container."""
    name = containers[state]
    passwd = _read(engine, name, "/etc/passwd")
    assert passwd != Path("/etc/passwd").read_bytes()
    for path in ("/lnk/passwd", "/up/etc/passwd", "/up/up/lnk/passwd", "/d/../../lnk/passwd"):
        assert _read(engine, name, path) == passwd, path
    listing = {n for n, _, _ in _entries(_get(engine, name, "/up/etc/").body)}
    host_only = {f"etc/{p}" for p in os.listdir("/etc")} - {
        f"etc/{p}" for p in ("passwd", "group", "hosts", "hostname", "resolv.conf", "mtab")}
    assert not listing & host_only


# --- extraction ------------------------------------------------------------------------------


def test_extract_into_an_existing_directory(engine: Engine, containers: dict[str, str],
                                            state: str) -> None:
    name = containers[state]
    tag = secrets.token_hex(4)
    body = _tar((f"n{tag}/", "dir", ""), (f"n{tag}/f", "file", "one"),
                (f"n{tag}/l", "sym", "f"), (f"n{tag}/h", "link", f"n{tag}/f"))
    response = _put(engine, name, "/tmp", body, noOverwriteDirNonDir="true")
    assert response.status == 200, response.text
    assert _entries(_get(engine, name, f"/tmp/n{tag}").body) == [
        (f"n{tag}/", "dir", ""), (f"n{tag}/f", "file", ""), (f"n{tag}/h", "link", f"n{tag}/f"),
        (f"n{tag}/l", "sym", "f")]
    assert _read(engine, name, f"/tmp/n{tag}/h") == b"one"
    # a symlink to a directory is followed, as is every symlink of the path
    response = _put(engine, name, "/dl", _tar((f"m{tag}", "file", "two")))
    assert response.status == 200, response.text
    assert _read(engine, name, f"/d/m{tag}") == b"two"
    response = _put(engine, name, "/d/f", _tar(("a", "file", "a")))
    assert (response.status, _message(response)) == (
        _invalid_status(engine), "extraction point is not a directory")


def test_extract_keeps_ownership_and_leaves_the_target_alone(engine: Engine,
                                                             containers: dict[str, str],
                                                             state: str) -> None:
    """Entries keep the archive's uid/gid (``copyUIDGID`` changes nothing without a
    container user); a ``./`` entry does not change the target directory."""
    name = containers[state]
    tag = secrets.token_hex(4)
    before = _head(engine, name, "/tmp/x")[1]
    body = _tar(("./", "dir", ""), (f"./o{tag}", "file", "x"), mode=0o700, uid=1234, gid=5678)
    for params in ({}, {"copyUIDGID": "true"}):
        response = _put(engine, name, "/tmp/x", body, **params)
        assert response.status == 200, response.text
        member = tarfile.open(fileobj=io.BytesIO(_get(engine, name, f"/tmp/x/o{tag}").body))
        info = member.getmembers()[0]
        # 20.10 writes the file type bits into the mode field too
        assert (info.uid, info.gid, info.mode & 0o7777) == (1234, 5678, 0o700)
    after = _head(engine, name, "/tmp/x")[1]
    assert before is not None and after is not None and after["mode"] == before["mode"]


def test_no_overwrite_dir_non_dir(engine: Engine, containers: dict[str, str], state: str) -> None:
    name = containers[state]
    response = _put(engine, name, "/tmp/x", _tar(("file/", "dir", "")),
                    noOverwriteDirNonDir="true")
    assert (response.status, _message(response)) == (
        500, 'cannot overwrite non-directory "/tmp/x/file" with directory "/tmp/x"')
    response = _put(engine, name, "/tmp/x", _tar(("sub", "file", "s")),
                    noOverwriteDirNonDir="true")
    assert (response.status, _message(response)) == (
        500, 'cannot overwrite directory "/tmp/x/sub" with non-directory "/tmp/x"')
    # without the parameter, the archive wins
    tag = secrets.token_hex(4)
    assert _put(engine, name, "/tmp/x", _tar((f"w{tag}", "file", "w"))).status == 200
    response = _put(engine, name, "/tmp/x", _tar((f"w{tag}/", "dir", ""),
                                                 (f"w{tag}/in", "file", "i")))
    assert response.status == 200, response.text
    assert _read(engine, name, f"/tmp/x/w{tag}/in") == b"i"


def test_extract_through_symlinks_stays_in_the_container(engine: Engine,
                                                          containers: dict[str, str],
                                                          state: str) -> None:
    name = containers[state]
    tag = f"kt-cp-{secrets.token_hex(4)}"
    host_paths = [Path(f"/etc/{tag}"), Path(f"/tmp/{tag}"), Path(f"/tmp/{tag}-2"),
                  Path(f"/{tag}")]
    try:
        assert _put(engine, name, "/lnk", _tar((tag, "file", "etc"))).status == 200
        assert _read(engine, name, f"/etc/{tag}") == b"etc"
        assert _put(engine, name, "/up/tmp", _tar((tag, "file", "tmp"))).status == 200
        assert _read(engine, name, f"/tmp/{tag}") == b"tmp"
        assert _put(engine, name, "/up/up", _tar((tag, "file", "root"))).status == 200
        assert _read(engine, name, f"/{tag}") == b"root"
        # an archive's own symlink to / leads to the container's root
        response = _put(engine, name, "/tmp/x", _tar((f"r{tag}", "sym", "/"),
                                                     (f"r{tag}/tmp/{tag}-2", "file", "in")))
        assert response.status == 200, response.text
        assert _read(engine, name, f"/tmp/{tag}-2") == b"in"
        for path in host_paths:
            assert not path.exists(), f"{path} was written on the host"
    finally:
        for path in host_paths:
            path.unlink(missing_ok=True)


def test_archives_that_leave_the_directory_are_refused(engine: Engine,
                                                        containers: dict[str, str]) -> None:
    name = containers["running"]
    tag = f"kt-cp-{secrets.token_hex(4)}"
    cases = [
        (_tar((f"../../../../tmp/{tag}", "file", "x")),
         f'"../../../../tmp/{tag}" is outside of "/tmp/x"'),
        (_tar(("h", "link", "../../../../etc/passwd")),
         'invalid hardlink "/etc/passwd" -> "../../../../etc/passwd"'),
        (_tar(("s", "sym", "../../../../../etc")),
         'invalid symlink "/tmp/x/s" -> "../../../../../etc"'),
    ]
    for body, message in cases:
        response = _put(engine, name, "/tmp/x", body, noOverwriteDirNonDir="true")
        assert (response.status, _message(response)) == (500, message)
    assert not Path(f"/tmp/{tag}").exists()
    assert _head(engine, name, f"/tmp/{tag}")[0] == 404
    assert _head(engine, name, "/tmp/x/s")[0] == 404


def test_read_only_targets_are_refused(engine: Engine, tmp_path: Path) -> None:
    source = Path(tempfile.mkdtemp(prefix="kt-cp-bind-", dir="/tmp"))
    try:
        (source / "h").write_text("host\n")
        ro, rv = f"{PREFIX}-ro", f"{PREFIX}-rv"
        docker(engine.env, "run", "-d", "--network", "none", "--read-only", "--name", ro,
               "busybox", "sleep", "600").ok()
        docker(engine.env, "run", "-d", "--network", "none", "-v", f"{source}:/b:ro",
               "--name", rv, "busybox", "sleep", "600").ok()
        status = _invalid_status(engine)
        response = _put(engine, ro, "/tmp", _tar(("a", "file", "a")))
        assert (response.status, _message(response)) == (
            status, "container rootfs is marked read-only")
        response = _put(engine, rv, "/b", _tar(("a", "file", "a")))
        assert (response.status, _message(response)) == (
            status, "mounted volume is marked read-only")
        assert sorted(os.listdir(source)) == ["h"]
        assert _read(engine, rv, "/b/h") == b"host\n"
    finally:
        docker(engine.env, "rm", "-f", f"{PREFIX}-ro", f"{PREFIX}-rv")
        shutil.rmtree(source)


def test_volumes_and_binds_are_read_and_written_through(engine: Engine, state: str) -> None:
    source = Path(tempfile.mkdtemp(prefix="kt-cp-bind-", dir="/tmp"))
    name, volume = f"{PREFIX}-vol-{state}", f"{PREFIX}-vol-{state}"
    try:
        (source / "h").write_text("host\n")
        script = "echo invol > /data/v && ln -s /etc /data/l"
        args = ["--network", "none", "-v", f"{volume}:/data", "-v", f"{source}:/b",
                "--name", name, "busybox", "sh", "-c"]
        if state == "running":
            docker(engine.env, "run", "-d", *args, f"{script} && sleep 600").ok()
            _wait(lambda: _head(engine, name, "/data/l")[0] == 200, "the volume is filled")
        else:
            docker(engine.env, "run", *args, script).ok()
        assert _read(engine, name, "/data/v") == b"invol\n"
        assert _read(engine, name, "/b/h") == b"host\n"
        assert _read(engine, name, "/data/l/passwd") == _read(engine, name, "/etc/passwd")
        whole = {n for n, _, _ in _entries(_get(engine, name, "/").body)}
        assert {"/data/v", "/data/l", "/b/h"} <= whole
        assert _put(engine, name, "/data", _tar(("in", "file", "vol"))).status == 200
        assert _put(engine, name, "/b", _tar(("in", "file", "bind"))).status == 200
        assert (source / "in").read_text() == "bind"
        docker(engine.env, "rm", "-f", name).ok()
        out = docker(engine.env, "run", "--rm", "--network", "none", "-v", f"{volume}:/data",
                     "busybox", "cat", "/data/in").ok().stdout
        assert out == "vol"
    finally:
        docker(engine.env, "rm", "-f", name)
        docker(engine.env, "volume", "rm", "-f", volume)
        shutil.rmtree(source)


def test_archive_and_extract_emit_events(engine: Engine, containers: dict[str, str]) -> None:
    name = containers["stopped"]
    since = time.time() - 0.5
    assert _head(engine, name, "/d")[0] == 200
    assert _get(engine, name, "/d").status == 200
    assert _put(engine, name, "/tmp", _tar(("ev", "file", "e"))).status == 200
    until = time.time() + 0.5
    response = engine.request("GET", f"{V}/events?since={since:.9f}&until={until:.9f}"
                              f"&filters={quote(json.dumps({'container': [name]}))}")
    actions = [json.loads(line)["Action"] for line in response.body.splitlines()
               if line.strip()]
    assert actions == ["archive-path", "extract-to-dir"]


# --- ketchd only -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def kengine(ketchd: Engine, offline_images: OfflineImages) -> Iterator[Engine]:
    _ensure_busybox(ketchd, offline_images)
    yield ketchd
    _cleanup(ketchd)


def _mounted(engine: Engine, container: str) -> bool:
    cid = docker(engine.env, "inspect", "-f", "{{.Id}}", container).ok().stdout.strip()
    merged = str(Path(engine.data_root) / "containers" / cid / "rootfs" / "merged")
    return any(line.split()[4] == merged
               for line in Path("/proc/self/mountinfo").read_text().splitlines())


def test_copy_uid_gid_gives_the_container_user(kengine: Engine) -> None:
    """Docker 28: with copyUIDGID, entries belong to the container's ``User`` (looked up
    in the container's /etc/passwd and /etc/group); without it, to the archive's ids."""
    name = f"{PREFIX}-user"
    docker(kengine.env, "run", "-d", "--network", "none", "--user", "1000:1000", "--name", name,
           "busybox", "sleep", "600").ok()
    body = _tar(("u", "file", "x"), uid=1234, gid=5678)
    assert _put(kengine, name, "/tmp", body, copyUIDGID="true").status == 200
    owned = tarfile.open(fileobj=io.BytesIO(_get(kengine, name, "/tmp/u").body)).getmembers()
    assert (owned[0].uid, owned[0].gid) == (1000, 1000)
    assert _put(kengine, name, "/tmp", body).status == 200
    owned = tarfile.open(fileobj=io.BytesIO(_get(kengine, name, "/tmp/u").body)).getmembers()
    assert (owned[0].uid, owned[0].gid) == (1234, 5678)


def test_stopped_container_is_mounted_only_during_a_copy(kengine: Engine) -> None:
    name = f"{PREFIX}-mnt"
    docker(kengine.env, "run", "--network", "none", "--name", name, "busybox", "sh", "-c",
           "head -c 33554432 /dev/zero > /big").ok()
    assert not _mounted(kengine, name)
    assert _head(kengine, name, "/big")[0] == 200
    assert _put(kengine, name, "/", _tar(("p", "file", "p"))).status == 200
    assert _get(kengine, name, "/nope").status == 404
    assert not _mounted(kengine, name)
    # a download abandoned after its first bytes releases the mount too
    from support.unixhttp import UnixHTTPConnection

    conn = UnixHTTPConnection(str(kengine.socket), timeout=30)
    conn.request("GET", _url(name, "/big"))
    response = conn.getresponse()
    assert response.status == 200 and response.read(4096)
    assert _mounted(kengine, name)
    assert kengine.request("GET", "/_ping", timeout=5).body == b"OK"
    conn.close()
    _wait(lambda: not _mounted(kengine, name), "the abandoned copy's mount is gone")
    docker(kengine.env, "start", name).ok()
    assert docker(kengine.env, "wait", name).ok().stdout.strip() == "0"
    assert not _mounted(kengine, name)
    assert _read(kengine, name, "/p") == b"p"


# --- the view and the extraction, on directories made here -----------------------------------


@pytest.fixture
def rootfs(tmp_path: Path) -> Path:
    """A hostile little root: symlinks out of it, a loop, and a mount source beside it."""
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "passwd").write_text("root:x:0:0::/:/bin/sh\n")
    (root / "tmp").mkdir()
    os.symlink("/etc", root / "lnk")
    os.symlink("../../../../../..", root / "up")
    os.symlink("loop2", root / "loop1")
    os.symlink("loop1", root / "loop2")
    os.symlink(str(tmp_path), root / "hostdir")  # an absolute host path, meaningless inside
    (root / "vol").mkdir()
    (tmp_path / "volsrc").mkdir()
    (tmp_path / "volsrc" / "v").write_text("volume\n")
    os.symlink("/etc", tmp_path / "volsrc" / "l")
    return root


def _same_file(a: os.stat_result, b: Path) -> bool:
    other = b.lstat()
    return (a.st_dev, a.st_ino) == (other.st_dev, other.st_ino)


def test_view_lookups_stay_in_the_root(rootfs: Path) -> None:
    mounts = [CopyMount("/vol", str(rootfs.parent / "volsrc"))]
    with CopyView(rootfs, mounts) as view:
        for path in ("/lnk/passwd", "/up/etc/passwd", "/up/up/lnk/passwd", "/../../etc/passwd",
                     "/vol/l/passwd", "/vol/../etc/passwd"):
            found = view.lookup(path, follow_last=True)
            assert _same_file(found.st, rootfs / "etc" / "passwd"), path
        found = view.lookup("/vol/v", follow_last=False)
        assert _same_file(found.st, rootfs.parent / "volsrc" / "v")
        assert found.mount is not None and found.rel == ("v",)
        with pytest.raises(FileNotFoundError):
            view.lookup("/hostdir/volsrc/v", follow_last=True)
        with pytest.raises(OSError, match="symbolic links"):
            view.lookup("/loop1", follow_last=True)
        assert view.lookup("/loop1", follow_last=False).name == "loop1"
        assert view.resolve_link("/up") == "/"
        assert view.resolve_link("/lnk") == "/etc"
        assert view.resolve_link("/hostdir") == str(rootfs.parent)  # kept as written
        stat_, _ = view.stat(container_path("lnk/."))
        assert (stat_.name, stat_.is_dir) == (".", True)


def test_view_archive_shows_mounts_and_no_host_files(rootfs: Path) -> None:
    mounts = [CopyMount("/vol", str(rootfs.parent / "volsrc"))]
    with CopyView(rootfs, mounts) as view:
        _, found = view.stat("/")
        out = io.BytesIO()
        view.write_archive(found, "", out)
    names = [n for n, _, _ in _entries(out.getvalue())]
    assert names[0] == "/"
    assert {"/vol/v", "/vol/l", "/etc/passwd", "/lnk", "/up"} <= set(names)
    assert not any(n.startswith("/volsrc") for n in names)


def test_extraction_in_the_chroot_cannot_reach_the_host(rootfs: Path) -> None:
    tag = f"kt-cp-{secrets.token_hex(4)}"
    with CopyView(rootfs) as view:
        target = extract_target(view, "/up/tmp", readonly_rootfs=False)
    assert (target.path, target.rel) == ("/tmp", ("tmp",))
    body = _tar((f"r{tag}", "sym", "/"), (f"r{tag}/{tag}", "file", "in"),
                (f"r{tag}/etc/{tag}", "file", "etc"))
    extract_archive(target, io.BytesIO(body), no_overwrite=True)
    assert (rootfs / tag).read_text() == "in"
    assert (rootfs / "etc" / tag).read_text() == "etc"
    assert not Path(f"/{tag}").exists() and not Path(f"/etc/{tag}").exists()
    with pytest.raises(InternalError, match="is outside of"):
        extract_archive(target, io.BytesIO(_tar(("../x", "file", "x"))), no_overwrite=True)
    with pytest.raises(InvalidArgument, match="extraction point is not a directory"), \
            CopyView(rootfs) as view:
        extract_target(view, "/etc/passwd", readonly_rootfs=False)
    with pytest.raises(InvalidArgument, match="read-only"), CopyView(rootfs) as view:
        extract_target(view, "/tmp", readonly_rootfs=True)
    target = ExtractTarget("/tmp", str(rootfs), ("tmp",), owner=(4321, 8765))
    extract_archive(target, io.BytesIO(_tar(("o", "file", "o"), uid=1, gid=2)),
                    no_overwrite=True)
    st = (rootfs / "tmp" / "o").stat()
    assert (st.st_uid, st.st_gid) == (4321, 8765)
