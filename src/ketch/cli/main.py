"""The ``ketch`` command: global flags, command dispatch, error reporting.

Errors are printed the way the Docker CLI prints them, as one message on
stderr (daemon errors as ``Error response from daemon: <message>``, usage
errors with docker's usage hint) and an exit code docker would use; never a
traceback. Command modules are imported only once a command is chosen, and
the API client only when a command talks to the daemon, so ``--help`` and
``--version`` stay fast.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable

from ketch import __version__
from ketch.cli.env import PROG, Env
from ketch.cli.flags import (
    FLAG_ERROR_CODE,
    CommandSpec,
    Flag,
    HelpRequested,
    UsageError,
    parse,
    render_help,
)
from ketch.cli.messages import daemon_error_text
from ketch.errors import KetchError

# name -> (module, spec factory, runner, "use" override or None, aliases)
_Entry = tuple[str, str, str, str | None]

_TOP: dict[str, _Entry] = {
    "version": ("system", "spec_version", "run_version", None),
    "build": ("build", "spec_build", "run_build", None),
    "info": ("system", "spec_info", "run_info", None),
    "events": ("system", "spec_events", "run_events", None),
    "images": ("images", "spec_images", "run_images",
               "images [OPTIONS] [REPOSITORY[:TAG]]"),
    "inspect": ("images", "spec_inspect", "run_inspect", None),
    "history": ("images", "spec_history", "run_history", None),
    "tag": ("images", "spec_tag", "run_tag", None),
    "rmi": ("images", "spec_rmi", "run_rmi", "rmi [OPTIONS] IMAGE [IMAGE...]"),
    "save": ("images", "spec_save", "run_save", None),
    "load": ("images", "spec_load", "run_load", None),
    "import": ("images", "spec_import", "run_import", None),
    "pull": ("registry", "spec_pull", "run_pull", None),
    "push": ("registry", "spec_push", "run_push", None),
    "login": ("registry", "spec_login", "run_login", None),
    "logout": ("registry", "spec_logout", "run_logout", None),
    "attach": ("run", "spec_attach", "run_attach", None),
    "commit": ("commit", "spec_commit", "run_commit", None),
    "cp": ("cp", "spec_cp", "run_cp", None),
    "create": ("run", "spec_create", "run_create", None),
    "diff": ("diff", "spec_diff", "run_diff", None),
    "exec": ("run", "spec_exec", "run_exec", None),
    "export": ("export", "spec_export", "run_export", None),
    "kill": ("containers", "spec_kill", "run_kill", None),
    "logs": ("containers", "spec_logs", "run_logs", None),
    "pause": ("containers", "spec_pause", "run_pause", None),
    "port": ("port", "spec_port", "run_port", None),
    "ps": ("containers", "spec_ps", "run_ps", "ps [OPTIONS]"),
    "rename": ("containers", "spec_rename", "run_rename", None),
    "restart": ("containers", "spec_restart", "run_restart", None),
    "rm": ("containers", "spec_rm", "run_rm", "rm [OPTIONS] CONTAINER [CONTAINER...]"),
    "run": ("run", "spec_run", "run_run", None),
    "start": ("run", "spec_start", "run_start", None),
    "stats": ("stats", "spec_stats", "run_stats", None),
    "stop": ("containers", "spec_stop", "run_stop", None),
    "top": ("containers", "spec_top", "run_top", None),
    "unpause": ("containers", "spec_unpause", "run_unpause", None),
    "update": ("containers", "spec_update", "run_update", None),
    "wait": ("containers", "spec_wait", "run_wait", None),
}

_GROUPS: dict[str, tuple[str, dict[str, _Entry], dict[str, str]]] = {
    "builder": (
        "Manage builds",
        {
            "build": _TOP["build"],
            "prune": ("build", "spec_builder_prune", "run_builder_prune", None),
        },
        {},
    ),
    "image": (
        "Manage images",
        {
            "build": _TOP["build"],
            "history": _TOP["history"],
            "import": _TOP["import"],
            "inspect": ("images", "spec_image_inspect", "run_image_inspect", None),
            "load": _TOP["load"],
            "ls": ("images", "spec_images", "run_images", "ls [OPTIONS] [REPOSITORY[:TAG]]"),
            "prune": ("images", "spec_prune", "run_prune", None),
            "pull": _TOP["pull"],
            "push": _TOP["push"],
            "rm": ("images", "spec_rmi", "run_rmi", "rm [OPTIONS] IMAGE [IMAGE...]"),
            "save": _TOP["save"],
            "tag": _TOP["tag"],
        },
        {"list": "ls", "rmi": "rm", "remove": "rm"},
    ),
    "container": (
        "Manage containers",
        {
            "attach": _TOP["attach"],
            "commit": _TOP["commit"],
            "cp": _TOP["cp"],
            "create": _TOP["create"],
            "diff": _TOP["diff"],
            "exec": _TOP["exec"],
            "export": _TOP["export"],
            "inspect": ("containers", "spec_container_inspect", "run_container_inspect",
                        None),
            "kill": _TOP["kill"],
            "logs": _TOP["logs"],
            "ls": ("containers", "spec_ps", "run_ps", "ls [OPTIONS]"),
            "pause": _TOP["pause"],
            "port": _TOP["port"],
            "prune": ("containers", "spec_container_prune", "run_container_prune", None),
            "rename": _TOP["rename"],
            "restart": _TOP["restart"],
            "rm": _TOP["rm"],
            "run": _TOP["run"],
            "start": _TOP["start"],
            "stop": _TOP["stop"],
            "top": _TOP["top"],
            "stats": _TOP["stats"],
            "unpause": _TOP["unpause"],
            "update": _TOP["update"],
            "wait": _TOP["wait"],
        },
        {"list": "ls", "ps": "ls", "remove": "rm"},
    ),
    "network": (
        "Manage networks",
        {
            "connect": ("network", "spec_network_connect", "run_network_connect", None),
            "create": ("network", "spec_network_create", "run_network_create", None),
            "disconnect": ("network", "spec_network_disconnect", "run_network_disconnect",
                           None),
            "inspect": ("network", "spec_network_inspect", "run_network_inspect", None),
            "ls": ("network", "spec_network_ls", "run_network_ls", None),
            "prune": ("network", "spec_network_prune", "run_network_prune", None),
            "rm": ("network", "spec_network_rm", "run_network_rm", None),
        },
        {"list": "ls", "remove": "rm"},
    ),
    "volume": (
        "Manage volumes",
        {
            "create": ("volume", "spec_volume_create", "run_volume_create", None),
            "inspect": ("volume", "spec_volume_inspect", "run_volume_inspect", None),
            "ls": ("volume", "spec_volume_ls", "run_volume_ls", None),
            "prune": ("volume", "spec_volume_prune", "run_volume_prune", None),
            "rm": ("volume", "spec_volume_rm", "run_volume_rm", None),
        },
        {"list": "ls", "remove": "rm"},
    ),
    "system": (
        "Manage ketch",
        {
            "df": ("system", "spec_df", "run_df", None),
            "events": _TOP["events"],
            "info": _TOP["info"],
        },
        {},
    ),
}

_SHORT = {
    "build": "Build an image from a Dockerfile",
    "version": "Show the ketch version information",
    "info": "Display system-wide information",
    "events": "Get real time events from the server",
    "images": "List images",
    "inspect": "Return low-level information on ketch objects",
    "history": "Show the history of an image",
    "tag": "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE",
    "rmi": "Remove one or more images",
    "save": "Save one or more images to a tar archive (streamed to STDOUT by default)",
    "load": "Load an image from a tar archive or STDIN",
    "import": "Import the contents from a tarball to create a filesystem image",
    "pull": "Download an image from a registry",
    "push": "Upload an image to a registry",
    "login": "Authenticate to a registry",
    "logout": "Log out from a registry",
    "attach": "Attach local standard input, output, and error streams to a running container",
    "commit": "Create a new image from a container's changes",
    "cp": "Copy files/folders between a container and the local filesystem",
    "create": "Create a new container",
    "diff": "Inspect changes to files or directories on a container's filesystem",
    "exec": "Execute a command in a running container",
    "export": "Export a container's filesystem as a tar archive",
    "kill": "Kill one or more running containers",
    "logs": "Fetch the logs of a container",
    "pause": "Pause all processes within one or more containers",
    "port": "List port mappings or a specific mapping for the container",
    "ps": "List containers",
    "rename": "Rename a container",
    "restart": "Restart one or more containers",
    "rm": "Remove one or more containers",
    "run": "Create and run a new container from an image",
    "start": "Start one or more stopped containers",
    "stop": "Stop one or more running containers",
    "top": "Display the running processes of a container",
    "stats": "Display a live stream of container(s) resource usage statistics",
    "unpause": "Unpause all processes within one or more containers",
    "update": "Update configuration of one or more containers",
    "wait": "Block until one or more containers stop, then print their exit codes",
    "df": "Show ketch disk usage",
}

_GROUP_SHORT = {
    ("builder", "prune"): "Remove build cache",
    ("image", "inspect"): "Display detailed information on one or more images",
    ("image", "ls"): "List images",
    ("image", "prune"): "Remove unused images",
    ("image", "rm"): "Remove one or more images",
    ("container", "inspect"): "Display detailed information on one or more containers",
    ("container", "ls"): "List containers",
    ("container", "prune"): "Remove all stopped containers",
    ("network", "connect"): "Connect a container to a network",
    ("network", "create"): "Create a network",
    ("network", "disconnect"): "Disconnect a container from a network",
    ("network", "inspect"): "Display detailed information on one or more networks",
    ("network", "ls"): "List networks",
    ("network", "prune"): "Remove all unused networks",
    ("network", "rm"): "Remove one or more networks",
    ("volume", "create"): "Create a volume",
    ("volume", "inspect"): "Display detailed information on one or more volumes",
    ("volume", "ls"): "List volumes",
    ("volume", "prune"): "Remove unused local volumes",
    ("volume", "rm"): "Remove one or more volumes",
}

_LOG_LEVELS = ("panic", "fatal", "error", "warn", "warning", "info", "debug", "trace")


def _root_spec() -> CommandSpec:
    return CommandSpec(
        PROG, "[OPTIONS] COMMAND [ARG...]", "A Docker-compatible container engine",
        flags=[
            Flag("config", "Location of client config files", kind="string", hidden=True),
            Flag("context", "Name of the context to use", short="c", kind="string",
                 hidden=True),
            Flag("debug", "Enable debug mode", short="D"),
            Flag("host", "Daemon socket to connect to", short="H", kind="list",
                 typename="string"),
            Flag("log-level", 'Set the logging level ("debug", "info", "warn", "error", '
                 '"fatal")', short="l", kind="string", default="info"),
            Flag("version", "Print version information and quit", short="v"),
        ],
        interspersed=False,
    )


def _root_help() -> str:
    lines = [f"Usage:  {PROG} [OPTIONS] COMMAND", "",
             "A Docker-compatible container engine", "", "Commands:"]
    lines += [f"  {name:<11} {_SHORT[name]}" for name in sorted(_TOP)]
    lines += ["", "Management Commands:"]
    lines += [f"  {name:<11} {desc}" for name, (desc, _, _) in sorted(_GROUPS.items())]
    help_text = render_help(_root_spec()).split("Options:\n", 1)[1]
    lines += ["", "Global Options:", help_text.rstrip("\n"), "",
              f"Run '{PROG} COMMAND --help' for more information on a command.", ""]
    return "\n".join(lines)


def _group_help(group: str) -> str:
    desc, cmds, _ = _GROUPS[group]
    lines = [f"Usage:  {PROG} {group} COMMAND", "", desc, "", "Commands:"]
    lines += [f"  {name:<11} {_GROUP_SHORT.get((group, name)) or _SHORT[name]}"
              for name in sorted(cmds)]
    lines += ["", f"Run '{PROG} {group} COMMAND --help' for more information on a command.",
              ""]
    return "\n".join(lines)


def _lookup(words: list[str]) -> tuple[str, _Entry, list[str], str]:
    """(command path, table entry, remaining argv, name the user typed)."""
    name = words[0]
    if name in _GROUPS:
        _, cmds, aliases = _GROUPS[name]
        rest = words[1:]
        if not rest:
            raise HelpRequested(_group_help(name), True)  # docker shows it on stderr
        if rest[0] in ("-h", "--help"):
            raise HelpRequested(_group_help(name))
        sub = aliases.get(rest[0], rest[0])
        if sub not in cmds:
            if rest[0].startswith("-"):
                raise UsageError(
                    f"unknown flag: {rest[0]}\n\nUsage:  {PROG} {name}\n\n"
                    f"Run '{PROG} {name} --help' for more information", FLAG_ERROR_CODE)
            raise UsageError(
                f"{PROG}: unknown command: {PROG} {name} {rest[0]}\n\n"
                f"Usage:  {PROG} {name}\n\nRun '{PROG} {name} --help' for more information"
            )
        return f"{PROG} {name} {sub}", cmds[sub], rest[1:], rest[0]
    if name in _TOP:
        return f"{PROG} {name}", _TOP[name], words[1:], name
    raise UsageError(
        f"{PROG}: unknown command: {PROG} {name}\n\nRun '{PROG} --help' for more information"
    )


def _build_spec(path: str, entry: _Entry) -> tuple[CommandSpec, Callable[..., int], str]:
    module_name, spec_name, run_name, use = entry
    module = importlib.import_module(f"ketch.cli.commands.{module_name}")
    factory = getattr(module, spec_name)
    spec: CommandSpec = factory(path, use) if use is not None else factory(path)
    return spec, getattr(module, run_name), module_name


def run(argv: list[str], env: Env | None = None) -> int:
    """Run one command line; returns the exit code (never raises for command errors)."""
    env = env or Env()
    try:
        return _run(argv, env)
    except HelpRequested as exc:
        text = str(exc.args[0]) if exc.args else ""
        if len(exc.args) > 1 and exc.args[1]:
            env.err(text)
        else:
            env.out(text)
        return 0
    except UsageError as exc:
        _flush(env)
        env.err(f"{exc}\n")
        return exc.code
    except KetchError as exc:
        _flush(env)
        env.err(daemon_error_text(exc) + "\n")
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        _silence_stdout()
        return 141
    except _format_error() as exc:
        _flush(env)
        env.err(f"{exc}\n")
        return 1
    except OSError as exc:
        _flush(env)
        env.err(f"{_os_error_text(exc)}\n")
        return 1


def _format_error() -> type[Exception]:
    from ketch.cli.formatter import FormatError

    return FormatError


def _os_error_text(exc: OSError) -> str:
    """Go's wording for failed file operations: ``open x: no such file or directory``."""
    if exc.filename is not None and exc.strerror:
        return f"open {exc.filename}: {exc.strerror.lower()}"
    return str(exc)


def _flush(env: Env) -> None:
    try:  # noqa: SIM105 - contextlib costs startup time
        env.stdout.flush()
    except (OSError, ValueError):
        pass


def _silence_stdout() -> None:
    """After EPIPE, stop Python from complaining again when it flushes at exit."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def _run(argv: list[str], env: Env) -> int:
    root = _root_spec()
    try:
        parsed = parse(root, argv)
    except HelpRequested:
        raise HelpRequested(_root_help()) from None
    if parsed["version"]:
        env.out(f"{PROG} version {__version__}\n")
        return 0
    level = parsed["log_level"]
    if level.lower() not in _LOG_LEVELS:
        raise UsageError(f"Unable to parse logging level: {level}")
    hosts = parsed["host"]
    if len(hosts) > 1:
        raise UsageError("Failed to initialize: unable to resolve ketch endpoint: "
                         "Specify only one -H")
    env.host = hosts[0] if hosts else env.host
    env.debug = parsed["debug"] or env.debug
    env.config_dir = parsed["config"] or env.config_dir
    if not parsed.args:
        raise HelpRequested(_root_help(), True)
    path, entry, rest, typed = _lookup(parsed.args)
    spec, runner, _ = _build_spec(path, entry)
    try:
        cmd_args = parse(spec, rest)
    except HelpRequested:
        raise HelpRequested(render_help(spec)) from None
    env.called_as = typed
    return int(runner(env, cmd_args))


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``ketch`` script: runs the command and exits with its code."""
    code = run(sys.argv[1:] if argv is None else argv)
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        _silence_stdout()
        code = code or 141
    raise SystemExit(code)


if __name__ == "__main__":
    main()
