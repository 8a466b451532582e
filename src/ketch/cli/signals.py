"""Signals received by the CLI during a session: proxied to the container, or used to
resize its TTY.

Python runs signal handlers in the main thread between bytecodes, which may be
in the middle of anything; the handlers installed here only queue the signal,
and a worker thread makes the API calls (``POST /containers/{id}/kill``,
``.../resize``). Handlers are installed for the session and the previous ones
put back afterwards.
"""

from __future__ import annotations

import contextlib
import queue
import signal
import threading
from collections.abc import Callable

#: What ``--sig-proxy`` forwards: docker catches every signal it can, except the ones
#: the runtime uses (SIGCHLD, SIGPIPE, SIGURG) and the fatal synchronous ones.
PROXIED = tuple(
    getattr(signal, name) for name in (
        "SIGHUP", "SIGINT", "SIGQUIT", "SIGTERM", "SIGUSR1", "SIGUSR2", "SIGALRM",
        "SIGCONT", "SIGTSTP", "SIGTTIN", "SIGTTOU", "SIGWINCH", "SIGVTALRM", "SIGPROF",
        "SIGXCPU", "SIGXFSZ", "SIGIO", "SIGPWR",
    ) if hasattr(signal, name)
)


def signal_name(signum: int) -> str:
    """The name the API takes for a signal number (``INT`` for SIGINT)."""
    try:
        return signal.Signals(signum).name.removeprefix("SIG")
    except ValueError:
        return str(signum)


class SignalHub:
    """Dispatches signals to callbacks on a worker thread while started."""

    def __init__(self) -> None:
        self._callbacks: dict[int, list[Callable[[int], None]]] = {}
        self._previous: dict[int, object] = {}
        self._queue: queue.SimpleQueue[int | None] = queue.SimpleQueue()
        self._worker: threading.Thread | None = None

    def on(self, signum: int, callback: Callable[[int], None]) -> None:
        """Call ``callback(signum)`` (on the worker thread) for each ``signum`` received."""
        self._callbacks.setdefault(signum, []).append(callback)
        if self._worker is not None and signum not in self._previous:
            self._install(signum)

    def start(self) -> None:
        if self._worker is not None:
            return
        self._worker = threading.Thread(target=self._run, name="signals", daemon=True)
        self._worker.start()
        for signum in self._callbacks:
            self._install(signum)

    def stop(self) -> None:
        """Put the previous handlers back; signals still queued are dropped."""
        for signum, previous in self._previous.items():
            with contextlib.suppress(OSError, ValueError):
                signal.signal(signum, previous)  # type: ignore[arg-type]
        self._previous.clear()
        if self._worker is not None:
            self._queue.put(None)
            self._worker = None

    def _install(self, signum: int) -> None:
        with contextlib.suppress(OSError, ValueError):  # not the main thread, or uncatchable
            previous = signal.signal(signum, self._handler)
            # None: a handler not set from Python; the default is the best we can put back.
            self._previous[signum] = signal.SIG_DFL if previous is None else previous

    def _handler(self, signum: int, frame: object) -> None:
        self._queue.put(signum)

    def _run(self) -> None:
        while True:
            signum = self._queue.get()
            if signum is None:
                return
            for callback in list(self._callbacks.get(signum, ())):
                with contextlib.suppress(Exception):
                    callback(signum)
