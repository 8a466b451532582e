"""Running the host tools networking needs (ip, iptables, unshare, CNI plugins).

One place turns a failed command into an engine error carrying the tool's own
message, so that what went wrong on the host reaches the user verbatim.
"""

from __future__ import annotations

import subprocess
from collections.abc import Mapping, Sequence

from ketch.errors import InternalError


class CommandError(InternalError):
    def __init__(self, argv: Sequence[str], code: int, stderr: str) -> None:
        super().__init__(f"{' '.join(argv)}: exit status {code}: {stderr.strip()}")
        self.code = code
        self.stderr = stderr


def run(argv: Sequence[str], *, input: bytes | None = None,
        env: Mapping[str, str] | None = None,
        check: bool = True) -> subprocess.CompletedProcess[bytes]:
    proc = subprocess.run(list(argv), input=input, env=dict(env) if env is not None else None,
                          capture_output=True, check=False)
    if check and proc.returncode != 0:
        raise CommandError(argv, proc.returncode,
                           proc.stderr.decode(errors="replace") or
                           proc.stdout.decode(errors="replace"))
    return proc


def succeeds(argv: Sequence[str]) -> bool:
    return run(argv, check=False).returncode == 0
