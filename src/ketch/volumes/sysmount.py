"""mount(2), umount2(2) and /proc/self/mountinfo, with fstab-style options.

The local volume driver mounts what ``docker volume create -o type=...
-o device=... -o o=...`` describes. Docker passes the ``o`` string through
moby/sys/mount: the words that are mount flags (``ro``, ``nosuid``,
``bind``, ``rprivate``, ...) become flags, the rest is the filesystem's data
string; a bind with ``ro`` needs a second, remounting call, and a
propagation flag a third. This module does the same with the C library, and
words its errors as Docker does (``mount tmpfs:/path, flags: 0x2, data:
size=1m: invalid argument``), since users read them in ``docker run``'s
failure message.

It also reads the mount table: is a path a mount point, what is mounted
below a directory (nothing may be when it is deleted), and the propagation
of the mount a path lives on (shared and slave bind propagation need it).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
from dataclasses import dataclass
from pathlib import Path

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)

MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_SYNCHRONOUS = 16
MS_REMOUNT = 32
MS_MANDLOCK = 64
MS_DIRSYNC = 128
MS_NOATIME = 1024
MS_NODIRATIME = 2048
MS_BIND = 4096
MS_REC = 16384
MS_SILENT = 32768
MS_UNBINDABLE = 1 << 17
MS_PRIVATE = 1 << 18
MS_SLAVE = 1 << 19
MS_SHARED = 1 << 20
MS_RELATIME = 1 << 21
MS_STRICTATIME = 1 << 24
MNT_DETACH = 2

_PTYPES = MS_SHARED | MS_PRIVATE | MS_SLAVE | MS_UNBINDABLE
_PFLAGS = _PTYPES | MS_REC | MS_SILENT

#: option word -> (clears the flag?, flag), as moby/sys/mount's table.
FLAGS: dict[str, tuple[bool, int]] = {
    "defaults": (False, 0),
    "ro": (False, MS_RDONLY),
    "rw": (True, MS_RDONLY),
    "suid": (True, MS_NOSUID),
    "nosuid": (False, MS_NOSUID),
    "dev": (True, MS_NODEV),
    "nodev": (False, MS_NODEV),
    "exec": (True, MS_NOEXEC),
    "noexec": (False, MS_NOEXEC),
    "sync": (False, MS_SYNCHRONOUS),
    "async": (True, MS_SYNCHRONOUS),
    "dirsync": (False, MS_DIRSYNC),
    "remount": (False, MS_REMOUNT),
    "mand": (False, MS_MANDLOCK),
    "nomand": (True, MS_MANDLOCK),
    "atime": (True, MS_NOATIME),
    "noatime": (False, MS_NOATIME),
    "diratime": (True, MS_NODIRATIME),
    "nodiratime": (False, MS_NODIRATIME),
    "bind": (False, MS_BIND),
    "rbind": (False, MS_BIND | MS_REC),
    "unbindable": (False, MS_UNBINDABLE),
    "runbindable": (False, MS_UNBINDABLE | MS_REC),
    "private": (False, MS_PRIVATE),
    "rprivate": (False, MS_PRIVATE | MS_REC),
    "shared": (False, MS_SHARED),
    "rshared": (False, MS_SHARED | MS_REC),
    "slave": (False, MS_SLAVE),
    "rslave": (False, MS_SLAVE | MS_REC),
    "relatime": (False, MS_RELATIME),
    "norelatime": (True, MS_RELATIME),
    "strictatime": (False, MS_STRICTATIME),
    "nostrictatime": (True, MS_STRICTATIME),
}


def go_errno_text(code: int) -> str:
    """The text Go prints for an errno: the C message, first letter lower-cased."""
    text = os.strerror(code)
    return text[:1].lower() + text[1:]


class MountError(OSError):
    """A failed mount call, worded as moby/sys/mount words it."""

    def __init__(self, code: int, op: str, source: str, target: str, flags: int,
                 data: str) -> None:
        where = f"{source}:{target}" if source else target
        text = f"{op} {where}"
        if flags:
            text += f", flags: 0x{flags:x}"
        if data:
            text += f", data: {data}"
        text += f": {go_errno_text(code)}"
        super().__init__(code, text)
        self.text = text

    def __str__(self) -> str:
        return self.text


def parse_options(options: str) -> tuple[int, str]:
    """(flags, data) of an fstab-style option string."""
    flags = 0
    data: list[str] = []
    for word in options.split(",") if options else []:
        entry = FLAGS.get(word)
        if entry is not None and entry[1]:
            clear, flag = entry
            flags = flags & ~flag if clear else flags | flag
        elif word:
            data.append(word)
    return flags, ",".join(data)


def sys_mount(source: str, target: str | Path, fstype: str, flags: int, data: str) -> int:
    """One mount(2) call as given (no option parsing): 0, or its errno.

    The building block of :func:`mount` and :func:`bind`, for callers that
    word their own errors (the container overlay mount). Empty strings are
    passed as NULL, as the kernel expects for a remount.
    """
    result = _libc.mount(source.encode() if source else None, os.fsencode(target),
                         fstype.encode() if fstype else None, ctypes.c_ulong(flags),
                         data.encode() if data else None)
    return 0 if result == 0 else ctypes.get_errno()


def umount2(target: str | Path, flags: int = 0) -> int:
    """One umount2(2) call: 0, or its errno (``MNT_DETACH`` in *flags* for lazy)."""
    if _libc.umount2(os.fsencode(target), flags) == 0:
        return 0
    return ctypes.get_errno()


def mount(device: str, target: Path, fstype: str, options: str) -> None:
    """Mount like moby's ``mount.Mount(device, target, type, options)``."""
    flags, data = parse_options(options)
    plain = flags & ~_PTYPES
    remount = bool(flags & MS_REMOUNT) or device in ("", "none")
    if not remount or data:
        code = sys_mount(device, str(target), fstype, plain, data)
        if code:
            raise MountError(code, "mount", device, str(target), plain, data)
    if flags & _PTYPES:
        code = sys_mount("", str(target), "", flags & _PFLAGS, "")
        if code:
            raise MountError(code, "remount", "", str(target), flags & _PFLAGS, "")
    if plain & (MS_BIND | MS_RDONLY) == MS_BIND | MS_RDONLY:
        code = sys_mount("", str(target), "", plain | MS_REMOUNT, "")
        if code:
            raise MountError(code, "remount-ro", "", str(target), plain | MS_REMOUNT, "")


def bind(source: str, target: Path) -> None:
    """A non-recursive, private bind mount (``source`` may be ``/proc/self/fd/N``).

    Private, so that unmounting it later never propagates to copies made of
    it (a container's mount of it)."""
    code = sys_mount(source, str(target), "none", MS_BIND, "")
    if code:
        raise MountError(code, "mount", source, str(target), MS_BIND, "")
    code = sys_mount("", str(target), "", MS_PRIVATE, "")
    if code:
        unmount(target)
        raise MountError(code, "remount", "", str(target), MS_PRIVATE, "")


def unmount(target: Path) -> None:
    """Lazy unmount; no error if nothing is mounted there (moby's ``Unmount``)."""
    code = umount2(target, MNT_DETACH)
    if code in (0, errno.EINVAL, errno.ENOENT):
        return
    raise MountError(code, "umount", "", str(target), MNT_DETACH, "")


# -- the mount table ----------------------------------------------------------


@dataclass(frozen=True)
class MountInfo:
    """One line of /proc/self/mountinfo."""

    mount_id: int
    parent_id: int
    root: str
    mount_point: str
    #: the optional fields: ``shared:N``, ``master:N``, ...
    optional: tuple[str, ...]
    fstype: str
    source: str


def _unescape(field: str) -> str:
    """mountinfo escapes space, tab, newline and backslash as ``\\ooo``."""
    if "\\" not in field:
        return field
    out = bytearray()
    raw = field.encode()
    i = 0
    while i < len(raw):
        octal = raw[i + 1:i + 4]
        if raw[i] == 0x5C and len(octal) == 3 and octal.isdigit():
            out.append(int(octal, 8))
            i += 4
        else:
            out.append(raw[i])
            i += 1
    return os.fsdecode(bytes(out))


def mount_table() -> list[MountInfo]:
    entries: list[MountInfo] = []
    with open("/proc/self/mountinfo", encoding="utf-8", errors="surrogateescape") as f:
        for line in f:
            fields = line.split()
            sep = fields.index("-", 6)
            entries.append(MountInfo(
                mount_id=int(fields[0]), parent_id=int(fields[1]), root=_unescape(fields[3]),
                mount_point=_unescape(fields[4]), optional=tuple(fields[6:sep]),
                fstype=fields[sep + 1], source=_unescape(fields[sep + 2])))
    return entries


def is_mount_point(path: Path) -> bool:
    target = os.path.realpath(path)
    return any(m.mount_point == target for m in mount_table())


def mounts_under(path: Path) -> list[str]:
    """Mount points at or below *path* (deepest first)."""
    top = os.path.realpath(path)
    prefix = top.rstrip("/") + "/"
    found = {m.mount_point for m in mount_table()
             if m.mount_point == top or m.mount_point.startswith(prefix)}
    return sorted(found, key=lambda p: (-p.count("/"), p))


def source_mount(path: str) -> MountInfo:
    """The mount that *path* lives on (the one with the longest matching mount point)."""
    target = os.path.realpath(path)
    best: MountInfo | None = None
    for m in mount_table():
        point = m.mount_point
        inside = target == point or point == "/" or target.startswith(point.rstrip("/") + "/")
        if inside and (best is None or len(point) >= len(best.mount_point)):
            best = m
    if best is None:  # pragma: no cover - "/" is always mounted
        raise FileNotFoundError(errno.ENOENT, "no mount found", path)
    return best
