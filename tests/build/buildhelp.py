"""Helpers for the daemon-level build tests: a private ketchd, builds, state snapshots.

The tests in this directory that prune the cache or compare the daemon's
files before and after a build each start a ketchd of their own (one per
module), so that what they see is what their builds did and nothing that
another test of the session left or removes meanwhile.

- :func:`private_ketchd` starts one with ``busybox:latest`` imported.
- :func:`build_api` sends ``POST /build`` with any body (a hand-made tar
  the CLI would never produce) and splits the JSON stream.
- :func:`docker_build` / :func:`ketch_build` run the real CLIs.
- :class:`EngineState` is what a build could leave behind: the files under
  the engine's directory, its mounts, its containers and images.
"""

from __future__ import annotations

import io
import json
import os
import re
import sys
import tarfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

from support.dockercli import Result, docker, run
from support.engines import Engine, EngineSet
from support.images import OfflineImages, import_offline_images

KETCH_CLI = str(Path(sys.executable).with_name("ketch"))

#: Files whose contents change with any request (SQLite and its journals),
#: compared by name only.
_VOLATILE = re.compile(r"(^|/)ketch\.db(-wal|-shm|-journal)?$")


def private_ketchd(engine_set: EngineSet, images: OfflineImages) -> Engine:
    """A ketchd of the caller's own, with busybox:latest; the caller stops it.

    One container has run and gone, so the directories a daemon makes on
    first use (runtime state, the containers' trash) already exist and are
    not taken for something a build left.
    """
    engine = engine_set.ketchd()
    import_offline_images(engine.env, images, ("busybox",))
    docker(engine.env, "run", "--rm", "--network", "none", "busybox", "true").ok()
    return engine


# -- building -------------------------------------------------------------------------


@dataclass
class Build:
    """What ``POST /build`` answered: status, and the stream split up."""

    status: int
    body: str
    messages: list[dict[str, object]] = field(default_factory=list)

    @property
    def error(self) -> str | None:
        """The failure: a 4xx/5xx body's message, or the stream's errorDetail."""
        if self.status >= 400:
            try:
                return str(json.loads(self.body)["message"])
            except (ValueError, KeyError, TypeError):
                return self.body
        for message in self.messages:
            if "error" in message:
                return str(message["error"])
        return None

    @property
    def stream(self) -> str:
        return "".join(str(m["stream"]) for m in self.messages if "stream" in m)

    @property
    def image_id(self) -> str | None:
        for message in self.messages:
            aux = message.get("aux")
            if isinstance(aux, dict) and "ID" in aux:
                return str(aux["ID"])
        return None

    def describe(self) -> str:
        return f"HTTP {self.status}\n{self.body}"


def build_api(engine: Engine, body: bytes, timeout: float = 180.0, **params: str) -> Build:
    """``POST /build`` with *body* as the context and *params* as the query."""
    query = urlencode({"rm": "1", "forcerm": "1", "networkmode": "none", **params})
    resp = engine.request("POST", f"/v1.41/build?{query}", body,
                          {"Content-Type": "application/x-tar"}, timeout=timeout)
    build = Build(resp.status, resp.text)
    if resp.status == 200:
        build.messages = [json.loads(line) for line in resp.text.splitlines() if line.strip()]
    return build


def cli_env(engine: Engine) -> dict[str, str]:
    return dict(engine.env, DOCKER_BUILDKIT="0")


def docker_build(engine: Engine, *args: str, cwd: Path | None = None) -> Result:
    """``DOCKER_BUILDKIT=0 docker build ARGS`` (Docker 28's classic-builder client)."""
    return docker(cli_env(engine), "build", *args, timeout=300, cwd=cwd)


def ketch(engine: Engine, *args: str, input: str | None = None) -> Result:
    """``ketch ARGS`` against the engine."""
    return run(engine.env, [KETCH_CLI, *args], input=input, timeout=300)


def step_ids(output: str) -> list[str]:
    """The short IDs of the images a build's steps made (`` ---> <id>`` lines
    after a step's first line; the FROM image's line is left out)."""
    ids: list[str] = []
    in_from = False
    for line in output.splitlines():
        if line.startswith("Step "):
            in_from = " : FROM " in line
            continue
        m = re.fullmatch(r" ---> ([0-9a-f]{12})", line)
        if m and not in_from:
            ids.append(m.group(1))
    return ids


class Link(str):
    """A symlink's target, as the content of a :func:`tar_of` entry."""


def tar_of(*entries: tuple[str, bytes | str | None]) -> bytes:
    """A plain tar of (name, content) in order: text or bytes a file, None a
    directory, a :class:`Link` a symlink. Names are written as given
    (``../x``, ``/abs``), which is the point of making it by hand."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in entries:
            info = tarfile.TarInfo(name)
            info.mtime = 1_700_000_000
            if data is None:
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            elif isinstance(data, Link):
                info.type, info.linkname, info.mode = tarfile.SYMTYPE, str(data), 0o777
                tar.addfile(info)
            else:
                raw = data.encode() if isinstance(data, str) else data
                info.size, info.mode = len(raw), 0o644
                tar.addfile(info, io.BytesIO(raw))
    return buf.getvalue()


# -- what a build leaves behind -----------------------------------------------------------


def _tree(root: Path, skip: tuple[Path, ...]) -> set[str]:
    found: set[str] = set()
    if not root.exists():
        return found
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        dirnames[:] = [d for d in dirnames if here / d not in skip]
        for name in [*dirnames, *filenames]:
            found.add(str((here / name).relative_to(root)))
    return found


def _api_ids(engine: Engine, path: str) -> set[str]:
    resp = engine.request("GET", path)
    assert resp.status == 200, resp.text
    return {str(item["Id"]) for item in resp.json()}


def _trashes(engine: Engine) -> tuple[Path, ...]:
    """Where the daemon renames trees it deletes in the background (build
    contexts and downloads; containers' root filesystems)."""
    return (engine.data_root / "tmp" / "trash", engine.data_root / "containers" / ".trash")


def wait_idle(engine: Engine, timeout: float = 15.0) -> None:
    """Wait until the daemon's trash directories are empty: what a finished
    build discarded is deleted after the response, in the background."""
    deadline = time.monotonic() + timeout
    for trash in _trashes(engine):
        while trash.exists() and any(trash.iterdir()):
            assert time.monotonic() < deadline, f"{trash} not emptied: {list(trash.iterdir())}"
            time.sleep(0.05)


def engine_mounts(engine: Engine) -> tuple[str, ...]:
    """Mounts in the daemon's mount namespace that lie under the engine's
    directory or name its data root in their options (an overlay whose
    layers are the daemon's, mounted anywhere)."""
    root, data = str(engine.root), str(engine.data_root)
    found: set[str] = set()
    with open(f"/proc/{engine.pid}/mountinfo", encoding="utf-8") as f:
        for line in f:
            fields = line.split()
            point = fields[4]
            if point == root or point.startswith(root + "/") or data + "/" in line:
                found.add(point)
    return tuple(sorted(found))


@dataclass(frozen=True)
class EngineState:
    """Files under the engine's directory (data root, exec root; the SQLite
    files by name only), the mounts below it, its containers and images."""

    files: frozenset[str]
    mounts: tuple[str, ...]
    containers: frozenset[str]
    images: frozenset[str]

    @classmethod
    def take(cls, engine: Engine) -> EngineState:
        wait_idle(engine)
        files = {f for f in _tree(engine.root, _trashes(engine)) if not f.endswith(".log")}
        return cls(
            files=frozenset(files),
            mounts=engine_mounts(engine),
            containers=frozenset(_api_ids(engine, "/containers/json?all=1")),
            images=frozenset(_api_ids(engine, "/images/json?all=1")),
        )

    def changes_since(self, before: EngineState, *, new_images: bool = False) -> list[str]:
        """What differs, one line each; with *new_images* the files and image
        IDs that a successful build adds (layers, blobs) are allowed, not
        anything else (a container, a mount, a file outside the store)."""
        problems: list[str] = []
        added = sorted(self.files - before.files)
        removed = sorted(before.files - self.files)
        if new_images:
            stores = ("data/layers/", "data/content/blobs/")
            added = [f for f in added if not f.startswith(stores)]
        problems += [f"new file: {f}" for f in added if not _VOLATILE.search(f)]
        problems += [f"file gone: {f}" for f in removed if not _VOLATILE.search(f)]
        problems += [f"new mount: {m}" for m in sorted(set(self.mounts) - set(before.mounts))]
        problems += [f"new container: {c}" for c in sorted(self.containers - before.containers)]
        if not new_images:
            problems += [f"new image: {i}" for i in sorted(self.images - before.images)]
        return problems
