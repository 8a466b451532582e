"""Content-addressable blob store."""

from ketch.content.store import ContentStore, Ingest

__all__ = ["ContentStore", "Ingest"]
