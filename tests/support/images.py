"""The offline test images: build the rootfs tarballs, import them anywhere.

``scripts/mkimages`` writes ``hello-world.tar`` and ``busybox.tar``
reproducibly, so their sha256 is also the layer diffID that any engine
must compute when it imports them. Importing goes through the real docker
CLI, so it works the same on ketchd and on the reference dockerd.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path

from .dockercli import Result, docker

REPO = Path(__file__).resolve().parents[2]
MKIMAGES = REPO / "scripts" / "mkimages"

#: The CMD each image gets at import, as ``docker import --change`` takes it.
IMAGE_CMDS = {
    "hello-world": '["/hello"]',
    "busybox": '["sh"]',
}


@dataclass(frozen=True)
class OfflineImages:
    """Where the tarballs are, and what is known about them in advance."""

    dir: Path
    hello_world: Path
    busybox: Path
    hello_binary: Path

    def tar(self, name: str) -> Path:
        return {"hello-world": self.hello_world, "busybox": self.busybox}[name]

    def content_size(self, name: str) -> int:
        """The size Docker reports for the image's one layer.

        It is the sum of the lengths of regular files (a hard-linked file
        once) and of symlink targets; directories and devices count 0.
        """
        with tarfile.open(self.tar(name)) as tar:
            return sum(
                m.size if m.isreg() else len(m.linkname) if m.issym() else 0
                for m in tar.getmembers()
            )

    def diff_id(self, name: str) -> str:
        """``sha256:...`` of the uncompressed layer = of the tarball itself."""
        return "sha256:" + hashlib.sha256(self.tar(name).read_bytes()).hexdigest()


def build_offline_images(outdir: Path) -> OfflineImages:
    """Compile hello and write both tarballs into outdir (about a second)."""
    proc = subprocess.run(
        [sys.executable, str(MKIMAGES), str(outdir)],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"scripts/mkimages failed:\n{proc.stdout}{proc.stderr}")
    return OfflineImages(
        dir=outdir,
        hello_world=outdir / "hello-world.tar",
        busybox=outdir / "busybox.tar",
        hello_binary=outdir / "hello",
    )


def import_image(
    env: dict[str, str], images: OfflineImages, name: str, ref: str | None = None
) -> Result:
    """``docker import --change 'CMD [...]' <name>.tar <ref>``; checked."""
    ref = ref or f"{name}:latest"
    change = f"CMD {IMAGE_CMDS[name]}"
    result = docker(env, "import", "--change", change, str(images.tar(name)), ref)
    return result.ok()


def import_offline_images(
    env: dict[str, str],
    images: OfflineImages,
    names: tuple[str, ...] = ("hello-world", "busybox"),
) -> dict[str, str]:
    """Import the named images as ``<name>:latest``; name -> image ID."""
    ids: dict[str, str] = {}
    for name in names:
        ids[name] = import_image(env, images, name).stdout.strip()
    return ids
