"""In-process event bus feeding ``/events`` and internal watchers."""

from ketch.events.bus import Event, EventBus, EventFilter

__all__ = ["Event", "EventBus", "EventFilter"]
