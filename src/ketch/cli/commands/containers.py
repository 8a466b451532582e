"""Container commands that make one request per container: ps, inspect, logs, top,
wait, stop, kill, restart, rm, pause, unpause, rename, container prune.

The interactive ones (run, create, start, attach, exec) are in ``run.py``.
Commands acting on several containers do it the way docker does: in
parallel (up to 50 at a time) where docker does, printing each name that
succeeded in the order given, then one line per failure (exit 1).
"""

from __future__ import annotations

from ketch.cli.env import PROG, Env
from ketch.cli.flags import CommandSpec, Flag, Parsed, UsageError
from ketch.cli.objectcmds import (
    FORMAT_HELP,
    filter_flag,
    filters_of,
    inspect_objects,
    inspect_spec,
    print_pruned,
    prune_confirmed,
    prune_spec,
)
from ketch.errors import KetchError, NotFound

TYPE_CHECKING = False  # typing is not imported at run time: it costs startup time
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from ketch.cli.objectcmds import Schema

#: Docker runs at most this many container operations at once.
PARALLEL = 50


def error_text(exc: KetchError) -> str:
    from ketch.cli.messages import daemon_error_text

    return daemon_error_text(exc)


def parallel(env: Env, names: Sequence[str],
             op: Callable[[str], None]) -> list[KetchError | None]:
    """Docker's ``parallelOperation``: run ``op`` on every name, results in order."""
    if len(names) == 1:
        return [_attempt(op, names[0])]
    import contextlib
    import threading

    # Negotiate the API version once, before the threads need it (a failure here is
    # reported by each operation).
    with contextlib.suppress(KetchError):
        env.client.api_version  # noqa: B018
    results: list[KetchError | None] = [None] * len(names)
    gate = threading.Semaphore(PARALLEL)

    def work(i: int, name: str) -> None:
        try:
            results[i] = _attempt(op, name)
        finally:
            gate.release()

    threads = []
    for i, name in enumerate(names):
        gate.acquire()
        thread = threading.Thread(target=work, args=(i, name), daemon=True)
        thread.start()
        threads.append(thread)
    for thread in threads:
        thread.join()
    return results


def _attempt(op: Callable[[str], None], name: str) -> KetchError | None:
    try:
        op(name)
    except KetchError as exc:
        return exc
    return None


def report(env: Env, names: Sequence[str], results: Sequence[KetchError | None]) -> int:
    """Print the names that succeeded, then the errors (docker's ``errors.Join``)."""
    errors: list[str] = []
    for name, exc in zip(names, results, strict=True):
        if exc is None:
            env.out(f"{name}\n")
        else:
            errors.append(error_text(exc))
    if errors:
        raise UsageError("\n".join(errors))
    return 0


def _aliases(*names: str) -> str:
    return ", ".join(f"{PROG} {n}" for n in names)


# --- ps / container ls -------------------------------------------------------------


def spec_ps(path: str, use: str) -> CommandSpec:
    return CommandSpec(
        path, use, "List containers",
        flags=[
            Flag("all", "Show all containers (default shows just running)", short="a"),
            filter_flag(),
            Flag("format", FORMAT_HELP, kind="string"),
            Flag("last", "Show n last created containers (includes all states)", short="n",
                 kind="int", default=-1),
            Flag("latest", "Show the latest created container (includes all states)",
                 short="l"),
            Flag("no-trunc", "Don't truncate output"),
            Flag("quiet", "Only display container IDs", short="q"),
            Flag("size", "Display total file sizes", short="s"),
        ],
        max_args=0,
        aliases=_aliases("container ls", "container list", "container ps", "ps"),
    )


_DEFAULT_PS_TABLE = ("table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t"
                     "{{.Status}}\t{{.Ports}}\t{{.Names}}")
_RAW_PS = """container_id: {{.ID}}
image: {{.Image}}
command: {{.Command}}
created_at: {{.CreatedAt}}
state: {{- pad .State 1 0}}
status: {{- pad .Status 1 0}}
names: {{.Names}}
labels: {{- pad .Labels 1 0}}
ports: {{- pad .Ports 1 0}}
"""


def container_format(source: str, quiet: bool, size: bool) -> str:
    """Docker's ``NewContainerFormat``."""
    if source in ("table", ""):
        if quiet:
            return "{{.ID}}"
        return _DEFAULT_PS_TABLE + ("\\t{{.Size}}" if size else "")
    if source == "raw":
        if quiet:
            return "container_id: {{.ID}}"
        return _RAW_PS + ("size: {{.Size}}\\n" if size else "")
    return "{{.ID}}" if quiet else source


def _uses_size(fmt: str) -> bool:
    """Run the template once over an empty row, as docker does, to see if it asks for
    ``.Size`` (then sizes are requested from the daemon); template errors surface here."""
    from ketch.cli.contexts import ContainerContext
    from ketch.cli.formatter import FormatError
    from ketch.cli.gotemplate import TemplateError, parse

    class Probe(ContainerContext):
        used = False

        def Size(self) -> str:
            Probe.used = True
            return super().Size()

    try:
        tmpl = parse(fmt)
    except TemplateError as exc:
        raise FormatError(f"failed to parse template: {exc}") from None
    try:
        tmpl.execute(Probe({}, False))
    except TemplateError as exc:
        raise FormatError(f"failed to execute template: {exc}") from None
    return Probe.used


def run_ps(env: Env, p: Parsed) -> int:
    from ketch.cli.contexts import CONTAINER_HEADERS, ContainerContext
    from ketch.cli.formatter import render_rows

    fmt = p["format"]
    if fmt and p["quiet"]:
        env.err("WARNING: Ignoring custom format, because both --format and --quiet are set.\n")
    limit = p["last"]
    if p["latest"] and limit == -1:
        limit = 1
    size = p["size"]
    if fmt and not p["quiet"] and not size and "size" not in p.changed:
        size = _uses_size(fmt)
    elif fmt:
        _uses_size(fmt)
    containers = env.client.containers.list(all=p["all"], limit=limit, size=size,
                                            filters=filters_of(p["filter"]))
    rows = [ContainerContext(c, not p["no_trunc"]) for c in containers]
    env.out(render_rows(container_format(fmt, p["quiet"], size), rows, CONTAINER_HEADERS))
    return 0


# --- container inspect --------------------------------------------------------------


def spec_container_inspect(path: str) -> CommandSpec:
    return inspect_spec(path, "container", [Flag("size", "Display total file sizes", short="s")])


def run_container_inspect(env: Env, p: Parsed) -> int:
    from ketch.cli.commands.images import inspect_schema

    def fetch(ref: str) -> tuple[bytes, Schema | None]:
        return env.client.containers.inspect_raw(ref, size=p["size"]), \
            inspect_schema("container")

    return inspect_objects(env, p.args, p["format"], fetch)


# --- logs -----------------------------------------------------------------------------


def spec_logs(path: str) -> CommandSpec:
    return CommandSpec(
        path, "logs [OPTIONS] CONTAINER", "Fetch the logs of a container",
        flags=[
            Flag("details", "Show extra details provided to logs"),
            Flag("follow", "Follow log output", short="f"),
            Flag("since", 'Show logs since timestamp (e.g. "2013-01-02T13:23:37Z") or '
                 'relative (e.g. "42m" for 42 minutes)', kind="string"),
            Flag("tail", "Number of lines to show from the end of the logs", short="n",
                 kind="string", default="all"),
            Flag("timestamps", "Show timestamps", short="t"),
            Flag("until", 'Show logs before a timestamp (e.g. "2013-01-02T13:23:37Z") or '
                 'relative (e.g. "42m" for 42 minutes)', kind="string"),
        ],
        min_args=1, max_args=1,
        aliases=_aliases("container logs", "logs"),
    )


def _timestamp(value: str, what: str) -> str:
    from ketch.cli.timestamps import get_timestamp
    from ketch.client.errors import LocalError

    if not value:
        return ""
    try:
        return get_timestamp(value)
    except ValueError as exc:
        raise LocalError(f'invalid value for "{what}": {exc}') from None


def run_logs(env: Env, p: Parsed) -> int:
    from ketch.cli.attachio import stream_writer

    info = env.client.containers.inspect(p.args[0])
    since = _timestamp(p["since"], "since")
    until = _timestamp(p["until"], "until")
    resp = env.client.containers.logs(
        str(info.get("Id") or p.args[0]), since=since, until=until,
        timestamps=p["timestamps"], follow=p["follow"], tail=p["tail"], details=p["details"])
    out = stream_writer(env.stdout)
    if (info.get("Config") or {}).get("Tty"):
        for chunk in resp.iter_chunks():
            out(chunk)
        return 0
    from ketch.client.stdcopy import STDERR, FrameDecoder

    err = stream_writer(env.stderr)
    decoder = FrameDecoder()
    for chunk in resp.iter_chunks():
        for stream, payload in decoder.feed(chunk):
            (err if stream == STDERR else out)(payload)
    return 0


# --- top --------------------------------------------------------------------------------


def spec_top(path: str) -> CommandSpec:
    return CommandSpec(
        path, "top CONTAINER [ps OPTIONS]", "Display the running processes of a container",
        min_args=1, interspersed=False,
        aliases=_aliases("container top", "top"),
    )


def run_top(env: Env, p: Parsed) -> int:
    from ketch.cli.tabwriter import tabwrite

    procs = env.client.containers.top(p.args[0], p.args[1:])
    lines = ["\t".join(str(t) for t in procs.get("Titles") or [])]
    lines += ["\t".join(str(c) for c in row) for row in procs.get("Processes") or []]
    env.out(tabwrite("\n".join(lines) + "\n", minwidth=20, padding=3))
    return 0


# --- wait --------------------------------------------------------------------------------


def spec_wait(path: str) -> CommandSpec:
    return CommandSpec(
        path, "wait CONTAINER [CONTAINER...]",
        "Block until one or more containers stop, then print their exit codes",
        min_args=1,
        aliases=_aliases("container wait", "wait"),
    )


def run_wait(env: Env, p: Parsed) -> int:
    errors: list[str] = []
    for name in p.args:
        try:
            result = env.client.containers.wait(name).result()
        except KetchError as exc:
            errors.append(error_text(exc))
            continue
        env.out(f"{int(result.get('StatusCode') or 0)}\n")
        env.stdout.flush()
    if errors:
        raise UsageError("\n".join(errors))
    return 0


# --- stop / restart / kill ------------------------------------------------------------------


def _stop_flags() -> list[Flag]:
    return [
        Flag("signal", "Signal to send to the container", short="s", kind="string"),
        Flag("time", "Seconds to wait before killing the container (deprecated: use "
             "--timeout)", kind="int", hidden=True),
        Flag("timeout", "Seconds to wait before killing the container", short="t",
             kind="int"),
    ]


def spec_stop(path: str) -> CommandSpec:
    return CommandSpec(
        path, "stop [OPTIONS] CONTAINER [CONTAINER...]", "Stop one or more running containers",
        flags=_stop_flags(), min_args=1,
        aliases=_aliases("container stop", "stop"),
    )


def spec_restart(path: str) -> CommandSpec:
    return CommandSpec(
        path, "restart [OPTIONS] CONTAINER [CONTAINER...]", "Restart one or more containers",
        flags=_stop_flags(), min_args=1,
        aliases=_aliases("container restart", "restart"),
    )


def _stop_timeout(env: Env, p: Parsed) -> int | None:
    if "time" in p.changed:
        # pflag prints this while parsing, on the command's output stream (stdout).
        env.out("Flag --time has been deprecated, use --timeout instead\n")
        if "timeout" in p.changed:
            raise UsageError("conflicting options: cannot specify both --timeout and --time")
        return int(p["time"])
    if "timeout" in p.changed:
        return int(p["timeout"])
    return None


def run_stop(env: Env, p: Parsed) -> int:
    timeout = _stop_timeout(env, p)
    api = env.client.containers

    def stop(name: str) -> None:
        api.stop(name, timeout=timeout, signal=p["signal"])

    return report(env, p.args, parallel(env, p.args, stop))


def run_restart(env: Env, p: Parsed) -> int:
    timeout = _stop_timeout(env, p)
    api = env.client.containers
    results = [_attempt(lambda n: api.restart(n, timeout=timeout, signal=p["signal"]), name)
               for name in p.args]
    return report(env, p.args, results)


def spec_kill(path: str) -> CommandSpec:
    return CommandSpec(
        path, "kill [OPTIONS] CONTAINER [CONTAINER...]", "Kill one or more running containers",
        flags=[Flag("signal", "Signal to send to the container", short="s", kind="string")],
        min_args=1,
        aliases=_aliases("container kill", "kill"),
    )


def run_kill(env: Env, p: Parsed) -> int:
    api = env.client.containers
    return report(env, p.args, parallel(env, p.args, lambda n: api.kill(n, p["signal"])))


# --- pause / unpause ---------------------------------------------------------------------


def spec_pause(path: str) -> CommandSpec:
    return CommandSpec(
        path, "pause CONTAINER [CONTAINER...]",
        "Pause all processes within one or more containers", min_args=1,
        aliases=_aliases("container pause", "pause"),
    )


def spec_unpause(path: str) -> CommandSpec:
    return CommandSpec(
        path, "unpause CONTAINER [CONTAINER...]",
        "Unpause all processes within one or more containers", min_args=1,
        aliases=_aliases("container unpause", "unpause"),
    )


def run_pause(env: Env, p: Parsed) -> int:
    return report(env, p.args, parallel(env, p.args, env.client.containers.pause))


def run_unpause(env: Env, p: Parsed) -> int:
    return report(env, p.args, parallel(env, p.args, env.client.containers.unpause))


# --- rm ----------------------------------------------------------------------------------


def spec_rm(path: str, use: str) -> CommandSpec:
    return CommandSpec(
        path, use, "Remove one or more containers",
        flags=[
            Flag("force", "Force the removal of a running container (uses SIGKILL)",
                 short="f"),
            Flag("link", "Remove the specified link", short="l"),
            Flag("volumes", "Remove anonymous volumes associated with the container",
                 short="v"),
        ],
        min_args=1,
        aliases=_aliases("container rm", "container remove", "rm"),
    )


def run_rm(env: Env, p: Parsed) -> int:
    from ketch.client.errors import LocalError

    api = env.client.containers

    def remove(name: str) -> None:
        ident = name.strip("/")
        if not ident:
            raise LocalError("container name cannot be empty")
        api.remove(ident, force=p["force"], volumes=p["volumes"], link=p["link"])

    results = parallel(env, p.args, remove)
    errors: list[str] = []
    for name, exc in zip(p.args, results, strict=True):
        if exc is None:
            env.out(f"{name}\n")
        elif p["force"] and isinstance(exc, NotFound):
            env.stdout.flush()
            env.err(error_text(exc) + "\n")
        else:
            errors.append(error_text(exc))
    if errors:
        raise UsageError("\n".join(errors))
    return 0


# --- update -----------------------------------------------------------------------------


def spec_update(path: str) -> CommandSpec:
    from ketch.cli.containeropts import mem_swap_bytes, nano_cpus
    from ketch.sizes import ram_in_bytes

    return CommandSpec(
        path, "update [OPTIONS] CONTAINER [CONTAINER...]",
        "Update configuration of one or more containers", min_args=1,
        aliases=_aliases("container update", "update"),
        flags=[
            Flag("blkio-weight", "Block IO (relative weight), between 10 and 1000, or 0 to "
                 "disable (default 0)", kind="int"),
            Flag("cpu-period", "Limit CPU CFS (Completely Fair Scheduler) period", kind="int"),
            Flag("cpu-quota", "Limit CPU CFS (Completely Fair Scheduler) quota", kind="int"),
            Flag("cpu-shares", "CPU shares (relative weight)", short="c", kind="int"),
            Flag("cpus", "Number of CPUs", kind="string", typename="decimal",
                 convert=nano_cpus),
            Flag("cpuset-cpus", "CPUs in which to allow execution (0-3, 0,1)", kind="string"),
            Flag("cpuset-mems", "MEMs in which to allow execution (0-3, 0,1)", kind="string"),
            Flag("memory", "Memory limit", short="m", kind="string", typename="bytes",
                 convert=ram_in_bytes),
            Flag("memory-reservation", "Memory soft limit", kind="string", typename="bytes",
                 convert=ram_in_bytes),
            Flag("memory-swap", "Swap limit equal to memory plus swap: -1 to enable unlimited "
                 "swap", kind="string", typename="bytes", convert=mem_swap_bytes),
            Flag("pids-limit", "Tune container pids limit (set -1 for unlimited)", kind="int"),
            Flag("restart", "Restart policy to apply when a container exits", kind="string"),
        ],
    )


#: flag destination -> the UpdateConfig field it sets
_UPDATE_FIELDS = {
    "blkio_weight": "BlkioWeight", "cpu_period": "CpuPeriod", "cpu_quota": "CpuQuota",
    "cpu_shares": "CpuShares", "cpus": "NanoCpus", "cpuset_cpus": "CpusetCpus",
    "cpuset_mems": "CpusetMems", "memory": "Memory", "memory_reservation": "MemoryReservation",
    "memory_swap": "MemorySwap", "pids_limit": "PidsLimit",
}


def run_update(env: Env, p: Parsed) -> int:
    """docker's ``runUpdate``: at least one flag; each container in turn."""
    from ketch.cli.containeropts import OptionError, parse_restart_policy

    if not p.changed:
        raise UsageError("you must provide one or more flags when using this command")
    config = {field: p[dest] for dest, field in _UPDATE_FIELDS.items() if dest in p.changed}
    if "restart" in p.changed:
        try:
            config["RestartPolicy"] = parse_restart_policy(p["restart"])
        except OptionError as exc:
            raise UsageError(str(exc)) from None
    warnings: list[str] = []

    def update(name: str) -> None:
        warnings.extend(env.client.containers.update(name, config))

    results = [_attempt(update, name) for name in p.args]
    names_ok = [name for name, exc in zip(p.args, results, strict=True) if exc is None]
    for name in names_ok:
        env.out(f"{name}\n")
    if warnings:
        env.out("\n".join(warnings) + "\n")
    errors = [error_text(exc) for exc in results if exc is not None]
    if errors:
        raise UsageError("\n".join(errors))
    return 0


# --- rename -----------------------------------------------------------------------------


def spec_rename(path: str) -> CommandSpec:
    return CommandSpec(
        path, "rename CONTAINER NEW_NAME", "Rename a container", min_args=2, max_args=2,
        aliases=_aliases("container rename", "rename"),
    )


def run_rename(env: Env, p: Parsed) -> int:
    old, new = (a.strip() for a in p.args)
    if not old or not new:
        raise UsageError("Error: Neither old nor new names may be empty")
    try:
        env.client.containers.rename(old, new)
    except KetchError as exc:
        env.err(error_text(exc) + "\n")
        raise UsageError(f"Error: failed to rename container named {old}") from None
    return 0


# --- container prune ----------------------------------------------------------------------


def spec_container_prune(path: str) -> CommandSpec:
    return prune_spec(path, "Remove all stopped containers", "until=<timestamp>")


_PRUNE_WARNING = ("WARNING! This will remove all stopped containers.\n"
                  "Are you sure you want to continue?")


def run_container_prune(env: Env, p: Parsed) -> int:
    if not prune_confirmed(env, p, _PRUNE_WARNING):
        return 0
    report_doc = env.client.containers.prune(filters_of(p["filter"]))
    print_pruned(env, "Containers", list(report_doc.get("ContainersDeleted") or []),
                 int(report_doc.get("SpaceReclaimed") or 0))
    return 0
