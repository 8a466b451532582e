"""The default runtime driver: one conmon per container and per exec session,
runc underneath.

conmon (Podman's monitor) double-forks away from us, starts ``runc create``
(or ``runc exec``), then owns the process's stdio, writes its output to the
log, serves attach connections and records the exit status. Nothing ties its
life to the daemon: it runs in its own session with no descriptor of ours
but the pipes we hand it, so containers keep running and logging when the
daemon stops or is killed, and a later daemon finds everything on disk.

Layout (``root`` is the driver's directory, e.g. ``<exec-root>/runtime``)::

    root/runc/                      runc's state root (--root)
    root/<id>/config.json           the bundle's spec, root.path made absolute
    root/<id>/meta.json             what recover() needs: log options, tty
    root/<id>/conmon.pid            conmon's pid (-P)
    root/<id>/pidfile               the container's pid (runc --pid-file)
    root/<id>/runc.log              runc's own log (JSON), for error messages
    root/<id>/conmon.err            conmon's stderr before it daemonises
    root/<id>/attach ctl winsz      conmon's attach socket and control fifos
    root/<id>/exit oom              written by conmon (--persist-dir) at exit
    root/<id>/exec/<exec-id>/...    the same for each exec session

The directory is the runc bundle too (``--bundle``), because conmon puts its
sockets and fifos in the bundle directory; ``CreateOptions.bundle`` is only
read for its config.json.

Handshakes with conmon (``--api-version 1``): it reports on the sync pipe
(``_OCI_SYNCPIPE``) ``{"data": <pid>}`` once runc created the process, or
``{"data": -1, "message": <runc's stderr>}``. An exec session with
``--exec-attach`` waits twice on the start pipe (``_OCI_STARTPIPE``): once
before daemonising, once before running ``runc exec``; in between it says on
the attach pipe (``_OCI_ATTACHPIPE``) that its attach socket listens, so we
connect first and lose no output.

Details that matter:

- conmon binds a TTY's console socket under ``$TMPDIR``; it is the
  container's directory when that path is short enough for ``sun_path``,
  else /tmp.
- ``attach()`` returns once conmon has accepted the connection (its fd count
  grew), so a ``start()`` right after loses no output even on a loaded host.
- The exit is read from conmon's files, so ``wait_exit()`` works the same
  after a restart. If conmon itself was killed, the code is unknown: the
  driver then waits for the process and reports 255.
- conmon stays in the daemon's cgroup: a service manager that kills the
  whole cgroup on stop (systemd's default KillMode) kills the containers too.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import logging
import os
import re
import shutil
import signal
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ketch.errors import Conflict, InternalError, InvalidArgument, KetchError, NotFound
from ketch.runtime import logrotate, procs
from ketch.runtime.attach import AttachIO, connect
from ketch.runtime.base import (
    CreateOptions,
    ExecHandle,
    ExecOptions,
    ExitInfo,
    ProcessIO,
    RuntimeState,
    Status,
)
from ketch.runtime.logrotate import LogKeeper
from ketch.runtime.winsize import wait_for_size

log = logging.getLogger(__name__)

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
_RUNC_DIR = "runc"
#: exit code reported when conmon died without recording one (as containerd)
LOST_EXIT_CODE = 255
_USER_ERRORS = ("executable file not found", "no such file or directory", "permission denied")
_SUN_PATH_MAX = 107
_CONSOLE_SOCKET_NAME = "conmon-term.XXXXXX"
_DELETE_GRACE = 10.0


@dataclass(frozen=True)
class _Meta:
    """What the driver must remember about a container across restarts."""

    log_path: str
    max_size: int | None
    max_files: int
    tty: bool

    @classmethod
    def load(cls, path: Path) -> _Meta | None:
        try:
            raw = json.loads(path.read_bytes())
            return cls(str(raw["log_path"]), raw.get("max_size"), int(raw.get("max_files", 1)),
                       bool(raw.get("tty", False)))
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def save(self, path: Path) -> None:
        path.write_text(json.dumps({"log_path": self.log_path, "max_size": self.max_size,
                                    "max_files": self.max_files, "tty": self.tty}))


def _check_id(value: str, what: str = "container") -> None:
    if not _ID.match(value) or value == _RUNC_DIR:
        raise InvalidArgument(f"invalid {what} ID {value!r}")


def _runc_message(raw: bytes) -> str:
    """The last error runc logged (``--log-format json``), else its raw text."""
    message = ""
    for line in raw.decode(errors="replace").splitlines():
        line = line.strip()
        if not line:
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            message = line
            continue
        if isinstance(entry, dict) and entry.get("level") in ("error", "fatal"):
            message = str(entry.get("msg", ""))
    return message


def _classify(message: str) -> KetchError:
    """A failed create/exec: the user's fault (bad command, missing path) or ours."""
    low = message.lower()
    if any(s in low for s in _USER_ERRORS):
        return InvalidArgument(message)
    return InternalError(message)


def _read_exit(directory: Path) -> ExitInfo | None:
    """conmon's record of the exit (``exit`` holds the code, 128+N for a
    signal; ``oom`` exists after an OOM kill), None if not recorded."""
    path = directory / "exit"
    try:
        text = path.read_text().strip()
        finished = path.stat().st_mtime_ns
    except FileNotFoundError:
        return None
    try:
        code = int(text)
    except ValueError:
        code = LOST_EXIT_CODE
    if code < 0:
        code = LOST_EXIT_CODE
    return ExitInfo(code, (directory / "oom").exists(), finished)


def _open_fifo(path: Path) -> int:
    try:
        return os.open(path, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise Conflict("the process is not running") from None
    except OSError as exc:
        if exc.errno == errno.ENXIO:  # nobody reads it: conmon is gone
            raise Conflict("the process is not running") from None
        raise


def _write_ctl(directory: Path, message: str) -> None:
    if (directory / "exit").exists():  # conmon may linger a moment after that
        raise Conflict("the process is not running")
    fd = _open_fifo(directory / "ctl")
    try:
        os.write(fd, message.encode())
    except BlockingIOError:
        raise InternalError("conmon does not read its control fifo") from None
    finally:
        os.close(fd)


class ConmonRuntime:
    """``ketch.runtime.base.Runtime`` over conmon and runc."""

    name = "runc"

    def __init__(self, root: Path, runc: str = "runc", conmon: str = "conmon") -> None:
        self.root = Path(root)
        self.runc = shutil.which(runc) or runc
        self.conmon = shutil.which(conmon) or conmon
        self._runc_root = self.root / _RUNC_DIR
        self._keeper = LogKeeper()
        self._exits: dict[str, asyncio.Task[ExitInfo]] = {}
        self._exec_exits: dict[tuple[str, str], asyncio.Task[ExitInfo]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    # -- paths and small helpers -------------------------------------------------------
    def _dir(self, container_id: str) -> Path:
        _check_id(container_id)
        return self.root / container_id

    def _existing_dir(self, container_id: str) -> Path:
        d = self._dir(container_id)
        if not d.is_dir():
            raise NotFound(f"No such container: {container_id}")
        return d

    def _exec_dir(self, container_id: str, exec_id: str) -> Path:
        _check_id(exec_id, "exec")
        return self._dir(container_id) / "exec" / exec_id

    def _lock(self, container_id: str) -> asyncio.Lock:
        lock = self._locks.get(container_id)
        if lock is None:
            lock = self._locks[container_id] = asyncio.Lock()
        return lock

    def _conmon_pid(self, directory: Path, ident: str) -> int:
        """conmon's pid if that process is still our conmon for ``ident``
        (guards against a recycled pid after a restart), else 0."""
        pid = procs.read_pid(directory / "conmon.pid")
        if pid <= 0:
            return 0
        args = procs.cmdline(pid)
        if not args or not args[0].endswith(b"conmon") or ident.encode() not in args:
            return 0
        return pid

    async def _runc(self, *args: str) -> procs.Result:
        return await procs.run(self.runc, "--root", str(self._runc_root),
                               "--log-format", "json", *args)

    async def _runc_checked(self, *args: str) -> procs.Result:
        res = await self._runc(*args)
        if res.returncode != 0:
            message = _runc_message(res.stderr) or f"runc {args[0]} failed"
            low = message.lower()
            if "does not exist" in low:
                raise NotFound(f"No such container: {args[-1]}")
            if any(s in low for s in ("not running", "not paused", "not stopped", "paused",
                                      "stopped", "created state")):
                raise Conflict(message)
            raise InternalError(message)
        return res

    def _conmon_env(self, directory: Path, extra: dict[str, str]) -> dict[str, str]:
        # conmon binds the console socket under $TMPDIR; sun_path is short
        tmp = str(directory)
        if len(tmp) + 1 + len(_CONSOLE_SOCKET_NAME) > _SUN_PATH_MAX:
            tmp = "/tmp"
        env = {"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"), "TMPDIR": tmp}
        env.update(extra)
        return env

    def _runtime_args(self, directory: Path) -> list[str]:
        args: list[str] = []
        for a in ("--root", str(self._runc_root), "--log", str(directory / "runc.log"),
                  "--log-format", "json"):
            args += ["--runtime-arg", a]
        return args

    async def _spawn(self, argv: list[str], directory: Path, env: dict[str, str],
                     child_fds: Sequence[int]) -> asyncio.subprocess.Process:
        """Start conmon detached from us: own session, cwd in its directory,
        only ``child_fds`` inherited, stderr to conmon.err (it switches to
        /dev/null once daemonised)."""
        with open(directory / "conmon.err", "wb") as err:
            try:
                return await asyncio.create_subprocess_exec(
                    *argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
                    stderr=err, pass_fds=tuple(child_fds), cwd=directory, env=env,
                    start_new_session=True)
            finally:
                for fd in child_fds:
                    os.close(fd)

    def _failure(self, directory: Path, msg: dict[str, Any] | None, what: str) -> KetchError:
        message = ""
        with contextlib.suppress(OSError):
            message = _runc_message((directory / "runc.log").read_bytes())
        if not message and msg is not None:
            message = str(msg.get("message", "")).strip()
        if not message:
            with contextlib.suppress(OSError):
                message = (directory / "conmon.err").read_text(errors="replace").strip()
        if not message:
            message = "conmon exited without reporting"
        return _classify(f"OCI runtime {what} failed: {message}")

    async def _end_conmon(self, pid: int) -> None:
        """Wait for a conmon to finish (it records the exit), SIGKILL it if it
        does not within the grace period."""
        if pid <= 0:
            return
        if await procs.wait_pid_timeout(pid, _DELETE_GRACE):
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        await procs.wait_pid_timeout(pid, 5.0)

    # -- create / start ----------------------------------------------------------------
    async def create(self, opts: CreateOptions) -> int:
        cid = opts.container_id
        d = self._dir(cid)
        async with self._lock(cid):
            if d.exists():
                if procs.alive(self._conmon_pid(d, cid)):
                    raise Conflict(f"container {cid} already exists in the runtime")
                await self._discard(cid, d)
            d.mkdir(parents=True)
            conmon_pid = 0
            try:
                meta = await asyncio.to_thread(self._prepare, opts, d)
                pid, conmon_pid = await self._start_conmon(opts, meta, d)
            except BaseException:
                await self._discard(cid, d, conmon_pid)
                raise
            if meta.max_size is not None:
                self._keeper.add(Path(meta.log_path), meta.max_files)
            return pid

    def _prepare(self, opts: CreateOptions, d: Path) -> _Meta:
        try:
            spec = json.loads((opts.bundle / "config.json").read_bytes())
        except (OSError, ValueError) as exc:
            raise InvalidArgument(f"cannot read the bundle's config.json: {exc}") from exc
        root = spec.get("root") or {}
        rootfs = Path(str(root.get("path", "rootfs")))
        if not rootfs.is_absolute():
            rootfs = opts.bundle / rootfs
        spec["root"] = {**root, "path": str(rootfs)}
        process = spec.setdefault("process", {})
        process["terminal"] = opts.tty
        if opts.tty and opts.console_size:
            rows, cols = opts.console_size
            process["consoleSize"] = {"height": rows, "width": cols}
        (d / "config.json").write_text(json.dumps(spec))
        log_path = Path(opts.log.path)
        if ":" in str(log_path) or not log_path.is_absolute():
            raise InvalidArgument(f"log path must be absolute and without ':': {log_path}")
        log_path.parent.mkdir(parents=True, exist_ok=True)
        size_max = logrotate.prepare(log_path, opts.log.max_size, opts.log.max_files)
        meta = _Meta(str(log_path), size_max, max(1, opts.log.max_files), opts.tty)
        meta.save(d / "meta.json")
        return meta

    async def _start_conmon(self, opts: CreateOptions, meta: _Meta, d: Path) -> tuple[int, int]:
        cid = opts.container_id
        argv = [self.conmon, "--api-version", "1", "-c", cid, "-u", cid, "-n", cid,
                "-r", self.runc, "-b", str(d), "-p", str(d / "pidfile"),
                "-P", str(d / "conmon.pid"), "-l", f"k8s-file:{meta.log_path}",
                "--persist-dir", str(d), "--full-attach", "--no-sync-log",
                *self._runtime_args(d)]
        if meta.max_size is not None:
            argv += ["--log-size-max", str(meta.max_size)]
        if opts.tty:
            argv.append("-t")
        if opts.stdin:
            argv.append("-i")
            if not opts.stdin_once:
                argv.append("--leave-stdin-open")
        sync_r, sync_w = os.pipe()
        reader = procs.PipeReader(sync_r)
        try:
            proc = await self._spawn(argv, d, self._conmon_env(d, {"_OCI_SYNCPIPE": str(sync_w)}),
                                     [sync_w])
            msg = await reader.message()
            await proc.wait()
        finally:
            reader.close()
        conmon_pid = procs.read_pid(d / "conmon.pid")
        data = msg.get("data") if msg else None
        if not isinstance(data, int) or data <= 0:
            raise self._failure(d, msg, "create")
        return data, conmon_pid

    async def _discard(self, cid: str, d: Path, conmon_pid: int = 0) -> None:
        """Remove every trace of a container that failed or is stale."""
        pid = conmon_pid or self._conmon_pid(d, cid)
        await self._runc("delete", "--force", cid)
        await self._end_conmon(pid)
        meta = _Meta.load(d / "meta.json")
        if meta is not None:
            self._keeper.remove(Path(meta.log_path))
        await asyncio.to_thread(shutil.rmtree, d, True)

    async def start(self, container_id: str) -> None:
        self._existing_dir(container_id)
        await self._runc_checked("start", container_id)

    # -- signals and state -------------------------------------------------------------
    async def kill(self, container_id: str, signal: int, all_processes: bool = False) -> None:
        d = self._existing_dir(container_id)
        args = ["kill", *(["--all"] if all_processes else []), container_id, str(int(signal))]
        res = await self._runc(*args)
        if res.returncode == 0:
            return
        state = await self._state(container_id, d)
        if state.status == "stopped":
            return
        raise InternalError(_runc_message(res.stderr) or "runc kill failed")

    async def pause(self, container_id: str) -> None:
        self._existing_dir(container_id)
        await self._runc_checked("pause", container_id)

    async def unpause(self, container_id: str) -> None:
        self._existing_dir(container_id)
        await self._runc_checked("resume", container_id)

    async def update(self, container_id: str, resources: dict[str, Any]) -> None:
        path = self._existing_dir(container_id) / "update.json"
        path.write_text(json.dumps(resources))
        try:
            await self._runc_checked("update", "--resources", str(path), container_id)
        finally:
            path.unlink(missing_ok=True)

    async def state(self, container_id: str) -> RuntimeState:
        return await self._state(container_id, self._existing_dir(container_id))

    async def _state(self, container_id: str, d: Path) -> RuntimeState:
        res = await self._runc("state", container_id)
        status: Status = "stopped"
        pid = 0
        if res.returncode == 0:
            with contextlib.suppress(ValueError):
                raw = json.loads(res.stdout)
                if raw.get("status") in ("created", "running", "paused", "stopped"):
                    status = raw["status"]
                pid = int(raw.get("pid") or 0)
        if status == "stopped":
            return RuntimeState("stopped", 0, _read_exit(d))
        return RuntimeState(status, pid)

    async def processes(self, container_id: str) -> Sequence[int]:
        self._existing_dir(container_id)
        res = await self._runc_checked("ps", "--format", "json", container_id)
        pids = json.loads(res.stdout or b"[]") or []
        return [int(p) for p in pids]

    # -- exit ------------------------------------------------------------------------
    async def wait_exit(self, container_id: str) -> ExitInfo:
        task = self._exits.get(container_id)
        if task is None:
            d = self._existing_dir(container_id)
            task = asyncio.get_running_loop().create_task(self._watch_exit(container_id, d))
            self._exits[container_id] = task
            task.add_done_callback(lambda t: self._forget_failed(self._exits, container_id, t))
        return await asyncio.shield(task)

    @staticmethod
    def _forget_failed(table: dict[Any, asyncio.Task[ExitInfo]], key: Any,
                       task: asyncio.Task[ExitInfo]) -> None:
        if (task.cancelled() or task.exception() is not None) and table.get(key) is task:
            del table[key]

    async def _watch_exit(self, cid: str, d: Path) -> ExitInfo:
        info = await self._watch_monitor(d, cid, d / "pidfile")
        meta = _Meta.load(d / "meta.json")
        if meta is not None and meta.max_size is not None:
            self._keeper.remove(Path(meta.log_path))
        return info

    async def _watch_monitor(self, d: Path, ident: str, pidfile: Path) -> ExitInfo:
        """Wait for the conmon of ``d`` and return the exit it recorded."""
        info = _read_exit(d)
        if info is not None:
            return info
        pid = self._conmon_pid(d, ident)
        if pid:
            await procs.wait_pid(pid)
            info = _read_exit(d)
            if info is not None:
                return info
        # conmon is gone without a record (killed): follow the process itself
        ppid = procs.read_pid(pidfile)
        if ppid and procs.alive(ppid):
            await procs.wait_pid(ppid)
        return _read_exit(d) or ExitInfo(LOST_EXIT_CODE, False, time.time_ns())

    # -- delete ----------------------------------------------------------------------
    async def delete(self, container_id: str, force: bool = False) -> None:
        d = self._existing_dir(container_id)
        async with self._lock(container_id):
            res = await self._runc("delete", *(["--force"] if force else []), container_id)
            if res.returncode != 0:
                message = _runc_message(res.stderr)
                if "does not exist" not in message:
                    if not force:
                        raise Conflict(message or "cannot delete a running container")
                    raise InternalError(message or "runc delete failed")
            pids = [self._conmon_pid(d, container_id)]
            exec_root = d / "exec"
            if exec_root.is_dir():
                pids += [self._conmon_pid(exec_root / e, e) for e in os.listdir(exec_root)]
            await asyncio.gather(*(self._end_conmon(p) for p in pids if p))
            task = self._exits.pop(container_id, None)
            if task is not None:
                with contextlib.suppress(Exception, asyncio.CancelledError):
                    await asyncio.wait_for(asyncio.shield(task), _DELETE_GRACE)
            for key in [k for k in self._exec_exits if k[0] == container_id]:
                self._exec_exits.pop(key, None)
            meta = _Meta.load(d / "meta.json")
            if meta is not None:
                self._keeper.remove(Path(meta.log_path))
            await asyncio.to_thread(shutil.rmtree, d, True)
        self._locks.pop(container_id, None)

    # -- stdio -------------------------------------------------------------------------
    async def attach(self, container_id: str) -> ProcessIO:
        d = self._existing_dir(container_id)
        return await self._attach(d, self._conmon_pid(d, container_id), wait_accept=True)

    async def _attach(self, d: Path, conmon_pid: int, wait_accept: bool) -> AttachIO:
        before = _fd_count(conmon_pid) if wait_accept and conmon_pid else -1
        try:
            sock = await connect(d / "attach")
        except (FileNotFoundError, ConnectionRefusedError):
            raise Conflict("the process is not running; cannot attach") from None
        if before >= 0:
            await _wait_accepted(conmon_pid, before)
        return AttachIO(sock)

    async def resize(self, container_id: str, rows: int, cols: int) -> None:
        d = self._existing_dir(container_id)
        _write_ctl(d, f"1 {int(rows)} {int(cols)}\n")
        await wait_for_size(procs.read_pid(d / "pidfile") or 0, int(rows), int(cols))

    # -- exec ------------------------------------------------------------------------
    async def exec(self, container_id: str, opts: ExecOptions) -> ExecHandle:
        d = self._existing_dir(container_id)
        if _read_exit(d) is not None or not self._conmon_pid(d, container_id):
            raise Conflict(f"Container {container_id} is not running")
        ed = self._exec_dir(container_id, opts.exec_id)
        try:
            ed.mkdir(parents=True)
        except FileExistsError:
            raise Conflict(f"exec session {opts.exec_id} already exists") from None
        conmon_pid = 0
        io: AttachIO | None = None
        try:
            process = dict(opts.process)
            process["terminal"] = opts.tty
            if opts.tty and opts.console_size:
                rows, cols = opts.console_size
                process["consoleSize"] = {"height": rows, "width": cols}
            (ed / "process.json").write_text(json.dumps(process))
            pid, conmon_pid, io = await self._start_exec(container_id, opts, ed)
            return ExecHandle(pid, io)
        except BaseException:
            if io is not None:
                await io.close()
            await self._end_conmon(conmon_pid or self._conmon_pid(ed, opts.exec_id))
            await asyncio.to_thread(shutil.rmtree, ed, True)
            raise

    async def _start_exec(self, cid: str, opts: ExecOptions,
                          ed: Path) -> tuple[int, int, AttachIO | None]:
        argv = [self.conmon, "--api-version", "1", "-c", cid, "-u", opts.exec_id, "-n", cid,
                "-r", self.runc, "-b", str(ed), "-p", str(ed / "pidfile"),
                "-P", str(ed / "conmon.pid"), "-l", "none", "--persist-dir", str(ed),
                "--full-attach", "--no-sync-log", "-e",
                "--exec-process-spec", str(ed / "process.json"), *self._runtime_args(ed)]
        if opts.tty:
            argv.append("-t")
        if opts.stdin:
            argv.append("-i")
        sync_r, sync_w = os.pipe()
        env = {"_OCI_SYNCPIPE": str(sync_w)}
        child_fds = [sync_w]
        start_w = -1
        attach_reader: procs.PipeReader | None = None
        if opts.attach:
            argv.append("--exec-attach")
            start_r, start_w = os.pipe()
            attach_r, attach_w = os.pipe()
            attach_reader = procs.PipeReader(attach_r)
            env.update(_OCI_STARTPIPE=str(start_r), _OCI_ATTACHPIPE=str(attach_w))
            child_fds += [start_r, attach_w]
        sync_reader = procs.PipeReader(sync_r)
        io: AttachIO | None = None
        try:
            proc = await self._spawn(argv, ed, self._conmon_env(ed, env), child_fds)
            if attach_reader is not None:
                with contextlib.suppress(BrokenPipeError):
                    os.write(start_w, b"0")  # conmon's first read: go on, daemonise
                ready = await attach_reader.message()
                if ready is not None and ready.get("data") == 0:
                    io = await self._attach(ed, 0, wait_accept=False)
                    with contextlib.suppress(BrokenPipeError):
                        os.write(start_w, b"1")  # second read: run `runc exec` now
            msg = await sync_reader.message()
            await proc.wait()
        except BaseException:
            if io is not None:
                await io.close()
            raise
        finally:
            sync_reader.close()
            if attach_reader is not None:
                attach_reader.close()
            if start_w >= 0:
                os.close(start_w)
        conmon_pid = procs.read_pid(ed / "conmon.pid")
        data = msg.get("data") if msg else None
        if not isinstance(data, int) or data <= 0:
            if io is not None:
                await io.close()
            if conmon_pid:
                await procs.wait_pid_timeout(conmon_pid, _DELETE_GRACE)
            err = self._failure(ed, msg, "exec")
            if "paused" in err.message or "stopped" in err.message:
                raise Conflict(err.message)
            raise err
        return data, conmon_pid, io

    async def wait_exec(self, container_id: str, exec_id: str) -> ExitInfo:
        key = (container_id, exec_id)
        task = self._exec_exits.get(key)
        if task is None:
            ed = self._exec_dir(container_id, exec_id)
            if not ed.is_dir():
                raise NotFound(f"No such exec instance: {exec_id}")
            task = asyncio.get_running_loop().create_task(
                self._watch_monitor(ed, exec_id, ed / "pidfile"))
            self._exec_exits[key] = task
            task.add_done_callback(lambda t: self._forget_failed(self._exec_exits, key, t))
        return await asyncio.shield(task)

    async def attach_exec(self, container_id: str, exec_id: str) -> ProcessIO:
        ed = self._exec_dir(container_id, exec_id)
        if not ed.is_dir():
            raise NotFound(f"No such exec instance: {exec_id}")
        return await self._attach(ed, self._conmon_pid(ed, exec_id), wait_accept=True)

    async def resize_exec(self, container_id: str, exec_id: str, rows: int, cols: int) -> None:
        ed = self._exec_dir(container_id, exec_id)
        if not ed.is_dir():
            raise NotFound(f"No such exec instance: {exec_id}")
        _write_ctl(ed, f"1 {int(rows)} {int(cols)}\n")
        await wait_for_size(procs.read_pid(ed / "pidfile") or 0, int(rows), int(cols))

    async def delete_exec(self, container_id: str, exec_id: str) -> None:
        ed = self._exec_dir(container_id, exec_id)
        if not ed.is_dir():
            raise NotFound(f"No such exec instance: {exec_id}")
        pid = self._conmon_pid(ed, exec_id)
        if pid and procs.alive(pid):
            raise Conflict(f"exec session {exec_id} is still running")
        self._exec_exits.pop((container_id, exec_id), None)
        await asyncio.to_thread(shutil.rmtree, ed, True)

    # -- restart -----------------------------------------------------------------------
    async def recover(self, container_id: str) -> RuntimeState:
        d = self._existing_dir(container_id)
        meta = _Meta.load(d / "meta.json")
        pid = self._conmon_pid(d, container_id)
        monitored = bool(pid) and procs.alive(pid)
        state = await self._state(container_id, d)
        if meta is not None and meta.max_size is not None:
            if monitored:
                self._keeper.add(Path(meta.log_path), meta.max_files)
            else:
                logrotate.release(Path(meta.log_path), meta.max_files)
        if state.status == "stopped" and state.exit is None and not monitored:
            return RuntimeState("stopped", 0, ExitInfo(LOST_EXIT_CODE, False, time.time_ns()))
        return state

    async def close(self) -> None:
        for task in [*self._exits.values(), *self._exec_exits.values()]:
            task.cancel()
        self._exits.clear()
        self._exec_exits.clear()
        self._keeper.close()


def _fd_count(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return -1


async def _wait_accepted(pid: int, before: int, timeout: float = 1.0) -> None:
    """Wait until conmon has accepted our connection (its fd count grew), so
    output produced right after (the container is started next) reaches us;
    conmon adds a connection to its readers as it accepts it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        now = _fd_count(pid)
        if now < 0 or now > before:
            return
        await asyncio.sleep(0.0005)
