"""``docker ps``: status texts and the ``filters`` of ``GET /containers/json``."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ketch.containers.model import Container
from ketch.errors import InvalidArgument
from ketch.images.filters import labels_match
from ketch.ports import port_keys
from ketch.timeutil import human_duration

FILTER_KEYS = frozenset({
    "ancestor", "before", "exited", "health", "id", "isolation", "is-task", "label", "name",
    "network", "publish", "since", "status", "volume", "expose",
})
STATUSES = frozenset({"created", "restarting", "running", "removing", "paused", "exited",
                      "dead"})
HEALTH_STATUSES = ("none", "starting", "healthy", "unhealthy")


def health_status(container: Container) -> str:
    """What the ``health`` filter matches: ``none`` for a container that never
    ran a healthcheck, else its last status (kept after it stopped)."""
    health = container.state.health
    return "none" if health is None else health.status


def _health_suffix(container: Container) -> str:
    health = container.state.health
    if health is None:
        return ""
    return " (health: starting)" if health.status == "starting" else f" ({health.status})"


def status_text(container: Container, now_ns: int | None = None) -> str:
    state = container.state
    now = time.time_ns() if now_ns is None else now_ns
    if state.removal_in_progress:
        return "Removal In Progress"
    if state.status == "running":
        return f"Up {human_duration((now - state.started_at_ns) / 1e9)}{_health_suffix(container)}"
    if state.status == "paused":
        return f"Up {human_duration((now - state.started_at_ns) / 1e9)} (Paused)"
    if state.status == "restarting":
        ago = human_duration((now - state.finished_at_ns) / 1e9)
        return f"Restarting ({state.exit_code}) {ago} ago"
    if state.status == "dead":
        return "Dead"
    if state.status == "exited" and state.finished_at_ns:
        ago = human_duration((now - state.finished_at_ns) / 1e9)
        return f"Exited ({state.exit_code}) {ago} ago"
    return "Created"


#: The ``Ports`` entries of a container, as ``GET /containers/json`` lists them.
PortsOf = Callable[[Container], list[dict[str, Any]]]


@dataclass
class ContainerFilter:
    filters: Mapping[str, list[str]]
    before_ns: int | None
    since_ns: int | None
    ancestors: set[str]
    #: ``publish`` and ``expose`` values as ``port/proto`` keys
    publish: set[str]
    expose: set[str]
    ports_of: PortsOf

    @classmethod
    def compile(
        cls, filters: Mapping[str, list[str]], resolve_container: Callable[[str], Container],
        resolve_ancestors: Callable[[str], set[str]], ports_of: PortsOf,
    ) -> ContainerFilter:
        for key in filters:
            if key not in FILTER_KEYS:
                raise InvalidArgument(f"invalid filter '{key}'")
        for value in filters.get("status", []):
            if value not in STATUSES:
                raise InvalidArgument(f"invalid filter 'status={value}'")
        for value in filters.get("health", []):
            if value not in HEALTH_STATUSES:
                raise InvalidArgument(
                    f"invalid filter 'health={value}': invalid value for health ({value}): "
                    f"must be one of {', '.join(HEALTH_STATUSES)}")
        for value in filters.get("exited", []):
            if not value.lstrip("-").isdigit():
                raise InvalidArgument(f"invalid filter 'exited={value}'")
        for value in filters.get("name", []):
            try:
                re.compile(value)
            except re.error:
                raise InvalidArgument(f"invalid filter 'name={value}'") from None
        before = since = None
        if filters.get("before"):
            before = min(resolve_container(v).created_ns for v in filters["before"])
        if filters.get("since"):
            since = max(resolve_container(v).created_ns for v in filters["since"])
        ancestors: set[str] = set()
        for value in filters.get("ancestor", []):
            ancestors |= resolve_ancestors(value)
        return cls(filters, before, since, ancestors, _port_filter("publish", filters),
                   _port_filter("expose", filters), ports_of)

    def __call__(self, container: Container) -> bool:
        f = self.filters
        state = container.state
        status = "removing" if state.removal_in_progress else state.status
        if f.get("status") and status not in f["status"]:
            return False
        if f.get("exited") and (status != "exited" or
                                str(state.exit_code) not in f["exited"]):
            return False
        if f.get("id") and not any(container.id.startswith(v) for v in f["id"]):
            return False
        if f.get("name") and not any(re.search(v, "/" + container.name) for v in f["name"]):
            return False
        if f.get("label") and not labels_match(container.config.labels or {}, f["label"]):
            return False
        if f.get("ancestor") and container.image_id not in self.ancestors:
            return False
        if f.get("health") and health_status(container) not in f["health"]:
            return False
        if f.get("network") and not _on_network(container, f["network"]):
            return False
        if f.get("volume") and not _has_volume(container, f["volume"]):
            return False
        if (self.publish or self.expose) and not self._has_port(container):
            return False
        if self.before_ns is not None and container.created_ns >= self.before_ns:
            return False
        return not (self.since_ns is not None and container.created_ns <= self.since_ns)

    def _has_port(self, container: Container) -> bool:
        """moby: a listed port whose host side is in ``publish`` or whose
        container side is in ``expose`` (so only running containers match)."""
        for port in self.ports_of(container):
            if f"{port.get('PublicPort', 0)}/{port['Type']}" in self.publish:
                return True
            if f"{port['PrivatePort']}/{port['Type']}" in self.expose:
                return True
        return False


def _port_filter(key: str, filters: Mapping[str, list[str]]) -> set[str]:
    """moby's ``portOp``: ``N``, ``N/proto`` or ``N-M[/proto]``, never with ``:``."""
    keys: set[str] = set()
    for value in filters.get(key, []):
        if ":" in value:
            raise InvalidArgument(f"filter for '{key}' should not contain ':': {value}")
        try:
            keys.update(port_keys(value))
        except ValueError as exc:
            raise InvalidArgument(f"error while looking up for {key} {value}: {exc}") from None
    return keys


def _has_volume(container: Container, wanted: list[str]) -> bool:
    """moby's ``volume`` filter: a mount's destination, or its volume name
    (its source for a bind)."""
    for point in container.mount_points:
        if point.destination in wanted or (point.name or point.source) in wanted:
            return True
    return False


def _on_network(container: Container, wanted: list[str]) -> bool:
    """Docker's ``network`` filter: a network name exactly, or a prefix of its ID."""
    networks = container.networks or {}
    names = set(networks) or {container.host_config.network_mode or "default"}
    ids = [cfg.network_id for cfg in networks.values() if cfg.network_id]
    return any(value in names or any(i.startswith(value) for i in ids) for value in wanted)
