"""``port``: a container's published ports, read from ``NetworkSettings.Ports`` of
its inspect data and printed as the Docker CLI 28 prints them (natural order,
``80/tcp -> 0.0.0.0:8080``, or only ``0.0.0.0:8080`` for one given port)."""

from __future__ import annotations

import re

from ketch.cli.env import PROG, Env
from ketch.cli.flags import CommandSpec, Parsed, UsageError


def spec_port(path: str) -> CommandSpec:
    return CommandSpec(
        path, "port CONTAINER [PRIVATE_PORT[/PROTO]]",
        "List port mappings or a specific mapping for the container",
        min_args=1, max_args=2, aliases=f"{PROG} container port, {PROG} port",
    )


def _join_host_port(host: str, port: str) -> str:
    """Go's ``net.JoinHostPort``: IPv6 addresses in brackets."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def natural_key(text: str) -> list[tuple[int, int, str, int]]:
    """``sortorder.NaturalLess`` as a sort key: digit runs compare as numbers (fewer
    leading zeros first), and come before other characters."""
    key: list[tuple[int, int, str, int]] = []
    for run in re.findall(r"\d+|\D", text):
        if run.isdigit():
            digits = run.lstrip("0")
            key.append((0, len(digits), digits, len(run) - len(digits)))
        else:
            key.append((1, 0, run, 0))
    return key


def run_port(env: Env, p: Parsed) -> int:
    name = p.args[0]
    settings = env.client.containers.inspect(name).get("NetworkSettings") or {}
    ports: dict[str, list[dict[str, str]] | None] = settings.get("Ports") or {}
    out: list[str] = []
    if len(p.args) > 1:
        wanted = p.args[1]
        port, _, proto = wanted.partition("/")
        if not (port.isascii() and port.isdigit()) or int(port) > 65535:
            reason = "value out of range" if port.isascii() and port.isdigit() else \
                "invalid syntax"
            raise UsageError(f'Error: invalid port ({port}): strconv.ParseUint: parsing '
                             f'"{port}": {reason}')
        frontends = ports.get(f"{port}/{proto or 'tcp'}")
        if not frontends:
            raise UsageError(f"Error: No public port '{wanted}' published for {name}")
        out = [_join_host_port(f.get("HostIp", ""), f.get("HostPort", "")) for f in frontends]
    else:
        for key, frontends in ports.items():
            out += [f"{key} -> {_join_host_port(f.get('HostIp', ''), f.get('HostPort', ''))}"
                    for f in frontends or ()]
    if out:
        env.out("\n".join(sorted(out, key=natural_key)) + "\n")
    return 0
