"""Registry commands: pull, push, login, logout.

Pull and push show the daemon's JSON progress stream on stdout (moving
per-layer lines on a terminal, plain lines elsewhere) and send the stored
credentials of the image's registry as ``X-Registry-Auth``. Login asks the
daemon to check credentials (``POST /auth``) and keeps them in the client's
config.json in Docker's format; logout removes them. Messages are the Docker
CLI 28's.
"""

from __future__ import annotations

from ketch.cli.env import PROG, Env
from ketch.cli.flags import CommandSpec, Flag, Parsed

TYPE_CHECKING = False  # typing is not imported at run time: it costs startup time
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Any, TextIO

    from ketch.cli.credentials import AuthConfig, ConfigFile
    from ketch.cli.reference import Reference


def _trust_flag(help_text: str) -> Flag:
    """``--disable-content-trust``: accepted for docker's sake; ketch never signs."""
    return Flag("disable-content-trust", help_text, default=True)


# --- pull -----------------------------------------------------------------------------


def spec_pull(path: str) -> CommandSpec:
    return CommandSpec(
        path, "pull [OPTIONS] NAME[:TAG|@DIGEST]", "Download an image from a registry",
        flags=[
            Flag("all-tags", "Download all tagged images in the repository", short="a"),
            _trust_flag("Skip image verification"),
            Flag("platform", "Set platform if server is multi-platform capable",
                 kind="string"),
            Flag("quiet", "Suppress verbose output", short="q"),
        ],
        min_args=1, max_args=1,
        aliases=f"{PROG} image pull, {PROG} pull",
    )


def _named(env: Env, text: str, all_tags: bool, quiet: bool) -> Reference:
    """Docker's reference checks shared by pull and push (``Using default tag``)."""
    from ketch.cli.reference import ReferenceError, parse_normalized_named, with_default_tag
    from ketch.client.errors import LocalError

    try:
        ref = parse_normalized_named(text)
    except ReferenceError as exc:
        raise LocalError(str(exc)) from None
    name_only = not ref.tag and not ref.digest
    if all_tags and not name_only:
        raise LocalError("tag can't be used with --all-tags/-a")
    if not all_tags and name_only:
        ref = with_default_tag(ref)
        if not quiet:
            env.out(f"Using default tag: {ref.tag}\n")
    return ref


def _full_string(ref: Reference) -> str:
    """``reference.String()``: the full name with tag and/or digest."""
    out = ref.name
    if ref.tag:
        out += ":" + ref.tag
    if ref.digest:
        out += "@" + ref.digest
    return out


def registry_auth(env: Env, domain: str) -> str:
    """The stored credentials for ``domain``, encoded for ``X-Registry-Auth``."""
    from ketch.cli.credentials import config_dir, registry_auth_for

    return registry_auth_for(config_dir(env.config_dir), domain)


def show_stream(env: Env, messages: Iterable[dict[str, Any]], quiet: bool,
                to_stderr: bool = False) -> None:
    """Drain a progress stream: shown on stdout (or stderr), or only consumed with ``-q``.
    Errors in the stream are raised by the client as ``StreamError``."""
    from ketch.cli import jsonmessage

    if quiet:
        for _ in messages:
            pass
        return
    out = env.stderr if to_stderr else env.stdout
    jsonmessage.display(messages, out, _isatty(out))


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def run_pull(env: Env, p: Parsed) -> int:
    ref = _named(env, p.args[0], p["all_tags"], p["quiet"])
    tag = "" if p["all_tags"] else (ref.digest or ref.tag)
    auth = registry_auth(env, ref.domain)
    messages = env.client.images.pull(ref.name, tag, platform=p["platform"],
                                      registry_auth=auth)
    show_stream(env, messages, p["quiet"])
    env.out(_full_string(ref) + "\n")
    return 0


# --- push -----------------------------------------------------------------------------


def spec_push(path: str) -> CommandSpec:
    return CommandSpec(
        path, "push [OPTIONS] NAME[:TAG]", "Upload an image to a registry",
        flags=[
            Flag("all-tags", "Push all tags of an image to the repository", short="a"),
            _trust_flag("Skip image signing"),
            Flag("quiet", "Suppress verbose output", short="q"),
        ],
        min_args=1, max_args=1,
        aliases=f"{PROG} image push, {PROG} push",
    )


def run_push(env: Env, p: Parsed) -> int:
    from ketch.client.errors import LocalError

    ref = _named(env, p.args[0], p["all_tags"], p["quiet"])
    if ref.digest:
        raise LocalError("cannot push a digest reference")
    auth = registry_auth(env, ref.domain)
    tag = "" if p["all_tags"] else ref.tag
    messages = env.client.images.push(ref.familiar_name, tag, registry_auth=auth)
    show_stream(env, messages, p["quiet"])
    if p["quiet"]:
        env.out(_full_string(ref) + "\n")
    return 0


# --- login ----------------------------------------------------------------------------


def spec_login(path: str) -> CommandSpec:
    return CommandSpec(
        path, "login [OPTIONS] [SERVER]",
        "Authenticate to a registry.\nDefaults to Docker Hub if no server is specified.",
        flags=[
            Flag("password", "Password or Personal Access Token (PAT)", short="p",
                 kind="string"),
            Flag("password-stdin", "Take the Password or Personal Access Token (PAT) "
                 "from stdin"),
            Flag("username", "Username", short="u", kind="string"),
        ],
        max_args=1,
    )


def _verify_login_flags(p: Parsed) -> None:
    """Docker's ``verifyLoginFlags`` (checked on what was given, not on values)."""
    from ketch.client.errors import LocalError

    if "password_stdin" in p.changed:
        if "password" in p.changed:
            raise LocalError("conflicting options: cannot specify both --password and "
                             "--password-stdin")
        if "username" not in p.changed:
            raise LocalError("the --password-stdin option requires --username to be set")
    if "username" in p.changed and not p["username"]:
        raise LocalError("username is empty")
    if "password" in p.changed and not p["password"]:
        raise LocalError("password is empty")


def run_login(env: Env, p: Parsed) -> int:
    from ketch.cli.credentials import INDEX_SERVER, AuthConfig, convert_to_hostname

    _verify_login_flags(p)
    user, password = p["username"], p["password"]
    if password:
        env.err("WARNING! Using --password via the CLI is insecure. Use --password-stdin.\n")
    if p["password_stdin"]:
        password = env.stdin.read()
        password = password.removesuffix("\n").removesuffix("\r")
    server = p.args[0] if p.args and p.args[0] != "docker.io" else INDEX_SERVER
    key = server if server == INDEX_SERVER else convert_to_hostname(server)
    config = _config(env)
    stored = config.get(key) if not user and not password else None
    auth = AuthConfig(stored.username, stored.password) if stored else AuthConfig()
    auth.server_address = key
    message, failed = "", True
    if auth.username and auth.password:
        message, failed = _login_stored(env, config, auth)
    if failed:
        message = _login_user(env, config, user, password, auth.username, key)
    if message:
        env.out(message + "\n")
    return 0


def _config(env: Env) -> ConfigFile:
    from ketch.cli.credentials import ConfigError, ConfigFile, config_dir
    from ketch.client.errors import LocalError

    try:
        return ConfigFile(config_dir(env.config_dir))
    except ConfigError as exc:
        raise LocalError(str(exc)) from None


def _login_stored(env: Env, config: ConfigFile, auth: AuthConfig) -> tuple[str, bool]:
    """Docker's ``loginWithStoredCredentials``: (status, failed)."""
    from ketch.errors import KetchError, Unauthorized

    env.err(f"Authenticating with existing credentials... [Username: {auth.username}]\n")
    env.err(f"\n Info -> To login with a different account, run '{PROG} logout' followed "
            f"by '{PROG} login'\n\n\n")
    try:
        answer = env.client.system.login(auth.to_json())
    except Unauthorized:
        env.err("Stored credentials invalid or expired\n")
        return "", True
    except KetchError as exc:
        from ketch.cli.messages import daemon_error_text

        env.err(f"Login did not succeed, error: {daemon_error_text(exc)}\n")
        return "", True
    _store(env, config, auth, answer)
    return str(answer.get("Status") or ""), False


def _login_user(env: Env, config: ConfigFile, user: str, password: str, default_user: str,
                server: str) -> str:
    """Prompt for what is missing (terminals only), check with the daemon, store."""
    from ketch.cli.credentials import AuthConfig
    from ketch.client.errors import LocalError

    if (not user or not password) and not env.stdin_is_terminal():
        raise LocalError("Error: Cannot perform an interactive login from a non TTY device")
    user = user.strip()
    if not user:
        prompt = f"Username ({default_user.strip()}): " if default_user.strip() else "Username: "
        user = _read_line(env, prompt) or default_user.strip()
        if not user:
            raise LocalError("Error: Non-null Username Required")
    password = password.strip()
    if not password:
        password = _read_secret(env, "Password: ")
        env.out("\n")
        if not password:
            raise LocalError("Error: Password Required")
    auth = AuthConfig(user, password, server)
    answer = env.client.system.login(auth.to_json())
    _store(env, config, auth, answer)
    return str(answer.get("Status") or "")


def _store(env: Env, config: ConfigFile, auth: AuthConfig, answer: dict[str, object]) -> None:
    from ketch.cli.credentials import UNENCRYPTED_WARNING
    from ketch.client.errors import LocalError

    token = str(answer.get("IdentityToken") or "")
    if token:
        auth.password = ""
        auth.identity_token = token
    try:
        changed = config.store(auth)
    except OSError as exc:
        raise LocalError(f"Error saving credentials: {exc}") from None
    if changed and auth.password:
        env.err(UNENCRYPTED_WARNING.format(config.path) + "\n")


def _read_line(env: Env, prompt: str) -> str:
    env.out(prompt)
    env.stdout.flush()
    return env.stdin.readline().strip()


def _read_secret(env: Env, prompt: str) -> str:
    """A line from the terminal with echo off (restored whatever happens)."""
    import termios

    env.out(prompt)
    env.stdout.flush()
    fd = env.stdin.fileno()
    old = termios.tcgetattr(fd)
    new = list(old)
    new[3] = new[3] & ~termios.ECHO
    termios.tcsetattr(fd, termios.TCSANOW, new)
    try:
        return env.stdin.readline().strip()
    finally:
        termios.tcsetattr(fd, termios.TCSANOW, old)


# --- logout ---------------------------------------------------------------------------


def spec_logout(path: str) -> CommandSpec:
    return CommandSpec(
        path, "logout [SERVER]",
        "Log out from a registry.\nIf no server is specified, the default is defined by "
        "the daemon.",
        max_args=1,
    )


def run_logout(env: Env, p: Parsed) -> int:
    from ketch.cli.credentials import INDEX_SERVER, convert_to_hostname

    server = p.args[0] if p.args else ""
    default = not server
    if default:
        server = INDEX_SERVER
    keys = [server]
    host = server
    if not default:
        host = convert_to_hostname(server)
        keys += [host, "http://" + host, "https://" + host]
    env.out(f"Removing login credentials for {host}\n")
    config = _config(env)
    errors: dict[str, str] = {}
    for key in keys:
        try:
            config.erase(key)
        except OSError as exc:
            errors[key] = str(exc)
    if len(errors) == len(keys):
        env.err("WARNING: could not erase credentials:\n")
        for key, text in errors.items():
            env.err(f"{key}: {text}\n")
    return 0

