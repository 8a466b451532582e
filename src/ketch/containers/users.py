"""Resolve a container's ``User`` against the image's /etc/passwd and /etc/group.

Docker's rules (those of runc's ``user.GetExecUser`` plus its own
``getUser``), which every image in the wild relies on:

* ``""`` is uid 0; a passwd entry for uid 0 (if any) gives gid and home.
* ``name`` must have a passwd entry; ``uid`` need not (then gid 0, home /).
* ``user:group``: the group, by name or gid, replaces the primary group;
  a group name must exist in /etc/group, a numeric gid need not.
* Without an explicit group, a user found *by name or uid* also gets
  every group whose member list names it (supplementary groups).
* The spec's ``additionalGids`` are the primary gid, then those
  supplementary groups, then ``--group-add`` (names or gids).

The files are read from the container's root filesystem with
:func:`ketch.containers.rootfs.read_file_in_root`, never by a host path:
an image's /etc/passwd may be a symlink meant to point at the host's.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ketch.containers.rootfs import read_file_in_root
from ketch.errors import InvalidArgument

PASSWD = "/etc/passwd"
GROUP = "/etc/group"
_MAX_ID = 2**31 - 1
_RANGE_ERROR = f"uids and gids must be in range 0-{_MAX_ID}"
_INTEGER = re.compile(r"[+-]?[0-9]+")


@dataclass(frozen=True)
class ResolvedUser:
    """The process identity for the runtime spec's ``process.user``."""

    uid: int
    gid: int
    additional_gids: tuple[int, ...]
    home: str = "/"


@dataclass(frozen=True)
class _Passwd:
    name: str
    uid: int
    gid: int
    home: str


@dataclass(frozen=True)
class _Group:
    name: str
    gid: int
    members: tuple[str, ...]


def _fields(data: bytes | None) -> list[list[str]]:
    if data is None:
        return []
    out: list[list[str]] = []
    for raw in data.decode("utf-8", "replace").splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            out.append(line.split(":"))
    return out


def _int(text: str) -> int | None:
    """A decimal integer (optionally signed, as Go's Atoi takes it), or None."""
    return int(text) if _INTEGER.fullmatch(text) else None


def _passwd_entries(data: bytes | None) -> list[_Passwd]:
    """name:password:uid:gid:gecos:home:shell; lines with a bad uid/gid are skipped."""
    out: list[_Passwd] = []
    for f in _fields(data):
        f += [""] * (7 - len(f))
        uid, gid = _int(f[2]), _int(f[3])
        if uid is not None and gid is not None:
            out.append(_Passwd(f[0], uid, gid, f[5]))
    return out


def _group_entries(data: bytes | None) -> list[_Group]:
    """name:password:gid:member,member,...; lines with a bad gid are skipped."""
    out: list[_Group] = []
    for f in _fields(data):
        f += [""] * (4 - len(f))
        gid = _int(f[2])
        if gid is not None:
            members = tuple(m for m in f[3].split(",") if m)
            out.append(_Group(f[0], gid, members))
    return out


def _checked(value: int) -> int:
    if not 0 <= value <= _MAX_ID:
        raise InvalidArgument(_RANGE_ERROR)
    return value


def resolve_user(rootfs: Path, user: str, group_add: Sequence[str] = ()) -> ResolvedUser:
    """uid, gid, additional gids and home for ``User`` *user* in *rootfs*.

    *rootfs* is the mounted root of the container (or any directory laid
    out like one). Errors are InvalidArgument with Docker's messages, e.g.
    ``unable to find user nobody2: no matching entries in passwd file``.
    """
    user_part, _, group_part = user.partition(":")
    group_part = group_part.split(":", 1)[0]
    uid_arg = _int(user_part)  # a numeric user is always a uid, never a name
    gid_arg = _int(group_part)
    passwd = _passwd_entries(read_file_in_root(rootfs, PASSWD))
    groups = _group_entries(read_file_in_root(rootfs, GROUP))

    uid, gid, home = 0, 0, "/"
    matched: _Passwd | None = None
    for entry in passwd:
        if (user_part == "" and entry.uid == 0) or (
            uid_arg is not None and entry.uid == uid_arg
        ) or (uid_arg is None and user_part != "" and entry.name == user_part):
            matched = entry
            break
    if matched is not None:
        uid, gid, home = matched.uid, matched.gid, matched.home
    elif user_part:
        if uid_arg is None:
            raise InvalidArgument(
                f"unable to find user {user_part}: no matching entries in passwd file"
            )
        uid = _checked(uid_arg)

    supplementary: list[int] = []
    if group_part:
        found = next(
            (g for g in groups if (g.gid == gid_arg if gid_arg is not None
                                   else g.name == group_part)),
            None,
        )
        if found is not None:
            gid = found.gid
        elif gid_arg is None:
            raise InvalidArgument(
                f"unable to find group {group_part}: no matching entries in group file"
            )
        else:
            gid = _checked(gid_arg)
    elif matched is not None:
        supplementary = [g.gid for g in groups if matched.name in g.members]

    added: list[int] = []
    for name in group_add:
        found = next((g for g in groups if g.name == name or str(g.gid) == name), None)
        if found is not None:
            added.append(found.gid)
            continue
        value = _int(name)
        if value is None:
            raise InvalidArgument(f"Unable to find group {name}")
        added.append(_checked(value))

    additional: list[int] = []
    for g in (gid, *supplementary, *added):
        if g not in additional:
            additional.append(g)
    return ResolvedUser(uid, gid, tuple(additional), home or "/")
