"""Find (and clean up) processes and mounts that tests left behind.

Every engine the fixtures start lives under one session directory, and
every process an engine starts (containerd, shims, conmon, runc) names a
path under that directory on its command line or runs with its working
directory there. So "no process mentions the directory" and "no mount
point lies under it" together mean that the tests cleaned up after
themselves.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class LeakedProcess:
    pid: int
    cmdline: str

    def __str__(self) -> str:
        return f"pid {self.pid}: {self.cmdline}"


def _under(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def processes_under(root: Path) -> list[LeakedProcess]:
    """Live processes whose command line or cwd refers to a path under root."""
    needle = str(root).rstrip("/")
    me = os.getpid()
    found: list[LeakedProcess] = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == me:
            continue
        pid = int(entry)
        try:
            raw = Path(f"/proc/{pid}/cmdline").read_bytes()
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state == "Z":
            continue  # already dead; its parent just has not reaped it yet
        args = raw.decode("utf-8", "replace").split("\0")
        hit = any(needle + "/" in arg or arg.endswith(needle) for arg in args)
        if not hit:
            with contextlib.suppress(OSError):
                hit = _under(os.readlink(f"/proc/{pid}/cwd"), needle)
        if hit:
            found.append(LeakedProcess(pid, " ".join(a for a in args if a)))
    return found


def _unescape_mountinfo(field: str) -> str:
    """mountinfo escapes space, tab, newline and backslash as octal."""
    out, i = [], 0
    while i < len(field):
        if field[i] == "\\" and i + 3 < len(field) and field[i + 1 : i + 4].isdigit():
            out.append(chr(int(field[i + 1 : i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def mounts_under(root: Path) -> list[str]:
    """Mount points (in this mount namespace) at or below root, deepest first."""
    needle = str(root.resolve()) if root.exists() else str(root)
    points: list[str] = []
    with open("/proc/self/mountinfo", encoding="utf-8") as f:
        for line in f:
            point = _unescape_mountinfo(line.split()[4])
            if _under(point, needle):
                points.append(point)
    return sorted(set(points), key=lambda p: p.count("/"), reverse=True)


def kill_processes(procs: list[LeakedProcess], timeout: float = 10.0) -> None:
    """SIGKILL the given processes (ours: they were found under our dir)."""
    for p in procs:
        with contextlib.suppress(ProcessLookupError):
            os.kill(p.pid, signal.SIGKILL)
    deadline = time.monotonic() + timeout
    for p in procs:
        while Path(f"/proc/{p.pid}").exists() and time.monotonic() < deadline:
            with contextlib.suppress(ChildProcessError, OSError):
                os.waitpid(p.pid, os.WNOHANG)
            time.sleep(0.05)


def unmount_all(points: list[str]) -> None:
    """Detach the given mount points, deepest first; best effort."""
    for point in points:
        subprocess.run(["umount", "-l", point], check=False, capture_output=True)
