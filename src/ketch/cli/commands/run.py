"""The commands that attach to containers: run, create, start, attach, exec.

``run`` follows docker's order exactly, because the daemon's behaviour
depends on it: create (pulling the image if it is missing), attach (a
hijacked connection) unless detached, ask to wait for the next exit (or the
removal with ``--rm``) *before* starting, start, resize the TTY, then copy
streams until the output ends or the user detaches, and exit with the
container's status. Errors before the start exit 125, a start that fails
because the command cannot be found or run exits 127 or 126, as docker.
"""

from __future__ import annotations

from ketch.cli.containeropts import OptionError, container_flags, unsupported_used
from ketch.cli.env import PROG, Env
from ketch.cli.flags import CommandSpec, Flag, Parsed, UsageError
from ketch.errors import KetchError, NotFound

TYPE_CHECKING = False  # typing is not imported at run time: it costs startup time
if TYPE_CHECKING:
    import threading
    from collections.abc import Callable
    from typing import Any

    from ketch.cli.attachio import Streamer
    from ketch.cli.containeropts import ContainerConfig
    from ketch.cli.signals import SignalHub
    from ketch.client.containers import WaitHandle
    from ketch.client.hijack import HijackedStream

DETACH_KEYS_HELP = "Override the key sequence for detaching a container"


def _flag_sort(flags: list[Flag]) -> list[Flag]:
    return sorted(flags, key=lambda f: f.long)


def _create_flags() -> list[Flag]:
    return [
        Flag("disable-content-trust", "Skip image verification", default=True),
        Flag("name", "Assign a name to the container", kind="string"),
        Flag("platform", "Set platform if server is multi-platform capable", kind="string"),
        Flag("pull", 'Pull image before creating ("always", "missing", "never")',
             kind="string", default="missing"),
        Flag("quiet", "Suppress the pull output", short="q"),
    ]


def spec_create(path: str) -> CommandSpec:
    return CommandSpec(
        path, "create [OPTIONS] IMAGE [COMMAND] [ARG...]", "Create a new container",
        flags=_flag_sort(container_flags() + _create_flags()),
        min_args=1, interspersed=False,
        aliases=f"{PROG} container create, {PROG} create",
    )


def spec_run(path: str) -> CommandSpec:
    flags = container_flags() + _create_flags() + [
        Flag("detach", "Run container in background and print container ID", short="d"),
        Flag("detach-keys", DETACH_KEYS_HELP, kind="string"),
        Flag("sig-proxy", "Proxy received signals to the process", default=True),
    ]
    for flag in flags:
        if flag.long == "pull":
            flag.help = 'Pull image before running ("always", "missing", "never")'
    return CommandSpec(
        path, "run [OPTIONS] IMAGE [COMMAND] [ARG...]",
        "Create and run a new container from an image",
        flags=_flag_sort(flags), min_args=1, interspersed=False,
        aliases=f"{PROG} container run, {PROG} run",
    )


# --- errors as docker words them ------------------------------------------------------


def with_help(message: str, command: str, code: int = 125) -> UsageError:
    """docker's ``withHelp``: ``docker: <err>`` and the help hint, exit 125."""
    return UsageError(f"{PROG}: {message}\n\nRun '{PROG} {command} --help' for more "
                      "information", code)


def status_error(exc: KetchError, command: str = "run") -> UsageError:
    """docker's ``toStatusError``: 127 for a command that cannot be found, 126 for one
    that cannot be run, 125 for anything else the daemon refused."""
    from ketch.cli.messages import daemon_error_text

    text = daemon_error_text(exc)
    if any(s in text for s in ("executable file not found", "no such file or directory",
                               "system cannot find the file specified")):
        return with_help(text, command, 127)
    if "permission denied" in text or "is a directory" in text:
        return with_help(text, command, 126)
    return with_help(text, command, 125)


def _check_options(p: Parsed, command: str) -> None:
    flag = unsupported_used(p)
    if flag:
        raise with_help(f"--{flag} is not supported yet", command)
    if p["pull"] not in ("always", "missing", "never", ""):
        raise with_help(f"invalid pull option: '{p['pull']}': must be one of \"always\", "
                        '"missing" or "never"', command)


def _build(env: Env, p: Parsed, command: str) -> ContainerConfig:
    from ketch.cli.containeropts import build
    from ketch.cli.terminal import fd_of, window_size

    _check_options(p, command)
    try:
        return build(p, p.args[0], p.args[1:], window_size(fd_of(env.stdout)))
    except OptionError as exc:
        raise with_help(str(exc), command) from None


def _check_tty(env: Env, attach_stdin: bool, tty: bool) -> None:
    if tty and attach_stdin and not env.stdin_is_terminal():
        raise UsageError("the input device is not a TTY")


# --- create ------------------------------------------------------------------------------


def pull_image(env: Env, image: str, platform: str, quiet: bool) -> None:
    """Pull through the daemon with the stored credentials of the image's registry,
    progress on stderr as docker shows it."""
    from ketch.cli.commands.registry import registry_auth, show_stream
    from ketch.cli.reference import parse_normalized_named

    ref = parse_normalized_named(image)
    messages = env.client.images.pull(ref.name, ref.digest or ref.tag or "latest",
                                      platform=platform,
                                      registry_auth=registry_auth(env, ref.domain))
    show_stream(env, messages, quiet, to_stderr=True)


class _CidFile:
    """``--cidfile``: refused if it exists, removed again unless the ID got written."""

    def __init__(self, path: str) -> None:
        import os

        from ketch.client.errors import LocalError

        self.path = path
        self.written = False
        if not path:
            return
        if os.path.exists(path):
            raise LocalError("container ID file found, make sure the other container isn't "
                             f"running or delete {path}")
        try:
            self.fh = open(path, "x")
        except OSError as exc:
            raise LocalError(f"failed to create the container ID file: {exc}") from None

    def write(self, ident: str) -> None:
        if self.path:
            self.fh.write(ident)
            self.written = True

    def close(self) -> None:
        import os

        if not self.path:
            return
        self.fh.close()
        if not self.written:
            os.unlink(self.path)


def create_container(env: Env, cfg: ContainerConfig, p: Parsed) -> str:
    """docker's ``createContainer``: create, pulling a missing image first."""
    from ketch.cli.reference import ReferenceError, parse_any_reference, with_default_tag
    from ketch.client.errors import LocalError

    image = str(cfg.config["Image"])
    cid = _CidFile(cfg.host_config.get("ContainerIDFile") or "")
    try:
        try:
            ref = parse_any_reference(image)
        except ReferenceError as exc:
            raise LocalError(str(exc)) from None
        named = with_default_tag(ref) if ref is not None else None
        pull, quiet, platform = p["pull"], p["quiet"], p["platform"]
        if pull == "always":
            pull_image(env, image, platform, quiet)
        body = cfg.body()
        try:
            created = env.client.containers.create(body, name=p["name"], platform=platform)
        except NotFound:
            if named is None or pull != "missing":
                raise
            if not quiet:
                env.err(f"Unable to find image '{named.familiar_string()}' locally\n")
                env.stderr.flush()
            pull_image(env, image, platform, quiet)
            created = env.client.containers.create(body, name=p["name"], platform=platform)
        ident = str(created.get("Id") or "")
        warnings = list(created.get("Warnings") or [])
        warnings += _localhost_dns_warning(cfg.host_config.get("Dns") or [])
        for warning in warnings:
            env.err(f"WARNING: {warning}\n")
        cid.write(ident)
        return ident
    finally:
        cid.close()


def _localhost_dns_warning(servers: list[str]) -> list[str]:
    """docker warns (on the client side) about the first loopback ``--dns``."""
    import ipaddress

    for server in servers:
        try:
            addr = ipaddress.ip_address(server)
        except ValueError:
            continue
        if addr.is_loopback:
            return [f"Localhost DNS ({addr}) may fail in containers."]
    return []


def run_create(env: Env, p: Parsed) -> int:
    cfg = _build(env, p, "create")
    env.out(create_container(env, cfg, p) + "\n")
    return 0


# --- sessions shared by run, start, attach, exec ------------------------------------------


def _detach_keys(env: Env, spec: str) -> bytes:
    from ketch.cli.attachio import DEFAULT_DETACH_KEYS, detach_key_bytes

    if not spec:
        return DEFAULT_DETACH_KEYS
    try:
        return detach_key_bytes(spec)
    except ValueError as exc:
        env.err(f"WARNING: invalid detach escape keys, using default: {exc}\n")
        return DEFAULT_DETACH_KEYS


def open_streamer(env: Env, conn: HijackedStream, *, stdin: bool, stdout: bool, stderr: bool,
                  tty: bool, detach_keys: str, notify: threading.Event | None = None,
                  ) -> Streamer:
    """Start copying between our streams and ``conn`` (raw mode first, with a TTY)."""
    from ketch.cli.attachio import Streamer, stream_writer

    err_stream = env.stdout if tty else env.stderr
    streamer = Streamer(
        conn,
        stdin=env.stdin if stdin else None,
        stdout=stream_writer(env.stdout) if stdout else None,
        stderr=stream_writer(err_stream) if stderr else None,
        tty=tty,
        detach_keys=_detach_keys(env, detach_keys),
        notify=notify,
    )
    streamer.start()
    return streamer


def proxy_signals(hub: SignalHub, env: Env, ident: str) -> None:
    """``--sig-proxy``: every signal we receive is sent to the container."""
    from ketch.cli.signals import PROXIED, signal_name

    api = env.client.containers

    def forward(signum: int) -> None:
        api.kill(ident, signal_name(signum))

    for signum in PROXIED:
        hub.on(signum, forward)


def monitor_tty_size(env: Env, hub: SignalHub, resize: Callable[[int, int], None],
                     bump: bool = False) -> None:
    """docker's ``MonitorTtySize``: size the TTY now (retrying briefly while the process
    starts), then again on every SIGWINCH."""
    import signal

    from ketch.cli.terminal import fd_of, window_size

    fd = fd_of(env.stdout)

    def resize_now() -> bool:
        height, width = window_size(fd)
        if height == 0 and width == 0:
            return True
        try:
            resize(height, width)
        except KetchError:
            return False
        return True

    import contextlib

    if bump:  # re-draw the prompt of a shell attached again (docker's resizeTTY)
        height, width = window_size(fd)
        if height or width:
            with contextlib.suppress(KetchError):
                resize(height + 1, width + 1)
    if not resize_now():
        def retry() -> None:
            import time

            for attempt in range(10):
                time.sleep((attempt + 1) * 0.01)
                if resize_now():
                    return
            env.err("failed to resize tty, using default size\n")

        import threading

        threading.Thread(target=retry, name="resize", daemon=True).start()
    def on_winch(_: int) -> None:
        resize_now()

    hub.on(signal.SIGWINCH, on_winch)


def wait_status(handle: WaitHandle) -> int:
    """The exit status from a wait (125 if the wait failed), as ``waitExitOrRemoved``."""
    import sys

    try:
        result = handle.result()
    except KetchError as exc:
        sys.stderr.write(f"error waiting for container: {exc}\n")
        return 125
    error = result.get("Error")
    if error:
        message = error.get("Message") if isinstance(error, dict) else error
        sys.stderr.write(f"Error waiting for container: {message}\n")
        return 125
    return int(result.get("StatusCode") or 0)


class _StatusWaiter:
    """Reads a wait's result on a thread, so a session can watch it and its streams."""

    def __init__(self, handle: WaitHandle, notify: threading.Event) -> None:
        import threading

        self.status: int | None = None
        self._done = threading.Event()
        self._notify = notify
        self._handle = handle
        threading.Thread(target=self._run, name="wait", daemon=True).start()

    def _run(self) -> None:
        self.status = wait_status(self._handle)
        self._done.set()
        self._notify.set()

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def get(self) -> int:
        while not self._done.wait(0.5):
            pass
        return self.status if self.status is not None else 125


def _event() -> threading.Event:
    import threading

    return threading.Event()


def _wait_any(event: threading.Event) -> None:
    """Block (interruptibly, so signal handlers run) until ``event`` is set."""
    while not event.wait(0.5):
        pass
    event.clear()


# --- run ---------------------------------------------------------------------------------


def run_run(env: Env, p: Parsed) -> int:
    from ketch.cli.signals import SignalHub
    from ketch.client.errors import LocalError

    cfg = _build(env, p, "run")
    detach = p["detach"]
    if not detach:
        _check_tty(env, cfg.attach_stdin, cfg.tty)
    else:
        if p["attach"]:
            raise UsageError("conflicting options: cannot specify both --attach and --detach")
        for key in ("AttachStdin", "AttachStdout", "AttachStderr", "StdinOnce"):
            cfg.config[key] = False
    try:
        ident = create_container(env, cfg, p)
    except (KetchError, LocalError) as exc:
        raise status_error(exc) from None
    hub = SignalHub()
    if p["sig_proxy"]:
        proxy_signals(hub, env, ident)
    hub.start()
    try:
        return _run_session(env, p, cfg, ident, hub, detach)
    finally:
        hub.stop()


def _run_session(env: Env, p: Parsed, cfg: ContainerConfig, ident: str, hub: SignalHub,
                 detach: bool) -> int:
    api = env.client.containers
    attach = cfg.attach_stdin or cfg.attach_stdout or cfg.attach_stderr
    notify = _event()
    streamer: Streamer | None = None
    if attach:
        conn = api.attach(ident, stdin=cfg.attach_stdin, stdout=cfg.attach_stdout,
                          stderr=cfg.attach_stderr, detach_keys=p["detach_keys"])
        streamer = open_streamer(env, conn, stdin=cfg.attach_stdin, stdout=cfg.attach_stdout,
                                 stderr=cfg.attach_stderr, tty=cfg.tty,
                                 detach_keys=p["detach_keys"], notify=notify)
    try:
        handle = api.wait(ident, "removed" if cfg.auto_remove else "next-exit")
        status = _StatusWaiter(handle, notify)
        if not attach:
            env.out(ident + "\n")
            env.stdout.flush()
        try:
            api.start(ident)
        except KetchError as exc:
            if streamer is not None:
                streamer.cancel()
            if cfg.auto_remove:
                status.get()
            raise status_error(exc) from None
        if streamer is None:
            return 0
        if cfg.tty and env.stdout_is_terminal():
            monitor_tty_size(env, hub, lambda h, w: api.resize(ident, h, w))
        return _finish_session(cfg, streamer, status, notify)
    finally:
        if streamer is not None:
            streamer.close()


def _finish_session(cfg: ContainerConfig, streamer: Streamer, status: _StatusWaiter,
                    notify: threading.Event) -> int:
    from ketch.cli.attachio import Detached

    while not streamer.done and not status.done:
        _wait_any(notify)
    if streamer.done:
        result = streamer.result
        if isinstance(result, Detached):
            return 0
        if isinstance(result, KetchError):
            raise result
        if result is not None:
            raise UsageError(str(result))
        return status.get()
    # The container exited first: let the output drain (unless none is attached).
    if not cfg.attach_stdout and not cfg.attach_stderr:
        streamer.cancel()
    while not streamer.done:
        _wait_any(notify)
    return status.get()


# --- start ---------------------------------------------------------------------------------


def spec_start(path: str) -> CommandSpec:
    return CommandSpec(
        path, "start [OPTIONS] CONTAINER [CONTAINER...]", "Start one or more stopped containers",
        flags=[
            Flag("attach", "Attach STDOUT/STDERR and forward signals", short="a"),
            Flag("checkpoint", "Restore from this checkpoint", kind="string", hidden=True),
            Flag("checkpoint-dir", "Use a custom checkpoint storage directory", kind="string",
                 hidden=True),
            Flag("detach-keys", DETACH_KEYS_HELP, kind="string"),
            Flag("interactive", "Attach container's STDIN", short="i"),
        ],
        min_args=1,
        aliases=f"{PROG} container start, {PROG} start",
    )


def run_start(env: Env, p: Parsed) -> int:
    from ketch.cli.messages import daemon_error_text

    if p["checkpoint"] or p["checkpoint_dir"]:
        raise UsageError("checkpoints are not supported")
    if p["attach"] or p["interactive"]:
        if len(p.args) > 1:
            raise UsageError("you cannot start and attach multiple containers at once")
        return _start_attached(env, p)
    failed: list[str] = []
    for name in p.args:
        try:
            env.client.containers.start(name)
        except KetchError as exc:
            env.stdout.flush()
            env.err(daemon_error_text(exc) + "\n")
            failed.append(name)
            continue
        env.out(f"{name}\n")
    if failed:
        raise UsageError(f"Error: failed to start containers: {', '.join(failed)}")
    return 0


def _start_attached(env: Env, p: Parsed) -> int:
    from ketch.cli.signals import SignalHub

    api = env.client.containers
    info = api.inspect(p.args[0])
    ident = str(info.get("Id") or p.args[0])
    config = info.get("Config") or {}
    tty = bool(config.get("Tty"))
    auto_remove = bool((info.get("HostConfig") or {}).get("AutoRemove"))
    stdin = bool(p["interactive"] and config.get("OpenStdin"))
    hub = SignalHub()
    if not tty:
        proxy_signals(hub, env, ident)
    hub.start()
    notify = _event()
    streamer: Streamer | None = None
    try:
        conn = api.attach(ident, stdin=stdin, detach_keys=p["detach_keys"])
        streamer = open_streamer(env, conn, stdin=stdin, stdout=True, stderr=True, tty=tty,
                                 detach_keys=p["detach_keys"], notify=notify)
        status = _StatusWaiter(api.wait(ident, "removed" if auto_remove else "next-exit"),
                               notify)
        try:
            api.start(ident)
        except KetchError:
            streamer.cancel()
            if auto_remove:
                status.get()
            raise
        if tty and env.stdout_is_terminal():
            monitor_tty_size(env, hub, lambda h, w: api.resize(ident, h, w))
        return _end_attached(streamer, notify, status.get)
    finally:
        hub.stop()
        if streamer is not None:
            streamer.close()


def _end_attached(streamer: Streamer, notify: threading.Event, status: Callable[[], int],
                  detach_code: int = 0) -> int:
    """Wait for the streams; detaching returns ``detach_code`` (start) or fails (attach)."""
    from ketch.cli.attachio import Detached

    while not streamer.done:
        _wait_any(notify)
    result = streamer.result
    if isinstance(result, Detached):
        if detach_code:
            raise UsageError(str(result), detach_code)
        return 0
    if isinstance(result, KetchError):
        raise result
    if result is not None:
        raise UsageError(str(result))
    return status()


# --- attach ---------------------------------------------------------------------------------


def spec_attach(path: str) -> CommandSpec:
    return CommandSpec(
        path, "attach [OPTIONS] CONTAINER",
        "Attach local standard input, output, and error streams to a running container",
        flags=[
            Flag("detach-keys", DETACH_KEYS_HELP, kind="string"),
            Flag("no-stdin", "Do not attach STDIN"),
            Flag("sig-proxy", "Proxy all received signals to the process", default=True),
        ],
        min_args=1, max_args=1,
        aliases=f"{PROG} container attach, {PROG} attach",
    )


def _check_attachable(info: dict[str, Any]) -> None:
    from ketch.client.errors import LocalError

    state = info.get("State") or {}
    if not state.get("Running"):
        raise LocalError("You cannot attach to a stopped container, start it first")
    if state.get("Paused"):
        raise LocalError("You cannot attach to a paused container, unpause it first")
    if state.get("Restarting"):
        raise LocalError("You cannot attach to a restarting container, wait until it is "
                         "running")


def run_attach(env: Env, p: Parsed) -> int:
    from ketch.cli.signals import SignalHub

    api = env.client.containers
    name = p.args[0]
    wait_error: KetchError | None = None
    handle: WaitHandle | None = None
    try:
        handle = api.wait(name)  # asked first, so an exit during the attach is seen
    except KetchError as exc:
        wait_error = exc
    info = api.inspect(name)
    _check_attachable(info)
    config = info.get("Config") or {}
    tty = bool(config.get("Tty"))
    _check_tty(env, not p["no_stdin"], tty)
    stdin = bool(not p["no_stdin"] and config.get("OpenStdin"))
    hub = SignalHub()
    if p["sig_proxy"] and not tty:
        proxy_signals(hub, env, name)
    hub.start()
    notify = _event()
    streamer: Streamer | None = None
    try:
        conn = api.attach(name, stdin=stdin, detach_keys=p["detach_keys"])
        try:
            _check_attachable(api.inspect(name))
        except KetchError:
            conn.close()
            raise
        if tty and env.stdout_is_terminal():
            monitor_tty_size(env, hub, lambda h, w: api.resize(name, h, w), bump=True)
        streamer = open_streamer(env, conn, stdin=stdin, stdout=True, stderr=True, tty=tty,
                                 detach_keys=p["detach_keys"], notify=notify)

        def status() -> int:
            if wait_error is not None:
                raise wait_error
            assert handle is not None
            result = handle.result()
            error = result.get("Error")
            if error:
                from ketch.client.errors import LocalError

                message = error.get("Message") if isinstance(error, dict) else error
                raise LocalError(str(message))
            return int(result.get("StatusCode") or 0)

        return _end_attached(streamer, notify, status, detach_code=1)
    finally:
        hub.stop()
        if streamer is not None:
            streamer.close()


# --- exec -------------------------------------------------------------------------------------


def spec_exec(path: str) -> CommandSpec:
    from ketch.cli.containeropts import validate_env

    return CommandSpec(
        path, "exec [OPTIONS] CONTAINER COMMAND [ARG...]",
        "Execute a command in a running container",
        flags=[
            Flag("detach", "Detached mode: run command in the background", short="d"),
            Flag("detach-keys", DETACH_KEYS_HELP, kind="string"),
            Flag("env", "Set environment variables", short="e", kind="list", typename="list",
                 convert=validate_env),
            Flag("env-file", "Read in a file of environment variables", kind="list",
                 typename="list"),
            Flag("interactive", "Keep STDIN open even if not attached", short="i"),
            Flag("privileged", "Give extended privileges to the command"),
            Flag("tty", "Allocate a pseudo-TTY", short="t"),
            Flag("user", 'Username or UID (format: "<name|uid>[:<group|gid>]")', short="u",
                 kind="string"),
            Flag("workdir", "Working directory inside the container", short="w",
                 kind="string"),
        ],
        min_args=2, interspersed=False,
        aliases=f"{PROG} container exec, {PROG} exec",
    )


def _console_size(env: Env, tty: bool) -> list[int] | None:
    """The TTY size sent with an exec (API 1.42 and later only, as the Go client)."""
    from ketch.cli.terminal import fd_of, window_size
    from ketch.client.client import version_tuple

    if not tty or version_tuple(env.client.api_version) < (1, 42):
        return None
    return list(window_size(fd_of(env.stdout)))


def run_exec(env: Env, p: Parsed) -> int:
    from ketch.cli.containeropts import read_kv_file
    from ketch.client.errors import ConnectionFailed, LocalError

    name, command = p.args[0], p.args[1:]
    detach, tty = p["detach"], p["tty"]
    try:
        env_vars: list[str] = []
        for path in p["env_file"]:
            env_vars += read_kv_file(path, lookup=True)
    except OptionError as exc:
        raise LocalError(str(exc)) from None
    env_vars += p["env"]
    attach_stdin = bool(p["interactive"] and not detach)
    api = env.client.containers
    api.inspect(name)
    if not detach:
        _check_tty(env, attach_stdin, tty)
    console = _console_size(env, tty)
    body: dict[str, Any] = {"User": p["user"], "Privileged": p["privileged"], "Tty": tty}
    if console is not None:
        body["ConsoleSize"] = console
    body.update({
        "AttachStdin": attach_stdin, "AttachStderr": not detach, "AttachStdout": not detach,
        "Detach": detach, "DetachKeys": p["detach_keys"], "Env": env_vars or None,
        "WorkingDir": p["workdir"], "Cmd": command,
    })
    exec_id = str(api.exec_create(name, body).get("Id") or "")
    if not exec_id:
        raise LocalError("exec ID empty")
    if detach:
        api.exec_start_detached(exec_id, tty=tty, console_size=console)
        return 0
    from ketch.cli.signals import SignalHub

    conn = api.exec_attach(exec_id, tty=tty, console_size=console)
    notify = _event()
    hub = SignalHub()
    streamer = open_streamer(env, conn, stdin=attach_stdin, stdout=True, stderr=True, tty=tty,
                             detach_keys=p["detach_keys"], notify=notify)
    try:
        if tty and env.stdin_is_terminal():
            monitor_tty_size(env, hub, lambda h, w: api.exec_resize(exec_id, h, w))
        hub.start()

        def status() -> int:
            try:
                code = api.exec_inspect(exec_id).get("ExitCode")
            except ConnectionFailed:
                return 255  # docker exits -1
            return int(code or 0)

        return _end_attached(streamer, notify, status, detach_code=1)
    finally:
        hub.stop()
        streamer.close()
