"""Containers through the Docker SDK for Python, compared with Docker 20.10."""

from __future__ import annotations

import socket
import time

from support.conformance import Conform, Session

RUN = {"network_mode": "none"}


def test_sdk_run_and_manage(conform: Conform) -> None:
    def scenario(s: Session) -> None:
        c = s.client
        out = c.containers.run("busybox", ["sh", "-c", "echo hello; echo err >&2"],
                               remove=True, **RUN)
        s.record("run output", out.decode())
        web = c.containers.run("busybox", ["sh", "-c", "echo one; echo two; exec sleep 300"],
                               detach=True, name="sdkweb", **RUN)
        time.sleep(0.3)
        web.reload()
        s.record("status", web.status)
        s.record("logs", web.logs().decode())
        stream = web.logs(stream=True, follow=False)
        s.record("logs stream", b"".join(stream).decode())
        result = web.exec_run(["sh", "-c", "echo in exec; exit 5"])
        s.record("exec_run", (result.exit_code, result.output.decode()))
        result = web.exec_run(["cat", "/etc/hostname"])
        assert result.output.decode().strip() == web.id[:12]
        top = web.top()
        assert top["Titles"] and any("sleep 300" in " ".join(p) for p in top["Processes"])
        s.record("list", [x.name for x in c.containers.list()])
        web.kill(signal="SIGTERM")  # sleep as pid 1 ignores it, like in Docker
        web.stop(timeout=1)
        s.record("wait", web.wait())
        web.reload()
        s.record("exited", (web.status, web.attrs["State"]["ExitCode"]))
        web.remove()
        s.record("list all", [x.name for x in c.containers.list(all=True)])

    conform(scenario)


def test_sdk_attach_socket(conform: Conform) -> None:
    def scenario(s: Session) -> None:
        c = s.client
        box = c.containers.create("busybox", ["cat"], stdin_open=True, name="sdkcat", **RUN)
        sock = box.attach_socket(params={"stdin": 1, "stdout": 1, "stream": 1})
        box.start()
        raw = sock._sock
        raw.sendall(b"ping\n")
        raw.shutdown(socket.SHUT_WR)
        data = b""
        raw.settimeout(10)
        while chunk := raw.recv(4096):
            data += chunk
        sock.close()
        s.record("framed", data.hex())
        box.stop(timeout=1)
        box.remove()

    conform(scenario)
