"""The same container changes on Docker 20.10 and on ketch's diff machinery.

Docker side: the offline busybox image, ``docker run --network none busybox
sh -c OPS``, then ``docker diff``, ``docker commit`` + ``docker save`` (the
committed layer's tar) and ``docker export``. Ketch side: the same image
through the real LayerStore and ContainerRootfs, the same OPS under
chroot, then changes(), write_layer_tar() and export_tree().

Only times may differ (the runs happen at different moments), except where
both sides keep the image's: copy-ups preserve mtimes, and the opaque
marker has time 0.
"""

from __future__ import annotations

import io
import json
import tarfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from support.dockercli import docker
from support.engines import Engine
from support.images import OfflineImages, import_image

from ketch.layers.diff import changes, write_layer_tar
from ketch.layers.export import export_tree

from .test_diff_helpers import ENGINE_PATHS, OPS, Entry, busybox_container, run_in_root, tar_entries

pytestmark = pytest.mark.refdocker

#: The mtime of every entry of the offline images.
IMAGE_EPOCH = 1704067200

#: Entries of Docker's init layer: ketch has none, or its own engine files.
INIT_LAYER = {".dockerenv", "dev/console", "dev/pts", "dev/shm", "etc/mtab",
              "etc/hostname", "etc/hosts", "etc/resolv.conf"}


@dataclass(frozen=True)
class Outcome:
    changes: list[tuple[str, str]]
    layer: bytes
    export: bytes
    #: for Docker: write_layer_tar() of the very upper dir Docker committed
    ours_of_theirs: bytes = b""


@pytest.fixture(scope="module")
def docker_outcome(refdocker: Engine, offline_images: OfflineImages) -> Outcome:
    env = refdocker.env
    import_image(env, offline_images, "busybox")
    name = "ketch-test-diff"
    docker(env, "rm", "-f", name)
    docker(env, "run", "--name", name, "--network", "none", "busybox", "sh", "-c", OPS).ok()
    try:
        diff = docker(env, "diff", name).ok().stdout.splitlines()
        export = docker(env, "export", name).ok().stdout_bytes
        upper = docker(env, "inspect", "--format", "{{.GraphDriver.Data.UpperDir}}",
                       name).ok().stdout.strip()
        ours_of_theirs = io.BytesIO()
        write_layer_tar(Path(upper), ours_of_theirs)
        image = docker(env, "commit", name).ok().stdout.strip()
        try:
            saved = docker(env, "save", image).ok().stdout_bytes
        finally:
            docker(env, "rmi", image).ok()
    finally:
        docker(env, "rm", "-f", name).ok()
    with tarfile.open(fileobj=io.BytesIO(saved)) as archive:
        manifest = json.load(archive.extractfile("manifest.json"))  # type: ignore[arg-type]
        member = archive.extractfile(manifest[0]["Layers"][-1])
        assert member is not None
        layer = member.read()
    listed = sorted((line.split(" ", 1)[1], line.split(" ", 1)[0]) for line in diff)
    return Outcome([(kind, path) for path, kind in listed], layer, export,
                   ours_of_theirs.getvalue())


@pytest.fixture(scope="module")
def ketch_outcome(tmp_path_factory: pytest.TempPathFactory,
                  offline_images: OfflineImages) -> Outcome:
    tmp = tmp_path_factory.mktemp("diff-docker")
    with busybox_container(tmp, offline_images) as ctr:
        run_in_root(ctr.paths.merged, OPS)
        found = changes(ctr.paths.upper, ctr.lowers, exclude=ENGINE_PATHS)
        layer, export = io.BytesIO(), io.BytesIO()
        write_layer_tar(ctr.paths.upper, layer, exclude=ENGINE_PATHS, lowers=ctr.lowers)
        export_tree(ctr.paths.merged, export)
    return Outcome([(c.letter, c.path) for c in found], layer.getvalue(), export.getvalue())


def test_changes_are_docker_diffs(docker_outcome: Outcome, ketch_outcome: Outcome) -> None:
    assert ketch_outcome.changes == docker_outcome.changes


def assert_same_kept_times(ours: list[tuple[Entry, int]],
                           theirs: list[tuple[Entry, int]]) -> None:
    """Where Docker kept the image's time (or wrote 0), ketch must have it too."""
    kept = {e.name: t for e, t in theirs if t in (0, IMAGE_EPOCH)}
    assert kept, "Docker kept no time at all: the comparison would prove nothing"
    assert {e.name: t for e, t in ours if e.name in kept} == kept


def test_commit_layer_is_dockers(docker_outcome: Outcome, ketch_outcome: Outcome) -> None:
    theirs = tar_entries(docker_outcome.layer)
    ours = tar_entries(ketch_outcome.layer)
    assert [e for e, _ in ours] == [e for e, _ in theirs]
    assert_same_kept_times(ours, theirs)
    assert {"usr/.wh..wh..opq", ".wh.home", "bin/.wh.vi"} <= {e.name for e, _ in ours}


def test_export_is_dockers(docker_outcome: Outcome, ketch_outcome: Outcome) -> None:
    theirs = [(e, t) for e, t in tar_entries(docker_outcome.export) if e.name not in INIT_LAYER]
    ours = [(e, t) for e, t in tar_entries(ketch_outcome.export) if e.name not in INIT_LAYER]
    assert [e for e, _ in ours] == [e for e, _ in theirs]
    assert_same_kept_times(ours, theirs)
    assert len(ours) > 290  # the whole image, not just the changes


def _as_docker_24_writes(layer: bytes) -> bytes:
    """Docker 20.10's layer bytes with what later Dockers stopped writing taken out.

    Docker 20.10 puts the host's user and group names in each header and
    file type bits in the mode, and leaves a stale link name in whiteout
    headers that share an inode (overlayfs shares one among whiteouts).
    """
    out = bytearray(layer)
    offset = 0
    while out[offset:offset + 512] != bytes(512):
        block = out[offset:offset + 512]
        kind = bytes(block[156:157])
        assert kind != b"x", "Docker wrote a PAX header: not expected for these files"
        mode = int(bytes(block[100:107]), 8) & 0o7777
        block[100:108] = b"%07o\0" % mode
        block[265:329] = bytes(64)
        if kind == b"0":
            block[157:257] = bytes(100)
        block[148:156] = b" " * 8
        block[148:156] = b"%06o\0 " % sum(block)
        out[offset:offset + 512] = block
        size = int(bytes(block[124:135]), 8) if kind == b"0" else 0
        offset += 512 + (size + 511) // 512 * 512
    return bytes(out)


def test_same_files_give_the_same_bytes(docker_outcome: Outcome) -> None:
    """The header encoding is Go's, to the byte: checksums, padding, the end blocks."""
    assert docker_outcome.ours_of_theirs == _as_docker_24_writes(docker_outcome.layer)
