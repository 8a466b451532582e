"""A real root filesystem, made from Debian's busybox-static, round-trips.

The rootfs is laid out as the busybox image is (the binary in /bin, every
applet a symlink to it), gzip-compressed like a registry layer, decompressed
by open_decompressed and stored by LayerStore. Then the extracted tree is
checked file by file and a shell from it is run under chroot.
"""

from __future__ import annotations

import gzip
import io
import os
import posixpath
import stat
import subprocess
from pathlib import Path

import pytest

from ketch.layers.compression import open_decompressed
from ketch.layers.store import LayerStore

from .tars import TarBuilder, require_root

BUSYBOX = Path("/bin/busybox")
CHAIN = "sha256:" + "b" * 64
PASSWD = b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n"


def _applets() -> list[str]:
    listing = subprocess.run([str(BUSYBOX), "--list-full"], capture_output=True, text=True,
                             check=True).stdout.split()
    return sorted({p for p in listing if p != "bin/busybox"})


def _rootfs() -> bytes:
    tar = TarBuilder().dir("./")
    for d in ("bin", "sbin", "usr", "usr/bin", "usr/sbin", "etc", "root", "home", "dev"):
        tar.dir(d, mode=0o700 if d == "root" else 0o755)
    tar.dir("tmp", mode=0o1777).dir("home/nobody", uid=65534, gid=65534)
    tar.file("bin/busybox", BUSYBOX.read_bytes(), mode=0o755)
    for applet in _applets():
        target = posixpath.relpath("bin/busybox", posixpath.dirname(applet))
        tar.symlink(applet, target)
    tar.file("etc/passwd", PASSWD).device("dev/null", b"3", 1, 3, mode=0o666)
    return tar.data()


@pytest.fixture(scope="module")
def rootfs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require_root()
    if not BUSYBOX.exists():
        pytest.skip("busybox-static is not installed (`make deps` installs it)")
    store = LayerStore(tmp_path_factory.mktemp("busybox") / "layers")
    blob = gzip.compress(_rootfs())
    result = store.create(CHAIN, open_decompressed(io.BytesIO(blob)))
    assert result.size == BUSYBOX.stat().st_size + len(PASSWD)
    return store.diff_dir(CHAIN)


def test_tree_matches_the_busybox_image_layout(rootfs: Path) -> None:
    assert (rootfs / "bin/busybox").read_bytes() == BUSYBOX.read_bytes()
    assert stat.S_IMODE(os.lstat(rootfs / "bin/busybox").st_mode) == 0o755
    for applet in _applets():
        path = rootfs / applet
        assert path.is_symlink(), applet
        assert path.resolve() == (rootfs / "bin/busybox").resolve(), applet
    assert stat.S_IMODE(os.lstat(rootfs / "tmp").st_mode) == 0o1777
    assert stat.S_IMODE(os.lstat(rootfs / "root").st_mode) == 0o700
    assert os.lstat(rootfs / "home/nobody").st_uid == 65534
    assert stat.S_ISCHR(os.lstat(rootfs / "dev/null").st_mode)


def test_shell_from_the_layer_runs_in_a_chroot(rootfs: Path) -> None:
    script = ("echo hello from $(basename $0); ls /usr/bin | wc -l; id -un; "
              "cat /etc/hostname 2>&1 || true")
    out = subprocess.run(["chroot", str(rootfs), "/bin/sh", "-c", script],
                         capture_output=True, text=True, timeout=30,
                         env={"PATH": "/bin:/sbin:/usr/bin:/usr/sbin"})
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == "hello from sh"
    assert int(lines[1]) == sum(1 for a in _applets() if a.startswith("usr/bin/"))
    assert lines[2] == "root"
    assert "No such file" in lines[3]
