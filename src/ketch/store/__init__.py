"""SQLite metadata: schema, migrations and typed accessors."""

from ketch.store.db import Database

__all__ = ["Database"]
