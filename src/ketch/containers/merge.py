"""How a container's configuration inherits from its image's, as Docker does
at create time (the result is what ``inspect`` shows as ``Config``)."""

from __future__ import annotations

from typing import Any

from ketch.containers.model import ContainerConfig, HealthConfig
from ketch.errors import InvalidArgument


def _env_key(item: str) -> str:
    return item.split("=", 1)[0]


def merge_image_config(user: ContainerConfig, image: dict[str, Any]) -> ContainerConfig:
    """Fill what the user left unset from the image config (a Docker-shaped dict)."""
    if not user.user:
        user.user = image.get("User") or ""
    image_ports = image.get("ExposedPorts") or {}
    if image_ports:
        user.exposed_ports = {**image_ports, **(user.exposed_ports or {})}
    image_env: list[str] = list(image.get("Env") or [])
    if not user.env:
        user.env = image_env or None
    else:
        keys = {_env_key(item) for item in user.env}
        user.env = [*user.env, *(e for e in image_env if _env_key(e) not in keys)]
    if not user.entrypoint:
        if not user.cmd:
            user.cmd = image.get("Cmd")
            if image.get("ArgsEscaped") is not None:
                user.args_escaped = image.get("ArgsEscaped")
        user.entrypoint = image.get("Entrypoint")
    if user.healthcheck is None and image.get("Healthcheck"):
        health = image["Healthcheck"]
        user.healthcheck = HealthConfig(
            test=health.get("Test"), interval=health.get("Interval", 0),
            timeout=health.get("Timeout", 0), start_period=health.get("StartPeriod", 0),
            start_interval=health.get("StartInterval", 0), retries=health.get("Retries", 0))
    if not user.working_dir:
        user.working_dir = image.get("WorkingDir") or ""
    # Docker's rule: no volumes of the user's (the CLI sends {}) means the
    # image's, null included, so ``inspect`` shows null for a plain container.
    image_volumes = image.get("Volumes")
    if not user.volumes:
        user.volumes = dict(image_volumes) if image_volumes is not None else None
    elif image_volumes:
        user.volumes = {**user.volumes, **image_volumes}
    if not user.stop_signal:
        user.stop_signal = image.get("StopSignal") or None
    image_labels = image.get("Labels") or {}
    if image_labels:
        user.labels = {**image_labels, **(user.labels or {})}
    if user.on_build is None and image.get("OnBuild"):
        user.on_build = image.get("OnBuild")
    if not user.shell and image.get("Shell"):
        user.shell = image.get("Shell")
    return user


def command_of(config: ContainerConfig) -> tuple[str, list[str]]:
    """The process path and arguments: Entrypoint + Cmd.

    ``Entrypoint: [""]`` (``--entrypoint ""``, a build's RUN) is how a client
    says "not the image's entrypoint": it contributes nothing to argv.
    """
    entrypoint = [] if config.entrypoint == [""] else (config.entrypoint or [])
    argv = [*entrypoint, *(config.cmd or [])]
    if not argv:
        raise InvalidArgument("No command specified")
    return argv[0], argv[1:]
