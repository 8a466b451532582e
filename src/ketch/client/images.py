"""Image endpoints of the Engine API: list, inspect, history, tag, remove, save,
load, import, prune. Methods return the daemon's JSON as plain dicts/lists."""

from __future__ import annotations

import builtins
from collections.abc import Iterator, Mapping, Sequence

from ketch.client.client import checked_messages, encode_filters

TYPE_CHECKING = False  # typing is not imported at run time: it costs startup time
if TYPE_CHECKING:
    from typing import IO, Any

    from ketch.client.client import Client


def _flag(value: bool) -> str:
    return "1" if value else "0"


class LoadResult:
    """What ``POST /images/load`` answered: a JSON message stream, or plain text."""

    def __init__(self, is_json: bool, messages: Iterator[dict[str, Any]] | None,
                 chunks: Iterator[bytes] | None) -> None:
        self.is_json = is_json
        self.messages = messages
        self.chunks = chunks


class ImagesAPI:
    def __init__(self, client: Client) -> None:
        self.client = client

    def list(self, *, all: bool = False,
             filters: Mapping[str, Sequence[str]] | None = None) -> builtins.list[dict[str, Any]]:
        """``GET /images/json``: image summaries (newest first, as the daemon sorts them)."""
        params: dict[str, str | None] = {"filters": encode_filters(filters)}
        if all:
            params["all"] = "1"
        result = self.client.get_json("/images/json", params)
        return list(result or [])

    def inspect(self, name: str) -> dict[str, Any]:
        """``GET /images/{name}/json``."""
        result: dict[str, Any] = self.client.get_json(f"/images/{name}/json")
        return result

    def inspect_raw(self, name: str) -> bytes:
        """``GET /images/{name}/json`` as the daemon's JSON bytes."""
        return self.client.get_raw(f"/images/{name}/json")

    def history(self, name: str) -> builtins.list[dict[str, Any]]:
        """``GET /images/{name}/history``: layers, newest first."""
        return list(self.client.get_json(f"/images/{name}/history") or [])

    def tag(self, source: str, repo: str, tag: str | None = None) -> None:
        """``POST /images/{source}/tag?repo=&tag=``."""
        params = {"repo": repo, "tag": tag or None}
        self.client.request("POST", f"/images/{source}/tag", params=params).read()

    def remove(self, name: str, *, force: bool = False,
               noprune: bool = False) -> builtins.list[dict[str, str]]:
        """``DELETE /images/{name}``: the ``Untagged``/``Deleted`` items in order."""
        params = {"force": "1" if force else None, "noprune": "1" if noprune else None}
        return list(self.client.delete_json(f"/images/{name}", params) or [])

    def save(self, names: Sequence[str], out: IO[bytes]) -> int:
        """``GET /images/get?names=...``: stream the archive into ``out``."""
        return self.client.download("GET", "/images/get", out, params={"names": list(names)})

    def load(self, source: IO[bytes], *, quiet: bool = False) -> LoadResult:
        """``POST /images/load``: upload a docker-archive/OCI tar (chunked) from ``source``."""
        resp = self.client.request(
            "POST", "/images/load", params={"quiet": _flag(quiet)}, body=source,
            headers={"Content-Type": "application/x-tar"},
        )
        if resp.content_type == "application/json":
            return LoadResult(True, checked_messages(resp.iter_json()), None)
        return LoadResult(False, None, resp.iter_chunks())

    def import_image(self, source: IO[bytes] | None, *, from_src: str = "-",
                     repo: str = "", tag: str = "", message: str = "",
                     changes: Sequence[str] = (), platform: str = "",
                     ) -> Iterator[dict[str, Any]]:
        """``POST /images/create?fromSrc=-``: a root filesystem tar becomes an image."""
        params: dict[str, str | Sequence[str] | None] = {
            "fromSrc": from_src,
            "repo": repo or None,
            "tag": tag or None,
            "message": message or None,
            "platform": platform.lower() or None,
            "changes": list(changes) or None,
        }
        return self.client.stream_json("POST", "/images/create", params=params, body=source)

    def prune(self, filters: Mapping[str, Sequence[str]] | None = None) -> dict[str, Any]:
        """``POST /images/prune``: ``{"ImagesDeleted": [...], "SpaceReclaimed": n}``."""
        result: dict[str, Any] = self.client.post_json(
            "/images/prune", {"filters": encode_filters(filters)}
        ) or {}
        return result

    def pull(self, name: str, tag: str, *, platform: str = "",
             registry_auth: str = "e30=") -> Iterator[dict[str, Any]]:
        """``POST /images/create?fromImage=&tag=``: the pull's JSON message stream.

        ``name`` is the full repository name (``docker.io/library/busybox``) and ``tag``
        a tag or digest, as the Go client splits them; ``registry_auth`` is the
        base64url ``X-Registry-Auth`` value (``e30=`` is ``{}``: no credentials).
        """
        params = {"fromImage": name, "tag": tag or None, "platform": platform.lower() or None}
        return self.client.stream_json("POST", "/images/create", params=params,
                                       headers={"X-Registry-Auth": registry_auth})

    def push(self, name: str, tag: str = "", *,
             registry_auth: str = "e30=") -> Iterator[dict[str, Any]]:
        """``POST /images/{name}/push?tag=``: the push's JSON message stream.

        ``name`` is the familiar repository name and ``tag`` empty to push every tag
        (``-a``), as the Go client sends them.
        """
        return self.client.stream_json("POST", f"/images/{name}/push",
                                       params={"tag": tag or None},
                                       headers={"X-Registry-Auth": registry_auth})
