"""VolumeService on a real data root: directories, tmpfs mounts, references,
prune, filters, events, restart recovery.

Error texts are Docker 28's (checked against the moby source; the ones the
reference Docker 20.10 shares are also compared live in test_docker_compat).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import msgspec
import pytest

from ketch.errors import Conflict, InvalidArgument, NotFound
from ketch.volumes import sysmount
from ketch.volumes.model import ANONYMOUS_LABEL

from .conftest import World


def mounted(path: Path) -> bool:
    return sysmount.is_mount_point(path)


def fstype(path: Path) -> str:
    real = os.path.realpath(path)
    found = [m.fstype for m in sysmount.mount_table() if m.mount_point == real]
    return found[-1] if found else ""


def test_named_volume_layout_and_json_fields(world: World) -> None:
    svc = world.service
    vol = world.run(svc.create("data1", labels={"a": "b"}))
    root = world.root / "volumes" / "data1"
    assert vol.mountpoint == str(root / "_data")
    assert (root.stat().st_mode & 0o777, (root / "_data").stat().st_mode & 0o777) == (0o701, 0o755)
    assert vol.record.labels == {"a": "b"} and vol.record.options is None
    assert not vol.record.anonymous and vol.scope == "local" and vol.driver == "local"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(Z|[+-]\d\d:\d\d)",
                        svc.created_at(vol))
    assert world.call(lambda: svc.get("data1")).record == vol.record
    # the volumes directory itself is 0701, as Docker's
    assert (world.root / "volumes").stat().st_mode & 0o777 == 0o701


def test_create_existing_returns_it_unchanged(world: World) -> None:
    svc = world.service
    first = world.run(svc.create("same", labels={"v": "1"}))
    (Path(first.mountpoint) / "keep").write_text("x")
    # other labels and even invalid options: Docker returns the existing volume
    again = world.run(svc.create("same", labels={"v": "2"}, driver_opts={"foo": "bar"}))
    assert again.record.labels == {"v": "1"} and again.record.options is None
    assert (Path(again.mountpoint) / "keep").read_text() == "x"
    with pytest.raises(NotFound, match=r'^create same: error looking up volume plugin nfs: '
                                       r'plugin "nfs" not found$'):
        world.run(svc.create("same", driver="nfs"))


@pytest.mark.parametrize(("name", "message"), [
    ("x/y", 'create x/y: "x/y" includes invalid characters for a local volume name, only '
            '"[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host '
            'directory, use absolute path'),
    ("a", "create a: volume name is too short, names should be at least two alphanumeric "
          "characters"),
    ("-ab", 'create -ab: "-ab" includes invalid characters for a local volume name, only '
            '"[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host '
            'directory, use absolute path'),
    ("ab\n", 'create ab\n: "ab\n" includes invalid characters for a local volume name, only '
             '"[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host '
             'directory, use absolute path'),
])
def test_invalid_names(world: World, name: str, message: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        world.run(world.service.create(name))
    assert info.value.message == message
    assert os.listdir(world.root / "volumes") == []


@pytest.mark.parametrize(("opts", "message"), [
    ({"foo": "bar"}, 'create v1: invalid option: "foo"'),
    ({"type": "tmpfs"}, 'create v1: missing required option: "device"'),
    ({"device": "tmpfs"}, 'create v1: missing required option: "type"'),
    ({"o": "size=1m"}, 'create v1: missing required option: "device"'),
    ({"type": "tmpfs", "device": "tmpfs", "size": "1m"},
     "create v1: quota size requested but no quota support"),
    ({"type": "tmpfs", "device": "tmpfs", "size": "1x"}, "create v1: invalid suffix: 'x'"),
    ({"type": "cifs", "device": "//host:445/share"},
     "create v1: port not allowed in CIFS device URL, include 'port' in 'o='"),
])
def test_invalid_driver_options(world: World, opts: dict[str, str], message: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        world.run(world.service.create("v1", driver_opts=opts))
    assert info.value.message == message
    with pytest.raises(NotFound, match=r"^get v1: no such volume$"):
        world.call(lambda: world.service.get("v1"))


def test_anonymous_volume(world: World) -> None:
    vol = world.run(world.service.create("", labels={"k": "v"}))
    assert re.fullmatch(r"[0-9a-f]{64}", vol.name) and not vol.name[:12].isdigit()
    assert vol.record.anonymous
    assert vol.record.labels == {"k": "v", ANONYMOUS_LABEL: ""}
    assert Path(vol.mountpoint).is_dir()


def test_tmpfs_volume_mounted_by_first_user_unmounted_by_last(world: World) -> None:
    svc = world.service
    vol = world.run(svc.create("tmp1", driver_opts={"type": "tmpfs", "device": "tmpfs",
                                                    "o": "size=1m,mode=0700,uid=5"}))
    data = Path(vol.mountpoint)
    assert not mounted(data)  # created, not mounted: nobody uses it yet
    assert world.run(svc.mount("tmp1", "c1")) == data
    assert mounted(data) and fstype(data) == "tmpfs"
    assert (data.stat().st_mode & 0o777, data.stat().st_uid) == (0o700, 5)
    (data / "f").write_bytes(b"x" * 1000)
    world.run(svc.mount("tmp1", "c2"))
    world.run(svc.mount("tmp1", "c1"))  # the same container again: no second mount
    assert [m.mount_point for m in sysmount.mount_table()].count(str(data)) == 1
    world.run(svc.unmount("tmp1", "c1"))
    assert mounted(data) and (data / "f").exists()
    world.run(svc.unmount("tmp1", "c2"))
    assert not mounted(data) and not (data / "f").exists()
    world.run(svc.unmount("tmp1", "c2"))  # idempotent
    record = world.call(lambda: svc.get("tmp1")).record
    assert record.mounted_by == []
    # a failing mount says what failed, as Docker's local driver does
    world.run(svc.create("bad1", driver_opts={"type": "ext4", "device": "/nonexistent-dev"}))
    with pytest.raises(Exception, match=r"^failed to mount local volume: mount "
                                        r"/nonexistent-dev:.*/volumes/bad1/_data: "
                                        r"no such file or directory$"):
        world.run(svc.mount("bad1", "c1"))


def test_bind_style_options_and_password_hidden(world: World, tmp_path: Path) -> None:
    source = tmp_path / "hostdir"
    source.mkdir()
    (source / "hello").write_text("hi")
    svc = world.service
    vol = world.run(svc.create("bound", driver_opts={"type": "none", "device": str(source),
                                                     "o": "bind,ro"}))
    path = world.run(svc.mount("bound", "c1"))
    try:
        assert (path / "hello").read_text() == "hi"
        with pytest.raises(OSError):
            (path / "new").write_text("no")  # "ro" made it a read-only bind
    finally:
        world.run(svc.unmount("bound", "c1"))
    assert not mounted(Path(vol.mountpoint))
    world.run(svc.create("secret", driver_opts={"type": "cifs", "device": "//127.0.0.1/x",
                                                "o": "username=u,password=hunter2"}))
    with pytest.raises(Exception) as info:
        world.run(svc.mount("secret", "c1"))
    assert "hunter2" not in str(info.value) and "password=********" in str(info.value)


def test_references_block_removal(world: World) -> None:
    svc = world.service
    world.run(svc.create("used", reference="c" * 64))
    world.run(svc.acquire("used", "d" * 64))
    for force in (False, True):
        with pytest.raises(Conflict) as info:
            world.run(svc.remove("used", force=force))
        assert info.value.message == f"remove used: volume is in use - [{'c' * 64}, {'d' * 64}]"
    world.run(svc.release("used", "c" * 64))
    world.run(svc.release("used", "c" * 64))  # twice: no error
    with pytest.raises(Conflict, match=r"in use - \[d+\]$"):
        world.run(svc.remove("used"))
    world.run(svc.release("used", "d" * 64))
    world.run(svc.remove("used"))
    assert not (world.root / "volumes" / "used").exists()
    with pytest.raises(NotFound, match=r"^get used: no such volume$"):
        world.run(svc.remove("used"))
    world.run(svc.remove("used", force=True))  # force: a missing volume is fine
    with pytest.raises(NotFound, match=r"^get nope: no such volume$"):
        world.run(svc.acquire("nope", "c1"))


def test_remove_unmounts_a_mounted_tmpfs_volume(world: World) -> None:
    svc = world.service
    world.run(svc.create("t2", driver_opts={"type": "tmpfs", "device": "tmpfs"}))
    data = world.run(svc.mount("t2", "c1"))
    # the container stopped without telling us (daemon crash): mounted, no refs
    record = world.call(lambda: svc.table.get("t2"))
    assert record is not None
    world.call(lambda: svc.table.save(msgspec.structs.replace(record, mounted_by=[])))
    assert mounted(data)
    world.run(svc.remove("t2"))
    assert not mounted(data) and not data.parent.exists()


def test_prune_rules(world: World) -> None:
    svc = world.service
    anon = world.run(svc.create("")).name
    anon_used = world.run(svc.create("", reference="c1")).name
    world.run(svc.create("named"))
    world.run(svc.create("labelled", labels={"keep": "yes"}))
    anon_labelled = world.run(svc.create("", labels={"keep": "yes"})).name
    world.run(svc.create("withopts", driver_opts={"type": "tmpfs", "device": "tmpfs"}))
    (Path(world.call(lambda: svc.get(anon)).mountpoint) / "f").write_bytes(b"x" * 3000)

    report = world.run(svc.prune({"label!": ["keep=yes"]}))
    assert report.deleted == [anon] and report.space_reclaimed == 3000
    report = world.run(svc.prune({}))  # anonymous only by default (API 1.42+)
    assert report.deleted == [anon_labelled]
    names = {v.name for v in world.call(lambda: svc.list({}))[0]}
    assert names == {anon_used, "named", "labelled", "withopts"}
    # all=true: named volumes too, but never referenced ones or ones with options
    report = world.run(svc.prune({"all": ["true"], "label": ["keep"]}))
    assert report.deleted == ["labelled"]
    report = world.run(svc.prune({"all": ["1"]}))
    assert report.deleted == ["named"]
    # API < 1.42: everything unused is a candidate
    world.run(svc.create("old"))
    assert world.run(svc.prune({}, api_version="1.41")).deleted == ["old"]
    assert {v.name for v in world.call(lambda: svc.list({}))[0]} == {anon_used, "withopts"}
    events = [(e.action, e.actor_id) for e in world.events.history(0)]
    assert ("destroy", anon) in events and ("prune", "") in events


@pytest.mark.parametrize(("filters", "message"), [
    ({"all": ["maybe"]}, "invalid filter 'all': strconv.ParseBool: parsing \"maybe\": "
                         "invalid syntax"),
    ({"all": ["1", "true"]}, "invalid filter 'all=[1 true]': only one value is expected"),
    ({"dangling": ["true"]}, "invalid filter 'dangling'"),
    ({"name": ["x"]}, "invalid filter 'name'"),
])
def test_prune_filter_errors(world: World, filters: dict[str, list[str]], message: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        world.run(world.service.prune(filters))
    assert info.value.message == message


def test_list_filters(world: World) -> None:
    svc = world.service
    world.run(svc.create("alpha", labels={"tier": "db", "x": ""}))
    world.run(svc.create("beta", labels={"tier": "web"}))
    world.run(svc.create("alphabet", reference="c1"))

    def names(filters: dict[str, list[str]]) -> list[str]:
        return sorted(v.name for v in world.call(lambda: svc.list(filters))[0])

    assert names({}) == ["alpha", "alphabet", "beta"]
    assert names({"name": ["alpha"]}) == ["alpha", "alphabet"]  # a pattern: substring
    assert names({"name": ["^b"]}) == ["beta"]
    assert names({"name": ["([", "beta"]}) == ["beta"]  # a bad pattern matches nothing
    assert names({"label": ["tier"]}) == ["alpha", "beta"]
    assert names({"label": ["tier=db"]}) == ["alpha"]
    assert names({"label": ["tier", "x"]}) == ["alpha"]
    assert names({"label": ["x="]}) == ["alpha"]
    assert names({"dangling": ["true"]}) == ["alpha", "beta"]
    assert names({"dangling": ["0"]}) == ["alphabet"]
    assert names({"driver": ["local"]}) == ["alpha", "alphabet", "beta"]
    assert names({"driver": ["other"]}) == []
    for bad, message in (({"foo": ["1"]}, "invalid filter 'foo'"),
                         ({"dangling": ["maybe"]}, "invalid filter 'dangling=[maybe]'"),
                         ({"dangling": ["true", "false"]},
                          "invalid filter 'dangling=[true false]'"),
                         ({"label!": ["x"]}, "invalid filter 'label!'")):
        with pytest.raises(InvalidArgument) as info:
            names(bad)
        assert info.value.message == message


def test_disk_usage(world: World) -> None:
    svc = world.service
    vol = world.run(svc.create("du1", reference="c1"))
    data = Path(vol.mountpoint)
    (data / "a").write_bytes(b"a" * 1000)
    os.link(data / "a", data / "hard")  # counted once
    (data / "sub").mkdir()
    (data / "sub" / "b").write_bytes(b"b" * 24)
    (data / "link").symlink_to("a")  # its own length
    world.run(svc.create("du2", driver_opts={"type": "tmpfs", "device": "tmpfs"}))
    usage = world.run(svc.disk_usage())
    assert [(u.volume.name, u.size, u.ref_count) for u in usage] == [("du1", 1025, 1)]


def test_events(world: World) -> None:
    svc = world.service
    world.run(svc.create("ev1"))
    world.run(svc.create("ev1"))  # existing: no second create event
    world.run(svc.remove("ev1"))
    got = [(e.type, e.action, e.actor_id, dict(e.attributes)) for e in world.events.history(0)]
    assert got == [("volume", "create", "ev1", {"driver": "local"}),
                   ("volume", "destroy", "ev1", {"driver": "local"})]


def test_restart_recovery(world: World) -> None:
    svc = world.service
    world.run(svc.create("kept", reference="c1"))
    world.run(svc.create("lost"))
    world.run(svc.create("lostused", reference="c2"))
    vols = world.root / "volumes"
    # a volume directory without a record (made by hand, or a crash after mkdir)
    (vols / "orphan" / "_data").mkdir(parents=True)
    # a removal interrupted after the rename
    (vols / ".removing-gone-1234" / "_data").mkdir(parents=True)
    (vols / ".removing-gone-1234" / "_data" / "f").write_text("x")
    # directories that vanished
    for name in ("lost", "lostused"):
        for p in sorted((vols / name).rglob("*"), reverse=True):
            p.rmdir()
        (vols / name).rmdir()
    svc = world.restart()
    names = sorted(v.name for v in world.call(lambda: svc.list({}))[0])
    assert names == ["kept", "lostused", "orphan"]
    assert (vols / "lostused" / "_data").is_dir()
    assert not (vols / ".removing-gone-1234").exists()
    # references come back from the containers' records
    world.run(svc.reconcile({"c9": ["kept"], "c1": ["kept"]}, {}))
    assert world.call(lambda: svc.get("kept")).record.refs == ["c1", "c9"]
    assert world.call(lambda: svc.get("lostused")).record.refs == []


def test_reconcile_unmounts_volumes_nobody_runs_with(world: World) -> None:
    svc = world.service
    world.run(svc.create("rt", driver_opts={"type": "tmpfs", "device": "tmpfs"}))
    data = world.run(svc.mount("rt", "c1"))
    world.run(svc.mount("rt", "c2"))
    svc = world.restart()
    world.run(svc.reconcile({"c1": ["rt"], "c2": ["rt"]}, {"c2": ["rt"]}))
    assert mounted(data) and world.call(lambda: svc.get("rt")).record.mounted_by == ["c2"]
    world.run(svc.reconcile({"c1": ["rt"]}, {}))
    assert not mounted(data)


def test_concurrent_operations_on_one_name(world: World) -> None:
    import asyncio

    svc = world.service

    async def race() -> list[str]:
        made = await asyncio.gather(*(svc.create("race", reference=f"c{i}") for i in range(8)))
        await asyncio.gather(*(svc.release("race", f"c{i}") for i in range(8)))
        return [v.record.name for v in made]

    assert world.run(race()) == ["race"] * 8
    creates = [e for e in world.events.history(0) if e.action == "create"]
    assert len(creates) == 1
    assert world.call(lambda: svc.get("race")).record.refs == []
    assert svc._locks == {}  # locks go with their last user
