"""The Docker SDK for Python (`docker` on PyPI) against each engine.

The SDK is the second client ketchd must satisfy: it parses the JSON
itself, maps statuses to exceptions (ImageNotFound only for a 404 whose
message says "no such image") and streams save/load. Results are recorded
and compared with the reference like the CLI transcripts.
"""

from __future__ import annotations

import io
import json
import re
import tarfile
from typing import Any

import docker.errors
from support.conformance import Conform, Session


def api_error(e: docker.errors.APIError) -> dict[str, Any]:
    """An SDK error without the URL (it holds the negotiated API version)."""
    return {"type": type(e).__name__, "status": e.status_code, "explanation": e.explanation}


def manifest_of(data: bytes) -> list[dict[str, Any]]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        member = tar.extractfile("manifest.json")
        assert member is not None
        manifest: list[dict[str, Any]] = json.load(member)
    # The config's path differs by format (<hex>.json, blobs/sha256/<hex>).
    return [
        {"RepoTags": e.get("RepoTags"), "Config": re.findall(r"[0-9a-f]{64}", e["Config"])}
        for e in manifest
    ]


def test_sdk_list_and_get(conform: Conform) -> None:
    def scenario(s: Session) -> None:
        c = s.client
        assert c.ping() is True
        images = c.images.list()
        s.record("list", [(i.id, sorted(i.tags)) for i in images], mode="sorted")
        assert {i.id for i in images} == set(s.baseline.ids.values())
        s.record("list name", [i.tags for i in c.images.list(name="busybox")])
        s.record("list all", [i.short_id for i in c.images.list(all=True)], mode="sorted")
        s.record("list dangling", [i.id for i in c.images.list(filters={"dangling": True})])
        s.record("list label", [i.id for i in c.images.list(filters={"label": "nope"})])
        s.record("list reference", [i.tags for i in c.images.list(filters={"reference": "hello*"})])
        bb = c.images.get("busybox")
        assert bb.id == s.baseline.ids["busybox:latest"]
        assert bb.tags == ["busybox:latest"]
        s.record(
            "get",
            {
                "id": bb.id,
                "short_id": bb.short_id,
                "tags": bb.tags,
                "labels": bb.labels,
                "cmd": bb.attrs["Config"]["Cmd"],
                "size": bb.attrs["Size"],
                "layers": bb.attrs["RootFS"]["Layers"],
                "created": bb.attrs["Created"],
                "os": bb.attrs["Os"],
                "arch": bb.attrs["Architecture"],
            },
        )
        assert c.images.get(bb.short_id).id == bb.id  # short_id is "sha256:" + 10 hex
        assert c.images.get(bb.id.removeprefix("sha256:")[:12]).id == bb.id
        s.record(
            "history",
            [
                {k: h[k] for k in ("Id", "Created", "CreatedBy", "Size", "Comment", "Tags")}
                for h in bb.history()
            ],
        )
        try:
            c.images.get("nope")
            raise AssertionError("get('nope') did not raise")
        except docker.errors.ImageNotFound as e:
            s.record("get nope", api_error(e))
        s.record("version keys", sorted(c.version()))
        info = c.info()
        s.record("info", {"Images": info["Images"], "Containers": info["Containers"]})
        df = c.df()
        s.record("df layers size", df["LayersSize"])
        s.record(
            "df images",
            [(i["Id"], i["Size"], i["SharedSize"], i["Containers"]) for i in df["Images"]],
            mode="sorted",
        )

    conform(scenario)


def test_sdk_tag_and_remove(conform: Conform) -> None:
    def scenario(s: Session) -> None:
        c = s.client
        bb = c.images.get("busybox")
        assert bb.tag("sdk/bb", "v1") is True
        assert bb.tag("sdk/bb") is True  # :latest
        bb.reload()
        s.record("tags", sorted(bb.tags))
        assert c.images.get("sdk/bb:v1").id == bb.id
        s.record("untag", c.api.remove_image("sdk/bb:v1"))
        try:
            c.images.remove(bb.id)
            raise AssertionError("removing an image with two tags by ID did not conflict")
        except docker.errors.APIError as e:
            assert e.status_code == 409
            s.record("conflict", api_error(e))
        s.record("force", c.api.remove_image(bb.id, force=True))
        try:
            c.images.remove("nope")
            raise AssertionError("removing 'nope' did not raise")
        except docker.errors.ImageNotFound as e:
            s.record("remove nope", api_error(e))
        s.record("after", [t for i in c.images.list() for t in i.tags], mode="sorted")
        try:
            c.api.tag("nope", "x", "1")
            raise AssertionError("tagging 'nope' did not raise")
        except docker.errors.ImageNotFound as e:
            s.record("tag nope", api_error(e))

    conform(scenario)


def test_sdk_save_and_load(conform: Conform) -> None:
    def scenario(s: Session) -> None:
        c = s.client
        bb = c.images.get("busybox")
        chunks = list(bb.save(chunk_size=64 * 1024))
        assert len(chunks) > 1  # streamed, not one body
        by_id = b"".join(chunks)
        named = b"".join(bb.save(named=True))
        both = b"".join(c.api.get_image("hello-world"))
        s.record("by id", manifest_of(by_id))  # RepoTags null: saved by ID
        s.record("named", manifest_of(named))
        s.record("api get", manifest_of(both))
        c.api.remove_image("busybox")
        loaded = c.images.load(named)
        s.record("load named", [(i.id, i.tags) for i in loaded])
        assert [i.id for i in loaded] == [s.baseline.ids["busybox:latest"]]
        c.api.remove_image("busybox")
        loaded = c.images.load(by_id)
        s.record("load by id", [(i.id, i.tags) for i in loaded])
        s.record("list", [(i.id, i.tags) for i in c.images.list()], mode="sorted")
        s.record("raw load", list(c.api.load_image(both)))
        try:
            c.images.load(b"not a tar archive" * 100)
            raise AssertionError("loading garbage did not raise")
        except docker.errors.DockerException:
            # Docker answers 200 and puts the error in the stream (the SDK
            # raises ImageLoadError); an engine that fails before sending
            # anything may answer with an HTTP error instead (APIError).
            s.record("load garbage", "raised")

    conform(scenario)


def test_sdk_import_and_prune(conform: Conform) -> None:
    def scenario(s: Session) -> None:
        c = s.client
        out = c.api.import_image_from_data(
            s.images.hello_world.read_bytes(),
            repository="sdk/imp",
            tag="1",
            changes=['CMD ["/hello"]', "ENV A=b"],
        )
        s.record("import", out)
        img = c.images.get("sdk/imp:1")
        s.record("config", {k: img.attrs["Config"][k] for k in ("Cmd", "Env")})
        c.api.import_image_from_data(
            s.images.hello_world.read_bytes(), repository="sdk/imp", tag="1"
        )
        pruned = c.images.prune(filters={"dangling": True})
        s.record("prune deleted", pruned["ImagesDeleted"], mode="sorted")
        s.record("prune reclaimed", pruned["SpaceReclaimed"])
        pruned = c.images.prune(filters={"dangling": False})
        s.record("prune all deleted", pruned["ImagesDeleted"], mode="sorted")
        s.record("prune all reclaimed", pruned["SpaceReclaimed"])
        s.record("left", [i.tags for i in c.images.list()])

    conform(scenario)
