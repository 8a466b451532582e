"""How Dockerfile instructions change a run config, for builds and for ``--change``.

The classic builder's config-only instructions (ENV, LABEL, CMD,
ENTRYPOINT, WORKDIR, USER, VOLUME, EXPOSE, STOPSIGNAL, HEALTHCHECK, SHELL,
ONBUILD) each edit the stage's run config. ``docker commit --change`` and
``docker import --change`` do the same thing with the same code in moby
(``BuildFromConfig`` parses the lines as a Dockerfile and runs the
builder's dispatchers on the given config), so both paths here share
:func:`apply_instruction`, and :func:`apply_changes` adds what
``BuildFromConfig`` adds around it: only the commit-safe instructions, and
variables expanded from the config's own ``Env`` (including what an
earlier change line set).

Configs are Docker-shaped dicts (``Env``, ``Cmd``, ``ExposedPorts``...),
edited in place.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from ketch.build.dockerfile import (
    DEFAULT_SHELL,
    Cmd,
    DockerfileError,
    Entrypoint,
    Env,
    Expose,
    Healthcheck,
    Instruction,
    Label,
    Maintainer,
    Onbuild,
    Shell,
    StopSignal,
    User,
    Volume,
    Workdir,
    expand_instruction,
    normalize_workdir,
    parse_lines,
    parse_onbuild_trigger,
    resolve_command,
)
from ketch.build.dockerfile.instructions import parse_instruction
from ketch.containers.service import parse_signal
from ketch.errors import InvalidArgument

#: What ``--change`` accepts (moby's ``validCommitCommands``).
CHANGE_INSTRUCTIONS = frozenset({"cmd", "entrypoint", "healthcheck", "env", "expose", "label",
                                 "onbuild", "stopsignal", "user", "volume", "workdir"})
_PROTOCOLS = ("tcp", "udp", "sctp")


class ConfigState(Protocol):
    """What instructions edit: the run config plus two facts that span instructions."""

    #: the Docker-shaped run config, edited in place
    config: dict[str, Any]
    #: the current SHELL, prepended to shell-form CMD and ENTRYPOINT
    shell: tuple[str, ...]
    #: a CMD ran (in this stage, or earlier in the change list): ENTRYPOINT keeps Cmd
    cmd_set: bool


@dataclass
class RunConfig:
    """A :class:`ConfigState` on its own, for ``--change`` lines."""

    config: dict[str, Any]
    shell: tuple[str, ...] = DEFAULT_SHELL
    cmd_set: bool = False


def expansion_env(config: Mapping[str, Any], args: Mapping[str, str | None]) -> dict[str, str]:
    """The variables ``$VAR`` expands to: declared build args, overridden by ``Env``."""
    env = {key: value for key, value in args.items() if value is not None}
    for item in config.get("Env") or []:
        key, _, value = str(item).partition("=")
        env[key] = value
    return env


def apply_instruction(state: ConfigState, ins: Instruction) -> None:
    """Apply a config-only instruction (already expanded) to ``state``, as moby's
    dispatchers do. RUN, COPY, ADD, ARG and FROM are the builder's own business."""
    config = state.config
    if isinstance(ins, Env):
        env = [str(item) for item in config.get("Env") or []]
        for pair in ins.pairs:  # an existing variable keeps its place, as in Docker
            keys = [item.partition("=")[0] for item in env]
            item = f"{pair.key}={pair.value}"
            if pair.key in keys:
                env[keys.index(pair.key)] = item
            else:
                env.append(item)
        config["Env"] = env
    elif isinstance(ins, Label):
        labels = dict(config.get("Labels") or {})
        for pair in ins.pairs:
            labels[pair.key] = pair.value
        config["Labels"] = labels
    elif isinstance(ins, Maintainer):
        pass  # the image's author, which the builder records when it commits
    elif isinstance(ins, Cmd):
        config["Cmd"] = resolve_command(ins.command, ins.prepend_shell, state.shell)
        config.pop("ArgsEscaped", None)  # Linux: never escaped
        if ins.command:
            state.cmd_set = True
    elif isinstance(ins, Entrypoint):
        config["Entrypoint"] = resolve_command(ins.command, ins.prepend_shell, state.shell)
        config.pop("ArgsEscaped", None)
        if not state.cmd_set:
            config["Cmd"] = None
    elif isinstance(ins, Workdir):
        config["WorkingDir"] = normalize_workdir(config.get("WorkingDir") or "/", ins.path)
    elif isinstance(ins, User):
        config["User"] = ins.user
    elif isinstance(ins, Volume):
        volumes = dict(config.get("Volumes") or {})
        for path in ins.volumes:
            if not path.strip():
                raise InvalidArgument("VOLUME specified can not be an empty string")
            volumes[path] = {}
        config["Volumes"] = volumes
    elif isinstance(ins, Expose):
        ports = dict(config.get("ExposedPorts") or {})
        for port in exposed_ports(ins.ports):
            ports[port] = {}
        config["ExposedPorts"] = ports
    elif isinstance(ins, StopSignal):
        try:
            parse_signal(ins.signal)
        except InvalidArgument:
            raise InvalidArgument(f"Invalid signal: {ins.signal}") from None
        config["StopSignal"] = ins.signal
    elif isinstance(ins, Healthcheck):
        config["Healthcheck"] = _health_config(ins)
    elif isinstance(ins, Shell):
        state.shell = tuple(ins.shell)
        config["Shell"] = list(ins.shell)
    elif isinstance(ins, Onbuild):
        if ins.trigger is None:
            parse_onbuild_trigger(ins.expression)  # Docker's error for a bad trigger
        config["OnBuild"] = [*(config.get("OnBuild") or []), ins.expression]
    else:
        raise InvalidArgument(f"unsupported instruction {ins.keyword}")


def _health_config(ins: Healthcheck) -> dict[str, Any]:
    if ins.disabled:
        return {"Test": ["NONE"]}
    health: dict[str, Any] = {"Test": list(ins.test)}
    for key, value in (("Interval", ins.interval), ("Timeout", ins.timeout),
                       ("StartPeriod", ins.start_period),
                       ("StartInterval", ins.start_interval), ("Retries", ins.retries)):
        if value:
            health[key] = value
    return health


def apply_changes(config: dict[str, Any], changes: Sequence[str]) -> dict[str, Any]:
    """``--change`` lines applied to ``config`` (in place, and returned): moby's
    ``BuildFromConfig``.

    The lines are parsed together as one Dockerfile (so a directive or a
    continuation works as it does there); all must be commit-safe before
    any applies. Each one sees the Env as the lines before it left it:
    ``ENV A=1`` then ``LABEL a=$A`` gives ``a=1``. ``EXPOSE`` takes port
    ranges and ``ip:host:container`` specs, exposing the container ports.
    """
    if not changes:
        return config
    try:
        parsed = parse_lines("\n".join(changes))
    except DockerfileError as exc:
        raise InvalidArgument(exc.reason) from None
    instructions: list[Instruction] = []
    for node in parsed.nodes:
        if node.keyword.lower() not in CHANGE_INSTRUCTIONS:
            raise InvalidArgument(f"{node.keyword.lower()} is not a valid change command")
        try:
            instructions.append(parse_instruction(node))
        except DockerfileError as exc:
            # moby's BuildFromConfig: the bare reason, no "parse error line N"
            raise InvalidArgument(exc.reason) from None
    state = RunConfig(config)
    for ins in instructions:
        expanded = expand_instruction(ins, expansion_env(config, {}),
                                      escape_token=parsed.escape_token)
        apply_instruction(state, expanded)
    return config


# -- EXPOSE ---------------------------------------------------------------------------------


def exposed_ports(specs: Iterable[str]) -> list[str]:
    """The ``port/proto`` keys that EXPOSE's specs add, as Docker's ``ParsePortSpecs``.

    ``8000-8002`` is three ports; ``[ip:][hostPort:]containerPort[/proto]``
    exposes the container port(s), the rest only being checked.
    """
    ports: list[str] = []
    for raw in specs:
        ip, host, container = _split_parts(raw)
        proto, number = _split_proto_port(container)
        if ip.startswith("[") and ip.endswith("]"):
            ip = ip[1:-1]
        if ip:
            try:
                ipaddress.ip_address(ip)
            except ValueError:
                raise InvalidArgument(f"invalid IP address: {ip}") from None
        if not number:
            raise InvalidArgument(f"no port specified: {raw}<empty>")
        start, end = _port_range(number, "containerPort")
        if host:
            host_start, host_end = _port_range(host, "hostPort")
            if end != start and end - start != host_end - host_start:
                raise InvalidArgument("invalid ranges specified for container and host Ports: "
                                      f"{number} and {host}")
        proto = proto.lower()
        if proto not in _PROTOCOLS:
            raise InvalidArgument(f"invalid proto: {proto}")
        ports += [f"{port}/{proto}" for port in range(start, end + 1)]
    return ports


def _split_parts(raw: str) -> tuple[str, str, str]:
    """``ip:host:container`` (an IPv6 ip keeps its colons)."""
    parts = raw.split(":")
    if len(parts) == 1:
        return "", "", parts[0]
    if len(parts) == 2:
        return "", parts[0], parts[1]
    return ":".join(parts[:-2]), parts[-2], parts[-1]


def _split_proto_port(text: str) -> tuple[str, str]:
    """(proto, port) of ``port[/proto]``; tcp by default, nothing for no port."""
    port, _, proto = text.partition("/")
    if not port:
        return "", ""
    return proto.split("/")[0] or "tcp", port


def _port_range(text: str, what: str) -> tuple[int, int]:
    """``N`` or ``N-M`` (0..65535, M >= N); ``invalid <what>: <text>`` otherwise."""
    start, sep, end = text.partition("-")
    try:
        low = _port_number(start)
        high = _port_number(end) if sep else low
    except ValueError:
        raise InvalidArgument(f"invalid {what}: {text}") from None
    if high < low:
        raise InvalidArgument(f"invalid {what}: {text}")
    return low, high


def _port_number(text: str) -> int:
    if not text.isdigit() or not text.isascii():
        raise ValueError(text)
    value = int(text)
    if value > 65535:
        raise ValueError(text)
    return value


__all__ = [
    "CHANGE_INSTRUCTIONS",
    "ConfigState",
    "RunConfig",
    "apply_changes",
    "apply_instruction",
    "expansion_env",
    "exposed_ports",
]
