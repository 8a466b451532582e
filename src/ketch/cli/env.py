"""What every command runs with: the streams, the daemon address and a lazy client.

Commands receive an ``Env`` instead of touching ``sys`` and building clients
themselves, so the client (and its imports) exist only for commands that talk
to the daemon, and tests can run commands with their own streams.
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False  # typing is not imported at run time: it costs startup time
if TYPE_CHECKING:
    from typing import IO, TextIO

    from ketch.client import Client

#: The program name used in messages ("ketch: 'ketch tag' requires 2 arguments").
PROG = "ketch"


class Env:
    def __init__(self, host: str | None = None, debug: bool = False,
                 stdin: TextIO | None = None, stdout: TextIO | None = None,
                 stderr: TextIO | None = None) -> None:
        self.host = host
        self.debug = debug
        # Streams may be missing (a daemon-less CI job, a closed fd): use empty ones.
        self.stdin = stdin or sys.stdin or _empty_stream()
        self.stdout = stdout or sys.stdout or _empty_stream()
        self.stderr = stderr or sys.stderr or _empty_stream()
        self._client: Client | None = None
        #: The command name as typed ("images", "ls", "list"): some messages depend on it.
        self.called_as = ""
        #: ``--config``: the directory of config.json (None: $KETCH_CONFIG or ~/.ketch).
        self.config_dir: str | None = None

    @property
    def client(self) -> Client:
        """The Engine API client, created (and its modules imported) on first use."""
        if self._client is None:
            from ketch.client import Client

            self._client = Client(self.host)
        return self._client

    @property
    def host_url(self) -> str:
        from ketch.client.transport import resolve_host

        return resolve_host(self.host)

    def out(self, text: str) -> None:
        self.stdout.write(text)

    def err(self, text: str) -> None:
        self.stderr.write(text)

    def stdout_is_terminal(self) -> bool:
        return _isatty(self.stdout)

    def stdin_is_terminal(self) -> bool:
        return _isatty(self.stdin)

    def binary_stdout(self) -> IO[bytes]:
        self.stdout.flush()
        return self.stdout.buffer

    def binary_stdin(self) -> IO[bytes]:
        return self.stdin.buffer


def _empty_stream() -> TextIO:
    import io

    return io.TextIOWrapper(io.BytesIO())


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
