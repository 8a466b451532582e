"""Engine events: published by services, streamed to ``/events`` subscribers.

A bounded history lets ``/events?since=`` replay what happened shortly
before the client connected, as Docker does.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field

from ketch.errors import InvalidArgument

EVENT_FILTER_KEYS = frozenset({
    "config", "container", "daemon", "event", "image", "label", "network", "node",
    "plugin", "scope", "secret", "service", "type", "volume",
})
EVENT_TYPES = frozenset({
    "builder", "config", "container", "daemon", "image", "network", "node", "plugin",
    "secret", "service", "volume",
})


@dataclass(frozen=True)
class Event:
    type: str
    action: str
    actor_id: str
    attributes: Mapping[str, str] = field(default_factory=dict)
    scope: str = "local"
    time_ns: int = field(default_factory=time.time_ns)


@dataclass(frozen=True)
class EventFilter:
    """``/events`` filters: every key given must match (values of a key are OR'd)."""

    terms: Mapping[str, frozenset[str]] = field(default_factory=dict)

    @classmethod
    def parse(cls, raw: Mapping[str, list[str]]) -> EventFilter:
        for key in raw:
            if key not in EVENT_FILTER_KEYS:
                raise InvalidArgument(f"invalid filter '{key}'")
        for value in raw.get("type", []):
            if value not in EVENT_TYPES:
                raise InvalidArgument(f"unknown event type: {value}")
        return cls({k: frozenset(v) for k, v in raw.items()})

    def matches(self, event: Event) -> bool:
        for key, values in self.terms.items():
            if not values:
                continue
            if key == "type" and event.type not in values:
                return False
            if key == "event" and not _action_matches(event.action, values):
                return False
            if key == "scope" and event.scope not in values:
                return False
            if key == "label" and not _labels_match(event.attributes, values):
                return False
            if key in EVENT_TYPES and key != "type" and not (
                event.type == key and _actor_matches(event, values)
            ):
                return False
        return True


def _action_matches(action: str, values: frozenset[str]) -> bool:
    # "exec_start: sh -c x" matches the filter "exec_start".
    return action in values or action.split(":", 1)[0] in values


def _actor_matches(event: Event, values: frozenset[str]) -> bool:
    name = event.attributes.get("name", "")
    for value in values:
        if value in (event.actor_id, name) or event.actor_id.removeprefix("sha256:").startswith(
            value.removeprefix("sha256:")
        ):
            return True
        if ":" not in value and name.split(":", 1)[0] == value:
            return True
    return False


def _labels_match(attributes: Mapping[str, str], values: frozenset[str]) -> bool:
    for value in values:
        key, eq, wanted = value.partition("=")
        if key not in attributes or (eq and attributes[key] != wanted):
            return False
    return True


class EventBus:
    def __init__(self, history: int = 1024) -> None:
        self._history: deque[Event] = deque(maxlen=history)
        self._subscribers: set[asyncio.Queue[Event]] = set()

    def publish(self, event: Event) -> None:
        self._history.append(event)
        for queue in self._subscribers:
            queue.put_nowait(event)

    def emit(self, type_: str, action: str, actor_id: str, **attributes: str) -> None:
        self.publish(Event(type_, action, actor_id, attributes))

    def subscribe(self) -> asyncio.Queue[Event]:
        queue: asyncio.Queue[Event] = asyncio.Queue()
        self._subscribers.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[Event]) -> None:
        self._subscribers.discard(queue)

    def history(self, since_ns: int, until_ns: int | None = None) -> list[Event]:
        return [
            e for e in self._history
            if e.time_ns >= since_ns and (until_ns is None or e.time_ns <= until_ns)
        ]

    @property
    def listener_count(self) -> int:
        return len(self._subscribers)
