"""cli/mountopts.py against the real Docker CLI 28.

The docker CLI is pointed at a small capturing server on a unix socket: it
answers ``/_ping`` and records the body of ``POST /containers/create`` (then
refuses it, which ends the command). So each case compares the very
``Binds``, ``Config.Volumes``, ``Mounts`` and ``Tmpfs`` the docker CLI sends,
and the very messages it prints for mistakes, with what ketch computes.
"""

from __future__ import annotations

import http.server
import json
import os
import socketserver
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.dockercli import docker, docker_cli_env

from ketch.cli import mountopts
from ketch.cli.containeropts import OptionError


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _reply(self, status: int, body: bytes, ctype: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Api-Version", "1.50")
        self.send_header("Ostype", "linux")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_HEAD(self) -> None:
        self._reply(200, b"", "text/plain")

    def do_GET(self) -> None:
        if self.path.endswith("/_ping"):
            self._reply(200, b"OK", "text/plain")
        else:
            self._reply(404, b'{"message":"page not found"}')

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if "/containers/create" in self.path:
            self.server.captured.append(json.loads(body))
        self._reply(400, b'{"message":"captured"}')


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    captured: list[dict[str, Any]]

    def get_request(self) -> tuple[Any, Any]:
        sock, _ = super().get_request()
        return sock, ("local", 0)


@pytest.fixture(scope="module")
def capture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[_Server, dict[str, str]]]:
    where = tmp_path_factory.mktemp("capture")
    server = _Server(str(where / "d.sock"), _Handler)
    server.captured = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    (where / "cfg").mkdir()
    try:
        yield server, docker_cli_env(f"unix://{where / 'd.sock'}", where / "cfg")
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def docker_sends(capture: tuple[_Server, dict[str, str]], args: list[str],
                 cwd: Path | None = None) -> dict[str, Any]:
    server, env = capture
    server.captured.clear()
    result = docker(env, "create", *args, "busybox", cwd=cwd)
    assert result.returncode != 0 and "captured" in result.stderr, result.describe()
    assert len(server.captured) == 1
    return server.captured[0]


def docker_error(capture: tuple[_Server, dict[str, str]], args: list[str]) -> str:
    _, env = capture
    result = docker(env, "create", *args, "busybox")
    assert result.returncode != 0 and "captured" not in result.stderr, result.describe()
    return result.stderr.splitlines()[0]


VOLUME_CASES: list[list[str]] = [
    ["/data"],
    ["ab"],
    ["vol:/data"],
    ["vol:/data:ro,nocopy", "/data2", "/host:/h:rshared"],
    ["/host:/h", "/host:/h"],  # a repeated value counts once
    ["./rel:/r", "../up:/u:ro", "~/x:/home"],
    ["a:/b"],  # a drive letter for the compose grammar: an anonymous volume "a:/b"
    ["a::b", "c:d:e:f", "a:b:c:/d:x:y"],
    ["c:\\x:/w"],
]


@pytest.mark.parametrize("values", VOLUME_CASES, ids=[" ".join(v) for v in VOLUME_CASES])
def test_volume_flags_like_docker(capture: tuple[_Server, dict[str, str]], values: list[str],
                                  tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    args = [a for v in values for a in ("-v", v)]
    sent = docker_sends(capture, args, cwd=tmp_path)
    monkeypatch.chdir(tmp_path)
    binds, volumes = mountopts.split_volumes(values)
    assert sorted(binds or []) == sorted(sent["HostConfig"]["Binds"] or [])
    assert volumes == sent["Volumes"]


@pytest.mark.parametrize("value", ["", "/a:/b:ro:x", ":/b", "/a:", "/a:/b:cc:d"])
def test_volume_flag_errors_like_docker(capture: tuple[_Server, dict[str, str]],
                                        value: str) -> None:
    expected = docker_error(capture, ["-v", value])
    with pytest.raises(OptionError) as info:
        mountopts.split_volumes([value])
    assert expected == f"docker: {info.value}"


MOUNT_CASES = [
    "type=bind,src=/tmp,dst=/b",
    "type=bind,source=/tmp,target=/b,readonly,bind-propagation=RSHARED,bind-nonrecursive",
    "type=bind,src=/tmp,dst=/b,ro=false,bind-recursive=writable,readonly=1",
    "type=bind,src=/tmp,dst=/b,ro,bind-recursive=readonly,bind-propagation=rprivate",
    "type=bind,src=/tmp,dst=/b,bind-recursive=disabled,consistency=CACHED",
    "dst=/v",
    "type=volume,src=v1,dst=/v,volume-nocopy,volume-label=a=b,volume-label=c,"
    "volume-driver=local,volume-opt=type=tmpfs,volume-opt=device=tmpfs,volume-subpath=sub",
    "type=volume,src=v1,destination=/v,volume-nocopy=false",
    "src=./rel,dst=/v",
    "type=tmpfs,dst=/t,tmpfs-size=64m,tmpfs-mode=1770",
    "type=tmpfs,dst=/t,tmpfs-size=1.5k",
    '"type=bind","src=/a,b",dst=/c',
    'type=bind,"src=/x""y",dst=/c',
    "TYPE=Volume,Target=/x",
    "type=image,src=busybox,dst=/i,image-subpath=bin",
]


@pytest.mark.parametrize("value", MOUNT_CASES)
def test_mount_flag_like_docker(capture: tuple[_Server, dict[str, str]], value: str,
                                tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sent = docker_sends(capture, ["--mount", value], cwd=tmp_path)
    monkeypatch.chdir(tmp_path)
    ours = mountopts.parse_mount(value)
    assert sent["HostConfig"]["Mounts"] == [ours]
    assert list(sent["HostConfig"]["Mounts"][0]) == list(ours)  # Go's field order


MOUNT_ERRORS = [
    'type="bind', '"type=bind', 'type=bind,"src=a"b', 'ty"pe=bind', '"type=bind"x',
    '"a""b', "type=foo,src=a", "readonly", "foo", "type=bind", "target=/x,ro=maybe",
    "target=/x,tmpfs-mode=9", "target=/x,tmpfs-mode=", "target=/x,type=tmpfs,tmpfs-size=abc",
    "target=/x,bind-propagation=shared", "target=/x,type=bind,bind-recursive=bad",
    "target=/x,type=bind,bind-recursive=readonly",
    "target=/x,type=bind,bind-recursive=readonly,ro",
    "target=/x,type=bind,bind-recursive=writable", "target=/x,foo=bar", "type=,target=/x", "",
    "target=/x,volume-nocopy=maybe", "target=/x,type=bind,volume-label=a",
    "target=/x,type=volume,tmpfs-size=1m", "target=/x,image-subpath=a",
    "target=/x,type=bind,bind-nonrecursive=yes",
]


@pytest.mark.parametrize("value", MOUNT_ERRORS)
def test_mount_flag_errors_like_docker(capture: tuple[_Server, dict[str, str]],
                                       value: str) -> None:
    line = docker_error(capture, ["--mount", value])
    expected = line.split('" for "--mount" flag: ', 1)[1]
    with pytest.raises(ValueError) as info:
        mountopts.parse_mount(value)
    assert str(info.value) == expected


def test_tmpfs_flags_like_docker(capture: tuple[_Server, dict[str, str]]) -> None:
    values = ["/run", "/tmp:rw,size=1g", "/a:b:c", "/run:size=2m"]
    sent = docker_sends(capture, [a for v in values for a in ("--tmpfs", v)])
    assert mountopts.split_tmpfs(values) == sent["HostConfig"]["Tmpfs"]


def test_csv_records() -> None:
    assert mountopts.csv_record("a,b") == ["a", "b"]
    assert mountopts.csv_record('"a,b",c') == ["a,b", "c"]
    assert mountopts.csv_record('"x""y"') == ['x"y']
    assert mountopts.csv_record("a,") == ["a", ""]
    assert mountopts.csv_record("a\nb,c") == ["a"]
    assert mountopts.csv_record('"a\nb",c') == ["a\nb", "c"]
    assert mountopts.csv_record("a,b\r") == ["a", "b"]


def test_relative_mount_source_is_made_absolute(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert mountopts.parse_mount("type=bind,src=.,dst=/x")["Source"] == str(tmp_path)
    binds, _ = mountopts.split_volumes(["./a/../b:/x"])
    assert binds == [os.path.join(str(tmp_path), "b") + ":/x"]
    assert json.dumps(mountopts.parse_mount("dst=/x")) == (
        '{"Type": "volume", "Target": "/x"}')
