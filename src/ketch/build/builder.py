"""The classic builder: a Dockerfile and a context in, an image out.

Steps run in order, as Docker's classic builder runs them, and each one
yields an image (Docker's intermediate images, which are also the cache):

* config-only instructions (ENV, CMD, LABEL, WORKDIR, ...) commit a child
  image with no new layer — no container is created for them, unlike
  Docker, which creates and removes one per step;
* RUN creates a container from the current image, runs the command under
  runc with the build's network mode, streams its output and commits the
  container's upper dir (a RUN that changes nothing adds no layer);
* COPY and ADD mount a step root (the parent image's overlay with an
  upper dir of its own, no container: :mod:`ketch.build.steproot`),
  unpack the sources into it with the chrooted extractor, and commit its
  upper dir, which becomes the new layer's snapshot as it is. Heredoc
  sources (``COPY <<EOF``, BuildKit's, not the classic builder's) are
  written as files of their own and copied the same way
  (:mod:`ketch.build.heredoc`).

Before running a step the cache is probed with (parent image, step key),
where the key covers the step's command (COPY/ADD: the sources' content
hash) and run config — Docker's classic rule; with ``--cache-from``
sources, Docker 20.10's history-based rule decides
(:mod:`ketch.build.cachefrom`). Stages the target does not need are
skipped. The output is Docker's JSON stream: ``Step n/m``, `` --->``
lines, ``Using cache``, RUN output (stderr in red as Docker colours it),
``Successfully built/tagged`` and the ``aux`` image ID.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
import os
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import aiohttp

from ketch.build.cache import BuildCache, PruneOptions, prune_cache, step_key
from ketch.build.cachefrom import CacheFrom
from ketch.build.config import apply_instruction, expansion_env
from ketch.build.context import BuildContext
from ketch.build.copy_digest import source_digest
from ketch.build.copy_tar import CopyStats, resolve_destination, write_copy_tar
from ketch.build.copysource import (
    URL_FILE_MODE,
    CopySource,
    check_sources,
    resolve_sources,
    url_filename,
    url_mtime,
    url_source,
)
from ketch.build.dockerfile import (
    DEFAULT_SHELL,
    Add,
    Arg,
    Copy,
    Dockerfile,
    Instruction,
    Maintainer,
    Run,
    Stage,
    Workdir,
    classic_rejection,
    commit_message,
    copy_commit_message,
    expand_from,
    expand_instruction,
    needed_stages,
    nop_cmd,
    parse_dockerfile,
    parse_onbuild_trigger,
    prepend_build_args,
    resolve_command,
    resolve_from,
    single_item_comment,
)
from ketch.build.heredoc import write_heredoc_sources
from ketch.build.workspace import StepFailed, Workspace, image_chain, make_dirs
from ketch.containers.commit import go_config
from ketch.containers.users import resolve_user
from ketch.emitstream import stream_emitted
from ketch.errors import InvalidArgument, KetchError, NotFound
from ketch.images.commit import ChildImage
from ketch.images.service import ImageService
from ketch.oci.digest import short_id
from ketch.oci.reference import Reference, parse_with_default_tag
from ketch.trash import Trash

log = logging.getLogger(__name__)

#: Build args every build accepts without an ARG, and never records (Docker's list).
PROXY_ARGS = frozenset({"HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy",
                        "FTP_PROXY", "ftp_proxy", "NO_PROXY", "no_proxy",
                        "ALL_PROXY", "all_proxy"})
DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_RED, _RESET = "\x1b[91m", "\x1b[0m"

#: Fetches an image the build needs and does not have (the implicit pull).
PullFn = Callable[[Reference], Awaitable[str]]
Emit = Callable[[dict[str, Any]], None]


@dataclass
class BuildOptions:
    """What ``POST /build`` asks for (see ENGINE-API-NOTES for the parameters)."""

    tags: list[Reference] = field(default_factory=list)
    dockerfile: str = ""
    build_args: dict[str, str | None] = field(default_factory=dict)
    target: str = ""
    no_cache: bool = False
    pull: bool = False
    quiet: bool = False
    remove: bool = True
    force_remove: bool = False
    labels: dict[str, str] = field(default_factory=dict)
    network_mode: str = ""
    extra_hosts: list[str] = field(default_factory=list)
    cache_from: list[str] = field(default_factory=list)


@dataclass
class StageState:
    """Where a stage is: its image, its run config and what was declared."""

    stage: Stage
    image_id: str | None = None
    config: dict[str, Any] = field(default_factory=dict)
    diff_ids: list[str] = field(default_factory=list)
    shell: tuple[str, ...] = DEFAULT_SHELL
    #: ARGs declared in this stage, with their values (None: no value)
    args: dict[str, str | None] = field(default_factory=dict)
    #: a CMD ran in this stage (then ENTRYPOINT keeps Cmd, as in Docker)
    cmd_set: bool = False

    @property
    def env(self) -> list[str]:
        return list(self.config.get("Env") or [])


class Builder:
    def __init__(self, images: ImageService, workspace: Workspace, cache: BuildCache,
                 tmp_dir: Path) -> None:
        self.images = images
        self.workspace = workspace
        self.cache = cache
        self.tmp_dir = tmp_dir
        #: contexts and downloads are deleted after the response, not before
        self.trash = Trash(tmp_dir / "trash")

    def discard(self, context: BuildContext) -> None:
        """Let go of a finished build's context (deleted in the background)."""
        self.trash.discard(context.root)

    async def prune(self, options: PruneOptions) -> tuple[list[str], int]:
        """``POST /build/prune``: see :func:`ketch.build.cache.prune_cache`.

        ``min-free-space`` is measured on the file system of the engine's
        directories (where the steps' layers are).
        """
        free = 0
        if options.min_free_space:
            stat = os.statvfs(self.tmp_dir)
            free = stat.f_bavail * stat.f_frsize
        return await prune_cache(self.cache, self.images, options, free)

    def parse(self, context: BuildContext) -> Dockerfile:
        return parse_dockerfile(context.dockerfile_text, name=context.dockerfile_name)

    async def build(self, context: BuildContext, dockerfile: Dockerfile,
                    options: BuildOptions, pull: PullFn) -> AsyncIterator[dict[str, Any]]:
        """Run the build; yields Docker's JSON-stream objects as it goes.

        ``pull`` fetches a base image the store lacks (or every one with
        ``options.pull``), with the request's registry credentials.

        A failure is yielded as the final ``errorDetail`` object (the HTTP
        status is already 200 by then), as Docker does.
        """
        runs: list[_Build] = []

        async def work(emit: Callable[[dict[str, Any]], None]) -> None:
            run = _Build(self, context, dockerfile, options, emit, pull)
            runs.append(run)
            try:
                await run.execute()
            except StepFailed as exc:
                emit(_error(exc.message, exc.code))
            except KetchError as exc:
                emit(_error(exc.message))
            except Exception as exc:
                log.exception("build failed")
                emit(_error(f"{type(exc).__name__}: {exc}"))

        try:
            async for message in stream_emitted(work):
                yield message
        finally:
            for run in runs:
                await run.cleanup()


def _error(message: str, code: int | None = None) -> dict[str, Any]:
    detail: dict[str, Any] = {"message": message}
    if code is not None:
        detail = {"code": code, "message": message}
    return {"errorDetail": detail, "error": message}


class _Build:
    """One build in progress."""

    def __init__(self, builder: Builder, context: BuildContext, dockerfile: Dockerfile,
                 options: BuildOptions, emit: Emit, pull: PullFn) -> None:
        self.b = builder
        self.pull = pull
        self.context = context
        self.df = dockerfile
        self.options = options
        self.emit_raw = emit
        self.step = 0
        self.total = 0
        self.meta_args: dict[str, str | None] = {}
        self.used_args: set[str] = set()
        self.stages_done: dict[int, StageState] = {}
        self.leftover: list[Any] = []  # containers kept with rm=false (failed steps: forcerm)
        self.downloads: Path | None = None
        #: Docker's history-based cache when the build names --cache-from sources
        self.cache_from: CacheFrom | None = None
        if options.cache_from and not options.no_cache:
            self.cache_from = CacheFrom.resolve(builder.images, options.cache_from)

    # -- output --------------------------------------------------------------------
    def out(self, text: str) -> None:
        if not self.options.quiet:
            self.emit_raw({"stream": text})

    def step_line(self, original: str) -> None:
        self.step += 1
        self.out(f"Step {self.step}/{self.total} : {original}")
        self.out("\n")

    # -- the whole build ---------------------------------------------------------------
    async def execute(self) -> None:
        df = self.df
        for warning in df.warnings:
            self.out(warning + "\n")
        stages = needed_stages(df, self.options.target or None)
        label_steps = 1 if self.options.labels else 0
        self.total = df.step_total(stages, extra=label_steps)
        for arg in df.meta_args:
            self.step_line(arg.original)
            for definition in arg.args:
                value = self.options.build_args.get(definition.key, definition.value)
                self.meta_args[definition.key] = value
                if definition.key in self.options.build_args:
                    self.used_args.add(definition.key)
        state: StageState | None = None
        for stage in stages:
            df.check_stage_name(stage)
            state = await self.build_stage(stage, last=stage is stages[-1])
            self.stages_done[stage.index] = state
        if state is None or state.image_id is None:
            raise InvalidArgument("No image was generated. Is your Dockerfile empty?")
        self.warn_unused_args()
        image_id = state.image_id
        self.emit_raw({"aux": {"ID": image_id}})
        if self.options.quiet:
            self.emit_raw({"stream": image_id + "\n"})
        self.out(f"Successfully built {short_id(image_id)}\n")
        for ref in self.options.tags:
            await self.tag(ref, image_id)
            self.out(f"Successfully tagged {ref.familiar}\n")

    async def tag(self, ref: Reference, image_id: str) -> None:
        await self.b.images.tag(image_id, str(ref), "")

    def warn_unused_args(self) -> None:
        unused = sorted(k for k in self.options.build_args
                        if k not in self.used_args and k not in PROXY_ARGS)
        if unused:
            self.out(f"[Warning] One or more build-args {_go_list(unused)} were not "
                     "consumed\n")

    async def cleanup(self) -> None:
        for container in self.leftover:
            await self.b.workspace.remove(container)
        self.leftover.clear()
        if self.downloads is not None:
            self.b.trash.discard(self.downloads)

    # -- stages --------------------------------------------------------------------
    async def build_stage(self, stage: Stage, last: bool) -> StageState:
        meta_env = {k: v for k, v in self.meta_args.items() if v is not None}
        self.step_line(stage.from_.original)
        if self.cache_from is not None:
            self.cache_from.reset()
        frm = expand_from(stage.from_, meta_env, escape_token=self.df.escape_token)
        state = StageState(stage=stage)
        parent_stage = resolve_from(self.df, stage, frm.image)
        if parent_stage is not None:
            done = self.stages_done.get(parent_stage.index)
            if done is None:
                raise InvalidArgument(f"stage {parent_stage.name or parent_stage.index} "
                                      "was not built")
            state.image_id = done.image_id
            state.config = _copy_config(done.config)
            state.diff_ids = list(done.diff_ids)
        elif frm.image.lower() == "scratch":
            state.config = {"Env": [DEFAULT_PATH]}
        else:
            await self.from_image(state, frm.image)
        if state.image_id:
            self.out(f" ---> {short_id(state.image_id)}\n")
        if not state.config.get("Env"):
            state.config["Env"] = [DEFAULT_PATH]
        await self.run_triggers(state)
        instructions = list(stage.instructions)
        for instruction in instructions:
            self.step_line(instruction.original)
            await self.dispatch(state, instruction)
        if last and self.options.labels:
            text = "LABEL " + " ".join(f'"{k}"=\'{v}\'' for k, v in
                                       sorted(self.options.labels.items()))
            label = parse_onbuild_trigger(text)
            self.step_line(text)
            await self.dispatch(state, label)
        return state

    async def from_image(self, state: StageState, name: str) -> None:
        try:
            ref = parse_with_default_tag(name)
        except InvalidArgument:
            ref = None
        image_id: str | None = None
        if ref is not None and self.options.pull:
            image_id = await self.pull(ref)
        else:
            try:
                image_id = self.b.images.resolve_id(name)
            except NotFound:
                if ref is None:
                    raise
                image_id = await self.pull(ref)
        image = self.b.images.get(image_id)
        state.image_id = image.id
        state.config = _copy_config(image.config.config or {})
        state.diff_ids = list(image.config.rootfs.diff_ids)

    async def run_triggers(self, state: StageState) -> None:
        triggers = list(state.config.get("OnBuild") or [])
        if not triggers:
            return
        state.config["OnBuild"] = []
        plural = "" if len(triggers) == 1 else "s"
        self.out(f"# Executing {len(triggers)} build trigger{plural}\n")
        for text in triggers:
            trigger = parse_onbuild_trigger(text)
            await self.dispatch(state, trigger)

    # -- instructions --------------------------------------------------------------
    async def dispatch(self, state: StageState, instruction: Instruction) -> None:
        rejection = classic_rejection(instruction)
        # Heredoc sources are BuildKit's (the classic builder has none), and
        # so are the flags that come with them: --chmod is allowed there.
        if rejection and not _has_heredocs(instruction):
            raise InvalidArgument(rejection)
        ins = expand_instruction(instruction, expansion_env(state.config, state.args),
                                 escape_token=self.df.escape_token, heredoc_content=True)
        if isinstance(ins, Run):
            await self.run(state, ins)
        elif isinstance(ins, (Copy, Add)):
            await self.copy(state, ins)
        elif isinstance(ins, Arg):
            self.declare_args(state, ins)
            await self.commit_config(state, ins)
        else:
            apply_instruction(state, ins)
            await self.commit_config(state, ins)

    def declare_args(self, state: StageState, ins: Arg) -> None:
        for definition in ins.args:
            key = definition.key
            if key in self.options.build_args:
                value = self.options.build_args[key]
                self.used_args.add(key)
            elif definition.value is not None:
                value = definition.value
            else:
                value = self.meta_args.get(key)
            state.args[key] = value

    async def commit_config(self, state: StageState, ins: Instruction) -> None:
        """Commit a config-only step (cache first)."""
        workdir = state.config.get("WorkingDir") if isinstance(ins, Workdir) else None
        message = commit_message(ins, shell=state.shell, workdir=workdir)
        if message is None:
            raise InvalidArgument(f"unsupported instruction {ins.keyword}")
        cmd = nop_cmd(state.shell, message, single_item=single_item_comment(ins))
        run_config = {**state.config, "Cmd": cmd}
        author = ins.maintainer if isinstance(ins, Maintainer) else ""
        if await self.probe_cache(state, run_config):
            return
        child = ChildImage(config=self.image_config(state), created_by=" ".join(cmd),
                           author=author, container_config=self.container_config(state, cmd))
        committed = await self.b.workspace.committer.commit(state.image_id, child, None)
        self.finish_step(state, run_config, committed.image_id, None)

    # -- cache ---------------------------------------------------------------------
    async def probe_cache(self, state: StageState, run_config: dict[str, Any]) -> bool:
        if self.options.no_cache:
            return False
        parent = state.image_id or ""
        key = step_key(run_config)
        image_id = self.b.cache.lookup(parent, key)
        image = None
        if image_id is not None:
            try:
                image = self.b.images.get(image_id)
            except NotFound:
                self.b.cache.forget(parent, key)
                image_id = None
        if self.cache_from is not None:
            config = go_config({**run_config, "Image": parent})
            image_id = await self.cache_from.probe(parent, run_config.get("Cmd") or [],
                                                   config, image_id)
            image = self.b.images.get(image_id) if image_id is not None else None
        if image is None:
            return False
        self.out(" ---> Using cache\n")
        self.out(f" ---> {short_id(image.id)}\n")
        state.image_id = image.id
        state.diff_ids = list(image.config.rootfs.diff_ids)
        return True

    def finish_step(self, state: StageState, run_config: dict[str, Any], image_id: str,
                    diff_ids: list[str] | None) -> None:
        self.b.cache.record(state.image_id or "", step_key(run_config), image_id)
        state.image_id = image_id
        if diff_ids is not None:
            state.diff_ids = diff_ids
        else:
            state.diff_ids = list(self.b.images.get(image_id).config.rootfs.diff_ids)
        self.out(f" ---> {short_id(image_id)}\n")

    def image_config(self, state: StageState) -> dict[str, Any]:
        """The ``config`` of the step's image: Docker's full Config shape."""
        return go_config({**state.config, "Image": state.image_id or ""})

    def container_config(self, state: StageState, cmd: list[str]) -> dict[str, Any]:
        return go_config({**state.config, "Cmd": cmd, "Image": state.image_id or ""})

    # -- RUN -----------------------------------------------------------------------
    def run_build_args(self, state: StageState) -> dict[str, str]:
        """Declared args with a value: the env of a RUN and its recorded prefix."""
        env_keys = {item.partition("=")[0] for item in state.env}
        return {k: v for k, v in state.args.items()
                if v is not None and k not in env_keys}

    async def run(self, state: StageState, ins: Run) -> None:
        if ins.heredocs and ins.script is not None:
            command: tuple[str, ...] = (ins.script,)
        else:
            command = ins.command
        argv = resolve_command(command, ins.prepend_shell, state.shell) or []
        build_args = self.run_build_args(state)
        recorded = {k: v for k, v in build_args.items() if k not in PROXY_ARGS}
        save_cmd = prepend_build_args(argv, recorded)
        probe = {**state.config, "Cmd": save_cmd}
        if await self.probe_cache(state, probe):
            return
        run_config = {**state.config, "Cmd": argv, "Entrypoint": [""], "Healthcheck": None,
                      "Env": [*state.env, *(f"{k}={v}" for k, v in build_args.items())],
                      "OnBuild": None}
        network = self.options.network_mode or "default"
        workspace = self.b.workspace
        container = await workspace.create(state.image_id or "", run_config, network,
                                           self.options.extra_hosts)
        self.out(f" ---> Running in {short_id(container.id)}\n")
        # As Docker: a failed step's container stays unless forcerm (to debug
        # it), a successful one goes unless rm=false.
        remove = self.options.force_remove
        try:
            code = await workspace.run(container, self.run_output)
            if code != 0:
                raise StepFailed(
                    f"The command '{' '.join(argv)}' returned a non-zero code: {code}", code)
            chain = image_chain(state.diff_ids)
            child = ChildImage(config=self.image_config(state), created_by=" ".join(save_cmd),
                               container_config=self.container_config(state, save_cmd))
            committed = await workspace.commit(container, chain, state.image_id, child)
            remove = self.options.remove or self.options.force_remove
            if remove:
                self.out(f"Removing intermediate container {short_id(container.id)}\n")
        finally:
            if remove:
                await workspace.remove(container)
        self.finish_step(state, probe, committed.image_id, None)

    async def run_output(self, stream: int, data: bytes) -> None:
        text = data.decode("utf-8", "replace")
        self.out(f"{_RED}{text}{_RESET}" if stream == 2 else text)

    # -- COPY / ADD ------------------------------------------------------------------
    async def copy(self, state: StageState, ins: Copy | Add) -> None:
        keyword = ins.keyword
        from_stage = ins.from_stage if isinstance(ins, Copy) else ""
        if ins.chmod:
            _chmod_bits(ins.chmod)  # a bad one fails before anything is done
        async with contextlib.AsyncExitStack() as stack:
            source_root, in_context = await self.copy_source_root(state, from_stage, stack)
            sources = await self.collect_sources(ins, source_root, in_context, stack)
            digest = await asyncio.to_thread(source_digest, sources)
            dest = ins.dest
            if not dest.startswith("/"):
                workdir = state.config.get("WorkingDir") or "/"
                dest = workdir.rstrip("/") + "/" + dest
                if ins.dest.endswith("/") or ins.dest in (".", "./"):
                    dest = dest if dest.endswith("/") else dest + "/"
            message = copy_commit_message(keyword, digest, ins.dest, ins.chown)
            if ins.chmod:  # only with heredocs; it changes the result, so the key
                message = f"{keyword} --chmod={ins.chmod} {message[len(keyword) + 1:]}"
            cmd = nop_cmd(state.shell, message, single_item=True)
            probe = {**state.config, "Cmd": cmd}
            if await self.probe_cache(state, probe):
                return
            await self.copy_step(state, ins, sources, dest, cmd, probe,
                                 keep_owner=bool(from_stage) and not ins.chown)

    async def collect_sources(self, ins: Copy | Add, root: Path, in_context: bool,
                              stack: contextlib.AsyncExitStack) -> list[CopySource]:
        """The instruction's sources in BuildKit's order: paths (and URLs), then
        heredocs, written into a directory that lives until ``stack`` closes."""
        keyword = ins.keyword
        local = [s for s in ins.sources if not _is_url(s)]
        urls = [s for s in ins.sources if _is_url(s)]
        if urls and isinstance(ins, Copy):
            raise InvalidArgument("COPY failed: source can't be a URL for COPY")
        sources: list[CopySource] = []
        if local:
            sources = await asyncio.to_thread(
                lambda: resolve_sources(root, local, ins.dest, cmd=keyword,
                                        in_context=in_context))
        for url in urls:
            sources.append(await self.download(url, ins.dest))
        if ins.contents:
            directory = Path(tempfile.mkdtemp(prefix="heredoc-", dir=self.b.tmp_dir))
            stack.callback(self.b.trash.discard, directory)
            sources += await asyncio.to_thread(write_heredoc_sources, ins.contents,
                                               directory, cmd=keyword)
        check_sources(sources, ins.dest, cmd=keyword)
        return sources

    async def download(self, url: str, dest: str) -> CopySource:
        if self.downloads is None:
            self.downloads = Path(tempfile.mkdtemp(prefix="add-", dir=self.b.tmp_dir))
        target_dir = Path(tempfile.mkdtemp(dir=self.downloads))
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=30, sock_read=300)
        try:
            async with aiohttp.ClientSession(timeout=timeout) as session, \
                    session.get(url) as response:
                if response.status >= 400:
                    # Docker reads the whole body and trims it (GetWithStatusError).
                    body = (await response.read()).strip().decode("utf-8", "replace")
                    raise InvalidArgument(f"ADD failed: failed to GET {url} with status "
                                          f"{response.status} {response.reason}: {body}")
                name = url_filename(url, response.headers.get("Content-Disposition"))
                path = target_dir / (name or "__unnamed__")
                with path.open("wb") as file:
                    async for chunk in response.content.iter_chunked(1 << 16):
                        await asyncio.to_thread(file.write, chunk)
                path.chmod(URL_FILE_MODE)
                mtime = url_mtime(response.headers.get("Last-Modified"))
                os.utime(path, (mtime, mtime))
        except aiohttp.ClientError as exc:
            raise InvalidArgument(f"ADD failed: failed to GET {url}: {exc}") from None
        return url_source(target_dir, name, url, dest)

    async def copy_source_root(self, state: StageState, from_stage: str,
                               stack: contextlib.AsyncExitStack) -> tuple[Path, bool]:
        """Where COPY reads from: the context, or (``--from``) a stage's or an
        image's files, mounted read for the copy (until ``stack`` closes)."""
        if not from_stage:
            return self.context.root, True
        stage = self.df.stage(int(from_stage)) if from_stage.isdigit() else \
            self.df.stage(from_stage)
        if stage is not None and stage.index < state.stage.index:
            done = self.stages_done.get(stage.index)
            if done is None or done.image_id is None:
                raise InvalidArgument(f"stage {from_stage} was not built")
            diff_ids = done.diff_ids
        else:
            if from_stage.isdigit():
                raise InvalidArgument(f"invalid from flag value {from_stage}: refers to "
                                      "current build stage")
            try:
                image_id = self.b.images.resolve_id(from_stage)
            except NotFound:
                image_id = await self.pull(parse_with_default_tag(from_stage))
            diff_ids = list(self.b.images.get(image_id).config.rootfs.diff_ids)
        steps = self.b.workspace.steps
        root = await stack.enter_async_context(steps.mounted(image_chain(diff_ids)))
        return root.merged, False

    async def copy_step(self, state: StageState, ins: Copy | Add, sources: list[CopySource],
                        dest: str, cmd: list[str], probe: dict[str, Any],
                        keep_owner: bool) -> None:
        workspace = self.b.workspace
        async with workspace.steps.mounted(image_chain(state.diff_ids)) as root:
            owner = await self.chown_ids(root.merged, ins.chown) if ins.chown else None
            chown = owner if owner is not None else (None if keep_owner else (0, 0))
            chmod = _chmod_bits(ins.chmod) if ins.chmod else None
            stats: list[CopyStats] = []

            def write(out: BinaryIO) -> None:
                destination = resolve_destination(root.merged, dest)
                stats.append(write_copy_tar(
                    sources, destination, chown=chown, out=out, chmod=chmod,
                    extract_archives=isinstance(ins, Add), cmd=ins.keyword))

            def mkdirs(merged: Path) -> None:
                make_dirs(stats[0].mkdirs, merged)

            await workspace.copy_in(root, write, mkdirs)
            child = ChildImage(config=self.image_config(state), created_by=" ".join(cmd),
                               container_config=self.container_config(state, cmd))
            committed = await workspace.commit_root(root, state.image_id, child)
        self.finish_step(state, probe, committed.image_id, None)

    async def chown_ids(self, root: Path, spec: str) -> tuple[int, int]:
        """``--chown=user[:group]`` as IDs, names looked up in the image at ``root``."""
        user, _, group = spec.partition(":")
        resolved = await asyncio.to_thread(resolve_user, root, f"{user}:{group or user}")
        return resolved.uid, resolved.gid


# -- helpers -----------------------------------------------------------------------------

def _copy_config(config: Mapping[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(dict(config))


def _has_heredocs(instruction: Instruction) -> bool:
    return isinstance(instruction, (Copy, Add)) and bool(instruction.contents)


def _chmod_bits(spec: str) -> int:
    """``--chmod``'s octal mode; BuildKit's error for anything else."""
    mode = int(spec, 8) if spec.isascii() and spec.isdigit() and "8" not in spec \
        and "9" not in spec else -1
    if not 0 <= mode <= 0o7777:
        raise InvalidArgument(f"invalid chmod parameter: '{spec}'. it should be octal "
                              "string and between 0 and 07777")
    return mode


def _is_url(source: str) -> bool:
    return source.startswith(("http://", "https://"))


def _go_list(items: list[str]) -> str:
    return "[" + " ".join(items) + "]"


__all__ = ["PROXY_ARGS", "BuildOptions", "Builder"]
