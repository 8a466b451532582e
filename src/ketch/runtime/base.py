"""The runtime interface: what the container service asks of an OCI runtime.

The container service never calls runc or conmon itself; it goes through a
``Runtime``. The default driver runs one conmon per container (and per exec
session), which owns the container's stdio, log file and exit status, so
that containers outlive the daemon.

Lifecycle of a container, as the driver sees it::

    create(opts)      bundle ready (config.json + rootfs mounted), conmon started,
                      ``runc create`` done: process exists, stopped before exec
    start(id)         the user process runs
    kill(id, sig)     any number of times; pause/unpause in between
    wait_exit(id)     resolves once the process has exited (exit code, OOM)
    delete(id)        runtime state and conmon leftovers removed

After a daemon restart, ``recover(id)`` reports whether the container is
still there (conmon alive or exit already recorded) so the service can
re-adopt it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

Status = Literal["created", "running", "paused", "stopped"]


@dataclass(frozen=True)
class LogOptions:
    path: Path
    #: rotate when the current file reaches this many bytes (None: never)
    max_size: int | None = 10 << 20
    #: how many files (current + rotated) to keep
    max_files: int = 5


@dataclass(frozen=True)
class CreateOptions:
    container_id: str
    #: directory holding config.json; the spec's root.path is already mounted
    bundle: Path
    log: LogOptions
    tty: bool = False
    #: keep stdin open for attach (docker run -i)
    stdin: bool = False
    #: Docker's StdinOnce: the container's stdin closes when an attached
    #: client closes its stdin or detaches (docker run -i does this);
    #: otherwise stdin stays open across attaches and close_stdin() is a no-op
    stdin_once: bool = False
    #: initial console size (rows, cols) when tty
    console_size: tuple[int, int] | None = None


@dataclass(frozen=True)
class ExecOptions:
    exec_id: str
    #: the OCI "process" object for runc exec (args, env, cwd, user, terminal, caps...)
    process: dict[str, object]
    tty: bool = False
    stdin: bool = False
    console_size: tuple[int, int] | None = None
    #: connect stdio before the process starts, so no output is lost
    attach: bool = True


@dataclass(frozen=True)
class ExitInfo:
    exit_code: int
    oom_killed: bool = False
    #: unix nanoseconds when the exit was recorded
    finished_at_ns: int = 0


@dataclass(frozen=True)
class RuntimeState:
    status: Status
    pid: int = 0
    exit: ExitInfo | None = None


@dataclass(frozen=True)
class LogEntry:
    """One record of a container's log, as the API serves it."""

    time_ns: int
    stream: Literal["stdout", "stderr"]
    data: bytes
    #: True when the line continues in the next entry (no newline yet)
    partial: bool = False


class ProcessIO(Protocol):
    """A live connection to a process's stdio (a container or an exec session)."""

    async def read(self) -> tuple[int, bytes] | None:
        """Next output chunk as (1 for stdout or 2 for stderr, data); None once
        the process has exited and all output was read."""
        ...

    async def write(self, data: bytes) -> None:
        """Send bytes to the process's stdin."""
        ...

    async def close_stdin(self) -> None:
        """End of input: the process's stdin is closed (for a container only
        with ``stdin_once``); output keeps coming."""
        ...

    async def close(self) -> None:
        """Detach: the process keeps running (with ``stdin_once``, or for an
        exec session with stdin, its stdin is closed as by close_stdin)."""
        ...


@dataclass
class ExecHandle:
    pid: int
    io: ProcessIO | None = None


class Runtime(Protocol):
    name: str

    async def create(self, opts: CreateOptions) -> int:
        """Start the container's monitor and create the container; returns its pid."""
        ...

    async def start(self, container_id: str) -> None: ...

    async def kill(self, container_id: str, signal: int, all_processes: bool = False) -> None:
        """Send a signal; NotFound-free if the process already exited."""
        ...

    async def pause(self, container_id: str) -> None: ...

    async def unpause(self, container_id: str) -> None: ...

    async def update(self, container_id: str, resources: dict[str, Any]) -> None:
        """Apply new cgroup limits (an OCI LinuxResources object) to a live container."""
        ...

    async def state(self, container_id: str) -> RuntimeState: ...

    async def wait_exit(self, container_id: str) -> ExitInfo:
        """Resolve when the container's main process has exited."""
        ...

    async def delete(self, container_id: str, force: bool = False) -> None: ...

    async def attach(self, container_id: str) -> ProcessIO:
        """Connect to the container's stdio (output from now on)."""
        ...

    async def resize(self, container_id: str, rows: int, cols: int) -> None: ...

    async def exec(self, container_id: str, opts: ExecOptions) -> ExecHandle:
        """Start an exec session (its own monitor) and return its pid, plus its
        stdio when ``opts.attach`` (connected before the process ran)."""
        ...

    async def wait_exec(self, container_id: str, exec_id: str) -> ExitInfo: ...

    async def attach_exec(self, container_id: str, exec_id: str) -> ProcessIO: ...

    async def resize_exec(self, container_id: str, exec_id: str, rows: int, cols: int) -> None:
        ...

    async def delete_exec(self, container_id: str, exec_id: str) -> None:
        """Forget a finished exec session (its exit record and directory);
        Conflict while it runs. delete() removes the remaining ones."""
        ...

    async def recover(self, container_id: str) -> RuntimeState:
        """After a daemon restart: the container's state as the monitor left it."""
        ...

    async def processes(self, container_id: str) -> Sequence[int]:
        """PIDs of every process in the container (for top)."""
        ...

    async def close(self) -> None:
        """Release the driver's own watchers (daemon shutdown); containers
        and their monitors keep running."""
        ...
