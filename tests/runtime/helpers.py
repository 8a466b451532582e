"""Helpers for the runtime driver tests: a busybox rootfs, minimal OCI specs
and bundles, stdio collection, and the leak check."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import uuid
from pathlib import Path
from typing import Any

from ketch.runtime.base import CreateOptions, LogOptions, ProcessIO

BUSYBOX = Path("/bin/busybox")
RUNC = shutil.which("runc") or "/usr/sbin/runc"


def build_rootfs(dest: Path) -> Path:
    """A busybox root filesystem: the static binary, its applets as
    symlinks, /etc/passwd and /etc/group, and the usual mount points."""
    for d in ("bin", "etc", "proc", "sys", "dev", "tmp", "root"):
        (dest / d).mkdir(parents=True, exist_ok=True)
    shutil.copy2(BUSYBOX, dest / "bin" / "busybox")
    applets = subprocess.run([str(BUSYBOX), "--list"], capture_output=True, text=True,
                             check=True).stdout.split()
    for name in applets:
        if name != "busybox" and not (dest / "bin" / name).exists():
            os.symlink("busybox", dest / "bin" / name)
    (dest / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\n"
                                         "nobody:x:65534:65534:nobody:/:/bin/false\n")
    (dest / "etc" / "group").write_text("root:x:0:\nnogroup:x:65534:\n")
    return dest


def make_spec(rootfs: Path, args: list[str], container_id: str,
              env: list[str] | None = None) -> dict[str, Any]:
    """A minimal OCI spec in the spirit of ``runc spec``: own mount, pid, uts,
    ipc and network namespaces, /proc, a tmpfs /dev with pts, shm and mqueue,
    read-only /sys, a writable /tmp; the shared rootfs stays read-only."""
    caps = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_CHOWN",
            "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_SETUID", "CAP_SETGID"]
    return {
        "ociVersion": "1.0.2-dev",
        "process": {
            "terminal": False,
            "user": {"uid": 0, "gid": 0},
            "args": args,
            "env": env or ["PATH=/bin", "TERM=xterm"],
            "cwd": "/",
            "capabilities": {k: caps for k in ("bounding", "effective", "permitted")},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": True,
        },
        "root": {"path": str(rootfs), "readonly": True},
        "hostname": container_id[:12],
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620",
                         "gid=5"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
             "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
             "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs",
             "options": ["nosuid", "noexec", "nodev", "ro"]},
            {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "nodev", "mode=1777"]},
        ],
        "linux": {
            "cgroupsPath": f"/ketch-rt-{container_id}",
            "resources": {"devices": [{"allow": False, "access": "rwm"}]},
            "namespaces": [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount")],
            "maskedPaths": ["/proc/kcore", "/proc/keys", "/proc/timer_list"],
            "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys",
                              "/proc/sysrq-trigger"],
        },
    }


def new_id() -> str:
    return uuid.uuid4().hex + uuid.uuid4().hex


class Env:
    """Where one test keeps its runtime root, bundles and logs."""

    def __init__(self, base: Path, rootfs: Path) -> None:
        self.base = base
        self.root = base / "rt"
        self.bundles = base / "bundles"
        self.logs = base / "logs"
        self.rootfs = rootfs
        for d in (self.root, self.bundles, self.logs):
            d.mkdir(parents=True, exist_ok=True)

    def options(self, args: list[str], *, container_id: str | None = None, tty: bool = False,
                stdin: bool = False, stdin_once: bool = False,
                console_size: tuple[int, int] | None = None, max_size: int | None = 10 << 20,
                max_files: int = 5) -> CreateOptions:
        cid = container_id or new_id()
        bundle = self.bundles / cid
        bundle.mkdir(parents=True, exist_ok=True)
        (bundle / "config.json").write_text(json.dumps(make_spec(self.rootfs, args, cid)))
        log = LogOptions(self.logs / cid / "ctr.log", max_size, max_files)
        return CreateOptions(cid, bundle, log, tty=tty, stdin=stdin, stdin_once=stdin_once,
                             console_size=console_size)

    def exec_process(self, args: list[str]) -> dict[str, object]:
        return {"args": args, "env": ["PATH=/bin", "TERM=xterm"], "cwd": "/",
                "user": {"uid": 0, "gid": 0}}


async def collect(io: ProcessIO, timeout: float = 20.0) -> tuple[bytes, bytes]:
    """Everything a ProcessIO yields until EOF, split by stream."""
    out, err = bytearray(), bytearray()

    async def drain() -> None:
        while (chunk := await io.read()) is not None:
            (out if chunk[0] == 1 else err).extend(chunk[1])

    await asyncio.wait_for(drain(), timeout)
    return bytes(out), bytes(err)


async def read_until(io: ProcessIO, needle: bytes, timeout: float = 10.0) -> bytes:
    """Read output until ``needle`` shows up; returns everything read."""
    got = bytearray()

    async def loop() -> None:
        while needle not in got:
            chunk = await io.read()
            if chunk is None:
                raise AssertionError(f"EOF before {needle!r}; got {bytes(got)!r}")
            got.extend(chunk[1])

    await asyncio.wait_for(loop(), timeout)
    return bytes(got)


def live_processes_mentioning(path: Path) -> list[str]:
    """Live (non-zombie) processes whose command line names ``path``."""
    needle = str(path)
    found: list[str] = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            raw = Path(f"/proc/{entry}/cmdline").read_bytes()
            stat = Path(f"/proc/{entry}/stat").read_bytes()
        except OSError:
            continue
        if stat.rpartition(b")")[2].split()[:1] == [b"Z"]:
            continue
        if needle.encode() in raw:
            args = raw.replace(b"\0", b" ").decode(errors="replace")
            found.append(f"{entry}: {args}")
    return found


def runc_containers(runc_root: Path) -> list[str]:
    if not runc_root.exists():
        return []
    res = subprocess.run([RUNC, "--root", str(runc_root), "list", "-q"], capture_output=True,
                         text=True, check=False)
    return res.stdout.split()


def force_cleanup(env: Env) -> None:
    """Last resort after a failed test: remove runc containers, kill conmons."""
    runc_root = env.root / "runc"
    for cid in runc_containers(runc_root):
        subprocess.run([RUNC, "--root", str(runc_root), "delete", "--force", cid],
                       capture_output=True, check=False)
    for line in live_processes_mentioning(env.root):
        pid = int(line.split(":", 1)[0])
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, 9)
