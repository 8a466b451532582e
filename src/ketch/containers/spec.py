"""The OCI runtime spec (config.json) of a container, as Docker would write it.

:func:`build_spec` turns a :class:`SpecInput` (everything already decided
and resolved: user ids, host paths, limits) into the dict runc reads. What
it produces is checked field by field against the specs Docker 20.10
generates for the same containers (tests/containers/data/docker-specs/):

* namespaces mount, network, uts, pid, ipc, minus those shared with the
  host; a cgroup namespace where Docker makes one (cgroup v2 hosts);
* Docker's default capability set, in bounding, effective and permitted
  (effective and permitted stay empty for a non-root user, as in Docker);
* Docker's masked and read-only /proc and /sys paths, its /proc, /dev,
  /dev/pts, /sys, /sys/fs/cgroup, /dev/mqueue and /dev/shm mounts, its
  device cgroup rules, and its default seccomp filter (see ``caps``);
* the engine's /etc/hostname, /etc/hosts and /etc/resolv.conf bound in;
* ``PATH`` and ``HOSTNAME`` (and ``TERM`` with a TTY) in the environment;
* ``--privileged``: every capability and host device, /sys writable,
  nothing masked, no seccomp filter.

Deliberate differences: "all capabilities" is what this daemon holds (see
``caps``); /sys/devices/virtual/powercap is masked too, as newer Docker
releases do; the network namespace of ``--network host`` is left out
instead of naming the host's by path (the same thing for runc).

Nothing here touches the filesystem except to list host devices for a
privileged container and read the host's limits and cgroup version.
"""

from __future__ import annotations

import os
import resource
import stat
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ketch.containers.caps import (
    all_capabilities,
    container_capabilities,
    host_capabilities,
    seccomp_profile,
)
from ketch.containers.users import ResolvedUser
from ketch.errors import InvalidArgument

OCI_VERSION = "1.0.2-dev"
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
DEFAULT_SHM_SIZE = 64 << 20
CGROUP_PARENT = "/ketch"
RLIM_INFINITY = 2**64 - 1

#: Files and directories of /proc and /sys a container must not read.
MASKED_PATHS: tuple[str, ...] = (
    "/proc/asound",
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
)

#: Parts of /proc a container may read but not write.
READONLY_PATHS: tuple[str, ...] = (
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
)

#: Device cgroup rules of an unprivileged container: deny all, allow the
#: standard character devices, deny /dev/fuse explicitly. (runc adds its
#: own allowances for /dev/pts, /dev/ptmx and friends.)
_DEVICE_RULES: tuple[dict[str, Any], ...] = (
    {"allow": False, "access": "rwm"},
    *(
        {"allow": True, "type": "c", "major": major, "minor": minor, "access": "rwm"}
        for major, minor in ((1, 5), (1, 3), (1, 9), (1, 8), (5, 0), (5, 1))
    ),
    {"allow": False, "type": "c", "major": 10, "minor": 229, "access": "rwm"},
)

#: ``--ulimit`` names -> rlimit types.
ULIMIT_TYPES: Mapping[str, str] = {
    "as": "RLIMIT_AS", "core": "RLIMIT_CORE", "cpu": "RLIMIT_CPU", "data": "RLIMIT_DATA",
    "fsize": "RLIMIT_FSIZE", "locks": "RLIMIT_LOCKS", "memlock": "RLIMIT_MEMLOCK",
    "msgqueue": "RLIMIT_MSGQUEUE", "nice": "RLIMIT_NICE", "nofile": "RLIMIT_NOFILE",
    "nproc": "RLIMIT_NPROC", "rss": "RLIMIT_RSS", "rtprio": "RLIMIT_RTPRIO",
    "rttime": "RLIMIT_RTTIME", "sigpending": "RLIMIT_SIGPENDING", "stack": "RLIMIT_STACK",
}

Sharing = Literal["private", "host"]


@dataclass(frozen=True)
class Ulimit:
    """One ``--ulimit name=soft:hard``; -1 means unlimited."""

    name: str
    soft: int
    hard: int


@dataclass(frozen=True)
class Resources:
    """Cgroup limits; 0 (or None) means "not set", as in HostConfig."""

    memory: int = 0
    memory_reservation: int = 0
    #: memory + swap; -1 unlimited. The API layer applies Docker's default
    #: of twice the memory limit.
    memory_swap: int = 0
    memory_swappiness: int | None = None
    oom_kill_disable: bool = False
    cpu_shares: int = 0
    cpu_period: int = 0
    cpu_quota: int = 0
    nano_cpus: int = 0
    cpuset_cpus: str = ""
    cpuset_mems: str = ""
    pids_limit: int = 0
    blkio_weight: int = 0


@dataclass(frozen=True)
class SpecInput:
    """Everything :func:`build_spec` needs, already resolved and validated."""

    container_id: str
    #: the mounted root filesystem (ContainerRootfs.mount)
    rootfs: Path
    #: Entrypoint + Cmd, already combined
    args: Sequence[str]
    #: also HOSTNAME in the environment; with --network host, Docker uses the
    #: host's own name (the caller decides)
    hostname: str = ""
    domainname: str = ""
    readonly_rootfs: bool = False
    #: Config.Env (image env merged with the user's); defaults are added here
    env: Sequence[str] = ()
    cwd: str = "/"
    #: users.resolve_user(); None is root with group 0
    user: ResolvedUser | None = None
    tty: bool = False
    #: initial (rows, columns) of the terminal, with tty
    console_size: tuple[int, int] | None = None
    privileged: bool = False
    cap_add: Sequence[str] = ()
    cap_drop: Sequence[str] = ()
    #: HostConfig.Capabilities: replaces the default set when given
    capabilities: Sequence[str] | None = None
    #: "default"/"none" (own namespace, loopback only), "host", or the path
    #: of a network namespace prepared by a network driver
    network: str = "default"
    ipc: Literal["private", "host", "none"] = "private"
    pid: Sharing = "private"
    uts: Sharing = "private"
    #: None: Docker's default for this host (private on cgroup v2, else host)
    cgroupns: Sharing | None = None
    shm_size: int = DEFAULT_SHM_SIZE
    hostname_path: Path | None = None
    hosts_path: Path | None = None
    resolv_conf_path: Path | None = None
    #: OCI mount objects (volumes, binds, tmpfs), already resolved
    mounts: Sequence[Mapping[str, Any]] = ()
    ulimits: Sequence[Ulimit] = ()
    oom_score_adj: int = 0
    #: None: /ketch/<id> (cgroupfs layout)
    cgroups_path: str | None = None
    resources: Resources = field(default_factory=Resources)
    sysctls: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    no_new_privileges: bool = False
    #: --security-opt seccomp=unconfined
    seccomp: bool = True
    #: HostConfig.MaskedPaths / ReadonlyPaths; None: Docker's defaults
    masked_paths: Sequence[str] | None = None
    readonly_paths: Sequence[str] | None = None


# -- environment -----------------------------------------------------------


def merge_env(base: Sequence[str], overrides: Sequence[str]) -> list[str]:
    """Docker's env merge: an override replaces the same variable in place or
    is appended; a bare ``NAME`` (no ``=``) removes NAME from *base*."""
    out: list[str | None] = list(base)
    index = {entry.partition("=")[0]: i for i, entry in enumerate(base)}
    for entry in overrides:
        name, sep, _ = entry.partition("=")
        if not sep:
            if name in index:
                out[index[name]] = None
            continue
        if name in index:
            out[index[name]] = entry
        else:
            out.append(entry)
    return [e for e in out if e is not None]


def container_env(env: Sequence[str], hostname: str, tty: bool) -> list[str]:
    """A process's environment: PATH, HOSTNAME (and TERM with a TTY), then *env*."""
    base = [f"PATH={DEFAULT_PATH}", f"HOSTNAME={hostname}"]
    if tty:
        base.append("TERM=xterm")
    return merge_env(base, env)


# -- pieces ----------------------------------------------------------------


def _capabilities(inp: SpecInput, uid: int) -> dict[str, list[str]]:
    caps = container_capabilities(
        inp.cap_add, inp.cap_drop, privileged=inp.privileged, capabilities=inp.capabilities
    )
    out = {"bounding": list(caps)}
    if uid == 0:
        out["effective"] = list(caps)
        out["permitted"] = list(caps)
    return out


def _host_hard_limit(rlimit_type: str) -> int:
    number = getattr(resource, rlimit_type, None)
    if number is None:
        return RLIM_INFINITY
    hard = resource.getrlimit(number)[1]
    return RLIM_INFINITY if hard == resource.RLIM_INFINITY else hard


def _rlimits(ulimits: Sequence[Ulimit]) -> list[dict[str, Any]]:
    """process.rlimits; a hard limit above ours is refused (runc could not set it)."""
    raise_ok = "CAP_SYS_RESOURCE" in host_capabilities()
    out: list[dict[str, Any]] = []
    for u in ulimits:
        kind = ULIMIT_TYPES.get(u.name)
        if kind is None:
            raise InvalidArgument(f"invalid ulimit type: {u.name}")
        soft = RLIM_INFINITY if u.soft == -1 else u.soft
        hard = RLIM_INFINITY if u.hard == -1 else u.hard
        if soft < 0 or hard < 0:
            raise InvalidArgument(f"invalid ulimit {u.name}: limits must be >= 0 or -1")
        if soft > hard:
            raise InvalidArgument(
                f"ulimit soft limit must be less than or equal to hard limit: {u.soft} > {u.hard}"
            )
        limit = _host_hard_limit(kind)
        if hard > limit and not raise_ok:
            raise InvalidArgument(
                f"ulimit {u.name}: hard limit {u.hard} is above the host's hard limit {limit}"
            )
        out.append({"type": kind, "hard": hard, "soft": soft})
    return out


def _cgroup_v2() -> bool:
    return Path("/sys/fs/cgroup/cgroup.controllers").exists()


def _namespaces(inp: SpecInput) -> list[dict[str, str]]:
    out = [{"type": "mount"}]
    if inp.network in ("default", "none", "bridge", ""):
        out.append({"type": "network"})
    elif inp.network != "host":
        if not inp.network.startswith("/"):
            raise InvalidArgument(f"invalid network mode {inp.network!r}")
        out.append({"type": "network", "path": inp.network})
    if inp.uts == "private":
        out.append({"type": "uts"})
    if inp.pid == "private":
        out.append({"type": "pid"})
    if inp.ipc != "host":
        out.append({"type": "ipc"})
    cgroupns = inp.cgroupns or ("private" if _cgroup_v2() else "host")
    if cgroupns == "private":
        out.append({"type": "cgroup"})
    return out


def _default_mounts(inp: SpecInput) -> list[dict[str, Any]]:
    sys_opts = ["nosuid", "noexec", "nodev"] + ([] if inp.privileged else ["ro"])
    cgroup_opts = ([] if inp.privileged else ["ro"]) + ["nosuid", "noexec", "nodev"]
    return [
        {"destination": "/proc", "type": "proc", "source": "proc",
         "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
         "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
        {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
         "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
        {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": sys_opts},
        {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
         "options": cgroup_opts},
        {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
         "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
         "options": ["nosuid", "noexec", "nodev", "mode=1777", f"size={inp.shm_size}"]},
    ]


def _depth(destination: str) -> int:
    return len(os.path.normpath(destination).split("/"))


def _mounts(inp: SpecInput) -> list[dict[str, Any]]:
    """Docker's defaults, then the engine's and the user's mounts, shallowest first.

    A user mount replaces a default one at the same place (a user /dev
    replaces everything under /dev too), and the engine's /etc files.
    """
    user = [dict(m) for m in inp.mounts]
    engine: list[dict[str, Any]] = []
    bind_opts = ["rbind", "ro", "rprivate"] if inp.readonly_rootfs else ["rbind", "rprivate"]
    for dest, src in (("/etc/resolv.conf", inp.resolv_conf_path),
                      ("/etc/hostname", inp.hostname_path),
                      ("/etc/hosts", inp.hosts_path)):
        if src is not None:
            engine.append({"destination": dest, "type": "bind", "source": str(src),
                           "options": list(bind_opts)})
    if inp.ipc == "host":
        engine.append({"destination": "/dev/shm", "type": "bind", "source": "/dev/shm",
                       "options": ["rbind", "rprivate"]})
    user_dests = {os.path.normpath(m["destination"]) for m in user}
    extra = [m for m in engine if m["destination"] not in user_dests] + user
    taken = {os.path.normpath(m["destination"]) for m in extra}
    dev_replaced = "/dev" in user_dests
    defaults = [
        m for m in _default_mounts(inp)
        if m["destination"] not in taken
        and not (dev_replaced and m["destination"].startswith("/dev/"))
        and not (m["destination"] == "/dev/shm" and inp.ipc == "none")
    ]
    return defaults + sorted(extra, key=lambda m: _depth(m["destination"]))


def _host_devices(top: str = "/dev") -> Iterator[dict[str, Any]]:
    """Every device node under /dev, as Docker lists them for --privileged."""
    try:
        names = sorted(os.listdir(top))
    except OSError:
        return
    for name in names:
        path = os.path.join(top, name)
        try:
            st = os.lstat(path)
        except OSError:
            continue
        if stat.S_ISDIR(st.st_mode):
            if name not in ("pts", "shm", "fd", "mqueue", ".lxc", ".lxd-mounts", ".udev"):
                yield from _host_devices(path)
            continue
        if name == "console" and top == "/dev":
            continue
        if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
            yield {
                "path": path,
                "type": "c" if stat.S_ISCHR(st.st_mode) else "b",
                "major": os.major(st.st_rdev),
                "minor": os.minor(st.st_rdev),
                "fileMode": stat.S_IMODE(st.st_mode),
                "uid": st.st_uid,
                "gid": st.st_gid,
            }


def cfs_period_quota(nano_cpus: int, period: int, quota: int) -> tuple[int, int]:
    """The CFS period and quota for the limits (``--cpus`` becomes a quota
    of a 100 ms period, as Docker sets it)."""
    if nano_cpus:
        return 100_000, nano_cpus * 100_000 // 1_000_000_000
    return period, quota


def _resources(inp: SpecInput) -> dict[str, Any]:
    r = inp.resources
    memory: dict[str, Any] = {}
    if r.memory:
        memory["limit"] = r.memory
    if r.memory_reservation:
        memory["reservation"] = r.memory_reservation
    if r.memory_swap:
        memory["swap"] = r.memory_swap
    if r.memory_swappiness is not None and r.memory_swappiness >= 0:
        memory["swappiness"] = r.memory_swappiness
    memory["disableOOMKiller"] = r.oom_kill_disable
    cpu: dict[str, Any] = {"shares": r.cpu_shares}
    period, quota = cfs_period_quota(r.nano_cpus, r.cpu_period, r.cpu_quota)
    if quota:
        cpu["quota"] = quota
    if period:
        cpu["period"] = period
    if r.cpuset_cpus:
        cpu["cpus"] = r.cpuset_cpus
    if r.cpuset_mems:
        cpu["mems"] = r.cpuset_mems
    devices = [{"allow": True, "access": "rwm"}] if inp.privileged else [
        dict(rule) for rule in _DEVICE_RULES
    ]
    out: dict[str, Any] = {"devices": devices, "memory": memory, "cpu": cpu}
    if r.pids_limit > 0:
        out["pids"] = {"limit": r.pids_limit}
    out["blockIO"] = {"weight": r.blkio_weight}
    return out


def _sysctls(inp: SpecInput) -> dict[str, str]:
    out: dict[str, str] = {}
    if inp.domainname and inp.uts == "private":
        out["kernel.domainname"] = inp.domainname
    out.update(inp.sysctls)
    if inp.network != "host":
        out.setdefault("net.ipv4.ip_unprivileged_port_start", "0")
        out.setdefault("net.ipv4.ping_group_range", "0 2147483647")
    return out


# -- the spec ----------------------------------------------------------------


def build_spec(inp: SpecInput) -> dict[str, Any]:
    """The runtime spec for *inp*: a dict ready for ``json.dumps`` into config.json.

    Raises InvalidArgument for what runc would refuse later in a less
    readable way: unknown capabilities, capabilities or ulimits beyond
    what the host grants, a bad network mode.
    """
    if not inp.args:
        raise InvalidArgument("no command specified")
    user = inp.user or ResolvedUser(0, 0, (0,))
    process: dict[str, Any] = {
        "user": {"uid": user.uid, "gid": user.gid,
                 "additionalGids": list(user.additional_gids)},
        "args": list(inp.args),
        "env": container_env(inp.env, inp.hostname, inp.tty),
        "cwd": inp.cwd or "/",
        "capabilities": _capabilities(inp, user.uid),
        "oomScoreAdj": inp.oom_score_adj,
    }
    if inp.tty:
        process["terminal"] = True
        if inp.console_size is not None:
            rows, cols = inp.console_size
            process["consoleSize"] = {"height": rows, "width": cols}
    if inp.ulimits:
        process["rlimits"] = _rlimits(inp.ulimits)
    if inp.no_new_privileges:
        process["noNewPrivileges"] = True

    linux: dict[str, Any] = {}
    sysctls = _sysctls(inp)
    if sysctls:
        linux["sysctl"] = sysctls
    linux |= {
        "resources": _resources(inp),
        "cgroupsPath": inp.cgroups_path or f"{CGROUP_PARENT}/{inp.container_id}",
        "namespaces": _namespaces(inp),
    }
    if inp.privileged:
        linux["devices"] = list(_host_devices())
    else:
        linux["maskedPaths"] = list(MASKED_PATHS if inp.masked_paths is None
                                    else inp.masked_paths)
        linux["readonlyPaths"] = list(READONLY_PATHS if inp.readonly_paths is None
                                      else inp.readonly_paths)
    if inp.seccomp and not inp.privileged:
        profile = seccomp_profile(process["capabilities"]["bounding"])
        if profile is not None:
            linux["seccomp"] = profile

    spec: dict[str, Any] = {
        "ociVersion": OCI_VERSION,
        "process": process,
        "root": {"path": str(inp.rootfs)},
    }
    if inp.readonly_rootfs:
        spec["root"]["readonly"] = True
    if inp.uts == "private":
        spec["hostname"] = inp.hostname
    spec["mounts"] = _mounts(inp)
    spec["linux"] = linux
    if inp.annotations:
        spec["annotations"] = dict(inp.annotations)
    return spec


def exec_process(
    container_process: Mapping[str, Any],
    *,
    args: Sequence[str],
    env: Sequence[str],
    cwd: str,
    user: ResolvedUser | None = None,
    tty: bool = False,
    privileged: bool = False,
    console_size: tuple[int, int] | None = None,
) -> dict[str, Any]:
    """The process object of an exec session, as Docker derives it.

    Starts from the container's own ``process`` (from its config.json):
    same capabilities, rlimits, no_new_privileges, oom score; replaces
    args, *env* (final: build it with ``merge_env(container_env(...),
    exec_env)``), cwd, terminal and, when given, the user. A privileged
    exec gets all capabilities.
    """
    if not args:
        raise InvalidArgument("No exec command specified")
    process = {k: v for k, v in container_process.items()
               if k not in ("terminal", "consoleSize")}
    process["args"] = list(args)
    process["env"] = list(env)
    process["cwd"] = cwd or "/"
    if user is not None:
        process["user"] = {"uid": user.uid, "gid": user.gid,
                           "additionalGids": list(user.additional_gids)}
    if privileged:
        caps = all_capabilities()
        process["capabilities"] = {k: list(caps) for k in
                                   ("bounding", "effective", "permitted", "inheritable")}
    if tty:
        process["terminal"] = True
        if console_size is not None:
            process["consoleSize"] = {"height": console_size[0], "width": console_size[1]}
    return process
