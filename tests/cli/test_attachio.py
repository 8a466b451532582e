"""The pieces under attach/exec/run, without a daemon: frame decoding, detach keys,
the two-way copy over a real socket pair, and the upgrade handshake against a
small server on a real unix socket."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ketch.cli.attachio import (
    DEFAULT_DETACH_KEYS,
    Detached,
    EscapeDetector,
    Streamer,
    detach_key_bytes,
)
from ketch.cli.containeropts import (
    OptionError,
    mem_swap_bytes,
    nano_cpus,
    ram_in_bytes,
    read_kv_file,
)
from ketch.client import Client, UpgradeFailed
from ketch.client.errors import StreamError
from ketch.client.hijack import HijackedStream, hijack
from ketch.client.stdcopy import FrameDecoder, encode_frame


def test_frames_are_decoded_whatever_the_split() -> None:
    data = (encode_frame(1, b"out\n") + encode_frame(2, b"err\n") + encode_frame(1, b"")
            + encode_frame(1, b"x" * 70000))
    for size in (1, 3, 8, 9, 4096, len(data)):
        decoder = FrameDecoder()
        got: list[tuple[int, bytes]] = []
        for i in range(0, len(data), size):
            got += decoder.feed(data[i:i + size])
        assert got and decoder.pending == 0
        joined: dict[int, bytes] = {}
        for stream, payload in got:
            joined[stream] = joined.get(stream, b"") + payload
        assert joined == {1: b"out\n" + b"x" * 70000, 2: b"err\n"}


def test_daemon_errors_in_the_stream_are_raised() -> None:
    with pytest.raises(StreamError, match="error from daemon in stream: boom"):
        FrameDecoder().feed(encode_frame(3, b"boom"))
    with pytest.raises(StreamError, match="Unrecognized input header: 7"):
        FrameDecoder().feed(encode_frame(7, b"?"))


@pytest.mark.parametrize(("spec", "keys"), [
    ("ctrl-p,ctrl-q", DEFAULT_DETACH_KEYS),
    ("ctrl-@,ctrl-a,ctrl-z,ctrl-[,ctrl-\\,ctrl-],ctrl-^,ctrl-_", bytes(
        [0, 1, 26, 27, 28, 29, 30, 31])),
    ("a,b,DEL", b"ab\x7f"),
])
def test_detach_keys_are_parsed_as_docker_does(spec: str, keys: bytes) -> None:
    assert detach_key_bytes(spec) == keys


def test_bad_detach_keys_are_refused() -> None:
    with pytest.raises(ValueError, match="Unknown character: 'ctrl-1'"):
        detach_key_bytes("ctrl-p,ctrl-1")


def test_escape_sequence_found_across_reads_and_partial_ones_passed_on() -> None:
    det = EscapeDetector(b"\x10\x11")
    assert det.feed(b"ab\x10") == (b"ab", False)  # held back: may start the sequence
    assert det.feed(b"c") == (b"\x10c", False)  # it did not: passed on, in order
    assert det.feed(b"\x10\x10") == (b"\x10", False)
    assert det.feed(b"\x11tail") == (b"", True)
    det = EscapeDetector(b"\x18x")
    assert det.feed(b"hello\x18x") == (b"hello", True)
    assert EscapeDetector(b"").feed(b"\x10\x11") == (b"\x10\x11", False)


class Pipe:
    """An OS pipe standing in for stdin (so the fd path is exercised)."""

    def __init__(self) -> None:
        self.r, self.w = os.pipe()
        self.reader = os.fdopen(self.r, "rb", buffering=0)

    def fileno(self) -> int:
        return self.r

    def write(self, data: bytes) -> None:
        os.write(self.w, data)

    def close_writer(self) -> None:
        os.close(self.w)


@pytest.fixture
def pair() -> Iterator[tuple[HijackedStream, socket.socket]]:
    ours, theirs = socket.socketpair()
    conn = HijackedStream(ours, b"", "application/vnd.docker.multiplexed-stream")
    yield conn, theirs
    conn.close()
    theirs.close()


def _collector() -> tuple[list[bytes], object]:
    chunks: list[bytes] = []
    return chunks, chunks.append


def test_streamer_demultiplexes_and_half_closes_on_stdin_eof(
        pair: tuple[HijackedStream, socket.socket]) -> None:
    conn, daemon = pair
    stdin = Pipe()
    out, write_out = _collector()
    err, write_err = _collector()
    received: list[bytes] = []

    def fake_daemon() -> None:
        daemon.sendall(encode_frame(1, b"hello ") + encode_frame(2, b"warn\n"))
        while True:  # read stdin until the client half-closes
            data = daemon.recv(65536)
            if not data:
                break
            received.append(data)
        daemon.sendall(encode_frame(1, b"after eof\n"))  # output continues after EOF
        daemon.close()

    thread = threading.Thread(target=fake_daemon)
    thread.start()
    streamer = Streamer(conn, stdin=stdin, stdout=write_out,  # type: ignore[arg-type]
                        stderr=write_err, tty=False)  # type: ignore[arg-type]
    streamer.start()
    stdin.write(b"typed input")
    stdin.close_writer()
    assert streamer.wait(10)
    thread.join(10)
    streamer.close()
    assert streamer.result is None
    assert b"".join(out) == b"hello after eof\n"
    assert b"".join(err) == b"warn\n"
    assert b"".join(received) == b"typed input"


def test_streamer_detaches_on_the_keys_with_a_tty(
        pair: tuple[HijackedStream, socket.socket]) -> None:
    conn, daemon = pair
    stdin = Pipe()
    out, write_out = _collector()
    notify = threading.Event()
    streamer = Streamer(conn, stdin=stdin, stdout=write_out,  # type: ignore[arg-type]
                        stderr=write_out, tty=True, notify=notify)  # type: ignore[arg-type]
    streamer.start()
    daemon.sendall(b"raw \x1b[1mtty\x1b[0m output\r\n")
    deadline = time.monotonic() + 10
    while not out and time.monotonic() < deadline:  # copied as it comes, unframed
        time.sleep(0.01)
    stdin.write(b"ls\r\x10")
    stdin.write(b"\x11never sent")
    assert notify.wait(10) and streamer.done
    assert isinstance(streamer.result, Detached)
    assert str(streamer.result) == "read escape sequence"
    daemon.settimeout(5)
    assert daemon.recv(100) == b"ls\r"
    streamer.close()
    assert b"".join(out).startswith(b"raw \x1b[1mtty")


def test_streamer_without_stdin_ends_with_the_output_and_can_be_cancelled(
        pair: tuple[HijackedStream, socket.socket]) -> None:
    conn, daemon = pair
    out, write_out = _collector()
    streamer = Streamer(conn, stdin=None, stdout=write_out, stderr=None,  # type: ignore[arg-type]
                        tty=True)
    streamer.start()
    daemon.settimeout(5)
    assert daemon.recv(10) == b""  # no stdin: the write side is closed at once
    daemon.sendall(b"partial")
    assert not streamer.wait(0.3)
    streamer.cancel()
    assert streamer.wait(5) and streamer.result is None
    streamer.close()
    assert b"".join(out) == b"partial"


class UpgradeServer:
    """Answers one request on a unix socket with canned bytes; keeps what it received."""

    def __init__(self, path: Path, answer: bytes, then: bytes = b"") -> None:
        self.request = b""
        self.after = b""
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(str(path))
        self.sock.listen(1)
        self.thread = threading.Thread(target=self._serve, args=(answer, then), daemon=True)
        self.thread.start()

    def _serve(self, answer: bytes, then: bytes) -> None:
        conn, _ = self.sock.accept()
        with conn:
            while b"\r\n\r\n" not in self.request:
                self.request += conn.recv(4096)
            conn.sendall(answer)
            if then:
                conn.sendall(then)
            conn.shutdown(socket.SHUT_WR)
            while True:
                data = conn.recv(4096)
                if not data:
                    return
                self.after += data


def test_upgrade_handshake_keeps_stream_bytes_sent_with_the_headers(workdir: Path) -> None:
    head = (b"HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.raw-stream\r\n"
            b"Connection: Upgrade\r\nUpgrade: tcp\r\n\r\nfirst bytes")
    server = UpgradeServer(workdir / "u.sock", head, b" and more")
    client = Client(f"unix://{workdir / 'u.sock'}", version="1.41")
    conn = hijack(client, "/containers/x/attach", params={"stream": "1", "stdin": "1"})
    assert conn.content_type == "application/vnd.docker.raw-stream"
    data = b""
    while True:
        chunk = conn.recv()
        if not chunk:
            break
        data += chunk
    conn.sendall(b"stdin data")
    conn.close_write()
    server.thread.join(10)
    conn.close()
    assert data == b"first bytes and more"
    assert server.after == b"stdin data"
    lines = server.request.decode().split("\r\n")
    assert lines[0] == "POST /v1.41/containers/x/attach?stdin=1&stream=1 HTTP/1.1"
    assert "Connection: Upgrade" in lines and "Upgrade: tcp" in lines


def test_a_refused_upgrade_is_reported_as_docker_does(workdir: Path) -> None:
    answer = (b"HTTP/1.1 409 Conflict\r\nContent-Type: application/json\r\n"
              b"Content-Length: 27\r\n\r\n{\"message\":\"is not running\"}")
    UpgradeServer(workdir / "r.sock", answer)
    client = Client(f"unix://{workdir / 'r.sock'}", version="1.41")
    with pytest.raises(UpgradeFailed, match=r"^unable to upgrade to tcp, received 409$"):
        hijack(client, "/exec/x/start", body={"Detach": False, "Tty": False})


@pytest.mark.parametrize(("text", "value"), [
    ("0", 0), ("10", 10), ("10b", 10), ("10B", 10), ("1k", 1024), ("1KB", 1024),
    ("1kib", 1024), ("1.5g", 1610612736), ("64m", 64 << 20), ("2 m", 2 << 20),
    ("1t", 1 << 40), ("1p", 1 << 50),
])
def test_ram_sizes(text: str, value: int) -> None:
    assert ram_in_bytes(text) == value


@pytest.mark.parametrize(("text", "message"), [
    ("1x", "invalid suffix: 'x'"), ("1kx", "invalid suffix: 'kx'"),
    ("1bb", "invalid suffix: 'bb'"), ("1kbbb", "invalid suffix: 'kbbb'"),
    ("m", "invalid size: 'm'"), ("1.2.3", 'strconv.ParseFloat: parsing "1.2.3": invalid syntax'),
])
def test_bad_ram_sizes(text: str, message: str) -> None:
    with pytest.raises(ValueError) as info:
        ram_in_bytes(text)
    assert str(info.value) == message


def test_swap_and_cpus() -> None:
    assert mem_swap_bytes("-1") == -1
    assert nano_cpus("1.5") == 1_500_000_000
    assert nano_cpus("3/2") == 1_500_000_000
    with pytest.raises(ValueError, match="value is too precise"):
        nano_cpus("0.0000000001")
    with pytest.raises(ValueError, match="failed to parse x as a rational number"):
        nano_cpus("x")


def test_env_files(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KT_SET", "from env")
    path = workdir / "env"
    path.write_bytes(b"\xef\xbb\xbfA=1\r\n\t# comment\n\n  B=x y \nKT_SET\nKT_UNSET\nC=")
    assert read_kv_file(str(path), lookup=True) == ["A=1", "B=x y ", "KT_SET=from env", "C="]
    assert read_kv_file(str(path), lookup=False) == ["A=1", "B=x y ", "C="]
    path.write_bytes(b"B =x\n")
    with pytest.raises(OptionError, match="variable 'B ' contains whitespaces"):
        read_kv_file(str(path), lookup=True)
