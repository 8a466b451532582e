"""``--change`` instructions of ``docker import`` and ``docker commit``.

They are Dockerfile lines restricted to the instructions that only touch the
image config. Each is applied to the container-config mapping of the image.
"""

from __future__ import annotations

import json
import shlex
from typing import Any

from ketch.errors import InvalidArgument
from ketch.timeutil import parse_go_duration

ALLOWED = ("CMD", "ENTRYPOINT", "ENV", "EXPOSE", "HEALTHCHECK", "LABEL", "ONBUILD",
           "STOPSIGNAL", "USER", "VOLUME", "WORKDIR")
_HEALTH_OPTIONS = {"interval": "Interval", "timeout": "Timeout", "start-period": "StartPeriod",
                   "start-interval": "StartInterval", "retries": "Retries"}


def apply_changes(config: dict[str, Any], changes: list[str]) -> dict[str, Any]:
    for change in changes:
        change = change.strip()
        if not change:
            continue
        keyword, _, rest = change.partition(" ")
        keyword = keyword.upper()
        rest = rest.strip()
        if keyword not in ALLOWED:
            raise InvalidArgument(f"{keyword.lower()} is not a valid change command")
        _APPLY[keyword](config, rest)
    return config


def _json_or_shell(rest: str, shell: bool) -> list[str]:
    if rest.startswith("["):
        try:
            value = json.loads(rest)
        except ValueError:
            value = None
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return value
    return ["/bin/sh", "-c", rest] if shell else _words(rest)


def _words(rest: str) -> list[str]:
    try:
        return shlex.split(rest)
    except ValueError as exc:
        raise InvalidArgument(f"invalid change {rest!r}: {exc}") from None


def _pairs(keyword: str, rest: str) -> list[tuple[str, str]]:
    words = _words(rest)
    if not words:
        raise InvalidArgument(f"{keyword} requires at least one argument")
    if "=" not in words[0]:
        # Legacy form "ENV KEY value with spaces".
        key, _, value = rest.partition(" ")
        return [(key, value.strip())]
    pairs = []
    for word in words:
        key, eq, value = word.partition("=")
        if not eq or not key:
            raise InvalidArgument(f"{keyword} names can not be blank: {word!r}")
        pairs.append((key, value))
    return pairs


def _cmd(config: dict[str, Any], rest: str) -> None:
    config["Cmd"] = _json_or_shell(rest, shell=True)


def _entrypoint(config: dict[str, Any], rest: str) -> None:
    # "ENTRYPOINT []" clears it, as in a Dockerfile.
    config["Entrypoint"] = (_json_or_shell(rest, shell=True) if rest else None) or None


def _env(config: dict[str, Any], rest: str) -> None:
    env: list[str] = list(config.get("Env") or [])
    for key, value in _pairs("ENV", rest):
        env = [e for e in env if e.split("=", 1)[0] != key]
        env.append(f"{key}={value}")
    config["Env"] = env


def _expose(config: dict[str, Any], rest: str) -> None:
    ports: dict[str, Any] = dict(config.get("ExposedPorts") or {})
    for word in _words(rest):
        port, _, proto = word.partition("/")
        if not port.isdigit() or not 0 < int(port) < 65536 or proto not in ("", "tcp", "udp",
                                                                              "sctp"):
            raise InvalidArgument(f"invalid containerPort: {word}")
        ports[f"{port}/{proto or 'tcp'}"] = {}
    config["ExposedPorts"] = ports


def _healthcheck(config: dict[str, Any], rest: str) -> None:
    if rest.upper() == "NONE":
        config["Healthcheck"] = {"Test": ["NONE"]}
        return
    check: dict[str, Any] = {}
    while rest.startswith("--"):
        option, _, rest = rest.partition(" ")
        name, eq, value = option[2:].partition("=")
        if name not in _HEALTH_OPTIONS or not eq:
            raise InvalidArgument(f"Unknown flag: {name}")
        check[_HEALTH_OPTIONS[name]] = int(value) if name == "retries" else \
            parse_go_duration(value)
        rest = rest.strip()
    keyword, _, command = rest.partition(" ")
    if keyword.upper() != "CMD" or not command.strip():
        raise InvalidArgument("HEALTHCHECK requires CMD or NONE")
    test = _json_or_shell(command.strip(), shell=False) if command.strip().startswith("[") \
        else None
    check["Test"] = ["CMD", *test] if test is not None else ["CMD-SHELL", command.strip()]
    config["Healthcheck"] = check


def _label(config: dict[str, Any], rest: str) -> None:
    labels: dict[str, str] = dict(config.get("Labels") or {})
    labels.update(_pairs("LABEL", rest))
    config["Labels"] = labels


def _onbuild(config: dict[str, Any], rest: str) -> None:
    config["OnBuild"] = [*(config.get("OnBuild") or []), rest]


def _stopsignal(config: dict[str, Any], rest: str) -> None:
    config["StopSignal"] = rest


def _user(config: dict[str, Any], rest: str) -> None:
    config["User"] = rest


def _volume(config: dict[str, Any], rest: str) -> None:
    volumes: dict[str, Any] = dict(config.get("Volumes") or {})
    for path in _json_or_shell(rest, shell=False):
        if not path:
            raise InvalidArgument("VOLUME specified can not be an empty string")
        volumes[path] = {}
    config["Volumes"] = volumes


def _workdir(config: dict[str, Any], rest: str) -> None:
    current = config.get("WorkingDir") or "/"
    config["WorkingDir"] = rest if rest.startswith("/") else f"{current.rstrip('/')}/{rest}"


_APPLY = {
    "CMD": _cmd, "ENTRYPOINT": _entrypoint, "ENV": _env, "EXPOSE": _expose,
    "HEALTHCHECK": _healthcheck, "LABEL": _label,
    "ONBUILD": _onbuild, "STOPSIGNAL": _stopsignal, "USER": _user, "VOLUME": _volume,
    "WORKDIR": _workdir,
}
