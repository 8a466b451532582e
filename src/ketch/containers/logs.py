"""Container logs as the API serves them: read back from the file the
container's monitor writes, filtered, and followed until the container stops."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Protocol

from ketch.containers.model import Container
from ketch.containers.service import ContainerService
from ketch.runtime.base import LogEntry
from ketch.runtime.logfile import follow_log, read_log


class LogReader(Protocol):
    """Reads the log files of one container (the runtime driver's format)."""

    def read(self, path: Path, since_ns: int, until_ns: int | None,
             tail: int | None) -> list[LogEntry]: ...

    def follow(self, path: Path, since_ns: int, until_ns: int | None, tail: int | None,
               stopped: asyncio.Event) -> AsyncIterator[LogEntry]: ...


class K8sFileLogs:
    """The reader for conmon's k8s-file logs (the default runtime's format)."""

    def read(self, path: Path, since_ns: int, until_ns: int | None,
             tail: int | None) -> list[LogEntry]:
        return read_log(path, since_ns or None, until_ns, tail)

    def follow(self, path: Path, since_ns: int, until_ns: int | None, tail: int | None,
               stopped: asyncio.Event) -> AsyncIterator[LogEntry]:
        return follow_log(path, stopped, since_ns or None, until_ns, tail)


class LogService:
    def __init__(self, containers: ContainerService, reader: LogReader) -> None:
        self.containers = containers
        self.reader = reader

    async def entries(
        self, container: Container, *, since_ns: int = 0, until_ns: int | None = None,
        tail: int | None = None, follow: bool = False,
    ) -> AsyncIterator[LogEntry]:
        path = Path(container.log_path)
        if not follow or not container.state.running:
            for entry in await asyncio.to_thread(self.reader.read, path, since_ns, until_ns,
                                                 tail):
                yield entry
            return
        stopped = self.containers.stopped_event(container.id)
        async for entry in self.reader.follow(path, since_ns, until_ns, tail, stopped):
            yield entry
