"""``POST /commit``, ``GET /containers/{id}/changes`` and ``/export`` at the API level.

Every test here but the last group runs on the reference Docker (20.10) and
on ketchd with the same assertions, so the expectations are Docker's own:
how a body config and ``changes`` are merged with the container's config,
which events a commit emits (and the pause around it), the JSON of the
change list, and the status and message of each error.

The export tests at the end are ketchd's own: they watch the overlay
mounts of a stopped container while exports run, stall or are abandoned,
and check that the daemon keeps answering meanwhile.
"""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from support.dockercli import docker
from support.engines import Engine
from support.images import OfflineImages, import_offline_images
from support.unixhttp import Response, UnixHTTPConnection

#: Both engines answer API 1.41 the same way (the reference's own version).
V = "/v1.41"
PREFIX = "kt-commit-api"


def _ensure_busybox(engine: Engine, images: OfflineImages) -> None:
    if docker(engine.env, "image", "inspect", "busybox:latest").returncode != 0:
        import_offline_images(engine.env, images, names=("busybox",))


@pytest.fixture(scope="module", params=["refdocker", "ketchd"])
def engine(request: pytest.FixtureRequest, offline_images: OfflineImages) -> Iterator[Engine]:
    engine: Engine = request.getfixturevalue(request.param)
    _ensure_busybox(engine, offline_images)
    yield engine
    _cleanup(engine)


def _cleanup(engine: Engine) -> None:
    names = docker(engine.env, "ps", "-aq", "--filter", f"name={PREFIX}").ok().stdout.split()
    if names:
        docker(engine.env, "rm", "-fv", *names).ok()
    refs = docker(engine.env, "images", "--format", "{{.Repository}}:{{.Tag}}",
                  f"{PREFIX}/*").ok().stdout.split()
    if refs:
        docker(engine.env, "rmi", "-f", *refs).ok()
    # Commits without a name are dangling children of busybox: on the shared
    # reference engine they would block other tests' `rmi busybox`.
    docker(engine.env, "image", "prune", "-f").ok()


def _run(engine: Engine, name: str, *args: str, detach: bool = False) -> str:
    """A container made with the docker CLI (``--network none``), its full ID."""
    docker(engine.env, "rm", "-fv", name)
    mode = ["run", "-d"] if detach else ["run"]
    docker(engine.env, *mode, "--network", "none", "--name", name, *args).ok()
    return str(docker(engine.env, "inspect", "-f", "{{.Id}}", name).ok().stdout.strip())


def _commit(engine: Engine, params: dict[str, str | list[str]], body: Any = None,
            headers: dict[str, str] | None = None) -> Response:
    query = urlencode(params, doseq=True, quote_via=quote)
    data = None if body is None else (body if isinstance(body, bytes) else
                                      json.dumps(body).encode())
    if data is not None and headers is None:
        headers = {"Content-Type": "application/json"}
    return engine.request("POST", f"{V}/commit?{query}", data, headers)


def _image(engine: Engine, image_id: str) -> dict[str, Any]:
    response = engine.request("GET", f"{V}/images/{image_id}/json")
    assert response.status == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def _committed(response: Response) -> str:
    assert response.status == 201, response.text
    image_id = response.json()["Id"]
    assert isinstance(image_id, str) and image_id.startswith("sha256:")
    assert len(image_id) == 71
    return image_id


def _events(engine: Engine, since: float, until: float) -> list[dict[str, Any]]:
    response = engine.request("GET", f"{V}/events?since={since:.9f}&until={until:.9f}")
    assert response.status == 200, response.text
    return [json.loads(line) for line in response.body.splitlines() if line.strip()]


# --- config -------------------------------------------------------------------------------


def test_body_config_and_changes_are_merged_with_the_container_config(engine: Engine) -> None:
    _run(engine, f"{PREFIX}-body", "-e", "X=1", "-l", "a=b", "--entrypoint", "/bin/echo",
         "busybox", "hi")
    body = {"Cmd": ["bye"], "Env": ["Y=2"], "Labels": {"c": "d"},
            "ExposedPorts": {"80/tcp": {}}}
    image_id = _committed(_commit(engine, {"container": f"{PREFIX}-body",
                                           "changes": ["ENV Z=3", "LABEL e=f"],
                                           "repo": f"{PREFIX}/body"}, body))
    image = _image(engine, image_id)
    config = image["Config"]
    assert config["Cmd"] == ["bye"]
    assert config["Env"] == ["Y=2", "Z=3", "X=1"]
    assert config["Labels"] == {"a": "b", "c": "d", "e": "f"}
    assert config["Entrypoint"] == ["/bin/echo"]
    assert config["ExposedPorts"] == {"80/tcp": {}}
    assert image["RepoTags"] == [f"{PREFIX}/body:latest"]


def test_body_config_is_filled_field_by_field_from_the_container(engine: Engine) -> None:
    """Docker's commit merge: unions of ports and volumes, the healthcheck per field,
    and everything the body leaves unset taken from the container."""
    name = f"{PREFIX}-merge"
    engine.request("DELETE", f"{V}/containers/{name}?force=1")
    create = engine.request("POST", f"{V}/containers/create?name={name}", json.dumps({
        "Image": "busybox", "Cmd": ["true"], "Env": ["X=1", "K=k"], "Labels": {"l": "1"},
        "ExposedPorts": {"1/tcp": {}}, "Volumes": {"/a": {}}, "WorkingDir": "/w",
        "User": "nobody", "StopSignal": "SIGUSR1",
        "Healthcheck": {"Test": ["CMD-SHELL", "true"], "Retries": 3},
        "HostConfig": {"NetworkMode": "none"}}).encode(), {"Content-Type": "application/json"})
    assert create.status == 201, create.text
    body = {"Healthcheck": {"Interval": 5000000000}, "Volumes": {"/b": {}},
            "ExposedPorts": {"2/udp": {}}, "Env": ["Y=2", "X=0"]}
    image_id = _committed(_commit(engine, {"container": name,
                                           "changes": ["VOLUME /c", "EXPOSE 3"]}, body))
    config = _image(engine, image_id)["Config"]
    assert {k: config.get(k) for k in (
        "User", "Env", "Labels", "ExposedPorts", "Volumes", "Healthcheck", "WorkingDir",
        "StopSignal", "Cmd", "Entrypoint")} == {
        "User": "nobody", "Env": ["Y=2", "X=0", "K=k"], "Labels": {"l": "1"},
        "ExposedPorts": {"1/tcp": {}, "2/udp": {}, "3/tcp": {}},
        "Volumes": {"/a": {}, "/b": {}, "/c": {}},
        "Healthcheck": {"Test": ["CMD-SHELL", "true"], "Interval": 5000000000, "Retries": 3},
        "WorkingDir": "/w", "StopSignal": "SIGUSR1", "Cmd": ["true"], "Entrypoint": None,
    }
    engine.request("DELETE", f"{V}/images/{image_id}")


@pytest.mark.parametrize("changes, entrypoint, cmd", [
    (['ENTRYPOINT ["/x"]'], ["/x"], None),
    (["ENTRYPOINT /x"], ["/bin/sh", "-c", "/x"], None),
    (['CMD ["c"]', 'ENTRYPOINT ["/x"]'], ["/x"], ["c"]),
    (['ENTRYPOINT ["/x"]', 'CMD ["c"]'], ["/x"], ["c"]),
    (["ENTRYPOINT []"], ["/bin/echo"], ["hi"]),
    (["CMD c d"], ["/bin/echo"], ["/bin/sh", "-c", "c d"]),
], ids=lambda v: repr(v))
def test_entrypoint_and_cmd_changes_follow_the_builder(
        engine: Engine, changes: list[str], entrypoint: list[str], cmd: list[str] | None) -> None:
    """ENTRYPOINT drops the Cmd unless a CMD came first; an emptied one comes back."""
    _run(engine, f"{PREFIX}-ep", "--entrypoint", "/bin/echo", "busybox", "hi")
    image_id = _committed(_commit(engine, {"container": f"{PREFIX}-ep", "changes": changes}))
    config = _image(engine, image_id)["Config"]
    assert (config["Entrypoint"], config["Cmd"]) == (entrypoint, cmd)
    engine.request("DELETE", f"{V}/images/{image_id}")


def test_changes_expand_the_config_env_and_port_ranges_as_the_builder_does(
        engine: Engine) -> None:
    """Docker runs ``--change`` lines through the builder's dispatchers: ``$VAR``
    comes from the config's Env (as the lines before left it), EXPOSE takes
    ranges, and ENV replaces a variable where it stands."""
    cid = _run(engine, f"{PREFIX}-expand", "-e", "PORT=8000", "-e", "DIR=/srv", "-e", "Z=1",
               "busybox", "true")
    own_env = engine.request("GET", f"{V}/containers/{cid}/json").json()["Config"]["Env"]
    image_id = _committed(_commit(engine, {"container": f"{PREFIX}-expand", "changes": [
        "EXPOSE $PORT-8002 53/udp", "ENV PORT=9000 NEW=$DIR/x", "LABEL port=$PORT",
        "WORKDIR $DIR", "WORKDIR app", "VOLUME $DIR/data", "USER ${NOPE:-nobody}",
    ]}))
    config = _image(engine, image_id)["Config"]
    assert config["ExposedPorts"] == {"8000/tcp": {}, "8001/tcp": {}, "8002/tcp": {},
                                      "53/udp": {}}
    assert config["Env"] == [
        "PORT=9000" if e == "PORT=8000" else e for e in own_env] + ["NEW=/srv/x"]
    assert config["Labels"] == {"port": "9000"}
    assert (config["WorkingDir"], config["Volumes"], config["User"]) == (
        "/srv/app", {"/srv/data": {}}, "nobody")
    engine.request("DELETE", f"{V}/images/{image_id}")


def test_commit_records_container_comment_author_and_history(engine: Engine) -> None:
    cid = _run(engine, f"{PREFIX}-hist", "busybox", "sh", "-c", "echo x > /f")
    parent = docker(engine.env, "inspect", "-f", "{{.Id}}", "busybox").ok().stdout.strip()
    image_id = _committed(_commit(engine, {"container": cid[:12], "comment": "a message",
                                           "author": "Kay Tee <kt@example.com>"}))
    image = _image(engine, image_id)
    assert (image["Comment"], image["Author"], image["Container"], image["Parent"]) == (
        "a message", "Kay Tee <kt@example.com>", cid, parent)
    assert image["ContainerConfig"]["Cmd"] == ["sh", "-c", "echo x > /f"]
    assert (image["Config"]["Labels"], image["Config"]["Volumes"]) == ({}, None)
    assert len(image["RootFS"]["Layers"]) == 2
    history = engine.request("GET", f"{V}/images/{image_id}/history").json()
    top = history[0]
    assert (top["CreatedBy"], top["Comment"], top["Size"]) == (
        "sh -c echo x > /f", "a message", 2)
    engine.request("DELETE", f"{V}/images/{image_id}")


def test_commit_of_an_unchanged_container_adds_no_layer(engine: Engine) -> None:
    docker(engine.env, "rm", "-fv", f"{PREFIX}-same")
    docker(engine.env, "create", "--name", f"{PREFIX}-same", "busybox", "true").ok()
    layers = _image(engine, "busybox")["RootFS"]["Layers"]
    image_id = _committed(_commit(engine, {"container": f"{PREFIX}-same"}))
    assert _image(engine, image_id)["RootFS"]["Layers"] == layers
    history = engine.request("GET", f"{V}/images/{image_id}/history").json()
    assert (history[0]["CreatedBy"], history[0]["Size"]) == ("true", 0)
    engine.request("DELETE", f"{V}/images/{image_id}")


# --- pause and events -----------------------------------------------------------------------


def _commit_events(engine: Engine, params: dict[str, str | list[str]]) -> list[str]:
    since = time.time()
    image_id = _committed(_commit(engine, params))
    until = time.time() + 0.5
    time.sleep(0.6)
    seen = []
    for event in _events(engine, since, until):
        attrs = event["Actor"]["Attributes"]
        line = f"{event['Type']} {event['Action']}"
        if event["Action"] == "commit":
            assert attrs["imageID"] == image_id
            line += f" comment={attrs['comment']!r} imageRef={attrs['imageRef']!r}"
        elif event["Action"] == "tag":
            assert event["Actor"]["ID"] == image_id
            line += f" name={attrs['name']}"
        seen.append(line)
    return seen


def test_commit_pauses_a_running_container_and_resumes_it(engine: Engine) -> None:
    name = f"{PREFIX}-run"
    _run(engine, name, "busybox", "sh", "-c", "echo hi > /r; sleep 60", detach=True)
    # with a tag: Docker 20.10 names a repo without one "repo" in the tag event
    events = _commit_events(engine, {"container": name, "repo": f"{PREFIX}/run",
                                     "tag": "latest", "comment": "c1"})
    assert events == ["container pause", f"image tag name={PREFIX}/run:latest",
                      "container commit comment='c1' imageRef='" + PREFIX + "/run:latest'",
                      "container unpause"]
    state = docker(engine.env, "inspect", "-f", "{{.State.Status}}", name).ok().stdout
    assert state == "running\n"
    assert _commit_events(engine, {"container": name, "pause": "0"}) == [
        "container commit comment='' imageRef=''"]
    docker(engine.env, "pause", name).ok()
    assert _commit_events(engine, {"container": name, "pause": "1"}) == [
        "container commit comment='' imageRef=''"]
    state = docker(engine.env, "inspect", "-f", "{{.State.Status}}", name).ok().stdout
    assert state == "paused\n"
    docker(engine.env, "rm", "-fv", name).ok()


# --- changes ------------------------------------------------------------------------------


def test_changes_of_an_untouched_container_are_null(engine: Engine) -> None:
    docker(engine.env, "rm", "-fv", f"{PREFIX}-null")
    docker(engine.env, "create", "--name", f"{PREFIX}-null", "busybox").ok()
    response = engine.request("GET", f"{V}/containers/{PREFIX}-null/changes")
    assert response.status == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() is None


def test_changes_report_non_utf8_names_with_the_replacement_character(engine: Engine) -> None:
    _run(engine, f"{PREFIX}-bytes", "busybox", "sh", "-c",
         r"touch /tmp/a$(printf '\377')b; mkdir /n; rm /etc/group")
    response = engine.request("GET", f"{V}/containers/{PREFIX}-bytes/changes")
    assert response.status == 200
    changes = sorted((c["Path"], c["Kind"]) for c in response.json())
    assert changes == [("/etc", 0), ("/etc/group", 2), ("/n", 1), ("/tmp", 0),
                       ("/tmp/a\ufffdb", 1)]


# --- errors -------------------------------------------------------------------------------


def test_unknown_container_is_404_everywhere(engine: Engine) -> None:
    for method, path in (("POST", f"{V}/commit?container={PREFIX}-nosuch"),
                         ("GET", f"{V}/containers/{PREFIX}-nosuch/changes"),
                         ("GET", f"{V}/containers/{PREFIX}-nosuch/export")):
        response = engine.request(method, path)
        assert response.status == 404, (path, response.text)
        assert response.json() == {"message": f"No such container: {PREFIX}-nosuch"}


#: (query, body, headers, what the message says, Docker 20.10's status). Docker
#: 20.10 checked a name only when tagging the image it had already made, and
#: did not mark bad JSON as a bad parameter: both were 500s (the image left
#: behind); moby 28, whose behaviour ketchd follows, answers 400 and makes nothing.
BAD_COMMITS = {
    "run": ({"changes": "RUN true"}, None, None, "run is not a valid change command", 400),
    "from": ({"changes": ["ENV A=1", "FROM busybox"]}, None, None,
             "from is not a valid change command", 400),
    "upper": ({"repo": "UPPER"}, None, None, "must be lowercase", 500),
    "tag": ({"repo": "x", "tag": "a@b"}, None, None, "invalid tag format", 500),
    "content-type": ({}, b"x", {"Content-Type": "text/plain"},
                     "must be 'application/json'", 400),
    "json": ({}, b"{bad", {"Content-Type": "application/json"}, "", 500),
}


@pytest.mark.parametrize("case", BAD_COMMITS)
def test_bad_commit_requests_are_400(engine: Engine, case: str) -> None:
    params, body, headers, message, status_2010 = BAD_COMMITS[case]
    docker(engine.env, "rm", "-fv", f"{PREFIX}-bad")
    docker(engine.env, "create", "--name", f"{PREFIX}-bad", "busybox").ok()
    before = sorted(docker(engine.env, "images", "-aq").ok().stdout.split())
    response = _commit(engine, {"container": f"{PREFIX}-bad", **params}, body, headers)
    status = status_2010 if engine.kind == "dockerd" else 400
    assert response.status == status, response.text
    assert response.headers["content-type"] == "application/json"
    assert message in response.json()["message"]
    if status == 400:
        assert sorted(docker(engine.env, "images", "-aq").ok().stdout.split()) == before


def test_commit_without_a_container_is_400(engine: Engine) -> None:
    response = _commit(engine, {})
    assert response.status == 400
    assert response.json() == {"message": 'invalid name or ID supplied: ""'}


# --- export (ketchd) --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def kengine(ketchd: Engine, offline_images: OfflineImages) -> Iterator[Engine]:
    _ensure_busybox(ketchd, offline_images)
    yield ketchd
    _cleanup(ketchd)


def _mounted(engine: Engine, container_id: str) -> bool:
    merged = str(Path(engine.data_root) / "containers" / container_id / "rootfs" / "merged")
    return any(line.split()[4] == merged
               for line in Path("/proc/self/mountinfo").read_text().splitlines())


def _open_export(engine: Engine, container: str) -> tuple[UnixHTTPConnection,
                                                           http.client.HTTPResponse]:
    conn = UnixHTTPConnection(str(engine.socket), timeout=30)
    conn.request("GET", f"{V}/containers/{container}/export")
    response = conn.getresponse()
    assert response.status == 200
    assert response.getheader("Content-Type") == "application/octet-stream"
    return conn, response


def _wait(predicate: Any, what: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.05)


def test_export_mounts_a_stopped_container_only_while_exports_run(kengine: Engine) -> None:
    """Two exports at once, one abandoned by its client, the other read to the end;
    the daemon answers meanwhile, and the overlay goes once the last export ends."""
    cid = _run(kengine, f"{PREFIX}-big", "busybox", "sh", "-c",
               "head -c 134217728 /dev/zero > /big")
    assert not _mounted(kengine, cid)
    first, first_body = _open_export(kengine, cid)
    second, second_body = _open_export(kengine, cid)
    try:
        assert first_body.read(1 << 16)
        assert _mounted(kengine, cid)
        started = time.monotonic()
        assert kengine.request("GET", "/_ping", timeout=5).body == b"OK"
        assert time.monotonic() - started < 2, "the export blocks the daemon"
        first.close()  # abandoned with most of the tar unread
        time.sleep(1)
        assert _mounted(kengine, cid), "an abandoned export unmounted under another one"
        total = 0
        while chunk := second_body.read(1 << 20):
            total += len(chunk)
        assert total > 134217728
    finally:
        first.close()
        second.close()
    _wait(lambda: not _mounted(kengine, cid), "the export's mount is gone")
    docker(kengine.env, "rm", "-fv", cid).ok()


def test_export_of_a_running_container_leaves_it_running(kengine: Engine) -> None:
    cid = _run(kengine, f"{PREFIX}-live", "busybox", "sh", "-c", "echo live > /l; sleep 60",
               detach=True)
    _wait(lambda: docker(kengine.env, "exec", cid, "cat", "/l").stdout == "live\n",
          "the container wrote its file")
    conn, body = _open_export(kengine, cid)
    try:
        data = body.read()
    finally:
        conn.close()
    assert b"live\n" in data
    assert _mounted(kengine, cid)
    assert docker(kengine.env, "exec", cid, "cat", "/l").ok().stdout == "live\n"
    docker(kengine.env, "rm", "-fv", cid).ok()
    assert not _mounted(kengine, cid)


def test_export_of_a_created_container_has_the_engine_files(kengine: Engine) -> None:
    docker(kengine.env, "rm", "-fv", f"{PREFIX}-new")
    cid = docker(kengine.env, "create", "--name", f"{PREFIX}-new", "busybox").ok().stdout.strip()
    conn, body = _open_export(kengine, cid)
    try:
        data = body.read()
    finally:
        conn.close()
    assert b"etc/hosts\0" in data and b"bin/busybox\0" in data
    _wait(lambda: not _mounted(kengine, cid), "the export's mount is gone")
    diff = kengine.request("GET", f"{V}/containers/{cid}/changes")
    assert diff.json() is None, "export left files that docker diff reports"
