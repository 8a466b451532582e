"""export_tree (docker export) on plain trees, mounts and a real container root.

test_diff_docker.py compares it with Docker 20.10's own export; these
tests check its rules one by one. Needs root (mknod, mount).
"""

from __future__ import annotations

import io
import os
import socket
import subprocess
import tarfile
import threading
from pathlib import Path

import pytest
from support.images import OfflineImages

from ketch.layers.export import export_tree, open_regular

from .tars import require_root
from .test_diff_helpers import OPS, busybox_container, link_groups, run_in_root, tar_entries


@pytest.fixture
def root(tmp_path: Path) -> Path:
    require_root()
    path = tmp_path / "root"
    path.mkdir()
    return path


def export(root: Path) -> bytes:
    out = io.BytesIO()
    export_tree(root, out)
    return out.getvalue()


def test_a_plain_tree(root: Path, tmp_path: Path) -> None:
    (root / "etc").mkdir()
    (root / "etc/passwd").write_bytes(b"root\n")
    os.link(root / "etc/passwd", root / "etc/passwd-")
    os.symlink(tmp_path, root / "host")  # a way out, if it were followed
    os.mknod(root / "wh", 0o600 | 0o020000, os.makedev(0, 0))  # written as it is
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(root / "etc/sock"))
    data = export(root)
    got = [(e.name, e.type, e.linkname, e.dev) for e, _ in tar_entries(data)]
    assert got == [
        ("etc", tarfile.DIRTYPE, "", (0, 0)),
        ("etc/passwd", tarfile.REGTYPE, "", (0, 0)),
        ("etc/passwd-", tarfile.LNKTYPE, "etc/passwd", (0, 0)),
        ("host", tarfile.SYMTYPE, str(tmp_path), (0, 0)),
        ("wh", tarfile.CHRTYPE, "", (0, 0)),
    ]
    assert export(root) == data


def test_other_mounts_are_not_entered(root: Path) -> None:
    (root / "mnt").mkdir()
    (root / "z").write_bytes(b"after the mount")
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,mode=0700", "tmpfs",
                    str(root / "mnt")], check=True)
    try:
        (root / "mnt/inside").write_bytes(b"not ours")
        names = [e.name for e, _ in tar_entries(export(root))]
    finally:
        subprocess.run(["umount", str(root / "mnt")], check=True)
    assert names == ["mnt", "z"]


def test_files_swapped_for_fifos_or_links_are_not_opened(root: Path) -> None:
    os.mkfifo(root / "fifo")
    os.symlink("/etc/passwd", root / "link")
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    result: list[object] = []
    try:
        worker = threading.Thread(target=lambda: result.extend(
            [open_regular(fd, b"fifo"), open_regular(fd, b"link"), open_regular(fd, b"none")]))
        worker.start()
        worker.join(10)
        assert not worker.is_alive(), "opening a FIFO blocked"
    finally:
        os.close(fd)
    assert result == [None, None, None]


def test_a_container_root_is_exported_whole(tmp_path: Path,
                                             offline_images: OfflineImages) -> None:
    with busybox_container(tmp_path, offline_images) as ctr:
        merged = ctr.paths.merged
        run_in_root(merged, OPS)
        data = export(merged)
        on_disk = sorted(str(p.relative_to(merged)) for p in merged.rglob("*"))
        groups = link_groups(merged)
    entries = [e for e, _ in tar_entries(data)]
    assert sorted(e.name for e in entries) == on_disk
    assert sum(1 for e in entries if e.type == tarfile.LNKTYPE) == sum(len(g) - 1 for g in groups)
    assert [e.name for e in entries if e.name.startswith("usr")] == ["usr", "usr/fresh"]
