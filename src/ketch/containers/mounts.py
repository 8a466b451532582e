"""A container's mounts: Docker's specs parsed, validated and turned into OCI mounts.

A container asks for mounts five ways, each with Docker's grammar and
error messages (what ``docker run`` prints after "Error response from
daemon: ")::

    HostConfig.Binds        "name:/dst[:opts]", "/host:/dst[:opts]", "/dst"
    HostConfig.Mounts       [{"Type": "bind"|"volume"|"tmpfs", "Source", "Target", ...}]
    HostConfig.Tmpfs        {"/dst": "size=64m,mode=1777"}
    HostConfig.VolumesFrom  ["container[:ro|rw]"]
    Config.Volumes          {"/dst": {}} (the image's VOLUMEs and ``-v /dst``)

:func:`plan_mount_points` applies Docker's precedence (volumes-from, then
binds, then mounts; duplicates are errors) and yields :class:`MountPoint`
records, what ``docker inspect`` shows under ``Mounts``. Volumes named in
them are created and referenced by :mod:`ketch.volumes.attach`, which also
adds the anonymous volumes of ``Config.Volumes``. At start, once volume
paths are known, :func:`oci_mounts` makes the runtime spec's mount entries:
binds with ``rbind`` (or ``bind``), ``ro``/``rro`` and the propagation,
tmpfs with Docker's ``noexec,nosuid,nodev`` defaults merged with the
user's options, sorted so that no mount hides a deeper one.

Everything here is pure except two reads: whether a bind source exists
(``--mount type=bind`` refuses a missing one) and, for shared or slave
propagation, how the source's mount propagates (from /proc/self/mountinfo).
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec

from ketch.errors import InvalidArgument, NotFound

BIND = "bind"
VOLUME = "volume"
TMPFS = "tmpfs"
IMAGE = "image"

DEFAULT_PROPAGATION = "rprivate"
PROPAGATIONS = ("private", "rprivate", "shared", "rshared", "slave", "rslave")
_RW_MODES = ("rw", "ro")
_LABEL_MODES = ("z", "Z")
_CONSISTENCY_MODES = ("consistent", "cached", "delegated")
_COPY_MODES = {"nocopy": False}
#: Mount points the engine fills itself; a user mount there replaces its file.
NETWORK_FILES = ("/etc/resolv.conf", "/etc/hostname", "/etc/hosts")


# -- the API's Mount object ------------------------------------------------------


class BindOptions(msgspec.Struct, rename="pascal", omit_defaults=True):
    propagation: str = ""
    non_recursive: bool = False
    create_mountpoint: bool = False
    read_only_non_recursive: bool = False
    read_only_force_recursive: bool = False


class DriverConfig(msgspec.Struct, rename="pascal", omit_defaults=True):
    name: str = ""
    options: dict[str, str] | None = None


class VolumeOptions(msgspec.Struct, rename="pascal", omit_defaults=True):
    no_copy: bool = False
    labels: dict[str, str] | None = None
    subpath: str = ""
    driver_config: DriverConfig | None = None


class ImageOptions(msgspec.Struct, rename="pascal", omit_defaults=True):
    subpath: str = ""


class TmpfsOptions(msgspec.Struct, rename="pascal", omit_defaults=True):
    size_bytes: int = 0
    mode: int = 0
    options: list[list[str]] | None = None


class MountSpec(msgspec.Struct, rename="pascal", omit_defaults=True):
    """One entry of ``HostConfig.Mounts`` (Docker's ``mount.Mount``)."""

    type: str = ""
    source: str = ""
    target: str = ""
    read_only: bool = False
    consistency: str = ""
    bind_options: BindOptions | None = None
    volume_options: VolumeOptions | None = None
    image_options: ImageOptions | None = None
    tmpfs_options: TmpfsOptions | None = None
    cluster_options: dict[str, Any] | None = None


class MountPoint(msgspec.Struct):
    """Where one volume, host path or tmpfs appears in a container.

    Kept in the container's record; ``docker inspect`` shows it under
    ``Mounts`` (see ``ketch.api.volumes.mount_point_json``).
    """

    type: str
    destination: str
    #: host path of a bind; the volume's Mountpoint once the volume exists
    source: str = ""
    #: volume name ("" for an anonymous volume not created yet)
    name: str = ""
    driver: str = ""
    #: the options as the user wrote them in a bind ("ro,nocopy"); "z" for
    #: a volume of the local driver given without options
    mode: str = ""
    rw: bool = True
    propagation: str = ""
    #: fill the volume from the image on first use (volumes without nocopy)
    copy_data: bool = False
    #: the request that made it; ``spec.source == ""`` marks an anonymous
    #: volume of this container (``docker rm -v`` removes those)
    spec: MountSpec = msgspec.field(default_factory=MountSpec)
    #: a ``--mount type=bind`` source is never created (a ``-v`` one is)
    skip_mountpoint_creation: bool = False


_mount_decoder = msgspec.json.Decoder(MountSpec)


# -- small rules -------------------------------------------------------------------


def _clean(path: str) -> str:
    return posixpath.normpath(path) if path else "."


def _invalid_mount(spec: MountSpec, reason: str) -> InvalidArgument:
    return InvalidArgument(f'invalid mount config for type "{spec.type}": {reason}')


def _check_not_root(path: str) -> str | None:
    if _clean(path.replace("\\", "/")) == "/":
        return "invalid specification: destination can't be '/'"
    return None


def _check_absolute(path: str) -> str | None:
    slashed = path.replace("\\", "/")
    if slashed.startswith("/"):
        return None
    return f"invalid mount path: '{slashed}' mount path must be absolute"


def valid_mode(mode: str) -> bool:
    """Docker's ``linuxValidMountMode``: each kind of option at most once."""
    if not mode:
        return True
    counts = {"rw": 0, "label": 0, "propagation": 0, "copy": 0, "consistency": 0}
    for word in mode.split(","):
        if word in _RW_MODES:
            counts["rw"] += 1
        elif word in _LABEL_MODES:
            counts["label"] += 1
        elif word in PROPAGATIONS:
            counts["propagation"] += 1
        elif word in _COPY_MODES:
            counts["copy"] += 1
        elif word in _CONSISTENCY_MODES:
            counts["consistency"] += 1
        else:
            return False
    return all(n <= 1 for n in counts.values())


def _read_write(mode: str) -> bool:
    return valid_mode(mode) and "ro" not in mode.split(",")


def _propagation_in(mode: str) -> str:
    for word in mode.split(","):
        if word in PROPAGATIONS:
            return word
    return ""


def _copy_mode_in(mode: str) -> bool | None:
    for word in mode.split(","):
        if word in _COPY_MODES:
            return _COPY_MODES[word]
    return None


def is_local_path(path: str) -> bool:
    """Go's ``filepath.IsLocal`` on Unix."""
    if not path or path.startswith("/"):
        return False
    if any(part in (".", "..") for part in path.split("/")):
        path = posixpath.normpath(path)
    return not (path == ".." or path.startswith("../"))


# -- tmpfs ---------------------------------------------------------------------------


_TMPFS_OPTION_KEYS = ("exec", "noexec")


def convert_tmpfs_options(options: TmpfsOptions | None, read_only: bool) -> str:
    """The tmpfs data string of a ``type=tmpfs`` mount (Docker's ``ConvertTmpfsOptions``)."""
    words: list[str] = []
    if read_only:
        words.append("ro")
    if options is not None and options.mode:
        words.append(f"mode={options.mode:o}")
    if options is not None and options.size_bytes:
        size = options.size_bytes
        suffix = ""
        for unit, divisor in (("g", 1 << 30), ("m", 1 << 20), ("k", 1 << 10)):
            if size % divisor == 0:
                size, suffix = size // divisor, unit
                break
        words.append(f"size={size}{suffix}")
    if options is not None and options.options:
        for item in options.options:
            if not 1 <= len(item) <= 2:
                raise ValueError("invalid option array length")
            if item[0] not in _TMPFS_OPTION_KEYS:
                raise ValueError(f"invalid option: {item[0]}")
            words.append(item[0] if len(item) == 1 else f"{item[0]}={item[1]}")
    return ",".join(words)


#: flag word -> (the flag's identity, is it a propagation flag); "exec" and
#: "noexec" share one identity, so the later of the two wins.
_TMPFS_FLAGS: dict[str, str] = {
    "ro": "rdonly", "rw": "rdonly", "suid": "nosuid", "nosuid": "nosuid", "dev": "nodev",
    "nodev": "nodev", "exec": "noexec", "noexec": "noexec", "sync": "sync", "async": "sync",
    "dirsync": "dirsync", "remount": "remount", "mand": "mand", "nomand": "mand",
    "atime": "noatime", "noatime": "noatime", "diratime": "nodiratime",
    "nodiratime": "nodiratime", "bind": "propagation", "rbind": "propagation",
    "unbindable": "propagation", "runbindable": "propagation", "private": "propagation",
    "rprivate": "propagation", "shared": "propagation", "rshared": "propagation",
    "slave": "propagation", "rslave": "propagation", "relatime": "relatime",
    "norelatime": "relatime", "strictatime": "strictatime", "nostrictatime": "strictatime",
}
_TMPFS_DATA = ("", "size", "mode", "uid", "gid", "nr_inodes", "nr_blocks", "mpol")


def merge_tmpfs_options(options: Sequence[str]) -> list[str]:
    """moby's ``MergeTmpfsOptions``: the last of colliding options wins, order kept."""
    seen_flags: set[str] = set()
    seen_data: set[str] = set()
    merged: list[str] = []
    for option in reversed(options):
        if option == "defaults":
            continue
        flag = _TMPFS_FLAGS.get(option)
        if flag is not None:
            if flag not in seen_flags:
                merged.insert(0, option)
                seen_flags.add(flag)
            continue
        key, eq, _ = option.partition("=")
        if not eq or key not in _TMPFS_DATA:
            raise InvalidArgument(f'invalid tmpfs option "{key}"')
        if key not in seen_data:
            merged.insert(0, option)
            seen_data.add(key)
    return merged


def tmpfs_oci_options(data: str) -> list[str]:
    """Options of a tmpfs in the runtime spec: Docker's defaults, then *data*."""
    base = ["noexec", "nosuid", "nodev", DEFAULT_PROPAGATION]
    return merge_tmpfs_options(base + (data.split(",") if data else []))


def validate_tmpfs_destination(destination: str) -> None:
    """A ``HostConfig.Tmpfs`` key: absolute and not ``/``."""
    reason = _check_not_root(destination) or _check_absolute(destination)
    if reason:
        raise InvalidArgument(reason)


# -- HostConfig.Mounts -----------------------------------------------------------------


def decode_mount_specs(raw: Sequence[Mapping[str, Any] | MountSpec] | None) -> list[MountSpec]:
    """``HostConfig.Mounts`` as typed specs; a bad field is named with its path."""
    specs: list[MountSpec] = []
    for i, item in enumerate(raw or ()):
        if isinstance(item, MountSpec):
            specs.append(item)
            continue
        try:
            specs.append(msgspec.convert(item, MountSpec))
        except msgspec.ValidationError as exc:
            text = str(exc).replace("`$", f"`$.HostConfig.Mounts[{i}]", 1)
            raise InvalidArgument(text) from None
    return specs


def apply_api_version(specs: Sequence[MountSpec], api_version: str) -> bool:
    """What the API router does to Mounts per client version (in place).

    Returns True when read-only binds are non-recursive by default (API < 1.44).
    """
    version = _version(api_version)
    for spec in specs:
        if version < (1, 40) and spec.bind_options is not None:
            spec.bind_options.non_recursive = False
        if version < (1, 42):
            if spec.bind_options is not None:
                spec.bind_options.create_mountpoint = False
            if spec.volume_options is not None and spec.type != VOLUME:
                spec.volume_options = None
            if spec.tmpfs_options is not None and spec.type != TMPFS:
                spec.tmpfs_options = None
        else:
            if spec.volume_options is not None and spec.type != VOLUME:
                raise InvalidArgument(
                    f'VolumeOptions must not be specified on mount type "{spec.type}"')
            if spec.bind_options is not None and spec.type != BIND:
                raise InvalidArgument(
                    f'BindOptions must not be specified on mount type "{spec.type}"')
            if spec.tmpfs_options is not None and spec.type != TMPFS:
                raise InvalidArgument(
                    f'TmpfsOptions must not be specified on mount type "{spec.type}"')
        if (version < (1, 44) and spec.type == BIND and spec.bind_options is not None
                and spec.bind_options.read_only_force_recursive):
            raise InvalidArgument("BindOptions.ReadOnlyForceRecursive needs API v1.44 or newer")
        if (version < (1, 45) and spec.volume_options is not None
                and spec.volume_options.subpath):
            raise InvalidArgument("VolumeOptions.Subpath needs API v1.45 or newer")
        if version < (1, 48) and spec.type == IMAGE:
            raise InvalidArgument('Mount type "Image" needs API v1.48 or newer')
    return version < (1, 44)


def _version(text: str) -> tuple[int, int]:
    major, _, minor = text.partition(".")
    try:
        return int(major), int(minor)
    except ValueError:
        return (1, 0)


def _check_spec(spec: MountSpec, check_source: bool) -> None:
    """Docker 28's ``validateMountConfigImpl``."""
    reason = None
    if not spec.target:
        reason = "field Target must not be empty"
    else:
        reason = _check_not_root(spec.target) or _check_absolute(spec.target)
    if reason:
        raise _invalid_mount(spec, reason)
    if spec.type == BIND:
        _check_bind(spec, check_source)
    elif spec.type == VOLUME:
        if spec.bind_options is not None:
            raise _invalid_mount(spec, "field BindOptions must not be specified")
        if spec.image_options is not None:
            raise _invalid_mount(spec, "field ImageOptions must not be specified")
        anonymous = not spec.source
        subpath = spec.volume_options.subpath if spec.volume_options else ""
        if subpath:
            if anonymous:
                raise _invalid_mount(spec, "must not set Subpath when using anonymous volumes")
            if not is_local_path(subpath):
                raise _invalid_mount(spec, "subpath must be a relative path within the volume")
        if spec.read_only and anonymous:
            raise _invalid_mount(spec, "must not set ReadOnly mode when using anonymous volumes")
    elif spec.type == TMPFS:
        if spec.bind_options is not None:
            raise _invalid_mount(spec, "field BindOptions must not be specified")
        if spec.image_options is not None:
            raise _invalid_mount(spec, "field ImageOptions must not be specified")
        if spec.source:
            raise _invalid_mount(spec, "field Source must not be specified")
        try:
            convert_tmpfs_options(spec.tmpfs_options, spec.read_only)
        except ValueError as exc:
            raise _invalid_mount(spec, str(exc)) from None
    elif spec.type == IMAGE:
        if spec.bind_options is not None:
            raise _invalid_mount(spec, "field BindOptions must not be specified")
        if spec.volume_options is not None:
            raise _invalid_mount(spec, "field VolumeOptions must not be specified")
        if not spec.source:
            raise _invalid_mount(spec, "field Source must not be empty")
        raise _invalid_mount(spec, "image mounts are not supported by this engine yet")
    else:
        raise _invalid_mount(spec, "mount type unknown")


def _check_bind(spec: MountSpec, check_source: bool) -> None:
    if not spec.source:
        raise _invalid_mount(spec, "field Source must not be empty")
    options = spec.bind_options
    if options is not None and options.propagation and options.propagation not in PROPAGATIONS:
        raise _invalid_mount(spec, f"invalid propagation mode: {options.propagation}")
    if spec.volume_options is not None:
        raise _invalid_mount(spec, "field VolumeOptions must not be specified")
    if spec.image_options is not None:
        raise _invalid_mount(spec, "field ImageOptions must not be specified")
    reason = _check_absolute(spec.source)
    if reason:
        raise _invalid_mount(spec, reason)
    if check_source:
        try:
            os.stat(spec.source)
            exists = True
        except FileNotFoundError:
            exists = False
        except OSError as exc:
            raise _invalid_mount(spec, f"stat {spec.source}: {exc.strerror or exc}") from None
        if not exists and not (options is not None and options.create_mountpoint):
            raise _invalid_mount(spec, f"bind source path does not exist: {spec.source}")


def _point_from_spec(spec: MountSpec) -> MountPoint:
    """Docker's ``parseMountSpec`` once the spec is valid."""
    point = MountPoint(type=spec.type, destination=_clean(spec.target.replace("\\", "/")),
                       rw=not spec.read_only, spec=spec)
    if spec.type == VOLUME:
        point.name = spec.source
        point.copy_data = True
        if spec.volume_options is not None:
            if spec.volume_options.driver_config is not None:
                point.driver = spec.volume_options.driver_config.name
            if spec.volume_options.no_copy:
                point.copy_data = False
    elif spec.type == BIND:
        point.source = _clean(spec.source.replace("\\", "/"))
        options = spec.bind_options
        point.propagation = options.propagation if options and options.propagation \
            else DEFAULT_PROPAGATION
    return point


def parse_mount_spec(spec: MountSpec, check_source: bool = True) -> MountPoint:
    """One ``HostConfig.Mounts`` entry, validated (``ParseMountSpec``)."""
    _check_spec(spec, check_source)
    return _point_from_spec(spec)


def validate_mount_spec(spec: MountSpec) -> None:
    """The create-time check of a ``HostConfig.Mounts`` entry (``ValidateMountConfig``)."""
    _check_spec(spec, True)


# -- HostConfig.Binds ------------------------------------------------------------------


def _invalid_spec(raw: str) -> InvalidArgument:
    return InvalidArgument(f"invalid volume specification: '{raw}'")


def parse_bind(raw: str, volume_driver: str = "") -> MountPoint:
    """One ``HostConfig.Binds`` entry (Docker's ``ParseMountRaw``)."""
    parts = raw.split(":", 3)
    if not parts[0]:
        raise _invalid_spec(raw)
    spec = MountSpec()
    mode = ""
    if len(parts) == 1:
        spec.target = parts[0]
    elif len(parts) == 2:
        if valid_mode(parts[1]):
            raise _invalid_spec(raw)  # "/foo:rw": a destination and a mode is no volume
        spec.source, spec.target = parts
    elif len(parts) == 3:
        spec.source, spec.target, mode = parts
    else:
        raise _invalid_spec(raw)
    if not valid_mode(mode):
        raise InvalidArgument(f"invalid mode: {mode}")
    spec.type = BIND if spec.source.startswith("/") else VOLUME
    spec.read_only = not _read_write(mode)
    if volume_driver and spec.type == VOLUME:
        spec.volume_options = VolumeOptions(driver_config=DriverConfig(name=volume_driver))
    copy = _copy_mode_in(mode)
    if copy is not None:
        if spec.volume_options is None:
            spec.volume_options = VolumeOptions()
        spec.volume_options.no_copy = not copy
    propagation = _propagation_in(mode)
    if propagation:
        spec.bind_options = BindOptions(propagation=propagation)
    try:
        _check_spec(spec, check_source=False)
    except InvalidArgument as exc:
        raise InvalidArgument(f"invalid volume specification: '{raw}': {exc.message}") from None
    point = _point_from_spec(spec)
    point.mode = mode
    return point


# -- HostConfig.VolumesFrom --------------------------------------------------------------


def parse_volumes_from(spec: str) -> tuple[str, str]:
    """``container[:mode]`` -> (container, mode); mode is ``rw`` by default."""
    if not spec:
        raise InvalidArgument("volumes-from specification cannot be an empty string")
    container, _, mode = spec.partition(":")
    if not mode:
        return container, "rw"
    if not valid_mode(mode) or _propagation_in(mode) or _copy_mode_in(mode) is not None:
        raise InvalidArgument(f"invalid mode: {mode}")
    return container, mode


# -- the bind sources inside the daemon's root -------------------------------------------


def daemon_root_propagation(spec: MountSpec, daemon_root: str) -> bool:
    """True if a bind must get ``rslave`` propagation because its source is in
    (or contains) the daemon's root, so that the daemon can still unmount
    what it mounts there; an explicit private propagation is refused."""
    if spec.type != BIND or not daemon_root:
        return False
    if not spec.source.startswith(daemon_root) and not daemon_root.startswith(spec.source):
        return False
    if spec.bind_options is None:
        return True
    propagation = spec.bind_options.propagation
    if propagation in ("rslave", "rshared", ""):
        return propagation == ""
    raise InvalidArgument(
        'invalid mount config: must use either propagation mode "rslave" or "rshared" when '
        f'mount source is within the daemon root, daemon root: "{daemon_root}", bind mount '
        f'source: "{spec.source}", propagation: "{propagation}"')


# -- the whole plan ---------------------------------------------------------------------


#: Looks up another container's mount points (``--volumes-from``); raises NotFound.
ContainerMounts = Callable[[str], Sequence[MountPoint]]


def plan_mount_points(
    *,
    binds: Sequence[str] | None = None,
    mounts: Sequence[Mapping[str, Any] | MountSpec] | None = None,
    tmpfs: Mapping[str, str] | None = None,
    volumes_from: Sequence[str] | None = None,
    volume_driver: str = "",
    container_mounts: ContainerMounts | None = None,
    daemon_root: str = "",
    api_version: str = "1.50",
) -> list[MountPoint]:
    """A new container's mount points from its HostConfig, in Docker's order.

    Volume mount points come back without their volume (``source`` empty,
    ``name`` empty when anonymous): ``ketch.volumes.attach`` creates and
    references the volumes. Raises InvalidArgument with Docker's messages.
    """
    specs = decode_mount_specs(mounts)
    readonly_non_recursive = apply_api_version(specs, api_version)
    for spec in specs:
        validate_mount_spec(spec)
    for destination in tmpfs or {}:
        validate_tmpfs_destination(destination)

    points: dict[str, MountPoint] = {}
    for entry in volumes_from or ():
        ref, mode = parse_volumes_from(entry)
        if container_mounts is None:
            raise InvalidArgument(f"No such container: {ref}")
        try:
            others = container_mounts(ref)
        except NotFound as exc:
            raise InvalidArgument(exc.message) from None
        rw_allowed = _read_write(mode)
        for other in others:
            copied = msgspec.structs.replace(
                other, rw=other.rw and rw_allowed, mode="", copy_data=False,
                skip_mountpoint_creation=False)
            points[copied.destination] = copied

    taken: set[str] = set()
    for raw in binds or ():
        point = parse_bind(raw, volume_driver)
        if daemon_root_propagation(point.spec, daemon_root):
            point.propagation = "rslave"
        if point.destination in taken or point.destination in (tmpfs or {}):
            raise InvalidArgument(f"Duplicate mount point: {point.destination}")
        if point.type == BIND and not point.rw and readonly_non_recursive:
            if point.spec.bind_options is None:
                point.spec.bind_options = BindOptions()
            point.spec.bind_options.read_only_non_recursive = True
        taken.add(point.destination)
        points[point.destination] = point

    for spec in specs:
        point = parse_mount_spec(spec)
        if daemon_root_propagation(spec, daemon_root):
            point.propagation = "rslave"
        if point.destination in taken:
            raise InvalidArgument(f"Duplicate mount point: {spec.target}")
        if point.type == BIND:
            if spec.bind_options is None or not spec.bind_options.create_mountpoint:
                point.skip_mountpoint_creation = True
            if not point.rw and readonly_non_recursive:
                if point.spec.bind_options is None:
                    point.spec.bind_options = BindOptions()
                point.spec.bind_options.read_only_non_recursive = True
        taken.add(point.destination)
        points[point.destination] = point
    return list(points.values())


def image_volume_destinations(
    config_volumes: Mapping[str, Any] | None, points: Sequence[MountPoint],
    tmpfs: Mapping[str, str] | None = None,
) -> list[str]:
    """``Config.Volumes`` entries that need an anonymous volume: those with
    nothing mounted there yet (volumes-from, binds, mounts, tmpfs win)."""
    have = {p.destination for p in points} | set(tmpfs or {})
    out: list[str] = []
    for raw in config_volumes or {}:
        destination = _clean(raw)
        if not destination.startswith("/"):
            destination = _clean("/" + destination)
        if destination in have or destination in out:
            continue
        out.append(destination)
    return out


def anonymous_volume_point(destination: str, name: str, source: str,
                           driver: str = "local") -> MountPoint:
    """The mount point of an image's (or ``-v /dst``'s) anonymous volume, as
    Docker's ``AddMountPointWithVolume`` makes it (no mode, copy on)."""
    return MountPoint(type=VOLUME, destination=destination, source=source, name=name,
                      driver=driver, rw=True, copy_data=True)


# -- the runtime spec ---------------------------------------------------------------------


@dataclass(frozen=True)
class ResolvedMount:
    """A mount point with the host path the runtime binds (volume data dir, a
    pinned subpath, or the bind source); tmpfs points have none."""

    point: MountPoint
    host_path: str = ""


@dataclass(frozen=True)
class OciMounts:
    mounts: list[dict[str, Any]]
    #: ``linux.rootfsPropagation`` the spec needs ("" to leave it alone)
    rootfs_propagation: str = ""


#: (mount point of the source's mount, its optional mountinfo fields)
SourceMount = Callable[[str], tuple[str, Sequence[str]]]


def _default_source_mount(path: str) -> tuple[str, Sequence[str]]:
    from ketch.volumes.sysmount import source_mount

    info = source_mount(path)
    return info.mount_point, info.optional


def _depth(destination: str) -> int:
    return _clean(destination).count("/")


def _ro_option(point: MountPoint, recursive_readonly: bool) -> str:
    options = point.spec.bind_options if point.spec.type == BIND else None
    non_recursive = bool(options and options.read_only_non_recursive)
    force = bool(options and options.read_only_force_recursive)
    if force and not recursive_readonly:
        raise InvalidArgument("recursive read-only mounts are not supported by the runtime")
    return "rro" if recursive_readonly and not non_recursive else "ro"


def _check_bind_conflicts(point: MountPoint) -> None:
    options = point.spec.bind_options
    if point.spec.type != BIND or options is None:
        return
    if not point.spec.read_only and options.read_only_non_recursive:
        raise InvalidArgument(
            "mount options conflict: !ReadOnly && BindOptions.ReadOnlyNonRecursive")
    if not point.spec.read_only and options.read_only_force_recursive:
        raise InvalidArgument(
            "mount options conflict: !ReadOnly && BindOptions.ReadOnlyForceRecursive")
    if options.read_only_non_recursive and options.read_only_force_recursive:
        raise InvalidArgument(
            "mount options conflict: ReadOnlyNonRecursive && BindOptions.ReadOnlyForceRecursive")


def oci_mounts(
    resolved: Sequence[ResolvedMount],
    tmpfs: Mapping[str, str] | None = None,
    *,
    daemon_root: str = "",
    recursive_readonly: bool = False,
    source_mount: SourceMount | None = None,
) -> OciMounts:
    """The runtime spec's entries for a container's mounts, shallowest first.

    *recursive_readonly*: use ``rro`` for read-only binds (what Docker 25+
    does when the runtime and kernel support it); otherwise ``ro``, which
    leaves sub-mounts of the source writable. Raises InvalidArgument for
    propagation the host cannot give (a shared bind of a private source).
    """
    lookup = source_mount or _default_source_mount
    tmpfs = tmpfs or {}
    out: list[dict[str, Any]] = []
    rootfs_propagation = ""
    for dest, data in tmpfs.items():
        out.append({"destination": dest, "type": "tmpfs", "source": "tmpfs",
                    "options": tmpfs_oci_options(data)})
    for item in resolved:
        point = item.point
        if point.destination in tmpfs:
            continue
        if point.type == TMPFS:
            try:
                data = convert_tmpfs_options(point.spec.tmpfs_options, point.spec.read_only)
            except ValueError as exc:
                raise InvalidArgument(str(exc)) from None
            out.append({"destination": point.destination, "type": "tmpfs", "source": "tmpfs",
                        "options": tmpfs_oci_options(data)})
            continue
        _check_bind_conflicts(point)
        propagation = point.propagation
        if point.destination in NETWORK_FILES and not propagation:
            propagation = DEFAULT_PROPAGATION
        if propagation in ("shared", "rshared"):
            where, optional = lookup(item.host_path)
            if not any(o.startswith("shared:") for o in optional):
                raise InvalidArgument(
                    f"path {item.host_path} is mounted on {where} but it is not a shared mount")
            rootfs_propagation = "shared"
        elif propagation in ("slave", "rslave"):
            where, optional = lookup(item.host_path)
            ok = any(o.startswith(("shared:", "master:")) for o in optional)
            in_root = bool(daemon_root) and (item.host_path.startswith(daemon_root)
                                            or daemon_root.startswith(item.host_path))
            explicit = bool(point.spec.bind_options and point.spec.bind_options.propagation)
            if not ok and (not in_root or explicit):
                raise InvalidArgument(f"path {item.host_path} is mounted on {where} but it is "
                                      "not a shared or slave mount")
            if ok and rootfs_propagation != "shared":
                rootfs_propagation = "rslave"
        non_recursive = bool(point.spec.bind_options and point.spec.bind_options.non_recursive)
        options = ["bind" if non_recursive else "rbind"]
        if not point.rw:
            options.append(_ro_option(point, recursive_readonly))
        if propagation:
            options.append(propagation)
        out.append({"destination": point.destination, "type": "bind",
                    "source": item.host_path, "options": options})
    out.sort(key=lambda m: _depth(m["destination"]))
    return OciMounts(out, rootfs_propagation)
