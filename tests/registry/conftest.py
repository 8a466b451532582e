"""Fixtures for ketch-registry: the real server as a subprocess, raw HTTP.

``make_registry(*args)`` starts ``ketch-registry serve`` on 127.0.0.1 with a
free port and its own root (extra CLI flags in ``args``); every server a
test started is stopped by pid at the end. ``registry`` is one default
server (deletes enabled) per test.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

BIN = Path(sys.executable).parent / "ketch-registry"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def error_codes(self) -> list[str]:
        return [e["code"] for e in self.json()["errors"]]


@dataclass
class Server:
    root: Path
    port: int
    proc: subprocess.Popen[bytes]
    log: Path
    args: list[str] = field(default_factory=list)
    auth: str | None = None

    @property
    def addr(self) -> str:
        return f"127.0.0.1:{self.port}"

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None, auth: str | None = None) -> Reply:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        hdrs = dict(headers or {})
        creds = auth or self.auth
        if creds and "Authorization" not in hdrs:
            if creds.startswith("Bearer "):
                hdrs["Authorization"] = creds
            else:
                hdrs["Authorization"] = "Basic " + base64.b64encode(creds.encode()).decode()
        try:
            conn.request(method, path, body=body, headers=hdrs)
            resp = conn.getresponse()
            data = resp.read()
            return Reply(resp.status, {k.lower(): v for k, v in resp.getheaders()}, data)
        finally:
            conn.close()

    # Convenience flows used by many tests.
    def push_blob(self, name: str, data: bytes, **kw: Any) -> str:
        digest = sha256(data)
        reply = self.request("POST", f"/v2/{name}/blobs/uploads/?digest={digest}", data,
                             {"Content-Type": "application/octet-stream"}, **kw)
        assert reply.status == 201, (reply.status, reply.body)
        return digest

    def push_manifest(self, name: str, ref: str, manifest: dict[str, Any] | bytes,
                      media_type: str = "application/vnd.oci.image.manifest.v1+json",
                      **kw: Any) -> Reply:
        body = manifest if isinstance(manifest, bytes) else json.dumps(manifest).encode()
        return self.request("PUT", f"/v2/{name}/manifests/{ref}", body,
                            {"Content-Type": media_type}, **kw)

    def image(self, name: str, ref: str, layers: list[bytes], **kw: Any) -> tuple[str, bytes]:
        """Push an OCI image of ``layers``; returns (manifest digest, bytes)."""
        config = json.dumps({"architecture": "amd64", "os": "linux",
                             "rootfs": {"type": "layers", "diff_ids": []}}).encode()
        cdig = self.push_blob(name, config, **kw)
        descs = [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                  "digest": self.push_blob(name, layer, **kw), "size": len(layer)}
                 for layer in layers]
        manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                               "digest": cdig, "size": len(config)},
                    "layers": descs}
        body = json.dumps(manifest, indent=1).encode()
        reply = self.push_manifest(name, ref, body, **kw)
        assert reply.status == 201, (reply.status, reply.body)
        return reply.headers["docker-content-digest"], body

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(15)

    def kill9(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(15)


def start_server(root: Path, *args: str, port: int | None = None) -> Server:
    port = port or free_port()
    root.mkdir(parents=True, exist_ok=True)
    log = root.parent / f"{root.name}-{port}.log"
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [str(BIN), "serve", "--addr", f"127.0.0.1:{port}", "--root", str(root), *args],
            stdout=out, stderr=subprocess.STDOUT)
    server = Server(root, port, proc, log, list(args))
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"ketch-registry exited: {log.read_text()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return server
        except OSError:
            time.sleep(0.1)
    server.stop()
    raise RuntimeError(f"ketch-registry did not start: {log.read_text()}")


@pytest.fixture
def make_registry(tmp_path: Path) -> Iterator[Callable[..., Server]]:
    servers: list[Server] = []

    def make(*args: str, root: Path | None = None, port: int | None = None) -> Server:
        server = start_server(root or tmp_path / f"root{len(servers)}", *args, port=port)
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()


@pytest.fixture
def registry(make_registry: Callable[..., Server]) -> Server:
    return make_registry("--delete-enabled")
