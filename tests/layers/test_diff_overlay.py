"""changes() and write_layer_tar() on a real container overlay, and the layer round trip.

The busybox image is unpacked by the real LayerStore and mounted by the
real ContainerRootfs (which also creates the engine's mount targets in
the upper dir); a busybox shell under chroot makes every kind of change.
The layer written from the upper dir is unpacked by the real extractor
into a new snapshot, and the image plus that snapshot, mounted as an
overlay, must look exactly like the container did.
"""

from __future__ import annotations

import hashlib
import io
import os
import struct
import subprocess
from pathlib import Path

import pytest
from support.images import OfflineImages

from ketch.errors import InternalError
from ketch.layers.diff import changes, write_layer_tar

from .tars import require_root
from .test_diff_helpers import (
    ENGINE_PATHS,
    OPS,
    OPS_CHANGES,
    busybox_container,
    link_groups,
    overlay,
    run_in_root,
    tree_view,
)

EMPTY_LAYER = "sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef"


def test_changes_of_a_container_are_docker_20_10s(tmp_path: Path,
                                                   offline_images: OfflineImages) -> None:
    with busybox_container(tmp_path, offline_images) as ctr:
        run_in_root(ctr.paths.merged, OPS)
        upper = ctr.paths.upper
        # the scenario really has what it claims: an opaque dir, engine files
        assert os.getxattr(upper / "usr", "trusted.overlay.opaque") == b"y"
        assert (upper / "etc/hosts").exists()
        got = [(c.letter, c.path) for c in changes(upper, ctr.lowers, exclude=ENGINE_PATHS)]
    assert got == OPS_CHANGES


def test_an_untouched_container_has_no_changes_and_an_empty_layer(
        tmp_path: Path, offline_images: OfflineImages) -> None:
    with busybox_container(tmp_path, offline_images) as ctr:
        upper = ctr.paths.upper
        assert changes(upper, ctr.lowers, exclude=ENGINE_PATHS) == []
        with open(tmp_path / "layer.tar", "wb") as out:
            result = write_layer_tar(upper, out, exclude=ENGINE_PATHS, lowers=ctr.lowers)
        # without the exclusions the engine's files would show
        assert [c.path for c in changes(upper, ctr.lowers)] == [
            "/etc", "/etc/hostname", "/etc/hosts", "/etc/resolv.conf"]
    assert result.empty and result.diff_id == EMPTY_LAYER and result.size == 0


def test_a_written_layer_rebuilds_the_container_view(tmp_path: Path,
                                                      offline_images: OfflineImages) -> None:
    cap = struct.pack("<IIIII", (2 << 24) | 1, 1 << 13, 0, 0, 0)
    layer = tmp_path / "layer.tar"
    with busybox_container(tmp_path, offline_images) as ctr:
        merged = ctr.paths.merged
        # what the engine made in the upper dir (the image lacked it) is not the container's
        engine_files = tuple(p.lstrip("/") for p in ENGINE_PATHS
                             if os.path.lexists(ctr.paths.upper / p.lstrip("/")))
        assert engine_files == ("etc/hostname", "etc/hosts", "etc/resolv.conf")
        run_in_root(merged, OPS + "\necho ping > /bin/ping2 && chmod 0711 /bin/ping2")
        os.setxattr(merged / "bin/ping2", "security.capability", cap)
        os.setxattr(merged / "bin/ping2", "user.ignored", b"x")
        with open(layer, "wb") as out:
            result = write_layer_tar(ctr.paths.upper, out, exclude=ENGINE_PATHS,
                                     lowers=ctr.lowers)
        before = tree_view(merged, skip=engine_files)
        before_links = link_groups(merged)
        new_chain = "sha256:" + "c" * 64
        extracted = ctr.store.create(new_chain, layer)
        snapshot = ctr.store.diff_dir(new_chain)
        with overlay([snapshot, *ctr.lowers], tmp_path / "again") as again:
            after = tree_view(again)
            after_links = link_groups(again)
            assert not (again / "bin/vi").exists() and not (again / "home").exists()
            assert sorted(os.listdir(again / "usr")) == ["fresh"]  # opaque: image's hidden
            assert os.getxattr(again / "bin/ping2", "security.capability") == cap
            assert (again / "root/pw-link").readlink() == Path("/etc/passwd")
    assert after == before
    assert after_links == before_links
    assert result.diff_id == "sha256:" + hashlib.sha256(layer.read_bytes()).hexdigest()
    assert (result.size, result.entries) == (extracted.size, extracted.entries)
    assert not result.empty


def test_a_renamed_image_directory_is_copied_up_whole(tmp_path: Path,
                                                     offline_images: OfflineImages) -> None:
    """ketch's mount makes no redirects on this kernel: the rename is a copy."""
    with busybox_container(tmp_path, offline_images) as ctr:
        run_in_root(ctr.paths.merged, "mv /usr /opt && mv /etc /etc2")
        got = [(c.letter, c.path) for c in changes(ctr.paths.upper, ctr.lowers,
                                                    exclude=ENGINE_PATHS)]
        write_layer_tar(ctr.paths.upper, io.BytesIO(), exclude=ENGINE_PATHS, lowers=ctr.lowers)
    assert got == [
        ("D", "/etc"), ("A", "/etc2"), ("A", "/etc2/group"), ("A", "/etc2/hostname"),
        ("A", "/etc2/hosts"), ("A", "/etc2/passwd"), ("A", "/etc2/resolv.conf"),
        ("A", "/opt"), ("A", "/opt/bin"), ("A", "/opt/sbin"), ("D", "/usr"),
    ]


@pytest.mark.parametrize("option", ["redirect_dir=on", "metacopy=on"])
def test_uppers_of_redirect_or_metacopy_mounts_are_refused(tmp_path: Path, option: str) -> None:
    require_root()
    lower, upper, work, merged = (tmp_path / n for n in ("lower", "upper", "work", "merged"))
    for d in (lower / "dir", upper, work, merged):
        d.mkdir(parents=True)
    (lower / "dir/file").write_bytes(b"data")
    options = f"lowerdir={lower},upperdir={upper},workdir={work},{option}"
    mount = subprocess.run(["mount", "-t", "overlay", "overlay", "-o", options, str(merged)],
                           capture_output=True, text=True, check=False)
    if mount.returncode != 0:
        pytest.skip(f"this kernel cannot mount overlay with {option}: {mount.stderr.strip()}")
    try:
        if option.startswith("redirect"):
            os.rename(merged / "dir", merged / "moved")
        else:
            os.chmod(merged / "dir/file", 0o600)
    finally:
        subprocess.run(["umount", str(merged)], check=True)
    with pytest.raises(InternalError, match=option.replace("=on", "=off")):
        changes(upper, [lower])
    with pytest.raises(InternalError, match=option.replace("=on", "=off")):
        write_layer_tar(upper, io.BytesIO())
