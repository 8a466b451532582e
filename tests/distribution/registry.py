"""Debian's CNCF distribution registry (``docker-registry``), started by a test
on a free loopback port with its own config and storage, stopped by pid."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

REGISTRY_BIN = Path("/usr/bin/docker-registry")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class DistRegistry:
    """One ``docker-registry serve CONFIG`` process."""

    def __init__(self, workdir: Path, auth: str = "") -> None:
        self.workdir = workdir
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.storage = workdir / "storage"
        self.storage.mkdir(parents=True, exist_ok=True)
        self.config = workdir / "config.yml"
        self.config.write_text(
            "version: 0.1\n"
            "log:\n  level: warn\n  accesslog:\n    disabled: true\n"
            f"storage:\n  filesystem:\n    rootdirectory: {self.storage}\n"
            "  delete:\n    enabled: true\n"
            f"http:\n  addr: {self.host}\n"
            + auth
        )
        self.log = workdir / "registry.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> DistRegistry:
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen([str(REGISTRY_BIN), "serve", str(self.config)],
                                         stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"docker-registry exited:\n{self.log.read_text()}")
            try:
                urllib.request.urlopen(f"http://{self.host}/v2/", timeout=1).close()
                return self
            except urllib.error.HTTPError:
                return self  # answering (401 with auth on)
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"docker-registry did not answer:\n{self.log.read_text()}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def blob_path(self, digest: str) -> Path:
        hex_part = digest.split(":", 1)[1]
        return (self.storage / "docker/registry/v2/blobs/sha256" / hex_part[:2] / hex_part
                / "data")

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)
