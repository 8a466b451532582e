"""``ketch build`` (the classic builder's protocol) and ``ketch builder prune``.

The context directory is filtered by ``.dockerignore`` on this side, as the
docker CLI does, written as a tar to a temporary file (so its size is known
and a read error stops the build before it starts) and sent to ``POST
/build``; the JSON stream is shown as it comes. A failed RUN makes the
command exit with that RUN's exit code, as docker does.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from ketch.cli.env import PROG, Env
from ketch.cli.flags import CommandSpec, Flag, Parsed, UsageError


def spec_build(path: str) -> CommandSpec:
    return CommandSpec(
        path, "build [OPTIONS] PATH | URL | -", "Build an image from a Dockerfile",
        flags=[
            Flag("add-host", "Add a custom host-to-IP mapping (\"host:ip\")", kind="list",
                 typename="list"),
            Flag("build-arg", "Set build-time variables", kind="list", typename="list"),
            Flag("cache-from", "Images to consider as cache sources", kind="list",
                 typename="strings"),
            Flag("file", "Name of the Dockerfile (Default is \"PATH/Dockerfile\")", short="f",
                 kind="string"),
            Flag("force-rm", "Always remove intermediate containers"),
            Flag("label", "Set metadata for an image", kind="list", typename="list"),
            Flag("network", "Set the networking mode for the RUN instructions during build",
                 kind="string", default="default"),
            Flag("no-cache", "Do not use cache when building the image"),
            Flag("progress", "Set type of progress output", kind="string", default="auto",
                 hidden=True),
            Flag("pull", "Always attempt to pull a newer version of the image"),
            Flag("quiet", "Suppress the build output and print image ID on success",
                 short="q"),
            Flag("rm", "Remove intermediate containers after a successful build",
                 kind="bool", default=True),
            Flag("tag", "Name and optionally a tag in the \"name:tag\" format", short="t",
                 kind="list", typename="list"),
            Flag("target", "Set the target build stage to build.", kind="string"),
        ],
        min_args=1, max_args=1,
        aliases=f"{PROG} image build, {PROG} build, {PROG} builder build",
    )


def _build_args(values: list[str]) -> dict[str, str | None]:
    """``--build-arg K=V``, or ``K`` alone: the value from this environment, as docker."""
    import os

    args: dict[str, str | None] = {}
    for item in values:
        key, sep, value = item.partition("=")
        args[key] = value if sep else os.environ.get(key)
    return args


def _labels(values: list[str]) -> dict[str, str]:
    labels: dict[str, str] = {}
    for item in values:
        key, _, value = item.partition("=")
        labels[key] = value
    return labels


def _write_context(env: Env, source: str, dockerfile: str, tar: Any) -> str:
    """The context tar into ``tar``; returns the dockerfile name to ask the daemon for."""
    from ketch.build.context_send import send_context

    if source == "-":
        data = env.binary_stdin().read()
        tar.write(data)
        return dockerfile
    context = Path(source)
    if not context.is_dir():
        raise UsageError(f'unable to prepare context: path "{source}" not found')
    name = dockerfile or "Dockerfile"
    outside = Path(name)
    if (dockerfile and outside.is_absolute()) or (dockerfile and not (context / name).exists()
                                                 and Path(dockerfile).exists()):
        # A Dockerfile outside the context is sent inside it under a random name.
        import secrets

        text = Path(dockerfile).read_bytes()
        inner = f".dockerfile.{secrets.token_hex(10)}"
        _send_with_extra(context, tar, inner, text)
        return inner
    send_context(context, tar, name)
    return name


def _send_with_extra(context: Path, tar: Any, name: str, data: bytes) -> None:
    """The context tar with one more file (an outside Dockerfile) appended."""
    import io
    import tarfile

    from ketch.build.context_send import send_context

    with tempfile.TemporaryFile() as plain:
        send_context(context, plain, "Dockerfile", dockerfile_from_stdin=True)
        plain.seek(0)
        with tarfile.open(fileobj=plain, mode="r:") as source, \
                tarfile.open(fileobj=tar, mode="w:", format=tarfile.PAX_FORMAT) as out:
            for member in source:
                out.addfile(member, source.extractfile(member) if member.isreg() else None)
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o600
            out.addfile(info, io.BytesIO(data))


def run_build(env: Env, p: Parsed) -> int:
    from ketch.cli import jsonmessage
    from ketch.cli.units import human_size

    quiet = bool(p["quiet"])
    params: dict[str, Any] = {
        "t": p["tag"], "q": "1" if quiet else None, "nocache": "1" if p["no_cache"] else None,
        "rm": "1" if p["rm"] else "0", "forcerm": "1" if p["force_rm"] else None,
        "pull": "1" if p["pull"] else None, "target": p["target"] or None,
        "networkmode": p["network"] or None,
        "buildargs": json.dumps(_build_args(p["build_arg"])) if p["build_arg"] else None,
        "labels": json.dumps(_labels(p["label"])) if p["label"] else None,
        "cachefrom": json.dumps(p["cache_from"]) if p["cache_from"] else None,
        "extrahosts": ",".join(p["add_host"]) or None,
    }
    with tempfile.TemporaryFile() as tar:
        params["dockerfile"] = _write_context(env, p.args[0], p["file"], tar)
        size = tar.tell()
        tar.seek(0)
        if not quiet:
            env.err(f"Sending build context to Docker daemon  {human_size(size)}\n")
            env.stderr.flush()
        messages = env.client.stream_json(
            "POST", "/build", params={k: v for k, v in params.items() if v},
            body=tar, headers={"Content-Type": "application/x-tar"})
        image_id = ""

        def shown() -> Any:
            nonlocal image_id
            for message in messages:
                aux = message.get("aux")
                if isinstance(aux, dict) and aux.get("ID"):
                    image_id = str(aux["ID"])
                yield message

        from ketch.client.errors import StreamError

        try:
            if quiet:
                for _ in shown():
                    pass
            else:
                jsonmessage.display(shown(), env.stdout, env.stdout_is_terminal())
        except StreamError as exc:
            env.stdout.flush()
            env.err(f"{exc.message}\n")
            return exc.code or 1
    if quiet and image_id:
        env.out(image_id + "\n")
    return 0


def spec_builder_prune(path: str) -> CommandSpec:
    from ketch.cli.objectcmds import filter_flag
    from ketch.sizes import ram_in_bytes

    return CommandSpec(
        path, "prune", "Remove build cache",
        flags=[
            Flag("all", "Remove all unused build cache, not just dangling ones", short="a"),
            filter_flag('Provide filter values (e.g. "until=24h")', short=""),
            Flag("force", "Do not prompt for confirmation", short="f"),
            Flag("keep-storage", "Amount of disk space to keep for cache", kind="string",
                 typename="bytes", convert=ram_in_bytes),
        ],
        max_args=0,
    )


_PRUNE_DANGLING = ("WARNING! This will remove all dangling build cache. "
                   "Are you sure you want to continue?")
_PRUNE_ALL = "WARNING! This will remove all build cache. Are you sure you want to continue?"


def run_builder_prune(env: Env, p: Parsed) -> int:
    """``docker builder prune``: one prompt line, the deleted IDs and a blank
    line, then the space reclaimed; ``--keep-storage`` is sent under its
    old name, as Docker's CLI does (every engine version reads it)."""
    from ketch.cli.objectcmds import filters_of, print_pruned, prune_confirmed
    from ketch.client.client import encode_filters

    if not prune_confirmed(env, p, _PRUNE_ALL if p["all"] else _PRUNE_DANGLING):
        return 0
    params: dict[str, str | None] = {
        "all": "1" if p["all"] else None,
        "keep-storage": str(p["keep_storage"]) if p["keep_storage"] else None,
        "filters": encode_filters(filters_of(p["filter"])),
    }
    result = env.client.post_json("/build/prune", params=params) or {}
    print_pruned(env, "build cache objects", list(result.get("CachesDeleted") or []),
                 int(result.get("SpaceReclaimed") or 0))
    return 0
