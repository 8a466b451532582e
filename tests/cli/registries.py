"""A real ``ketch-registry`` on loopback for the CLI's pull/push/login tests.

Started on a free port with its own root (and an htpasswd file of bcrypt
entries when users are given), stopped by pid.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import bcrypt

BIN = Path(sys.executable).with_name("ketch-registry")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Registry:
    """One ``ketch-registry serve`` process."""

    def __init__(self, workdir: Path, users: dict[str, str] | None = None) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.addr = f"127.0.0.1:{self.port}"
        self.root = workdir / "root"
        self.root.mkdir(parents=True, exist_ok=True)
        self.log = workdir / "registry.log"
        self.args = ["serve", "--addr", self.addr, "--root", str(self.root)]
        if users:
            htpasswd = workdir / "htpasswd"
            htpasswd.write_text("".join(
                f"{user}:{bcrypt.hashpw(pw.encode(), bcrypt.gensalt(rounds=4)).decode()}\n"
                for user, pw in users.items()))
            self.args += ["--htpasswd", str(htpasswd)]
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Registry:
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen([str(BIN), *self.args], stdout=log,
                                         stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"ketch-registry exited:\n{self.log.read_text()}")
            try:
                urllib.request.urlopen(f"http://{self.addr}/v2/", timeout=1).close()
                return self
            except urllib.error.HTTPError:
                return self  # answering (401 with auth on)
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"ketch-registry did not answer:\n{self.log.read_text()}")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.kill(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(15)
