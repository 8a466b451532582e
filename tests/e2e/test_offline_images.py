"""The offline images themselves: reproducible, and real root filesystems."""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
from pathlib import Path

from support.images import OfflineImages, build_offline_images


def test_tarballs_are_reproducible(offline_images: OfflineImages, tmp_path: Path) -> None:
    again = build_offline_images(tmp_path / "again")
    for name in ("hello-world", "busybox"):
        assert again.tar(name).read_bytes() == offline_images.tar(name).read_bytes(), name


def test_hello_is_static_and_greets(offline_images: OfflineImages) -> None:
    binary = offline_images.hello_binary
    data = binary.read_bytes()
    assert len(data) < 4096
    assert data[:5] == b"\x7fELF\x02"  # ELF, 64-bit
    # No PT_INTERP (3) or PT_DYNAMIC (2) program header: nothing to load.
    phoff = int.from_bytes(data[32:40], "little")
    phentsize = int.from_bytes(data[54:56], "little")
    phnum = int.from_bytes(data[56:58], "little")
    types = {
        int.from_bytes(data[phoff + i * phentsize : phoff + i * phentsize + 4], "little")
        for i in range(phnum)
    }
    assert types.isdisjoint({2, 3}), types
    run = subprocess.run([str(binary)], capture_output=True, check=False, env={})
    assert run.returncode == 0
    assert run.stdout.startswith(b"\nHello from ketch!\n")
    assert run.stderr == b""
    with tarfile.open(offline_images.hello_world) as tar:
        [member] = tar.getmembers()
    assert (member.name, member.mode, member.uid, member.mtime) == ("hello", 0o755, 0, 1704067200)


def test_busybox_rootfs_layout(offline_images: OfflineImages) -> None:
    with tarfile.open(offline_images.busybox) as tar:
        members = {m.name.rstrip("/"): m for m in tar.getmembers()}
        passwd = tar.extractfile(members["etc/passwd"]).read().decode()  # type: ignore[union-attr]
        group = tar.extractfile(members["etc/group"]).read().decode()  # type: ignore[union-attr]
    assert members["bin/busybox"].isreg()
    assert members["bin/sh"].islnk() and members["bin/sh"].linkname == "bin/busybox"
    assert members["tmp"].isdir() and members["tmp"].mode == 0o1777
    assert members["root"].mode == 0o700
    for d in ("dev", "proc", "sys", "etc", "home", "var", "usr"):
        assert members[d].isdir(), d
    assert passwd.startswith("root:x:0:0:root:/root:/bin/sh\n")
    assert "nobody:x:65534:65534:" in passwd
    assert "nogroup:x:65534:" in group
    assert {m.uid for m in members.values()} == {0}
    names = list(members)
    assert names.index("bin/busybox") < min(
        i for i, n in enumerate(names) if members[n].islnk()
    )  # a hard link never precedes its target


def test_busybox_rootfs_runs(offline_images: OfflineImages, tmp_path: Path) -> None:
    """Unpacked, it is a working system: a shell, applets, users."""
    root = tmp_path / "rootfs"
    root.mkdir()
    with tarfile.open(offline_images.busybox) as tar:
        tar.extractall(root, filter="fully_trusted")
    script = "echo hi > /tmp/f && cat /tmp/f && id -un nobody && id -gn nobody && ls /bin | wc -l"
    chroot = shutil.which("chroot") or "/usr/sbin/chroot"
    run = subprocess.run(
        [chroot, str(root), "/bin/sh", "-c", script],
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": "/bin"},
    )
    assert run.returncode == 0, run.stderr
    lines = run.stdout.split()
    assert lines[:3] == ["hi", "nobody", "nogroup"]
    assert int(lines[3]) > 100
    assert os.stat(root / "bin" / "sh").st_ino == os.stat(root / "bin" / "busybox").st_ino
