#!/usr/bin/env python3
"""Capture the OCI runtime specs Docker 20.10 generates, as test data.

``ketch.containers.spec.build_spec`` must produce what Docker produces for
the same container. This script asks the reference engine (Debian's
dockerd 20.10, started privately on its own directories) to run a set of
variants of one busybox container and keeps each ``config.json`` it hands
to the OCI runtime, under ``tests/containers/data/docker-specs/``. The test
compares against those files, so it does not need dockerd at every run;
rerun this script to refresh them::

    .venv/bin/python tests/containers/capture_docker_specs.py

How the specs are caught: dockerd is given an extra OCI runtime, a small
shell wrapper that copies ``<bundle>/config.json`` away on ``create`` and
then runs runc. So a spec is captured even when the container cannot
start here (``--privileged`` asks for CAP_SYS_RESOURCE, which the test
machines' root does not have).

Besides one file per variant it writes ``seccomp-by-cap.json``: for each
capability outside Docker's default set, how the compiled seccomp profile
differs from the default one when that capability is added.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import stat
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from support.dockercli import docker  # noqa: E402
from support.engines import Dockerd  # noqa: E402
from support.images import build_offline_images, import_image  # noqa: E402

DATA = HERE / "data"
SPECS = DATA / "docker-specs"

#: The image every variant runs: busybox, plus a user who belongs to
#: supplementary groups (the offline busybox has only root and nobody).
USERS_PASSWD = (
    "root:x:0:0:root:/root:/bin/sh\n"
    "nobody:x:65534:65534:nobody:/home:/bin/false\n"
    "alice:x:1000:1000:Alice:/home/alice:/bin/sh\n"
)
USERS_GROUP = (
    "root:x:0:\n"
    "nogroup:x:65534:\n"
    "alice:x:1000:\n"
    "wheel:x:10:bob,alice\n"
    "staff:x:50:alice\n"
)

#: What dockerd sees as the host's /etc/resolv.conf and /etc/hosts (it runs
#: in a mount namespace of its own with these files bound over the real
#: ones), so that the filtering rules are exercised whatever this machine has.
HOST_RESOLV = {
    "mixed": (
        "# written by the capture script\n"
        "nameserver 127.0.0.1\n"
        "nameserver 10.1.2.3\n"
        "nameserver ::1\n"
        "search example.org corp.example\n"
        "options ndots:2 timeout:1\n"
    ),
    "localhost_only": "nameserver 127.0.0.1\nnameserver ::1\n\noptions edns0\n",
}
HOST_HOSTS = "127.0.0.1\tlocalhost\n10.9.9.9\tcapture-host.example capture-host\n"

#: Variants that only matter for the engine-managed /etc files:
#: name -> (docker run options, host resolv.conf key)
ETC_VARIANTS: dict[str, tuple[list[str], str]] = {
    "etc_default": ([], "mixed"),
    "etc_localhost_only": ([], "localhost_only"),
    "etc_dns": (["--dns", "1.1.1.1", "--dns", "9.9.9.9", "--dns-search", "x.example",
                 "--dns-option", "ndots:3"], "mixed"),
    "etc_dns_search_only": (["--dns-search", "x.example"], "mixed"),
    "etc_dns_search_dot": (["--dns-search", "."], "mixed"),
    "etc_add_host": (["--add-host", "db:10.0.0.5", "--add-host", "v6:fd00::5",
                      "-h", "web", "--domainname", "example.com"], "mixed"),
    "etc_host_network": (["--network", "host"], "mixed"),
    "etc_host_network_extra": (["--network", "host", "--add-host", "db:10.0.0.5"], "mixed"),
    "etc_host_network_dns": (["--network", "host", "--dns", "1.1.1.1"], "localhost_only"),
}

#: name -> (docker run options, image, command)
VARIANTS: dict[str, tuple[list[str], str, list[str]]] = {
    "default": ([], "busybox", ["sleep", "30"]),
    "tty": (["-t", "-i"], "busybox", ["sleep", "30"]),
    "privileged": (["--privileged"], "busybox", ["sleep", "30"]),
    "cap_add_drop": (
        ["--cap-add", "SYS_ADMIN", "--cap-add", "CAP_NET_ADMIN", "--cap-drop", "NET_RAW",
         "--cap-drop", "CAP_MKNOD"],
        "busybox", ["sleep", "30"],
    ),
    "cap_drop_all": (["--cap-drop", "ALL", "--cap-add", "CHOWN"], "busybox", ["sleep", "30"]),
    "cap_add_all": (["--cap-add", "ALL", "--cap-drop", "SYS_RESOURCE"], "busybox",
                    ["sleep", "30"]),
    "read_only": (["--read-only"], "busybox", ["sleep", "30"]),
    "network_none": (["--network", "none"], "busybox", ["sleep", "30"]),
    "network_host": (["--network", "host"], "busybox", ["sleep", "30"]),
    "user_nobody": (["-u", "nobody"], "busybox", ["sleep", "30"]),
    "user_numeric": (["-u", "1234:5678"], "busybox", ["sleep", "30"]),
    "user_groups": (["-u", "alice"], "users", ["sleep", "30"]),
    "user_group_add": (["-u", "alice:staff", "--group-add", "wheel", "--group-add", "777"],
                       "users", ["sleep", "30"]),
    "workdir": (["-w", "/x"], "busybox", ["sleep", "30"]),
    "shm_size": (["--shm-size", "128m"], "busybox", ["sleep", "30"]),
    "ulimit": (["--ulimit", "nofile=1024:2048"], "busybox", ["sleep", "30"]),
    "hostname": (["-h", "foo", "--domainname", "example.com"], "busybox", ["sleep", "30"]),
    "env": (["-e", "FOO=bar", "-e", "PATH=/opt/bin"], "busybox", ["sleep", "30"]),
    "resources": (
        ["--memory", "64m", "--cpus", "0.5", "--pids-limit", "100", "--oom-score-adj", "100",
         "--sysctl", "net.ipv4.ip_forward=1", "--security-opt", "no-new-privileges"],
        "busybox", ["sleep", "30"],
    ),
    "ipc_pid_uts_host": (["--ipc", "host", "--pid", "host", "--uts", "host"], "busybox",
                         ["sleep", "30"]),
}

#: Capabilities not in Docker's default set: each is added alone once to
#: learn how it changes the seccomp profile.
EXTRA_CAPS = [
    "AUDIT_CONTROL", "AUDIT_READ", "BLOCK_SUSPEND", "BPF", "CHECKPOINT_RESTORE",
    "DAC_READ_SEARCH", "IPC_LOCK", "IPC_OWNER", "LEASE", "LINUX_IMMUTABLE", "MAC_ADMIN",
    "MAC_OVERRIDE", "NET_ADMIN", "NET_BROADCAST", "PERFMON", "SYS_ADMIN", "SYS_BOOT",
    "SYS_MODULE", "SYS_NICE", "SYS_PACCT", "SYS_PTRACE", "SYS_RAWIO", "SYS_RESOURCE",
    "SYS_TIME", "SYS_TTY_CONFIG", "SYSLOG", "WAKE_ALARM",
]

WRAPPER = """#!/bin/sh
# Keep a copy of each config.json, then be runc.
bundle=""; prev=""; id=""
for a in "$@"; do
  [ "$prev" = "--bundle" ] && bundle="$a"
  prev="$a"; id="$a"
done
case " $* " in
  *" create "*) [ -n "$bundle" ] && cp "$bundle/config.json" "{out}/$id.json" ;;
esac
exec /usr/sbin/runc "$@"
"""


def users_image_tar() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name in ("etc/passwd", "etc/group"):
            data = (USERS_PASSWD if name.endswith("passwd") else USERS_GROUP).encode()
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, 1_704_067_200
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


class NamespacedDockerd(Dockerd):
    """dockerd in a mount namespace where /etc/resolv.conf and /etc/hosts are ours."""

    def __init__(self, root: Path, resolv: Path, hosts: Path, **kw: Any) -> None:
        super().__init__(root, **kw)
        self.resolv, self.hosts = resolv, hosts

    def argv(self) -> list[str]:
        script = (
            'r="$1"; h="$2"; shift 2; '
            'mount --bind "$r" /etc/resolv.conf && mount --bind "$h" /etc/hosts && exec "$@"'
        )
        return ["/usr/bin/unshare", "--mount", "--propagation", "private", "--",
                "/bin/sh", "-c", script, "sh", str(self.resolv), str(self.hosts),
                *super().argv()]


def etc_files(engine: Dockerd, cid: str) -> dict[str, dict[str, Any]]:
    """The hostname, hosts and resolv.conf Docker wrote for the container."""
    files: dict[str, dict[str, Any]] = {}
    for name in ("hostname", "hosts", "resolv.conf"):
        path = engine.data_root / "containers" / cid / name
        if path.exists():
            files[name] = {"content": path.read_text(), "mode": oct(path.stat().st_mode & 0o7777)}
    return files


def capture(engine: Dockerd, out: Path, name: str, opts: list[str], image: str,
            cmd: list[str]) -> dict[str, Any] | None:
    """Create and start one container; its spec as the runtime saw it.

    None when Docker refuses to create it (20.10 does not know the newest
    capabilities: BPF, PERFMON, CHECKPOINT_RESTORE).
    """
    created = docker(engine.env, "create", "--runtime", "capture", *opts, image, *cmd)
    if created.returncode != 0:
        print(f"{name}: not created: {created.stderr.strip()}")
        return None
    cid = created.stdout.strip()
    started = docker(engine.env, "start", cid)
    path = out / f"{cid}.json"
    deadline = time.monotonic() + 10
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    files = etc_files(engine, cid)
    docker(engine.env, "rm", "-f", cid)
    if not path.exists():
        raise SystemExit(f"{name}: no spec captured\n{started.describe()}")
    spec: dict[str, Any] = json.loads(path.read_text())
    return {
        "docker_run": opts,
        "image": image,
        "command": cmd,
        "container_id": cid,
        "started": started.returncode == 0,
        "start_error": "" if started.returncode == 0 else started.stderr.strip(),
        "etc_files": files,
        "spec": spec,
    }


def rule_key(rule: dict[str, Any]) -> str:
    return json.dumps(rule, sort_keys=True)


def main() -> int:
    if os.geteuid() != 0:
        raise SystemExit("run as root: dockerd needs it")
    work = Path(tempfile.mkdtemp(prefix="kcap-", dir="/tmp"))
    engine: Dockerd | None = None
    try:
        out = work / "specs"
        out.mkdir()
        out.chmod(0o777)
        wrapper = work / "capture-runc"
        wrapper.write_text(WRAPPER.replace("{out}", str(out)))
        wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        host_resolv, host_hosts = work / "host-resolv.conf", work / "host-hosts"
        host_resolv.write_text(HOST_RESOLV["mixed"])
        host_hosts.write_text(HOST_HOSTS)
        engine = NamespacedDockerd(
            work / "d", host_resolv, host_hosts,
            config={"runtimes": {"capture": {"path": str(wrapper)}}},
        )
        engine.start()
        images = build_offline_images(work / "images")
        import_image(engine.env, images, "busybox")
        users_tar = work / "users.tar"
        users_tar.write_bytes(users_image_tar())
        docker(engine.env, "import", str(users_tar), "users:latest").ok()

        SPECS.mkdir(parents=True, exist_ok=True)
        for old in SPECS.glob("*.json"):
            old.unlink()
        for name, (opts, image, cmd) in VARIANTS.items():
            record = capture(engine, out, name, opts, image, cmd)
            if record is None:
                raise SystemExit(f"variant {name} must be creatable")
            (SPECS / f"{name}.json").write_text(json.dumps(record, indent=1) + "\n")
            print(f"{name}: {'ran' if record['started'] else 'did not start'}")
        for name, (opts, resolv_key) in ETC_VARIANTS.items():
            # rewritten in place: the bind mount in dockerd's namespace follows the inode
            host_resolv.write_text(HOST_RESOLV[resolv_key])
            record = capture(engine, out, name, opts, "busybox", ["true"])
            if record is None:
                raise SystemExit(f"variant {name} must be creatable")
            record["host_resolv_conf"] = HOST_RESOLV[resolv_key]
            record["host_hosts"] = HOST_HOSTS
            record["host_hostname"] = os.uname().nodename
            del record["spec"]
            (SPECS / f"{name}.json").write_text(json.dumps(record, indent=1) + "\n")
        host_resolv.write_text(HOST_RESOLV["mixed"])

        base = json.loads((SPECS / "default.json").read_text())["spec"]["linux"]["seccomp"]
        base_rules = {rule_key(r) for r in base["syscalls"]}
        by_cap: dict[str, dict[str, list[dict[str, Any]]]] = {}
        for cap in EXTRA_CAPS:
            record = capture(engine, out, cap, ["--cap-add", cap], "busybox", ["true"])
            if record is None:
                continue
            rules = record["spec"]["linux"]["seccomp"]["syscalls"]
            keys = {rule_key(r) for r in rules}
            by_cap[f"CAP_{cap}"] = {
                "added": [r for r in rules if rule_key(r) not in base_rules],
                "removed": [r for r in base["syscalls"] if rule_key(r) not in keys],
            }
        (DATA / "seccomp-by-cap.json").write_text(json.dumps(by_cap, indent=1) + "\n")
        print(f"seccomp differences for {len(by_cap)} capabilities")
    finally:
        if engine is not None:
            engine.stop()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
