"""Images for the CLI tests, written as docker-archive tarballs (``docker save`` format).

The CLI tests compare ``ketch`` with the docker CLI byte for byte, so the
images they list must not change between two runs of a command: these
archives carry fixed creation dates in the past (a CREATED column then reads
"6 years ago" for both), several tags, a multi-layer history with long and
empty steps, and an untagged image. The root filesystem is Debian's static
busybox; no network is needed.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

BUSYBOX = Path("/bin/busybox")
APPLETS = ("sh", "ls", "echo", "cat", "true")
#: Fixed mtime for every tar entry: identical bytes, identical diffIDs, every run.
MTIME = 1577934245  # 2020-01-02T03:04:05Z


def _add(tar: tarfile.TarFile, name: str, data: bytes | None = None, *,
         mode: int = 0o644, kind: bytes = tarfile.REGTYPE, link: str = "") -> None:
    info = tarfile.TarInfo(name)
    info.mtime = MTIME
    info.mode = mode
    info.type = kind
    info.linkname = link
    info.uname = info.gname = "root"
    if data is not None:
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    else:
        tar.addfile(info)


def busybox_rootfs() -> bytes:
    """A root filesystem tar: /bin/busybox and a few applet symlinks."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        _add(tar, "bin", mode=0o755, kind=tarfile.DIRTYPE)
        _add(tar, "bin/busybox", BUSYBOX.read_bytes(), mode=0o755)
        for applet in APPLETS:
            _add(tar, f"bin/{applet}", mode=0o777, kind=tarfile.SYMTYPE, link="busybox")
    return buf.getvalue()


def files_layer(files: dict[str, bytes]) -> bytes:
    """A layer tar with regular files (parent directories added)."""
    buf = io.BytesIO()
    dirs: set[str] = set()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for path in sorted(files):
            parts = path.split("/")[:-1]
            for i in range(1, len(parts) + 1):
                d = "/".join(parts[:i])
                if d not in dirs:
                    dirs.add(d)
                    _add(tar, d, mode=0o755, kind=tarfile.DIRTYPE)
            _add(tar, path, files[path])
    return buf.getvalue()


@dataclass
class ArchiveImage:
    """One image of an archive: its layers, config fields and tags."""

    layers: list[bytes]
    created: str
    tags: list[str] = field(default_factory=list)
    cmd: list[str] | None = None
    env: list[str] | None = None
    labels: dict[str, str] | None = None
    comment: str = ""
    #: (created, created_by, comment, empty_layer); default: one step per layer
    history: list[tuple[str, str, str, bool]] | None = None

    def config(self) -> dict[str, object]:
        history = self.history or [(self.created, "", self.comment, False) for _ in self.layers]
        return {
            "architecture": "amd64",
            "os": "linux",
            "created": self.created,
            "comment": self.comment,
            "config": {
                "Cmd": self.cmd,
                "Env": self.env,
                "Labels": self.labels,
                "WorkingDir": "",
                "Entrypoint": None,
            },
            "rootfs": {
                "type": "layers",
                "diff_ids": ["sha256:" + hashlib.sha256(layer).hexdigest()
                             for layer in self.layers],
            },
            "history": [
                {k: v for k, v in (("created", c), ("created_by", by), ("comment", com),
                                   ("empty_layer", True if empty else None)) if v}
                for c, by, com, empty in history
            ],
        }


def write_docker_archive(path: Path, images: list[ArchiveImage]) -> Path:
    """Write ``images`` as one docker-archive (what ``docker load`` reads)."""
    manifest = []
    with tarfile.open(path, "w", format=tarfile.GNU_FORMAT) as tar:
        written: set[str] = set()
        for image in images:
            config = json.dumps(image.config(), separators=(",", ":")).encode()
            config_name = hashlib.sha256(config).hexdigest() + ".json"
            _add(tar, config_name, config)
            layer_names = []
            for layer in image.layers:
                digest = hashlib.sha256(layer).hexdigest()
                name = f"{digest}/layer.tar"
                if name not in written:
                    _add(tar, digest, mode=0o755, kind=tarfile.DIRTYPE)
                    _add(tar, name, layer)
                    written.add(name)
                layer_names.append(name)
            manifest.append({"Config": config_name, "RepoTags": image.tags or None,
                             "Layers": layer_names})
        _add(tar, "manifest.json", json.dumps(manifest).encode())
    return path


def standard_images() -> list[ArchiveImage]:
    """The images every CLI test can rely on being present."""
    rootfs = busybox_rootfs()
    extra = files_layer({"etc/motd": b"hello from ketch tests\n",
                         "usr/share/doc/readme": b"x" * 1500})
    long_step = ("/bin/sh -c #(nop) \tLABEL description=a rather long label value that "
                 "the history table must cut")
    return [
        ArchiveImage(
            layers=[rootfs], created="2020-01-02T03:04:05Z",
            tags=["ketchtest/busybox:latest", "ketchtest/busybox:1.0"],
            cmd=["sh"], comment="imported from busybox-static",
        ),
        ArchiveImage(
            layers=[rootfs, extra], created="2021-06-01T10:00:00Z",
            tags=["ketchtest/multi:latest", "ketchtest/multi:v2"],
            cmd=["sh", "-c", "cat /etc/motd"], env=["PATH=/bin", "GREETING=hi <there> & co"],
            labels={"org.example.b": "2", "org.example.a": "1"},
            history=[
                ("2020-01-02T03:04:05Z", "/bin/sh -c #(nop) ADD file:busybox in / ", "", False),
                ("2020-01-02T03:04:06Z", '/bin/sh -c #(nop)  CMD ["sh"]', "", True),
                ("2021-06-01T09:59:00Z", long_step, "", True),
                ("2021-06-01T10:00:00Z", "/bin/sh -c echo hi > /etc/motd", "layer two", False),
            ],
        ),
        ArchiveImage(
            layers=[files_layer({"only/file": b"dangling\n"})], created="2019-05-05T05:05:05Z",
            cmd=None, comment="no tag",
        ),
    ]
