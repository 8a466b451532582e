"""Start and stop container engines for tests: ketchd, and Docker as reference.

Both kinds get the same treatment and the same object shape, so a test
written against one runs against the other: each instance lives in its own
directory (socket, data root, exec root, pidfile, config file, log), is
ready when ``GET /_ping`` answers 200 ``OK``, is stopped with SIGTERM, and
is only ever signalled by the pid we started.

``EngineSet`` owns every engine started during a session, so that the
session can stop them all at the end, whatever the tests did.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from . import leaks, netstate, unixhttp
from .dockercli import docker_cli_env

REPO = Path(__file__).resolve().parents[2]
KETCHD_BIN = REPO / ".venv" / "bin" / "ketchd"
DOCKERD_BIN = Path(os.environ.get("KETCH_TEST_DOCKERD", "/usr/sbin/dockerd"))

#: Which program the "ketchd" fixtures really start: ``ketchd`` (default) or
#: ``dockerd``. Setting ``KETCH_TEST_SUBJECT=dockerd`` runs the tests written
#: for ketchd against a second, independent Docker, which checks that the
#: tests themselves are right (and normalise enough) before ketchd exists.
SUBJECT = os.environ.get("KETCH_TEST_SUBJECT", "ketchd")

#: The engines the end-to-end tests run on: ``KETCH_TEST_ENGINES=refdocker``
#: (comma-separated) leaves ketchd out, to check the tests alone.
E2E_ENGINES = [
    name.strip()
    for name in os.environ.get("KETCH_TEST_ENGINES", "refdocker,ketchd").split(",")
    if name.strip()
]


class EngineError(RuntimeError):
    """An engine would not start or stop as asked; the message says why."""


class Engine:
    """One daemon process on its own directories.

    Attributes tests use: ``host`` (``unix://...``), ``socket``,
    ``data_root``, ``exec_root``, ``pidfile``, ``config_file``, ``log``,
    ``pid``, ``env`` (for the docker CLI or ``ketch``), and ``kind``.
    """

    kind: ClassVar[str] = "engine"
    program: ClassVar[Path]
    start_timeout: ClassVar[float] = 30.0

    def __init__(
        self,
        root: Path,
        *,
        name: str | None = None,
        data_root: Path | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> None:
        self.root = root
        self.name = name or root.name
        root.mkdir(parents=True, exist_ok=True)
        self.socket = root / f"{self.kind}.sock"
        self.host = f"unix://{self.socket}"
        self.data_root = data_root or root / "data"
        self.exec_root = root / "exec"
        self.pidfile = root / f"{self.kind}.pid"
        self.config_file = root / "daemon.json"
        self.log = root / f"{self.kind}.log"
        self.docker_config = root / "docker-config"
        self.docker_config.mkdir(exist_ok=True)
        self.config_file.write_text(json.dumps(dict(config or {}), indent=2) + "\n")
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def __repr__(self) -> str:
        state = f"pid {self.process.pid}" if self.process and self.running else "stopped"
        return f"<{type(self).__name__} {self.name} {self.host} {state}>"

    # -- what to run -------------------------------------------------------

    def argv(self) -> list[str]:
        raise NotImplementedError

    def _after_ready(self) -> None:
        """Hook: note helper processes the daemon started (see dockerd)."""

    def _after_exit(self, crashed: bool = False) -> None:
        """Hook: wait for or clean up helper processes after the daemon.

        ``crashed`` is true after ``kill9()``: helpers a real daemon would
        re-adopt on its next start are then left alone.
        """

    # -- state -------------------------------------------------------------

    @property
    def settings(self) -> dict[str, Any]:
        """The daemon.json it runs with."""
        loaded: dict[str, Any] = json.loads(self.config_file.read_text())
        return loaded

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def pid(self) -> int:
        """Pid of the daemon process we started (the latest start)."""
        if self.process is None:
            raise EngineError(f"{self.name} was never started")
        return self.process.pid

    @property
    def env(self) -> dict[str, str]:
        """os.environ plus DOCKER_HOST/KETCH_HOST pointing at this engine."""
        env = docker_cli_env(self.host, self.docker_config)
        env["KETCH_HOST"] = self.host
        return env

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    # -- lifecycle ---------------------------------------------------------

    def start(self, *, wait: bool = True, timeout: float | None = None) -> Engine:
        """Start the daemon (again, on the same directories) and wait for /_ping."""
        if self.running:
            raise EngineError(f"{self.name} is already running (pid {self.pid})")
        program = Path(self.argv()[0])
        if not program.exists():
            raise EngineError(f"{program} does not exist: {self.missing_hint()}")
        self.exec_root.mkdir(parents=True, exist_ok=True)
        self.starts += 1
        with open(self.log, "ab") as log:
            log.write(f"--- start #{self.starts}: {' '.join(self.argv())}\n".encode())
            log.flush()
            self.process = subprocess.Popen(
                self.argv(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.root,
                start_new_session=True,
                env=self.daemon_env(),
            )
        if wait:
            self.wait_ready(timeout)
        return self

    def daemon_env(self) -> dict[str, str]:
        env = dict(os.environ)
        for var in ("DOCKER_HOST", "KETCH_HOST", "NOTIFY_SOCKET"):
            env.pop(var, None)
        return env

    def missing_hint(self) -> str:
        return "not installed"

    def wait_ready(self, timeout: float | None = None) -> None:
        """Wait until /_ping answers; fail early if the process dies."""
        deadline = time.monotonic() + (timeout or self.start_timeout)
        proc = self.process
        if proc is None:
            raise EngineError(f"{self.name} was never started")
        while True:
            code = proc.poll()
            if code is not None:
                self._after_exit()
                raise EngineError(
                    f"{self.kind} {self.name} exited with status {code} before answering "
                    f"/_ping on {self.socket}. Last lines of {self.log}:\n{self.log_tail()}"
                )
            if unixhttp.ping(str(self.socket), timeout=2.0):
                self._after_ready()
                return
            if time.monotonic() > deadline:
                self.kill9()
                raise EngineError(
                    f"{self.kind} {self.name} did not answer /_ping within "
                    f"{timeout or self.start_timeout:.0f}s (killed). "
                    f"Last lines of {self.log}:\n{self.log_tail()}"
                )
            time.sleep(0.05)

    def wait_exit(self, timeout: float = 30.0) -> int:
        """Wait for the daemon to exit by itself; its exit status."""
        if self.process is None:
            raise EngineError(f"{self.name} was never started")
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired as e:
            raise EngineError(f"{self.name} still running after {timeout:.0f}s") from e
        self._after_exit()
        return code

    def stop(self, timeout: float = 30.0) -> int | None:
        """SIGTERM and wait; its exit status (None when it was not running).

        A daemon that ignores SIGTERM is killed and reported as an error:
        a clean shutdown is part of what the tests check.
        """
        proc = self.process
        if proc is None:
            return None
        if proc.poll() is not None:
            self._after_exit()
            return proc.returncode
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGTERM)
        try:
            code = proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill9()
            raise EngineError(
                f"{self.kind} {self.name} (pid {proc.pid}) did not exit within "
                f"{timeout:.0f}s of SIGTERM; killed. Last lines of {self.log}:\n"
                f"{self.log_tail()}"
            ) from None
        self._after_exit()
        return code

    def kill9(self) -> None:
        """SIGKILL the daemon (a crash, as far as its state is concerned)."""
        proc = self.process
        if proc is None:
            return
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGKILL)
            proc.wait(30)
        self._after_exit(crashed=True)

    # -- talking to it -----------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        timeout: float = 60.0,
    ) -> unixhttp.Response:
        """One raw HTTP request on the engine's socket."""
        return unixhttp.request(str(self.socket), method, path, body, headers, timeout)


class Ketchd(Engine):
    """ketchd with networking of its own: a default bridge device, iptables chain
    prefix and address pool no other daemon on the machine uses (``config`` may
    override them, e.g. ``{"bridge": "none"}``). Its bridges and rules are
    removed once it stops with no container left running."""

    kind = "ketchd"
    program = KETCHD_BIN

    def __init__(self, root: Path, *, config: Mapping[str, Any] | None = None,
                 **kw: Any) -> None:
        super().__init__(root, config={**netstate.daemon_settings(), **(config or {})}, **kw)

    def _after_exit(self, crashed: bool = False) -> None:
        # The build tmpfs only holds contexts of builds in flight: stale even
        # after a crash (a restarted daemon mounts a fresh one).
        netstate.unmount_build_scratch(self.exec_root)
        if not crashed:
            netstate.remove_host_state(self.data_root, self.exec_root, self.config_file)

    def argv(self) -> list[str]:
        return [
            str(self.program),
            "-H",
            self.host,
            "--data-root",
            str(self.data_root),
            "--exec-root",
            str(self.exec_root),
            "--pidfile",
            str(self.pidfile),
            "--config-file",
            str(self.config_file),
            "--log-level",
            "debug",
        ]

    def missing_hint(self) -> str:
        return "the daemon is not built yet (run `make deps`, which installs the ketch package)"


class Dockerd(Engine):
    """Debian's Docker 20.10, the reference the conformance tests compare with.

    It gets its own data root, exec root, socket and pidfile, no bridge and
    no iptables rules, so it touches nothing outside its directory. With no
    ``--containerd`` it starts a containerd of its own (state under the exec
    root); that one is tracked and must be gone after stop too.
    """

    kind = "dockerd"
    program = DOCKERD_BIN
    start_timeout = 60.0

    def __init__(self, root: Path, **kw: Any) -> None:
        super().__init__(root, **kw)
        self.containerd_pid: int | None = None

    def argv(self) -> list[str]:
        return [
            str(self.program),
            "--config-file",
            str(self.config_file),
            "--data-root",
            str(self.data_root),
            "--exec-root",
            str(self.exec_root),
            "-H",
            self.host,
            "--pidfile",
            str(self.pidfile),
            "--bridge=none",
            "--iptables=false",
            "--ip-masq=false",
        ]

    def missing_hint(self) -> str:
        return "Docker's reference engine is not installed (apt-get install docker.io)"

    def _after_ready(self) -> None:
        pidfile = self.exec_root / "containerd" / "containerd.pid"
        with contextlib.suppress(OSError, ValueError):
            self.containerd_pid = int(pidfile.read_text().strip())

    def _after_exit(self, crashed: bool = False) -> None:
        """dockerd stops its containerd on SIGTERM; make sure it did.

        After a crash (kill9) containerd is ended at once: dockerd 20.10
        cannot re-adopt a containerd whose log pipe it lost, and what is
        under test is the engine, not Docker's recovery.
        """
        pid = self.containerd_pid
        if pid is None:
            return
        deadline = time.monotonic() + (0 if crashed else 15)
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if _alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        # An orphan stays a zombie until PID 1 reaps it (on these machines,
        # up to seconds later), and dockerd takes a zombie containerd for a
        # live one: wait until the pid is gone for good.
        deadline = time.monotonic() + 15
        while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        self.containerd_pid = None
        if not crashed:
            # dockerd makes its data root a private bind mount; after a
            # crash and restart it leaves one behind. Docker is the
            # reference here, not under test: tidy up after it.
            leaks.unmount_all(leaks.mounts_under(self.root))


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


class EngineSet:
    """Every engine started under one directory during a session."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.engines: list[Engine] = []
        self._count: dict[str, int] = {}

    def _dir(self, stem: str) -> Path:
        n = self._count.get(stem, 0) + 1
        self._count[stem] = n
        return self.root / f"{stem}{n}"

    def ketchd(
        self,
        *,
        data_root: Path | None = None,
        config: Mapping[str, Any] | None = None,
        start: bool = True,
    ) -> Engine:
        """A new ketchd in its own directory (or a dockerd, see SUBJECT)."""
        cls: type[Engine] = Dockerd if SUBJECT == "dockerd" else Ketchd
        engine = cls(self._dir("k"), data_root=data_root, config=config)
        return self._add(engine, start)

    def dockerd(self, *, config: Mapping[str, Any] | None = None, start: bool = True) -> Engine:
        engine = Dockerd(self._dir("d"), config=config)
        return self._add(engine, start)

    def _add(self, engine: Engine, start: bool) -> Engine:
        self.engines.append(engine)
        if start:
            engine.start()
        return engine

    def stop_all(self) -> list[str]:
        """Stop every engine still running; the problems met, as text."""
        problems: list[str] = []
        for engine in reversed(self.engines):
            try:
                engine.stop()
            except EngineError as e:
                problems.append(str(e))
        return problems
