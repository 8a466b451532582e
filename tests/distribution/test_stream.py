"""The wire: Docker's JSON progress stream of pull and push, the pull/push
events, ``/distribution/{name}/json``, and the docker CLI's implicit pull."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from support.dockercli import docker
from support.engines import Engine
from support.images import OfflineImages, import_offline_images

from .registry import DistRegistry


def _messages(body: bytes) -> list[dict[str, Any]]:
    return [json.loads(line) for line in body.splitlines() if line.strip()]


def test_push_and_pull_streams_and_events(
    make_ketchd: Callable[..., Engine], offline_images: OfflineImages, registry: DistRegistry,
) -> None:
    source = make_ketchd()
    import_offline_images(source.env, offline_images, ("busybox",))
    name = f"{registry.host}/wire"
    docker(source.env, "tag", "busybox", f"{name}:7").ok()
    since = int(time.time()) - 1

    push = source.request("POST", f"/images/{quote(name, safe='')}/push?tag=7",
                          headers={"X-Registry-Auth": "e30="}, timeout=120)
    assert push.status == 200, push.text
    assert push.headers["content-type"] == "application/json"
    sent = _messages(push.body)
    # Docker's plain messages carry no progressDetail (clients would draw
    # them as progress lines); layer actions carry an empty one.
    assert sent[0] == {"status": f"The push refers to repository [{name}]"}
    statuses = [m.get("status") for m in sent]
    assert "Preparing" in statuses and "Pushed" in statuses
    pushing = [m for m in sent if m.get("status") == "Pushing"]
    assert pushing and pushing[-1]["progressDetail"]["current"] == \
        pushing[-1]["progressDetail"]["total"]
    aux = sent[-1]["aux"]
    assert set(aux) == {"Tag", "Digest", "Size"} and aux["Tag"] == "7"
    assert sent[-2]["status"] == f"7: digest: {aux['Digest']} size: {aux['Size']}"

    target = make_ketchd()
    pull = target.request("POST", f"/images/create?fromImage={quote(name)}&tag=7",
                          headers={"X-Registry-Auth": "not base64 at all"}, timeout=120)
    assert pull.status == 200, pull.text
    got = _messages(pull.body)
    assert got[0] == {"status": "Pulling from wire", "id": "7"}
    layer = got[1]["id"]
    assert got[1] == {"status": "Pulling fs layer", "progressDetail": {}, "id": layer}
    per_layer = [m["status"] for m in got if m.get("id") == layer]
    assert per_layer[0] == "Pulling fs layer" and per_layer[-1] == "Pull complete"
    for step in ("Downloading", "Verifying Checksum", "Download complete", "Extracting"):
        assert step in per_layer
    downloading = [m for m in got if m.get("status") == "Downloading"]
    assert downloading[-1]["progressDetail"]["current"] == \
        downloading[-1]["progressDetail"]["total"] > 0
    assert got[-2]["status"] == f"Digest: {aux['Digest']}"
    assert got[-1]["status"] == f"Status: Downloaded newer image for {name}:7"

    events = target.request("GET", f"/events?since={since}&until={int(time.time()) + 1}")
    actions = [(e["Action"], e["Actor"]["ID"]) for e in _messages(events.body)]
    assert ("pull", f"{name}:7") in actions
    pushed_events = source.request("GET",
                                   f"/events?since={since}&until={int(time.time()) + 1}")
    assert ("push", f"{name}:7") in [(e["Action"], e["Actor"]["ID"])
                                     for e in _messages(pushed_events.body)]

    remote = target.request("GET", f"/distribution/{name}:7/json")
    assert remote.status == 200, remote.text
    body = json.loads(remote.body)
    assert body["Descriptor"] == {
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "digest": aux["Digest"], "size": aux["Size"]}
    assert body["Platforms"][0]["os"] == "linux"


def test_pull_errors_before_any_progress_are_http_errors(
    ketchd: Engine, registry: DistRegistry,
) -> None:
    missing = ketchd.request("POST",
                             f"/images/create?fromImage={registry.host}/none&tag=x")
    assert missing.status == 404, missing.text
    assert "not found" in json.loads(missing.body)["message"]
    bad = ketchd.request("POST", "/images/create?fromImage=lower/UPPER")
    assert bad.status == 400, bad.text


def test_push_of_an_image_that_does_not_exist(ketchd: Engine, registry: DistRegistry) -> None:
    result = docker(ketchd.env, "push", f"{registry.host}/never:1")
    assert result.returncode != 0
    assert "does not exist locally" in result.stderr, result.describe()


def test_run_pulls_implicitly(
    make_ketchd: Callable[..., Engine], offline_images: OfflineImages, registry: DistRegistry,
) -> None:
    source = make_ketchd()
    import_offline_images(source.env, offline_images, ("busybox",))
    ref = f"{registry.host}/runme:1"
    docker(source.env, "tag", "busybox", ref).ok()
    docker(source.env, "push", ref).ok()

    target = make_ketchd()
    ran = docker(target.env, "run", "--rm", ref, "echo", "pulled and ran").ok()
    assert "pulled and ran" in ran.stdout
    assert f"Unable to find image '{ref}' locally" in ran.stderr
    assert f"Status: Downloaded newer image for {ref}" in ran.stderr
