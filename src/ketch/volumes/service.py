"""Volumes: create, inspect, list, remove, prune, reference and mount — Docker's rules.

What users see follows Docker's volume service:

* creating a name that exists returns the existing volume unchanged (even
  with other options or labels); an empty name makes an anonymous volume
  (64 hex digits, labelled ``com.docker.volume.anonymous``);
* errors name the operation and the volume: ``get x: no such volume``,
  ``create x/y: "x/y" includes invalid characters ...``, ``remove x: volume
  is in use - [<container IDs>]``;
* prune removes unreferenced ``local`` volumes without driver options, only
  the anonymous ones unless the ``all`` filter is true (API 1.42+);
* ``disk_usage`` reports Size and RefCount for ``docker system df``.

Containers *reference* volumes from create to removal (:meth:`acquire`,
:meth:`release`) and *mount* them while they run (:meth:`mount`,
:meth:`unmount`); see :mod:`ketch.volumes.model` for why both are counted
and kept in the record.

Concurrency: all database access happens on the event loop; operations on
one volume are serialised by a per-name lock; filesystem work (mkdir, mount,
tree walks, copy-up) runs in worker threads.
"""

from __future__ import annotations

import asyncio
import builtins
import logging
import secrets
import time
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

from ketch.errors import Conflict, InternalError, KetchError, NotFound
from ketch.events import EventBus
from ketch.store.volumes import VolumeTable
from ketch.volumes import copyup
from ketch.volumes.filters import VolumePredicate
from ketch.volumes.local import LocalDriver, validate_name, validate_options
from ketch.volumes.model import ANONYMOUS_LABEL, DEFAULT_DRIVER, LOCAL_SCOPE, VolumeRecord
from ketch.volumes.sysmount import go_errno_text

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Volume:
    """A volume as the API shows it: the record plus where its data lives."""

    record: VolumeRecord
    mountpoint: str
    scope: str = LOCAL_SCOPE

    @property
    def name(self) -> str:
        return self.record.name

    @property
    def driver(self) -> str:
        return self.record.driver

    @property
    def ref_count(self) -> int:
        return len(self.record.refs)


@dataclass(frozen=True)
class VolumeUsage:
    """``docker system df``'s view of one volume: Size -1 when unknown."""

    volume: Volume
    size: int
    ref_count: int


@dataclass
class PruneReport:
    deleted: list[str] = field(default_factory=list)
    space_reclaimed: int = 0


def _op_error(op: str, name: str, exc: KetchError) -> KetchError:
    """Docker's ``OpErr``: the same kind of error, prefixed with ``op name: ``."""
    return type(exc)(f"{op} {name}: {exc.message}")


def random_volume_name() -> str:
    """64 hex digits whose 12-digit prefix is not a number (Docker's rule for IDs)."""
    while True:
        name = secrets.token_hex(32)
        if not name[:12].isdigit():
            return name


def _go_rfc3339(ns: int) -> str:
    """Go's ``time.RFC3339`` in the daemon's local zone (``Z`` for UTC)."""
    from datetime import datetime

    moment = datetime.fromtimestamp(ns // 1_000_000_000).astimezone()
    offset = moment.utcoffset()
    if offset is None or not offset:
        return moment.strftime("%Y-%m-%dT%H:%M:%S") + "Z"
    return moment.isoformat(timespec="seconds")


class VolumeService:
    def __init__(self, table: VolumeTable, root: Path, events: EventBus | None = None) -> None:
        """*root* is ``<data-root>/volumes``."""
        self.table = table
        self.driver = LocalDriver(root)
        self.events = events
        #: name -> (its lock, how many tasks hold or wait for it)
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}
        self._prune_running = False

    # -- start-up --------------------------------------------------------------------

    def setup(self) -> None:
        """Make the volumes directory, finish interrupted removals and bring
        the table and the directories back in line (blocking; run it once at
        start-up, before serving requests).

        A directory without a record becomes a named volume (Docker's local
        driver lists what is on disk); a record whose directory vanished is
        dropped, or, if containers still reference it, given a new empty one.
        """
        self.driver.setup()
        known = {v.name: v for v in self.table.all()}
        for name in self.driver.directory_names():
            if name not in known:
                ctime = int(self.driver.volume_root(name).stat().st_ctime * 1e9)
                self.table.insert(VolumeRecord(name=name, driver=DEFAULT_DRIVER,
                                               created_ns=ctime))
                log.info("adopted volume directory %s", name)
        for name, record in known.items():
            if record.driver != DEFAULT_DRIVER or self.driver.exists(name):
                continue
            if record.refs:
                self.driver.create(name)
                log.warning("volume %s lost its directory; recreated it empty", name)
            else:
                self.table.delete(name)
                log.warning("volume %s lost its directory; forgot it", name)

    async def reconcile(self, references: Mapping[str, Iterable[str]],
                        mounted: Mapping[str, Iterable[str]]) -> None:
        """Set every volume's references and mounts from the containers' records.

        *references*: container ID -> names of the volumes it references
        (every container); *mounted*: the same for running containers. A
        volume with driver options that no running container uses any more
        is unmounted. Docker rebuilds its references the same way on start.
        """
        refs: dict[str, list[str]] = {}
        for cid, names in references.items():
            for name in names:
                refs.setdefault(name, []).append(cid)
        users: dict[str, list[str]] = {}
        for cid, names in mounted.items():
            for name in names:
                users.setdefault(name, []).append(cid)
        for record in self.table.all():
            async with self._lock(record.name):
                current = self.table.get(record.name)
                if current is None:
                    continue
                want_refs = sorted(set(refs.get(current.name, ())))
                want_users = sorted(set(users.get(current.name, ())))
                if not want_users and current.needs_mount:
                    await asyncio.to_thread(self.driver.unmount, current)
                if (want_refs, want_users) != (current.refs, current.mounted_by):
                    current.refs, current.mounted_by = want_refs, want_users
                    self.table.save(current)

    # -- helpers ---------------------------------------------------------------------------

    @asynccontextmanager
    async def _lock(self, name: str) -> AsyncIterator[None]:
        """Serialise operations on one volume; the lock is dropped with its last
        user, so that the names of removed volumes do not accumulate."""
        lock, users = self._locks.get(name, (asyncio.Lock(), 0))
        self._locks[name] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[name]
            if users == 1:
                del self._locks[name]
            else:
                self._locks[name] = (lock, users - 1)

    def _view(self, record: VolumeRecord) -> Volume:
        return Volume(record, str(self.driver.path(record.name)), self.driver.scope)

    def emit(self, action: str, name: str, **attributes: str) -> None:
        """A ``volume`` event (create, destroy, mount, unmount, prune)."""
        if self.events is not None:
            self.events.emit("volume", action, name, **attributes)

    def _record(self, name: str, op: str = "get") -> VolumeRecord:
        record = self.table.get(name) if name else None
        if record is None:
            raise NotFound(f"{op} {name}: no such volume")
        return record

    @staticmethod
    def _check_driver(name: str, driver: str) -> None:
        if driver not in ("", DEFAULT_DRIVER):
            raise NotFound(f'create {name}: error looking up volume plugin {driver}: '
                           f'plugin "{driver}" not found')

    @staticmethod
    def created_at(volume: Volume) -> str:
        """``CreatedAt`` as Docker prints it (RFC 3339, seconds, local zone)."""
        return _go_rfc3339(volume.record.created_ns)

    # -- create / get / list -------------------------------------------------------------------

    async def create(self, name: str = "", driver: str = "",
                     driver_opts: Mapping[str, str] | None = None,
                     labels: Mapping[str, str] | None = None, reference: str = "") -> Volume:
        """``docker volume create``; with *reference* (a container ID) the volume
        is also referenced by that container, atomically with its creation."""
        anonymous = not name
        if anonymous:
            name = random_volume_name()
            labels = {**(labels or {}), ANONYMOUS_LABEL: ""}
        async with self._lock(name):
            existing = self.table.get(name)
            if existing is not None:
                self._check_driver(name, driver)
                if reference and reference not in existing.refs:
                    existing.refs.append(reference)
                    self.table.save(existing)
                return self._view(existing)
            self._check_driver(name, driver)
            try:
                validate_name(name)
                validate_options(driver_opts)
            except KetchError as exc:
                raise _op_error("create", name, exc) from None
            await asyncio.to_thread(self.driver.create, name)
            record = VolumeRecord(
                name=name, driver=DEFAULT_DRIVER, created_ns=time.time_ns(),
                labels=dict(labels) if labels is not None else None,
                options=dict(driver_opts) if driver_opts is not None else None,
                anonymous=anonymous, refs=[reference] if reference else [])
            if not self.table.insert(record):  # pragma: no cover - the lock prevents it
                raise Conflict(f"create {name}: volume name must be unique")
        self.emit("create", name, driver=record.driver)
        return self._view(record)

    def get(self, name: str) -> Volume:
        """By exact name; NotFound ``get <name>: no such volume``."""
        return self._view(self._record(name))

    def list(self, filters: Mapping[str, Sequence[str]] | None = None
             ) -> tuple[list[Volume], list[str]]:
        """Volumes matching *filters* (see ``filters.py``), and warnings (none:
        there is only the local driver)."""
        predicate = VolumePredicate.for_list(filters or {})
        return [self._view(r) for r in self.table.all() if predicate(r)], []

    # -- references and mounts ---------------------------------------------------------------

    async def acquire(self, name: str, container_id: str) -> Volume:
        """Record that *container_id* uses the volume (it can no longer be removed)."""
        async with self._lock(name):
            record = self._record(name)
            if container_id not in record.refs:
                record.refs.append(container_id)
                self.table.save(record)
            return self._view(record)

    async def release(self, name: str, container_id: str) -> None:
        """Drop the container's reference; no error if there is none."""
        async with self._lock(name):
            record = self.table.get(name)
            if record is not None and container_id in record.refs:
                record.refs.remove(container_id)
                self.table.save(record)

    async def mount(self, name: str, container_id: str) -> Path:
        """The volume's data directory for a starting container, mounting the
        volume's filesystem first if it has one and nobody mounted it yet."""
        async with self._lock(name):
            record = self._record(name)
            if record.needs_mount:
                await asyncio.to_thread(self.driver.mount, record)
            if container_id not in record.mounted_by:
                record.mounted_by.append(container_id)
                self.table.save(record)
            return self.driver.path(name)

    async def unmount(self, name: str, container_id: str) -> None:
        """The container stopped using the volume; the last user unmounts it."""
        async with self._lock(name):
            record = self.table.get(name)
            if record is None:
                return
            if container_id in record.mounted_by:
                record.mounted_by.remove(container_id)
                self.table.save(record)
            if not record.mounted_by and record.needs_mount:
                await asyncio.to_thread(self.driver.unmount, record)

    @asynccontextmanager
    async def mounted(self, name: str) -> AsyncIterator[Path]:
        """The data directory, mounted for the duration of the block (copy-up)."""
        user = "engine:" + secrets.token_hex(8)
        path = await self.mount(name, user)
        try:
            yield path
        finally:
            await self.unmount(name, user)

    async def copy_up(self, name: str, root: Path, path: str) -> bool:
        """Fill the empty volume with directory *path* of the container root *root*.

        *root* is the container's mounted root filesystem (untrusted); see
        ``copyup.py`` for how it is read safely. False if nothing was copied
        (the volume is not empty, or *path* is no directory in the image).
        """
        async with self.mounted(name) as data:
            return await asyncio.to_thread(copyup.copy_up, root, path, data)

    # -- remove / prune ------------------------------------------------------------------

    async def remove(self, name: str, force: bool = False) -> None:
        """``docker volume rm``: Conflict if containers reference it; with
        *force*, a missing volume is no error and a failed delete still
        forgets the volume (Docker's ``PurgeOnError``)."""
        async with self._lock(name):
            record = self.table.get(name) if name else None
            if record is None:
                if force:
                    return
                raise NotFound(f"get {name}: no such volume")
            if record.refs:
                raise Conflict(
                    f"remove {name}: volume is in use - [{', '.join(record.refs)}]")
            try:
                await asyncio.to_thread(self.driver.remove, record)
            except KetchError as exc:
                if force:
                    self.table.delete(name)
                raise _op_error("remove", name, exc) from None
            except OSError as exc:
                if force:
                    self.table.delete(name)
                reason = go_errno_text(exc.errno) if exc.errno else str(exc)
                raise InternalError(
                    f"remove {name}: error removing volume path '{exc.filename}': {reason}"
                ) from None
            self.table.delete(name)
        self.emit("destroy", name, driver=record.driver)

    async def prune(self, filters: Mapping[str, Sequence[str]] | None = None,
                    api_version: str = "1.50") -> PruneReport:
        """``docker volume prune``: unreferenced local volumes without options."""
        if self._prune_running:
            raise Conflict("a prune operation is already running")
        self._prune_running = True
        try:
            predicate = VolumePredicate.for_prune(filters or {}, _at_least(api_version, "1.42"))
            report = PruneReport()
            for record in self.table.all():
                if record.driver != DEFAULT_DRIVER or record.options or not predicate(record):
                    continue
                size = await asyncio.to_thread(self.driver.size, record.name)
                try:
                    await self.remove(record.name)
                except KetchError as exc:
                    log.warning("prune: could not remove volume %s: %s", record.name, exc)
                    continue
                report.deleted.append(record.name)
                report.space_reclaimed += max(size, 0)
            self.emit("prune", "", reclaimed=str(report.space_reclaimed))
            return report
        finally:
            self._prune_running = False

    # -- disk usage ----------------------------------------------------------------------

    async def disk_usage(self) -> builtins.list[VolumeUsage]:
        """Local volumes without driver options, with their sizes (``system df``)."""
        out: builtins.list[VolumeUsage] = []
        for record in self.table.all():
            if record.driver != DEFAULT_DRIVER or record.options:
                continue
            size = await asyncio.to_thread(self.driver.size, record.name)
            out.append(VolumeUsage(self._view(record), size, len(record.refs)))
        return out


def _at_least(version: str, minimum: str) -> bool:
    def parts(text: str) -> tuple[int, ...]:
        try:
            return tuple(int(p) for p in text.split("."))
        except ValueError:
            return (0,)
    return parts(version) >= parts(minimum)
