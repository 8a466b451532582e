"""containers/mounts.py: Docker's grammar for Binds, Mounts, Tmpfs and VolumesFrom,
its error messages, and the runtime-spec entries it makes.

Expected values come from Docker 28's source and from what the reference
Docker 20.10 answered and generated for the same requests (see also
test_docker_compat.py, which asks it live).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from ketch.containers import mounts as m
from ketch.errors import InvalidArgument, NotFound


def bind_fields(raw: str, driver: str = "") -> tuple[Any, ...]:
    p = m.parse_bind(raw, driver)
    return (p.type, p.name, p.source, p.destination, p.mode, p.rw, p.propagation, p.copy_data,
            p.driver)


@pytest.mark.parametrize(("raw", "expected"), [
    ("/data", ("volume", "", "", "/data", "", True, "", True, "")),
    ("vol:/data", ("volume", "vol", "", "/data", "", True, "", True, "")),
    ("vol:/data/:ro,nocopy", ("volume", "vol", "", "/data", "ro,nocopy", False, "", False, "")),
    ("/host//x/:/d", ("bind", "", "/host/x", "/d", "", True, "rprivate", False, "")),
    ("/host:/d:ro", ("bind", "", "/host", "/d", "ro", False, "rprivate", False, "")),
    ("/host:/d:rshared,z", ("bind", "", "/host", "/d", "rshared,z", True, "rshared", False, "")),
    ("/host:/d:cached,rw,Z", ("bind", "", "/host", "/d", "cached,rw,Z", True, "rprivate",
                              False, "")),
])
def test_parse_bind(raw: str, expected: tuple[Any, ...]) -> None:
    assert bind_fields(raw) == expected


def test_parse_bind_volume_driver_only_for_volumes() -> None:
    assert bind_fields("v1:/d", "local")[-1] == "local"
    assert bind_fields("/h:/d", "local")[-1] == ""


@pytest.mark.parametrize(("raw", "message"), [
    ("", "invalid volume specification: ''"),
    (":/d", "invalid volume specification: ':/d'"),
    ("/foo:rw", "invalid volume specification: '/foo:rw'"),
    ("/foo:", "invalid volume specification: '/foo:'"),
    ("a:b:c:d:e", "invalid volume specification: 'a:b:c:d:e'"),
    ("/h:/d:ro:x", "invalid volume specification: '/h:/d:ro:x'"),
    ("/h:/d:foo", "invalid mode: foo"),
    ("/h:/d:ro,rw", "invalid mode: ro,rw"),
    ("/h:/d:z,Z", "invalid mode: z,Z"),
    ("/a:relative", "invalid volume specification: '/a:relative': invalid mount config for "
                    "type \"bind\": invalid mount path: 'relative' mount path must be absolute"),
    ("/a:/", "invalid volume specification: '/a:/': invalid mount config for type \"bind\": "
             "invalid specification: destination can't be '/'"),
    ("vol:/d:rshared", "invalid volume specification: 'vol:/d:rshared': invalid mount config "
                       "for type \"volume\": field BindOptions must not be specified"),
    ("/h:/d:nocopy", "invalid volume specification: '/h:/d:nocopy': invalid mount config for "
                     "type \"bind\": field VolumeOptions must not be specified"),
])
def test_parse_bind_errors(raw: str, message: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        m.parse_bind(raw)
    assert info.value.message == message


def spec(**fields: Any) -> dict[str, Any]:
    return dict(fields)


@pytest.mark.parametrize(("mount", "message"), [
    (spec(Type="bind", Source="/nonexistent-x", Target="/d"),
     'invalid mount config for type "bind": bind source path does not exist: /nonexistent-x'),
    (spec(Type="bind", Source="rel", Target="/d"),
     "invalid mount config for type \"bind\": invalid mount path: 'rel' mount path must be "
     "absolute"),
    (spec(Type="bind", Target="/d"),
     'invalid mount config for type "bind": field Source must not be empty'),
    (spec(Type="volume", Target="d"),
     "invalid mount config for type \"volume\": invalid mount path: 'd' mount path must be "
     "absolute"),
    (spec(Type="volume", Target=""),
     'invalid mount config for type "volume": field Target must not be empty'),
    (spec(Type="volume", Target="/"),
     "invalid mount config for type \"volume\": invalid specification: destination can't be "
     "'/'"),
    (spec(Type="volume", Target="/a/.."),
     "invalid mount config for type \"volume\": invalid specification: destination can't be "
     "'/'"),
    (spec(Type="foo", Target="/d"), 'invalid mount config for type "foo": mount type unknown'),
    (spec(Type="npipe", Target="/d"),
     'invalid mount config for type "npipe": mount type unknown'),
    (spec(Type="tmpfs", Source="x", Target="/d"),
     'invalid mount config for type "tmpfs": field Source must not be specified'),
    (spec(Type="bind", Source="/tmp", Target="/d", BindOptions={"Propagation": "weird"}),
     'invalid mount config for type "bind": invalid propagation mode: weird'),
    (spec(Type="tmpfs", Target="/d", TmpfsOptions={"Options": [["foo"]]}),
     'invalid mount config for type "tmpfs": invalid option: foo'),
    (spec(Type="tmpfs", Target="/d", TmpfsOptions={"Options": [["a", "b", "c"]]}),
     'invalid mount config for type "tmpfs": invalid option array length'),
    (spec(Type="volume", Target="/d", ReadOnly=True),
     'invalid mount config for type "volume": must not set ReadOnly mode when using '
     'anonymous volumes'),
    (spec(Type="volume", Target="/d", VolumeOptions={"Subpath": "a"}),
     'invalid mount config for type "volume": must not set Subpath when using anonymous '
     'volumes'),
    (spec(Type="volume", Source="v1", Target="/d", VolumeOptions={"Subpath": "../a"}),
     'invalid mount config for type "volume": subpath must be a relative path within the '
     'volume'),
    (spec(Type="volume", Source="v1", Target="/d", VolumeOptions={"Subpath": "/a"}),
     'invalid mount config for type "volume": subpath must be a relative path within the '
     'volume'),
    (spec(Type="volume", Source="v1", Target="/d", BindOptions={}),
     'BindOptions must not be specified on mount type "volume"'),
    (spec(Type="bind", Source="/tmp", Target="/d", VolumeOptions={}),
     'VolumeOptions must not be specified on mount type "bind"'),
    (spec(Type="volume", Source="v1", Target="/d", TmpfsOptions={}),
     'TmpfsOptions must not be specified on mount type "volume"'),
    (spec(Type="volume", Target=5),
     "Expected `str`, got `int` - at `$.HostConfig.Mounts[0].Target`"),
])
def test_mount_spec_errors(mount: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        m.plan_mount_points(mounts=[mount])
    assert info.value.message == message


@pytest.mark.parametrize(("mount", "message"), [
    # before API 1.42 the router let these through to the parser
    (spec(Type="volume", Source="v1", Target="/d", BindOptions={}),
     'invalid mount config for type "volume": field BindOptions must not be specified'),
    (spec(Type="bind", Source="/tmp", Target="/d", VolumeOptions={}), None),
    (spec(Type="bind", Source="/tmp", Target="/d", BindOptions={"ReadOnlyForceRecursive": True}),
     "BindOptions.ReadOnlyForceRecursive needs API v1.44 or newer"),
    (spec(Type="volume", Source="v1", Target="/d", VolumeOptions={"Subpath": "a"}),
     "VolumeOptions.Subpath needs API v1.45 or newer"),
    (spec(Type="image", Source="busybox", Target="/d"),
     'Mount type "Image" needs API v1.48 or newer'),
])
def test_mount_spec_old_api(mount: dict[str, Any], message: str | None) -> None:
    if message is None:
        points = m.plan_mount_points(mounts=[mount], api_version="1.41")
        assert points[0].spec.volume_options is None
        return
    with pytest.raises(InvalidArgument) as info:
        m.plan_mount_points(mounts=[mount], api_version="1.41")
    assert info.value.message == message


def test_mount_points_from_mounts(tmp_path: Path) -> None:
    points = m.plan_mount_points(mounts=[
        spec(Type="bind", Source=str(tmp_path) + "/", Target="/b/"),
        spec(Type="bind", Source="/nonexistent-y", Target="/c",
             BindOptions={"CreateMountpoint": True, "Propagation": "rslave"}),
        spec(Type="volume", Source="v1", Target="/v", ReadOnly=True,
             VolumeOptions={"NoCopy": True, "DriverConfig": {"Name": "local"}}),
        spec(Type="volume", Target="/anon"),
        spec(Type="tmpfs", Target="/t", TmpfsOptions={"SizeBytes": 1 << 20, "Mode": 0o700}),
    ])
    got = [(p.type, p.name, p.source, p.destination, p.mode, p.rw, p.propagation, p.copy_data,
            p.driver, p.skip_mountpoint_creation) for p in points]
    assert got == [
        ("bind", "", str(tmp_path), "/b", "", True, "rprivate", False, "", True),
        ("bind", "", "/nonexistent-y", "/c", "", True, "rslave", False, "", False),
        ("volume", "v1", "", "/v", "", False, "", False, "local", False),
        ("volume", "", "", "/anon", "", True, "", True, "", False),
        ("tmpfs", "", "", "/t", "", True, "", False, "", False),
    ]
    # CreateMountpoint only exists since API 1.42: older clients cannot ask for it
    with pytest.raises(InvalidArgument, match="bind source path does not exist"):
        m.plan_mount_points(mounts=[spec(Type="bind", Source="/nonexistent-y", Target="/c",
                                         BindOptions={"CreateMountpoint": True})],
                            api_version="1.41")


def test_read_only_binds_are_non_recursive_for_old_clients() -> None:
    new = m.plan_mount_points(binds=["/tmp:/a:ro"])[0]
    old = m.plan_mount_points(binds=["/tmp:/a:ro"], api_version="1.43")[0]
    assert new.spec.bind_options is None
    assert old.spec.bind_options is not None and old.spec.bind_options.read_only_non_recursive


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"binds": ["/tmp:/d", "/tmp:/d/"]}, "Duplicate mount point: /d"),
    ({"binds": ["/tmp:/d"], "tmpfs": {"/d": ""}}, "Duplicate mount point: /d"),
    ({"binds": ["/tmp:/d"], "mounts": [spec(Type="volume", Target="/d/")]},
     "Duplicate mount point: /d/"),
    ({"mounts": [spec(Type="volume", Target="/d"), spec(Type="tmpfs", Target="/d")]},
     "Duplicate mount point: /d"),
    ({"tmpfs": {"d": ""}}, "invalid mount path: 'd' mount path must be absolute"),
    ({"tmpfs": {"/": ""}}, "invalid specification: destination can't be '/'"),
    ({"volumes_from": [""]}, "volumes-from specification cannot be an empty string"),
    ({"volumes_from": ["nope"]}, "No such container: nope"),
    ({"volumes_from": ["c1:rshared"]}, "invalid mode: rshared"),
    ({"volumes_from": ["c1:nocopy"]}, "invalid mode: nocopy"),
    ({"volumes_from": ["c1:bogus"]}, "invalid mode: bogus"),
    ({"binds": ["/var/lib/ketch-x:/d:private"]},
     'invalid mount config: must use either propagation mode "rslave" or "rshared" when mount '
     'source is within the daemon root, daemon root: "/var/lib/ketch-x", bind mount source: '
     '"/var/lib/ketch-x", propagation: "private"'),
])
def test_plan_errors(kwargs: dict[str, Any], message: str) -> None:
    def lookup(ref: str) -> Sequence[m.MountPoint]:
        raise NotFound(f"No such container: {ref}")

    with pytest.raises(InvalidArgument) as info:
        m.plan_mount_points(container_mounts=lookup, daemon_root="/var/lib/ketch-x", **kwargs)
    assert info.value.message == message


def test_precedence_volumes_from_binds_mounts() -> None:
    other = m.plan_mount_points(binds=["/etc:/shared:ro", "v1:/data", "/tmp:/x"])
    other[1].source, other[1].driver, other[1].mode = "/vols/v1/_data", "local", "z"
    calls: list[str] = []

    def lookup(ref: str) -> Sequence[m.MountPoint]:
        calls.append(ref)
        return other

    points = m.plan_mount_points(volumes_from=["src:ro"], binds=["/opt:/x"],
                                 container_mounts=lookup, daemon_root="/var/lib/k")
    assert calls == ["src"]
    by_dest = {p.destination: p for p in points}
    assert list(by_dest) == ["/shared", "/data", "/x"]
    # copied: mode dropped, read-only as asked, no copy-up, volume kept
    assert (by_dest["/data"].name, by_dest["/data"].source, by_dest["/data"].mode,
            by_dest["/data"].rw, by_dest["/data"].copy_data) == ("v1", "/vols/v1/_data", "",
                                                                  False, False)
    assert by_dest["/x"].source == "/opt"  # the bind wins over volumes-from
    # a bind into the daemon's root gets rslave propagation unless told otherwise
    inside = m.plan_mount_points(binds=["/var/lib/k/sub:/in", "/var:/up:rshared"],
                                 daemon_root="/var/lib/k")
    assert [p.propagation for p in inside] == ["rslave", "rshared"]


def test_image_volume_destinations() -> None:
    points = m.plan_mount_points(binds=["/tmp:/b"], mounts=[spec(Type="volume", Target="/m")])
    wanted = m.image_volume_destinations({"/b": {}, "/m/": {}, "/t": {}, "/new//": {},
                                          "rel": {}, "/new": {}}, points, {"/t": ""})
    assert wanted == ["/new", "/rel"]


@pytest.mark.parametrize(("options", "read_only", "expected"), [
    (None, False, ""),
    (None, True, "ro"),
    ({"SizeBytes": 1 << 20, "Mode": 0o700}, False, "mode=700,size=1m"),
    ({"SizeBytes": 3 << 30}, True, "ro,size=3g"),
    ({"SizeBytes": 1536}, False, "size=1536"),
    ({"SizeBytes": 4096}, False, "size=4k"),
    ({"Mode": 0o1777, "Options": [["exec"], ["noexec"]]}, False, "mode=1777,exec,noexec"),
])
def test_convert_tmpfs_options(options: dict[str, Any] | None, read_only: bool,
                               expected: str) -> None:
    import msgspec

    typed = msgspec.convert(options, m.TmpfsOptions) if options is not None else None
    assert m.convert_tmpfs_options(typed, read_only) == expected


@pytest.mark.parametrize(("data", "expected"), [
    # what Docker 20.10 wrote into config.json for the same --tmpfs values
    ("", ["noexec", "nosuid", "nodev", "rprivate"]),
    ("size=2m,exec", ["nosuid", "nodev", "rprivate", "size=2m", "exec"]),
    ("ro,mode=755,uid=5", ["noexec", "nosuid", "nodev", "rprivate", "ro", "mode=755", "uid=5"]),
    ("mode=700,size=1m", ["noexec", "nosuid", "nodev", "rprivate", "mode=700", "size=1m"]),
    ("size=1m,size=2m,rshared,defaults", ["noexec", "nosuid", "nodev", "size=2m", "rshared"]),
])
def test_tmpfs_oci_options(data: str, expected: list[str]) -> None:
    assert m.tmpfs_oci_options(data) == expected


def test_tmpfs_bad_option() -> None:
    with pytest.raises(InvalidArgument, match=r'^invalid tmpfs option "foo"$'):
        m.tmpfs_oci_options("foo")
    with pytest.raises(InvalidArgument, match=r'^invalid tmpfs option "bar"$'):
        m.tmpfs_oci_options("bar=1")


def _private(path: str) -> tuple[str, Sequence[str]]:
    return "/", ()


def _shared(path: str) -> tuple[str, Sequence[str]]:
    return "/", ("shared:1",)


def test_oci_mounts_like_docker() -> None:
    points = m.plan_mount_points(
        binds=["v1:/n", "/h:/b", "/h:/b2:ro", "/etc/hostname:/etc/hostname:ro"],
        mounts=[spec(Type="bind", Source="/tmp", Target="/mb", ReadOnly=True,
                     BindOptions={"NonRecursive": True}),
                spec(Type="tmpfs", Target="/mt", TmpfsOptions={"SizeBytes": 1 << 20,
                                                               "Mode": 0o700})])
    resolved = []
    for p in points:
        host = "/data/volumes/v1/_data" if p.type == "volume" else p.source
        resolved.append(m.ResolvedMount(p, host))
    result = m.oci_mounts(resolved, {"/t2": "size=2m,exec", "/t3": ""}, source_mount=_private)
    # Docker 20.10's config.json entries for the same container
    expected = [
        {"destination": "/t2", "type": "tmpfs", "source": "tmpfs",
         "options": ["nosuid", "nodev", "rprivate", "size=2m", "exec"]},
        {"destination": "/t3", "type": "tmpfs", "source": "tmpfs",
         "options": ["noexec", "nosuid", "nodev", "rprivate"]},
        {"destination": "/n", "type": "bind", "source": "/data/volumes/v1/_data",
         "options": ["rbind"]},
        {"destination": "/b", "type": "bind", "source": "/h", "options": ["rbind", "rprivate"]},
        {"destination": "/b2", "type": "bind", "source": "/h",
         "options": ["rbind", "ro", "rprivate"]},
        {"destination": "/mb", "type": "bind", "source": "/tmp",
         "options": ["bind", "ro", "rprivate"]},
        {"destination": "/mt", "type": "tmpfs", "source": "tmpfs",
         "options": ["noexec", "nosuid", "nodev", "rprivate", "mode=700", "size=1m"]},
        {"destination": "/etc/hostname", "type": "bind", "source": "/etc/hostname",
         "options": ["rbind", "ro", "rprivate"]},
    ]
    assert result.mounts == expected and result.rootfs_propagation == ""
    rro = m.oci_mounts(resolved, {}, recursive_readonly=True, source_mount=_private)
    options = {x["destination"]: x["options"] for x in rro.mounts}
    assert options["/b2"] == ["rbind", "rro", "rprivate"]


def test_oci_mounts_sorted_by_depth_and_tmpfs_wins() -> None:
    points = m.plan_mount_points(binds=["/h:/a/b/c", "/h:/a", "/h:/a/b"])
    resolved = [m.ResolvedMount(p, p.source) for p in points]
    result = m.oci_mounts(resolved, {"/a/b": ""}, source_mount=_private)
    assert [(x["destination"], x["type"]) for x in result.mounts] == [
        ("/a", "bind"), ("/a/b", "tmpfs"), ("/a/b/c", "bind")]


def test_oci_propagation_needs_a_suitable_source_mount() -> None:
    shared = m.plan_mount_points(binds=["/h:/s:rshared"])
    resolved = [m.ResolvedMount(p, p.source) for p in shared]
    with pytest.raises(InvalidArgument,
                       match=r"^path /h is mounted on / but it is not a shared mount$"):
        m.oci_mounts(resolved, source_mount=_private)
    assert m.oci_mounts(resolved, source_mount=_shared).rootfs_propagation == "shared"
    slave = [m.ResolvedMount(p, p.source) for p in m.plan_mount_points(binds=["/h:/s:rslave"])]
    with pytest.raises(InvalidArgument, match=r"not a shared or slave mount$"):
        m.oci_mounts(slave, source_mount=_private)
    assert m.oci_mounts(slave, source_mount=_shared).rootfs_propagation == "rslave"
    # in the daemon's root without an explicit propagation: private is tolerated
    inside = m.plan_mount_points(binds=["/root/k/x:/s"], daemon_root="/root/k")
    out = m.oci_mounts([m.ResolvedMount(inside[0], "/root/k/x")], daemon_root="/root/k",
                       source_mount=_private)
    assert out.mounts[0]["options"] == ["rbind", "rslave"] and out.rootfs_propagation == ""


def test_oci_bind_option_conflicts() -> None:
    point = m.plan_mount_points(mounts=[spec(Type="bind", Source="/tmp", Target="/x",
                                             BindOptions={"ReadOnlyNonRecursive": True})])[0]
    with pytest.raises(InvalidArgument, match=r"^mount options conflict: !ReadOnly && "
                                              r"BindOptions.ReadOnlyNonRecursive$"):
        m.oci_mounts([m.ResolvedMount(point, "/tmp")], source_mount=_private)
    forced = m.plan_mount_points(mounts=[spec(Type="bind", Source="/tmp", Target="/x",
                                              ReadOnly=True,
                                              BindOptions={"ReadOnlyForceRecursive": True})])[0]
    out = m.oci_mounts([m.ResolvedMount(forced, "/tmp")], recursive_readonly=True,
                       source_mount=_private)
    assert out.mounts[0]["options"] == ["rbind", "rro", "rprivate"]
    with pytest.raises(InvalidArgument, match="recursive read-only"):
        m.oci_mounts([m.ResolvedMount(forced, "/tmp")], source_mount=_private)
