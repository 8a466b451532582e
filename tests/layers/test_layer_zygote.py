"""Extractions are forked from one pre-started unpacker (the zygote): results
equal, a dead zygote is replaced, a failing source stops its child."""

from __future__ import annotations

import io
import os
import signal
import time
from pathlib import Path

import pytest

from ketch.layers import extract
from ketch.layers.extract import extract_layer

from .tars import TarBuilder, require_root


@pytest.fixture(autouse=True)
def _root() -> None:
    require_root()


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/children") as f:
            found += [int(c) for c in f.read().split()]
    return found


def _settled(pid: int) -> list[int]:
    """The zygote's children once finished ones are gone (reaped by the kernel)."""
    deadline = time.monotonic() + 5
    while (left := _children(pid)) and time.monotonic() < deadline:
        time.sleep(0.01)
    return left


def _zygote_pid() -> int:
    proc = extract._ZYGOTE._proc
    assert proc is not None and proc.poll() is None
    return proc.pid


def test_extractions_are_forked_by_the_zygote(tmp_path: Path) -> None:
    data = TarBuilder().dir("etc").file("etc/a", b"one").symlink("b", "etc/a").data()
    (tmp_path / "1").mkdir()
    extract_layer(io.BytesIO(data), tmp_path / "1")
    zygote = _zygote_pid()
    (tmp_path / "layer.tar").write_bytes(data)
    for n in range(2, 6):
        (tmp_path / str(n)).mkdir()
        source = tmp_path / "layer.tar" if n % 2 else io.BytesIO(data)
        result = extract_layer(source, tmp_path / str(n))
        assert result.entries == 3
        assert (tmp_path / str(n) / "etc" / "a").read_bytes() == b"one"
        assert os.readlink(tmp_path / str(n) / "b") == "etc/a"
    assert _zygote_pid() == zygote
    assert _settled(zygote) == []


def test_a_dead_zygote_is_replaced(tmp_path: Path) -> None:
    data = TarBuilder().file("f", b"x").data()
    (tmp_path / "a").mkdir()
    extract_layer(io.BytesIO(data), tmp_path / "a")
    old = _zygote_pid()
    os.kill(old, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while extract._ZYGOTE._proc is not None and extract._ZYGOTE._proc.poll() is None:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    (tmp_path / "b").mkdir()
    assert extract_layer(io.BytesIO(data), tmp_path / "b").entries == 1
    assert (tmp_path / "b" / "f").read_bytes() == b"x"
    assert _zygote_pid() != old


class _Failing(io.RawIOBase):
    """A tar that breaks off with an I/O error after its first header."""

    def __init__(self, data: bytes) -> None:
        self._data = data[:512]

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1, /) -> bytes:
        if self._data:
            chunk, self._data = self._data, b""
            return chunk
        raise ConnectionResetError("the client went away")


def test_a_failing_source_stops_the_child(tmp_path: Path) -> None:
    data = TarBuilder().file("big", os.urandom(1 << 20)).data()
    (tmp_path / "t").mkdir()
    extract_layer(io.BytesIO(b""), tmp_path / "t")  # the zygote is up
    with pytest.raises(ConnectionResetError):
        extract_layer(_Failing(data), tmp_path / "t")  # type: ignore[arg-type]
    assert _settled(_zygote_pid()) == []
