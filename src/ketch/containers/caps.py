"""Capabilities of a container process, and the seccomp filter that follows them.

Docker decides a container's capability set from a fixed default list,
``--cap-add``/``--cap-drop`` (with ``ALL``) and ``--privileged``; its
default seccomp profile then allows extra system calls for some of those
capabilities (``mount`` with CAP_SYS_ADMIN, ``ptrace`` helpers with
CAP_SYS_PTRACE, ...). Both decisions live here because the second depends
on the first.

One difference from Docker is deliberate: "all capabilities" (privileged,
``--cap-add ALL``) means all those this daemon itself holds in its bounding
set, not every capability the kernel knows. A runtime cannot grant what its
caller lacks, and on our machines root lacks CAP_SYS_RESOURCE: Docker's
privileged containers fail there with "unable to apply caps", ketch's run.
Asking for such a capability by name is an error at create time instead.

The seccomp rules are data (``seccomp_default.json``, Docker's default
profile written down as facts); :func:`seccomp_profile` compiles them for
one container the way Docker does, into the ``linux.seccomp`` object of the
runtime spec.
"""

from __future__ import annotations

import functools
import json
import os
import platform
import re
from collections.abc import Iterable, Sequence
from importlib import resources
from typing import Any

from ketch.errors import InvalidArgument

#: Every capability by number, as ``capabilities(7)`` names them.
CAPABILITIES: tuple[str, ...] = (
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
    "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW",
    "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
    "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ",
    "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
)

#: Docker's default set, in Docker's order (it shows in the spec and in inspect).
DEFAULT_CAPABILITIES: tuple[str, ...] = (
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
    "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
)

ALL = "ALL"


def normalize_capability(name: str, field: str = "CapAdd") -> str:
    """``net_admin``/``NET_ADMIN``/``CAP_NET_ADMIN`` -> ``CAP_NET_ADMIN``; ``all`` -> ``ALL``.

    Unknown names are InvalidArgument with Docker's wording
    (``invalid CapAdd: unknown capability: "CAP_FOO"``).
    """
    upper = name.strip().upper()
    if upper == ALL:
        return ALL
    if not upper.startswith("CAP_"):
        upper = "CAP_" + upper
    if upper not in CAPABILITIES:
        raise InvalidArgument(f'invalid {field}: unknown capability: "{upper}"')
    return upper


def _normalize_all(names: Iterable[str], field: str) -> list[str]:
    out: list[str] = []
    for name in names:
        cap = normalize_capability(name, field)
        if cap not in out:
            out.append(cap)
    return out


@functools.cache
def host_capabilities() -> tuple[str, ...]:
    """The capabilities in this process's bounding set, by number.

    A container can get no more than this: runc (started by us) cannot
    raise a capability that is not in its own bounding set.
    """
    mask = 0
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("CapBnd:"):
                mask = int(line.split()[1], 16)
                break
    return tuple(cap for bit, cap in enumerate(CAPABILITIES) if mask >> bit & 1)


def all_capabilities() -> list[str]:
    """What "all capabilities" means here: every known one the host can grant."""
    return list(host_capabilities())


def container_capabilities(
    cap_add: Sequence[str] = (),
    cap_drop: Sequence[str] = (),
    *,
    privileged: bool = False,
    capabilities: Sequence[str] | None = None,
) -> list[str]:
    """The capability set of a container's process, by Docker's rules.

    Privileged: all. An explicit *capabilities* list (API ``HostConfig.
    Capabilities``) replaces the default set. Otherwise the default set
    minus *cap_drop* plus *cap_add*, where ``ALL`` in cap_add means all but
    the dropped ones and ``ALL`` in cap_drop means only the added ones.
    A named capability the host cannot grant is InvalidArgument.
    """
    if privileged:
        return all_capabilities()
    if capabilities is not None:
        caps = _normalize_all(capabilities, "Capabilities")
        if ALL in caps:
            raise InvalidArgument('invalid Capabilities: unknown capability: "ALL"')
    else:
        adds = _normalize_all(cap_add, "CapAdd")
        drops = _normalize_all(cap_drop, "CapDrop")
        if ALL in adds:
            caps = [c for c in all_capabilities() if c not in drops]
        elif ALL in drops:
            caps = adds
        else:
            caps = [c for c in DEFAULT_CAPABILITIES if c not in drops]
            caps += [c for c in adds if c not in caps]
    available = host_capabilities()
    missing = [c for c in caps if c not in available]
    if missing:
        raise InvalidArgument(
            f"capability {', '.join(missing)} is not available on this host "
            "(it is not in the daemon's bounding set)"
        )
    return caps


# -- seccomp ---------------------------------------------------------------


@functools.cache
def _profile_data() -> dict[str, Any]:
    text = resources.files("ketch.containers").joinpath("seccomp_default.json").read_text()
    data: dict[str, Any] = json.loads(text)
    return data


def _kernel_version() -> tuple[int, int]:
    match = re.match(r"(\d+)\.(\d+)", os.uname().release)
    return (int(match.group(1)), int(match.group(2))) if match else (0, 0)


def _version(text: str) -> tuple[int, int]:
    major, _, minor = text.partition(".")
    return int(major), int(minor or 0)


def seccomp_profile(
    bounding: Iterable[str],
    *,
    machine: str | None = None,
    kernel: tuple[int, int] | None = None,
) -> dict[str, Any] | None:
    """Docker's default seccomp filter for a process with this bounding set.

    The result is the spec's ``linux.seccomp`` object. None on a machine
    architecture the profile does not describe (only x86_64 and aarch64
    are): the container then runs without a filter, as with
    ``--security-opt seccomp=unconfined``.
    """
    data = _profile_data()
    arch = machine or platform.machine()
    architectures = data["architectures"].get(arch)
    if architectures is None:
        return None
    caps = set(bounding)
    running = kernel or _kernel_version()
    syscalls: list[dict[str, Any]] = []
    for rule in data["rules"]:
        if not all(c in caps for c in rule.get("caps", ())):
            continue
        if any(c in caps for c in rule.get("notCaps", ())):
            continue
        if "arches" in rule and arch not in rule["arches"]:
            continue
        if "minKernel" in rule and running < _version(rule["minKernel"]):
            continue
        compiled: dict[str, Any] = {
            "names": list(rule["names"]),
            "action": rule.get("action", "SCMP_ACT_ALLOW"),
        }
        if "args" in rule:
            compiled["args"] = [dict(a) for a in rule["args"]]
        if "errnoRet" in rule:
            compiled["errnoRet"] = rule["errnoRet"]
        syscalls.append(compiled)
    return {
        "defaultAction": data["defaultAction"],
        "architectures": list(architectures),
        "syscalls": syscalls,
    }
