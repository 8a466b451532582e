"""The volume record: what the engine keeps about one volume.

The record is the row of the ``volumes`` table (its JSON is the ``record``
column). It holds what Docker's volume store keeps (name, driver, the
options and labels given at creation) plus the two sets of container IDs
that decide a volume's life:

* ``refs``: containers that *reference* the volume (created with it, until
  removed). A referenced volume cannot be removed; ``docker system df``
  reports their number as ``RefCount``; ``dangling=true`` means none.
* ``mounted_by``: containers that have it *mounted* (started, until they
  stop). A volume with driver options (a tmpfs, an NFS share, a bind of a
  host device) is mounted on its ``_data`` directory when the first of them
  starts and unmounted when the last one stops, as Docker's local driver does.

Both sets are persisted, so that a daemon restarted while containers run
still knows who holds what. Docker keeps the refs in memory and rebuilds
them from the containers at start-up; :meth:`VolumeService.reconcile`
does the same repair here.
"""

from __future__ import annotations

import msgspec

#: The label Docker puts on volumes it created without a name (API 1.42+:
#: ``volume prune`` removes only these unless ``all=true``).
ANONYMOUS_LABEL = "com.docker.volume.anonymous"
DEFAULT_DRIVER = "local"
LOCAL_SCOPE = "local"


class VolumeRecord(msgspec.Struct):
    """One volume, as stored."""

    name: str
    driver: str
    created_ns: int
    #: the labels as given at creation; None when none were given (JSON null)
    labels: dict[str, str] | None = None
    #: the driver options as given at creation (``type``, ``device``, ``o``)
    options: dict[str, str] | None = None
    anonymous: bool = False
    refs: list[str] = msgspec.field(default_factory=list)
    mounted_by: list[str] = msgspec.field(default_factory=list)

    @property
    def needs_mount(self) -> bool:
        """True when the local driver mounts something on ``_data`` (Docker's rule:
        a ``type`` or a ``device`` option was given)."""
        opts = self.options or {}
        return bool(opts.get("type") or opts.get("device"))
