"""A container's volume life through ketch.volumes.attach, on a real data root and a
mounted busybox root: create (plan, volumes, image volumes, copy-up), start
(mounts, subpath pins, host dirs, OCI entries), stop, remove (-v).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from layers.tars import TarBuilder

from ketch.containers import mounts as m
from ketch.errors import InvalidArgument, NotFound
from ketch.volumes import attach, sysmount
from ketch.volumes.model import ANONYMOUS_LABEL
from ketch.volumes.subpath import open_beneath, pin_subpath

from .conftest import Busybox, World, mount_root

CID = "a" * 64
OTHER = "b" * 64
IMAGE = (TarBuilder().dir("var").dir("var/lib", uid=3).file("var/lib/state", b"s1")
         .dir("cfg").file("cfg/app.conf", b"k=v").file("etc/conf", b"file").data())
IMAGE_ID = "sha256:" + hashlib.sha256(IMAGE).hexdigest()


@pytest.fixture
def root(busybox_layers: Busybox) -> Iterator[Path]:
    merged = mount_root(busybox_layers, "c1", [(IMAGE_ID, IMAGE)])
    try:
        yield merged
    finally:
        busybox_layers.rootfs.remove("c1")


def test_container_volume_lifecycle(world: World, root: Path, tmp_path: Path) -> None:
    svc = world.service
    host = tmp_path / "host-missing"
    world.run(svc.create("sub", driver_opts=None))
    sub_data = Path(world.call(lambda: svc.get("sub")).mountpoint)
    (sub_data / "inner").mkdir()
    (sub_data / "inner" / "f").write_text("inner file")

    # docker create
    points = m.plan_mount_points(
        binds=["named:/cfg", f"{host}:/h", "/var/lib"],
        mounts=[{"Type": "volume", "Source": "sub", "Target": "/s",
                 "VolumeOptions": {"Subpath": "inner"}},
                {"Type": "volume", "Source": "tv", "Target": "/tv",
                 "VolumeOptions": {"Labels": {"l": "1"},
                                   "DriverConfig": {"Options": {"type": "tmpfs",
                                                                "device": "tmpfs"}}}},
                {"Type": "tmpfs", "Target": "/scratch"}],
        tmpfs={"/run": "size=1m"})
    points = world.run(attach.register_mount_points(svc, CID, points))
    points = world.run(attach.add_image_volumes(svc, CID, points, {"/var/lib": {}, "/data": {},
                                                                   "/run": {}}, {"/run": ""},
                                                root))
    world.run(attach.populate_volumes(svc, points, root))
    by_dest = {p.destination: p for p in points}
    assert list(by_dest) == ["/cfg", "/h", "/var/lib", "/s", "/tv", "/scratch", "/data"]
    named = by_dest["/cfg"]
    assert (named.name, named.driver, named.mode, named.source) == (
        "named", "local", "z", str(world.root / "volumes/named/_data"))
    assert (Path(named.source) / "app.conf").read_text() == "k=v"  # copied up
    anon = by_dest["/var/lib"]  # "/var/lib" in Binds: anonymous, copied, mode "z"
    assert anon.mode == "z" and anon.spec.source == "" and len(anon.name) == 64
    assert (Path(anon.source) / "state").read_text() == "s1"
    assert os.stat(anon.source).st_uid == 3
    image_anon = by_dest["/data"]
    assert image_anon.mode == "" and image_anon.copy_data
    tv = world.call(lambda: svc.get("tv"))
    assert tv.record.labels == {"l": "1"} and tv.record.options == {"type": "tmpfs",
                                                                    "device": "tmpfs"}
    assert world.call(lambda: svc.get(anon.name)).record.labels == {ANONYMOUS_LABEL: ""}
    volume_names = [p.name for p in points if p.type == "volume"]
    refs = world.call(lambda: [svc.get(n).record.refs for n in volume_names])
    assert refs == [[CID]] * len(volume_names)

    # docker start
    prepared = world.run(attach.setup_mounts(svc, CID, points, tmp_path / "pins",
                                             {"/run": "size=1m"}))
    try:
        assert host.is_dir()  # -v creates a missing host directory
        paths = {r.point.destination: r.host_path for r in prepared.resolved}
        assert Path(paths["/s"]).parent == tmp_path / "pins"
        assert (Path(paths["/s"]) / "f").read_text() == "inner file"
        assert sysmount.is_mount_point(Path(tv.mountpoint))
        oci = m.oci_mounts(prepared.resolved, {"/run": "size=1m"})
        entries = {x["destination"]: x for x in oci.mounts}
        assert entries["/s"]["source"] == paths["/s"]
        assert entries["/run"]["options"][-1] == "size=1m"
        assert entries["/scratch"]["type"] == "tmpfs"
        # replacing the subpath by a symlink afterwards does not move the pin
        os.rename(sub_data / "inner", sub_data / "moved")
        (sub_data / "inner").symlink_to("/etc")
        assert (Path(paths["/s"]) / "f").read_text() == "inner file"
    finally:
        prepared.close()
    assert not (tmp_path / "pins").exists() or os.listdir(tmp_path / "pins") == []
    events = [(e.action, e.actor_id) for e in world.events.history(0) if e.action == "mount"]
    assert ("mount", "named") in events and ("mount", "tv") in events

    # the container stops
    assert world.run(attach.teardown_mounts(svc, CID, points)) == []
    assert not sysmount.is_mount_point(Path(tv.mountpoint))

    # a second container shares the named volume
    world.run(svc.acquire("named", OTHER))
    # docker rm -v
    errors = world.run(attach.release_mount_points(svc, CID, points, remove_anonymous=True))
    assert errors == []
    left = {v.name for v in world.call(lambda: svc.list({}))[0]}
    assert left == {"named", "sub", "tv"}  # anonymous ones gone, named ones kept
    assert world.call(lambda: svc.get("named")).record.refs == [OTHER]


def test_register_releases_on_failure(world: World) -> None:
    points = m.plan_mount_points(binds=["good:/a", "x/y:/b"])
    with pytest.raises(InvalidArgument, match=r'^create x/y: "x/y" includes invalid'):
        world.run(attach.register_mount_points(world.service, CID, points))
    assert world.call(lambda: world.service.get("good")).record.refs == []


def test_image_volume_over_a_file_is_refused(world: World, root: Path) -> None:
    with pytest.raises(InvalidArgument) as info:
        world.run(attach.add_image_volumes(world.service, CID, [], {"/etc/conf": {}}, None,
                                           root))
    assert info.value.message == (f"cannot mount volume over existing file, file exists "
                                  f"{root}/etc/conf")
    assert world.call(lambda: world.service.list({}))[0] == []


def test_mount_failure_unmounts_what_was_mounted(world: World, tmp_path: Path) -> None:
    svc = world.service
    points = m.plan_mount_points(mounts=[
        {"Type": "volume", "Source": "ok", "Target": "/a",
         "VolumeOptions": {"DriverConfig": {"Options": {"type": "tmpfs", "device": "tmpfs"}}}},
        {"Type": "volume", "Source": "broken", "Target": "/b",
         "VolumeOptions": {"DriverConfig": {"Options": {"type": "ext4",
                                                        "device": "/nonexistent"}}}}])
    points = world.run(attach.register_mount_points(svc, CID, points))
    with pytest.raises(Exception) as info:
        world.run(attach.setup_mounts(svc, CID, points, tmp_path / "pins"))
    assert str(info.value).startswith(
        f"error while mounting volume '{world.root}/volumes/broken/_data': failed to mount "
        "local volume: mount /nonexistent:")
    assert not sysmount.is_mount_point(world.root / "volumes/ok/_data")
    assert world.call(lambda: svc.get("ok")).record.mounted_by == []


def test_subpath_resolution_refuses_symlinks(tmp_path: Path) -> None:
    base = tmp_path / "vol"
    (base / "a" / "b").mkdir(parents=True)
    (base / "link").symlink_to("a")
    (base / "a" / "file").write_text("x")
    os.close(open_beneath(base, "a/b"))
    for sub, reason in (("link", "too many levels of symbolic links"),
                        ("link/b", "too many levels of symbolic links"),
                        ("nope", "no such file or directory"),
                        ("a/file/x", "not a directory")):
        with pytest.raises(NotFound) as info:
            open_beneath(base, sub)
        assert info.value.message == f"cannot access path {base}/{sub}: {reason}"
    with pytest.raises(InvalidArgument, match="escapes the base directory"):
        open_beneath(base, "a/../../x")
    pin = pin_subpath(base, "a/file", tmp_path / "pins with space")  # mountinfo escapes
    try:
        assert pin.path.read_text() == "x" and sysmount.is_mount_point(pin.path)
    finally:
        pin.close()
    assert not pin.path.exists()
    pin.close()  # idempotent
