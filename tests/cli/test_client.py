"""The Engine API client: against the engine, and against a tiny HTTP server on a
unix socket that frames responses in the awkward ways real daemons may (JSON
objects split across chunks, several per chunk, no separators)."""

from __future__ import annotations

import io
import json
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ketch.cli.jsonmessage import display
from ketch.client import Client, ConnectionFailed, StreamError, UnsupportedHost, encode_filters
from ketch.client.client import MAX_API_VERSION, version_tuple
from ketch.errors import InvalidArgument, NotFound

from .runner import Runner


class FakeDaemon:
    """Serves canned HTTP responses on a unix socket, one connection at a time,
    and records each request line, headers and (de-chunked) body it received."""

    def __init__(self, path: Path, respond: Callable[[str, bytes], list[bytes]]) -> None:
        self.path = path
        self.respond = respond
        self.requests: list[tuple[str, dict[str, str], bytes]] = []
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(str(path))
        self.sock.listen(8)
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    @property
    def host(self) -> str:
        return f"unix://{self.path}"

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                reader = conn.makefile("rb")
                line = reader.readline().decode().strip()
                headers: dict[str, str] = {}
                while True:
                    h = reader.readline().decode().strip()
                    if not h:
                        break
                    k, _, v = h.partition(":")
                    headers[k.strip().lower()] = v.strip()
                body = b""
                if headers.get("transfer-encoding") == "chunked":
                    while True:
                        size = int(reader.readline().strip(), 16)
                        if size == 0:
                            reader.readline()
                            break
                        body += reader.read(size)
                        reader.readline()
                elif "content-length" in headers:
                    body = reader.read(int(headers["content-length"]))
                self.requests.append((line, headers, body))
                for piece in self.respond(line, body):
                    conn.sendall(piece)

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def fake(workdir: Path) -> Iterator[Callable[..., FakeDaemon]]:
    made: list[FakeDaemon] = []

    def make(respond: Callable[[str, bytes], list[bytes]]) -> FakeDaemon:
        daemon = FakeDaemon(workdir / f"fake{len(made)}.sock", respond)
        made.append(daemon)
        return daemon

    yield make
    for daemon in made:
        daemon.close()


def chunked(*pieces: bytes, content_type: str = "application/json",
            status: str = "200 OK") -> list[bytes]:
    head = (f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nApi-Version: 1.45\r\n"
            "Transfer-Encoding: chunked\r\n\r\n").encode()
    return [head] + [f"{len(p):x}\r\n".encode() + p + b"\r\n" for p in pieces] + [b"0\r\n\r\n"]


def plain(body: bytes, status: str = "200 OK", content_type: str = "application/json",
          api: str = "1.45") -> list[bytes]:
    return [(f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nApi-Version: {api}\r\n"
             f"Content-Length: {len(body)}\r\n\r\n").encode() + body]


def test_json_stream_split_anywhere(fake: Callable[..., FakeDaemon]) -> None:
    messages = [{"status": "Loading layer", "id": "abc", "progressDetail": {}},
                {"stream": "Loaded image: x:1\n"}, {"aux": {"ID": "sha256:ü"}}]
    wire = "".join(json.dumps(m, ensure_ascii=False) + "\r\n" for m in messages).encode()
    pieces = [wire[i:i + 7] for i in range(0, len(wire), 7)]  # splits objects and ü's bytes

    def respond(line: str, body: bytes) -> list[bytes]:
        if "_ping" in line:
            return plain(b"OK", content_type="text/plain")
        return chunked(*pieces)

    daemon = fake(respond)
    client = Client(daemon.host)
    result = client.images.load(io.BytesIO(b"x" * 300_000), quiet=True)
    assert result.is_json and list(result.messages or []) == messages
    line, headers, body = daemon.requests[-1]
    assert line == "POST /v1.45/images/load?quiet=1 HTTP/1.1"
    assert headers["transfer-encoding"] == "chunked"
    assert headers["content-type"] == "application/x-tar"
    assert body == b"x" * 300_000


def test_objects_without_separators_and_errors_mid_stream(
        fake: Callable[..., FakeDaemon]) -> None:
    wire = (b'{"status":"a"}{"status":"b"}\n{"errorDetail":{"code":3,"message":"it broke"},'
            b'"error":"it broke"}\n{"status":"never"}')

    def respond(line: str, body: bytes) -> list[bytes]:
        return plain(b"OK", content_type="text/plain") if "_ping" in line else chunked(wire)

    client = Client(fake(respond).host)
    seen: list[str] = []
    with pytest.raises(StreamError) as info:
        for msg in client.images.import_image(io.BytesIO(b"tar"), repo="x:1",
                                              changes=["CMD sh", "ENV A=1"]):
            seen.append(msg["status"])
    assert seen == ["a", "b"]
    assert (str(info.value), info.value.code) == ("it broke", 3)


def test_version_negotiation_and_query_encoding(fake: Callable[..., FakeDaemon]) -> None:
    def respond(line: str, body: bytes) -> list[bytes]:
        if "_ping" in line:
            return plain(b"OK", content_type="text/plain", api="1.99")
        return plain(b"[]")

    daemon = fake(respond)
    client = Client(daemon.host)
    assert client.images.list(all=True, filters={"reference": ["b*", "a*"],
                                                 "dangling": ["true"]}) == []
    assert client.api_version == MAX_API_VERSION  # a newer daemon: our maximum
    assert daemon.requests[0][0] == "HEAD /_ping HTTP/1.1"
    line = daemon.requests[-1][0]
    filters = encode_filters({"reference": ["b*", "a*"], "dangling": ["true"]})
    assert filters == '{"dangling":{"true":true},"reference":{"a*":true,"b*":true}}'
    assert line.startswith("GET /v1.50/images/json?all=1&filters=")
    client.images.list()
    assert sum(1 for r in daemon.requests if "_ping" in r[0]) == 1  # negotiated once


def test_old_daemon_without_version_header(fake: Callable[..., FakeDaemon]) -> None:
    def respond(line: str, body: bytes) -> list[bytes]:
        if "_ping" in line:
            return [b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nOK"]
        return plain(b"{}")

    client = Client(fake(respond).host)
    assert client.api_version == "1.24"


def test_error_bodies(fake: Callable[..., FakeDaemon]) -> None:
    def respond(line: str, body: bytes) -> list[bytes]:
        if "_ping" in line:
            return plain(b"OK", content_type="text/plain")
        if "/images/a/json" in line:
            return plain(b'{"message":"No such image: a:latest\\n"}', "404 Not Found")
        if "/images/b/json" in line:
            return plain(b"plain text problem\n", "400 Bad Request", "text/plain")
        if "/images/c/json" in line:
            return [b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"]
        return plain(b"{}", "500 Internal Server Error")

    client = Client(fake(respond).host)
    with pytest.raises(NotFound, match=r"^No such image: a:latest$"):
        client.images.inspect("a")
    with pytest.raises(InvalidArgument, match=r"^plain text problem$"):
        client.images.inspect("b")
    with pytest.raises(NotFound, match="request returned 404 Not Found for API route"):
        client.images.inspect("c")
    with pytest.raises(Exception, match=r"API returned a 500 \(Internal Server Error\) but "
                                        "provided no error-message"):
        client.images.inspect("d")


def test_unreachable_and_unsupported_hosts(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    missing = f"unix://{workdir}/none.sock"
    with pytest.raises(ConnectionFailed, match=f"^Cannot connect to the ketch daemon at "
                                               f"{missing}. Is the ketch daemon running\\?$"):
        Client(missing).images.list()
    not_listening = workdir / "stale.sock"
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(str(not_listening))
    stale.close()  # bound, never listened: connection refused
    with pytest.raises(ConnectionFailed, match="Cannot connect to the ketch daemon"):
        Client(f"unix://{not_listening}").system.version()
    with pytest.raises(UnsupportedHost, match="not supported yet"):
        Client("tcp://127.0.0.1:2375")
    monkeypatch.setenv("KETCH_HOST", "unix:///from/env.sock")
    assert Client().host == "unix:///from/env.sock"
    monkeypatch.delenv("KETCH_HOST")
    assert Client().host == "unix:///run/ketch.sock"
    assert Client("unix://").socket_path == "/run/ketch.sock"


def test_against_the_engine(runner: Runner, engine_host: str, workdir: Path) -> None:
    client = Client(engine_host)
    server = client.system.ping()["Api-Version"]
    expected = server if version_tuple(server) < version_tuple(MAX_API_VERSION) else \
        MAX_API_VERSION
    assert client.api_version == expected
    assert client.system.version()["ApiVersion"] == server
    assert "Images" in client.system.info() and "LayersSize" in client.system.df()
    listed = client.images.list(filters={"reference": ["ketchtest/busybox"]})
    assert sorted(listed[0]["RepoTags"]) == ["ketchtest/busybox:1.0", "ketchtest/busybox:latest"]
    doc = client.images.inspect("ketchtest/busybox:1.0")
    assert doc["Config"]["Cmd"] == ["sh"]
    assert json.loads(client.images.inspect_raw("ketchtest/busybox")) == doc
    assert [h["Comment"] for h in client.images.history("ketchtest/busybox")] == \
        ["imported from busybox-static"]
    with pytest.raises(NotFound):
        client.images.inspect("ketchtest/nosuch")
    archive = workdir / "saved.tar"
    with archive.open("wb") as out:
        size = client.images.save(["ketchtest/busybox:1.0"], out)
    assert size == archive.stat().st_size > 1_000_000
    client.images.tag("ketchtest/busybox:1.0", "docker.io/ketchtest/client", "t1")
    assert client.images.remove("ketchtest/client:t1") == [
        {"Untagged": "ketchtest/client:t1"}]
    with archive.open("rb") as src:
        result = client.images.load(src, quiet=True)
        messages = list(result.messages or [])
    assert {"stream": "Loaded image: ketchtest/busybox:1.0\n"} in messages


def test_events_end_at_until(runner: Runner, engine_host: str) -> None:
    client = Client(engine_host)
    since = str(int(time.time()) - 1)
    client.images.tag("ketchtest/busybox", "docker.io/ketchtest/client-events", "e1")
    client.images.remove("ketchtest/client-events:e1")
    time.sleep(1.1)
    events = list(client.system.events(since=since, until=str(int(time.time())),
                                       filters={"type": ["image"]}))
    tagged = [e for e in events if e["Action"] == "tag"
              and e["Actor"]["Attributes"].get("name") == "ketchtest/client-events:e1"]
    assert len(tagged) == 1
    later = events[events.index(tagged[0]) + 1:]
    assert any(e["Action"] == "untag" and e["Actor"]["ID"] == tagged[0]["Actor"]["ID"]
               for e in later)


def test_display_like_docker() -> None:
    messages: list[dict[str, Any]] = [
        {"status": "Loading layer", "progressDetail": {"current": 100, "total": 1000},
         "id": "abc123"},
        {"status": "Loading layer", "progressDetail": {}, "id": "abc123"},
        {"stream": "Loaded image: x:1\n"},
        {"aux": {"ID": "sha256:1"}},
        {"status": "sha256:1234"},
        {"status": "Done", "id": "x", "timeNano": 1577934245_000000007},
    ]
    out = io.StringIO()
    display(iter(messages), out, is_terminal=False)
    lines = out.getvalue().split("\n")
    # progress bars are dropped off a terminal; aux is never shown
    assert lines[:3] == ["abc123: Loading layer", "Loaded image: x:1", "sha256:1234"]
    assert re.fullmatch(r"2020-01-0\dT\d\d:\d\d:05\.000000007(Z|[+-]\d\d:\d\d) x: Done",
                        lines[3])
    term = io.StringIO()
    display(iter(messages[:3]), term, is_terminal=True)
    text = term.getvalue()
    bar = "[=====>" + " " * 45 + "] "
    assert text.startswith("\n\x1b[1A\x1b[2K\rabc123: Loading layer " + bar + "    100B/1kB\r")
    assert text.endswith("Loaded image: x:1\n")
