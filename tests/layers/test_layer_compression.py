"""Compression detection and streaming decompression of layer blobs."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import subprocess
import sys
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest
import zstandard

from ketch.errors import InvalidArgument
from ketch.layers.compression import Compression, detect_compression, open_decompressed

from .tars import TarBuilder


def _zstd(data: bytes) -> bytes:
    return zstandard.ZstdCompressor(write_checksum=True).compress(data)


COMPRESSORS: dict[Compression, Callable[[bytes], bytes]] = {
    Compression.NONE: lambda data: data,
    Compression.GZIP: gzip.compress,
    Compression.BZIP2: bz2.compress,
    Compression.XZ: lzma.compress,
    Compression.ZSTD: _zstd,
}


class Trickle(io.RawIOBase):
    """A source that returns at most 7 bytes a read, like a slow socket."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        chunk = self._data.read(min(7, len(buffer)))
        buffer[: len(chunk)] = chunk
        return len(chunk)


@pytest.fixture(scope="module")
def tar_bytes() -> bytes:
    tar = TarBuilder()
    for i in range(50):
        tar.file(f"dir/file{i}", bytes([i]) * (i * 1000))
    return tar.data()


@pytest.mark.parametrize("kind", list(Compression), ids=lambda k: k.value)
def test_each_format_is_detected_and_undone(kind: Compression, tar_bytes: bytes) -> None:
    blob = COMPRESSORS[kind](tar_bytes)
    assert detect_compression(blob[:512]) is kind
    assert open_decompressed(io.BytesIO(blob)).read() == tar_bytes
    # short reads from the source change nothing
    assert open_decompressed(Trickle(blob)).read() == tar_bytes  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", [Compression.GZIP, Compression.BZIP2, Compression.XZ,
                                  Compression.ZSTD], ids=lambda k: k.value)
def test_concatenated_streams_are_read_whole(kind: Compression, tar_bytes: bytes) -> None:
    half = len(tar_bytes) // 2
    compress = COMPRESSORS[kind]
    blob = compress(tar_bytes[:half]) + compress(tar_bytes[half:])
    assert open_decompressed(io.BytesIO(blob)).read() == tar_bytes


@pytest.mark.parametrize("kind", [Compression.GZIP, Compression.BZIP2, Compression.XZ,
                                  Compression.ZSTD], ids=lambda k: k.value)
def test_truncated_stream_is_invalid(kind: Compression, tar_bytes: bytes) -> None:
    blob = COMPRESSORS[kind](tar_bytes)
    reader = open_decompressed(io.BytesIO(blob[: len(blob) * 2 // 3]))
    with pytest.raises(InvalidArgument, match=f"corrupt {kind.value} layer stream"):
        reader.read()


@pytest.mark.parametrize("kind", [Compression.GZIP, Compression.BZIP2, Compression.XZ,
                                  Compression.ZSTD], ids=lambda k: k.value)
def test_corrupt_stream_is_invalid(kind: Compression, tar_bytes: bytes) -> None:
    blob = bytearray(COMPRESSORS[kind](tar_bytes))
    for i in range(len(blob) // 2, len(blob) // 2 + 16):
        blob[i] ^= 0x5A
    with pytest.raises(InvalidArgument, match=f"corrupt {kind.value} layer stream"):
        open_decompressed(io.BytesIO(bytes(blob))).read()


@pytest.mark.parametrize(
    "head",
    [b"hello world" * 60, b"PK\x03\x04" + bytes(600), b"\x1f\x8b", b"x"],
    ids=["text", "zip", "gzip-magic-cut", "one-byte"],
)
def test_unknown_content_is_rejected_up_front(head: bytes) -> None:
    with pytest.raises(InvalidArgument, match="unrecognised layer compression"):
        open_decompressed(io.BytesIO(head))


def test_empty_and_zero_streams_are_plain_tar() -> None:
    assert detect_compression(b"") is Compression.NONE
    assert open_decompressed(io.BytesIO(b"")).read() == b""
    assert detect_compression(bytes(512)) is Compression.NONE


def test_pre_posix_tar_is_recognised_by_checksum() -> None:
    header = bytearray(TarBuilder().file("a", b"x").data()[:512])
    header[257:265] = bytes(8)  # drop the ustar magic and version, as v7 tar
    header[148:156] = b" " * 8
    header[148:156] = b"%06o\0 " % sum(header)
    assert detect_compression(bytes(header)) is Compression.NONE
    header[0] ^= 1  # now the checksum is wrong: not a tar
    with pytest.raises(InvalidArgument):
        detect_compression(bytes(header))


def test_source_errors_are_not_called_corruption() -> None:
    class Dropping(io.RawIOBase):
        def __init__(self) -> None:
            self._sent = False

        def readable(self) -> bool:
            return True

        def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
            if self._sent:
                raise ConnectionResetError("peer reset")
            self._sent = True
            head = gzip.compress(b"x" * 100_000)[:600]
            buffer[: len(head)] = head
            return len(head)

    with pytest.raises(ConnectionResetError):
        open_decompressed(Dropping()).read()  # type: ignore[arg-type]


def test_source_is_left_open() -> None:
    source = io.BytesIO(gzip.compress(b"data"))
    reader = open_decompressed(source)
    assert reader.read() == b"data"
    reader.close()
    assert not source.closed


def test_compressed_layer_unpacks_end_to_end(tmp_path: Path, tar_bytes: bytes) -> None:
    import os

    from ketch.layers.extract import extract_layer

    if os.geteuid() != 0:
        pytest.skip("layer extraction needs root")
    for kind in Compression:
        target = tmp_path / kind.value
        target.mkdir()
        blob = COMPRESSORS[kind](tar_bytes)
        result = extract_layer(open_decompressed(io.BytesIO(blob)), target)
        assert result.entries == 50
        assert (target / "dir/file49").read_bytes() == bytes([49]) * 49000


def test_zstandard_is_imported_only_for_zstd(tmp_path: Path) -> None:
    gz = tmp_path / "l.tar.gz"
    gz.write_bytes(gzip.compress(TarBuilder().file("a", b"1").data()))
    zst = tmp_path / "l.tar.zst"
    zst.write_bytes(_zstd(TarBuilder().file("a", b"1").data()))
    probe = (
        "import sys\n"
        "from ketch.layers.compression import open_decompressed\n"
        f"open_decompressed(open({str(gz)!r}, 'rb')).read()\n"
        "print('zstandard' in sys.modules)\n"
        f"open_decompressed(open({str(zst)!r}, 'rb')).read()\n"
        "print('zstandard' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["False", "True"]


def test_plain_tar_passes_through_tarfile(tar_bytes: bytes) -> None:
    with tarfile.open(fileobj=open_decompressed(io.BytesIO(tar_bytes)), mode="r|") as tf:
        assert sum(1 for _ in tf) == 50
