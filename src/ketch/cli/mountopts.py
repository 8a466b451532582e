"""``-v``, ``--mount`` and ``--tmpfs`` of ``run``/``create``, parsed as the Docker CLI 28 does.

The CLI does part of the work before the daemon sees anything, and what it
sends differs per flag:

* ``-v SPEC``: parsed with compose's volume grammar (Windows drive letters
  survive, empty sections and a fourth colon are refused); a spec with a
  source goes to ``HostConfig.Binds`` (a source starting with ``.`` made
  absolute against the working directory), one without to
  ``Config.Volumes``;
* ``--mount k=v,...``: a CSV record of options, turned into one
  ``HostConfig.Mounts`` object; mistakes are flag errors (``invalid argument
  "..." for "--mount" flag: ...``);
* ``--tmpfs DST[:OPTS]``: split at the first colon into ``HostConfig.Tmpfs``.

Every message is the Docker CLI's, since scripts match them.
"""

from __future__ import annotations

import os

from ketch.cli.containeropts import OptionError
from ketch.sizes import ram_in_bytes

TYPE_CHECKING = False  # typing is not imported at run time: it costs startup time
if TYPE_CHECKING:
    from typing import Any

PROPAGATIONS = ("rprivate", "private", "rshared", "shared", "rslave", "slave")
_TRUE = ("1", "t", "T", "TRUE", "true", "True")
_FALSE = ("0", "f", "F", "FALSE", "false", "False")


# --- a CSV record, as Go's encoding/csv reads one --------------------------------------


def _csv_error(column: int, what: str) -> ValueError:
    return ValueError(f"parse error on line 1, column {column}: {what}")


def csv_record(text: str) -> list[str]:
    """The first record of *text* as ``csv.Reader.Read`` returns it (or its error)."""
    if not text:
        raise ValueError("EOF")
    fields: list[str] = []
    data = text.encode()
    pos = 0  # byte offsets: Go counts columns in bytes
    col = 1
    while True:
        if data[pos:pos + 1] != b'"':
            end = data.find(b",", pos)
            stop = end if end >= 0 else len(data)
            field = data[pos:stop]
            newline = field.find(b"\n")
            if newline >= 0:
                field, end = field[:newline], -1
            field = field.removesuffix(b"\r")
            quote = field.find(b'"')
            if quote >= 0:
                raise _csv_error(col + quote, 'bare " in non-quoted-field')
            fields.append(field.decode())
            if end < 0:
                return fields
            col += end - pos + 1
            pos = end + 1
            continue
        pos += 1
        col += 1
        buf = bytearray()
        while True:
            quote = data.find(b'"', pos)
            if quote < 0:
                buf += data[pos:]
                col += len(data) - pos
                raise _csv_error(col, 'extraneous or missing " in quoted-field')
            buf += data[pos:quote]
            col += quote - pos + 1
            pos = quote + 1
            nxt = data[pos:pos + 1]
            if nxt == b'"':
                buf += b'"'
                pos += 1
                col += 1
                continue
            if nxt == b",":
                pos += 1
                col += 1
                fields.append(buf.decode())
                break
            if nxt in (b"", b"\n") or data[pos:] == b"\r" or data[pos:pos + 2] == b"\r\n":
                fields.append(buf.decode())
                return fields
            raise _csv_error(col - 1, 'extraneous or missing " in quoted-field')


# --- --mount ------------------------------------------------------------------------


def _parse_bool(key: str, value: str) -> bool:
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(f"invalid value for {key}: {value}")


def parse_mount(value: str) -> dict[str, Any]:
    """One ``--mount`` value as the ``HostConfig.Mounts`` object docker sends.

    Raises ValueError with docker's message (the flag parser prefixes it with
    ``invalid argument "VALUE" for "--mount" flag: ``).
    """
    fields = csv_record(value)
    mount: dict[str, Any] = {"Type": "volume"}
    bind: dict[str, Any] | None = None
    volume: dict[str, Any] | None = None
    image: dict[str, Any] | None = None
    tmpfs: dict[str, Any] | None = None

    def volume_options() -> dict[str, Any]:
        nonlocal volume
        if volume is None:
            volume = {"Labels": {}}
        volume.setdefault("DriverConfig", {})
        return volume

    def bind_options() -> dict[str, Any]:
        nonlocal bind
        if bind is None:
            bind = {}
        return bind

    def tmpfs_options() -> dict[str, Any]:
        nonlocal tmpfs
        if tmpfs is None:
            tmpfs = {}
        return tmpfs

    def set_kv(target: dict[str, str], text: str) -> None:
        key, _, val = text.partition("=")
        if key:
            target[key] = val

    for field in fields:
        key, eq, val = field.partition("=")
        key = key.lower()
        if not eq:
            if key in ("readonly", "ro"):
                mount["ReadOnly"] = True
            elif key == "volume-nocopy":
                volume_options()["NoCopy"] = True
            elif key == "bind-nonrecursive":
                bind_options()["NonRecursive"] = True
            else:
                raise ValueError(f"invalid field '{field}' must be a key=value pair")
            continue
        if key == "type":
            mount["Type"] = val.lower()
        elif key in ("source", "src"):
            mount["Source"] = val
            if not val.startswith("/") and val.startswith("."):
                mount["Source"] = os.path.abspath(val)
        elif key in ("target", "dst", "destination"):
            mount["Target"] = val
        elif key in ("readonly", "ro"):
            mount["ReadOnly"] = _parse_bool(key, val)
        elif key == "consistency":
            mount["Consistency"] = val.lower()
        elif key == "bind-propagation":
            bind_options()["Propagation"] = val.lower()
        elif key == "bind-nonrecursive":
            bind_options()["NonRecursive"] = _parse_bool(key, val)
        elif key == "bind-recursive":
            if val == "enabled":
                pass
            elif val == "disabled":
                bind_options()["NonRecursive"] = True
            elif val == "writable":
                bind_options()["ReadOnlyNonRecursive"] = True
            elif val == "readonly":
                bind_options()["ReadOnlyForceRecursive"] = True
            else:
                raise ValueError(f'invalid value for {key}: {val} (must be "enabled", '
                                 '"disabled", "writable", or "readonly")')
        elif key == "volume-subpath":
            volume_options()["Subpath"] = val
        elif key == "volume-nocopy":
            try:
                volume_options()["NoCopy"] = _parse_bool(key, val)
            except ValueError:
                raise ValueError(f"invalid value for volume-nocopy: {val}") from None
        elif key == "volume-label":
            set_kv(volume_options()["Labels"], val)
        elif key == "volume-driver":
            volume_options()["DriverConfig"]["Name"] = val
        elif key == "volume-opt":
            set_kv(volume_options()["DriverConfig"].setdefault("Options", {}), val)
        elif key == "image-subpath":
            if image is None:
                image = {}
            image["Subpath"] = val
        elif key == "tmpfs-size":
            try:
                tmpfs_options()["SizeBytes"] = ram_in_bytes(val)
            except ValueError:
                raise ValueError(f"invalid value for {key}: {val}") from None
        elif key == "tmpfs-mode":
            if not val or any(c not in "01234567" for c in val) or int(val, 8) >= 1 << 32:
                raise ValueError(f"invalid value for {key}: {val}")
            tmpfs_options()["Mode"] = int(val, 8)
        else:
            raise ValueError(f"unexpected key '{key}' in '{field}'")

    kind = mount["Type"]
    if not kind:
        raise ValueError("type is required")
    if not mount.get("Target"):
        raise ValueError("target is required")
    for options, prefix in ((volume, "volume"), (image, "image"), (bind, "bind"),
                            (tmpfs, "tmpfs")):
        if options is not None and kind != prefix:
            raise ValueError(f"cannot mix '{prefix}-*' options with mount type '{kind}'")
    if bind is not None:
        if bind.get("ReadOnlyNonRecursive") and not mount.get("ReadOnly"):
            raise ValueError("option 'bind-recursive=writable' requires 'readonly' to be "
                             "specified in conjunction")
        if bind.get("ReadOnlyForceRecursive"):
            if not mount.get("ReadOnly"):
                raise ValueError("option 'bind-recursive=readonly' requires 'readonly' to be "
                                 "specified in conjunction")
            if bind.get("Propagation") != "rprivate":
                raise ValueError("option 'bind-recursive=readonly' requires "
                                 "'bind-propagation=rprivate' to be specified in conjunction")
    return _mount_json(mount, bind, volume, image, tmpfs)


def _mount_json(mount: dict[str, Any], bind: dict[str, Any] | None,
                volume: dict[str, Any] | None, image: dict[str, Any] | None,
                tmpfs: dict[str, Any] | None) -> dict[str, Any]:
    """The object in Go's field order, empty fields left out (``omitempty``)."""
    out: dict[str, Any] = {}
    for key in ("Type", "Source", "Target", "ReadOnly", "Consistency"):
        if mount.get(key):
            out[key] = mount[key]
    if bind is not None:
        out["BindOptions"] = {k: bind[k] for k in (
            "Propagation", "NonRecursive", "CreateMountpoint", "ReadOnlyNonRecursive",
            "ReadOnlyForceRecursive") if bind.get(k)}
    if volume is not None:
        opts: dict[str, Any] = {}
        if volume.get("NoCopy"):
            opts["NoCopy"] = True
        if volume.get("Labels"):
            opts["Labels"] = volume["Labels"]
        if volume.get("Subpath"):
            opts["Subpath"] = volume["Subpath"]
        driver = volume.get("DriverConfig", {})
        opts["DriverConfig"] = {k: driver[k] for k in ("Name", "Options") if driver.get(k)}
        out["VolumeOptions"] = opts
    if image is not None:
        out["ImageOptions"] = {"Subpath": image["Subpath"]} if image.get("Subpath") else {}
    if tmpfs is not None:
        out["TmpfsOptions"] = {k: tmpfs[k] for k in ("SizeBytes", "Mode") if tmpfs.get(k)}
    return out


# --- -v / --volume ------------------------------------------------------------------------


def _is_windows_drive(buffer: str, char: str) -> bool:
    return char == ":" and len(buffer) == 1 and buffer.isalpha()


def _is_file_path(source: str) -> bool:
    if source[0] in ".~/":
        return True
    if len(source) == 1:
        return False
    if source.startswith("\\\\"):
        return True
    return _is_windows_drive(source[0], source[1])


class VolumeSpec:
    """What compose's ``ParseVolume`` makes of a ``-v`` value."""

    def __init__(self) -> None:
        self.type = "volume"
        self.source = ""
        self.target = ""
        self.read_only = False
        self.nocopy = False
        self.propagation = ""


def parse_volume_spec(spec: str) -> VolumeSpec:
    """compose's ``loader.ParseVolume``; raises OptionError with its message."""
    volume = VolumeSpec()
    if not spec:
        raise OptionError("invalid empty volume spec")
    if len(spec) <= 2:
        volume.target = spec
        return volume
    buffer = ""
    end = "\0"
    for char in spec + end:
        if _is_windows_drive(buffer, char):
            buffer += char
        elif char in (":", end):
            problem = _fill_field(char == end, buffer, volume)
            if problem:
                raise OptionError(f"invalid spec: {spec}: {problem}")
            buffer = ""
        else:
            buffer += char
    if volume.source and _is_file_path(volume.source):
        volume.type = "bind"
    return volume


def _fill_field(at_end: bool, buffer: str, volume: VolumeSpec) -> str:
    if not buffer:
        return "empty section between colons"
    if not volume.source and at_end:
        volume.target = buffer
        return ""
    if not volume.source:
        volume.source = buffer
        return ""
    if not volume.target:
        volume.target = buffer
        return ""
    if not at_end:
        return "too many colons"
    for option in buffer.split(","):
        if option == "ro":
            volume.read_only = True
        elif option == "rw":
            volume.read_only = False
        elif option == "nocopy":
            volume.nocopy = True
        elif option in PROPAGATIONS:
            volume.propagation = option
    return ""


def split_volumes(values: list[str]) -> tuple[list[str] | None, dict[str, dict[str, Any]]]:
    """``-v`` values -> (``HostConfig.Binds``, ``Config.Volumes``), docker's way.

    Docker keeps the values in a set first, so a repeated value counts once.
    """
    binds: list[str] = []
    volumes: dict[str, dict[str, Any]] = {}
    for value in dict.fromkeys(values):
        parsed = parse_volume_spec(value)
        if not parsed.source:
            volumes[value] = {}
            continue
        bind = value
        if parsed.type == "bind":
            host, sep, target = value.partition(":")
            if sep and not host.startswith("/") and host.startswith("."):
                bind = os.path.abspath(host) + ":" + target
        binds.append(bind)
    return (binds or None), volumes


# --- --tmpfs ----------------------------------------------------------------------------


def split_tmpfs(values: list[str]) -> dict[str, str]:
    """``--tmpfs /dst[:options]`` values -> ``HostConfig.Tmpfs`` (last one wins)."""
    out: dict[str, str] = {}
    for value in values:
        destination, _, options = value.partition(":")
        out[destination] = options
    return out
