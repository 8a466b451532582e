"""A generated spec really runs: ``runc run`` on the overlay-mounted busybox image.

The container looks at itself from the inside: Docker's default
capabilities (CapEff/CapBnd of /proc/self/status), a seccomp filter, the
given hostname, its own PID namespace (``ps`` shows only its processes),
/proc/kcore masked, /proc/sys read-only, the engine's /etc/hosts, and no
network interface but ``lo``. A second run checks a resolved non-root user
and a read-only root.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from ketch.containers.caps import CAPABILITIES, DEFAULT_CAPABILITIES
from ketch.containers.etcfiles import write_etc_files
from ketch.containers.spec import MASKED_PATHS, SpecInput, build_spec
from ketch.containers.users import resolve_user

from .conftest import Busybox

RUNC = shutil.which("runc") or "/usr/sbin/runc"
CGROUP_PARENT = "ketch-spec-test"

SCRIPT = r"""
grep -E '^(CapInh|CapPrm|CapEff|CapBnd|CapAmb|Seccomp):' /proc/self/status
echo "hostname=$(hostname)"
echo "pid=$$"
for p in {masked}; do
  if [ -d "$p" ]; then echo "masked $p=dir:$(ls -A "$p" | wc -l)"
  elif [ -e "$p" ]; then echo "masked $p=file:$(stat -c %t:%T "$p")"; fi
done
grep ' /proc/sys ' /proc/self/mountinfo | awk '{print "procsys=" $6}'
echo "net=$(ls /sys/class/net)"
echo "user=$(id -u):$(id -g)"
if touch /written 2>/dev/null; then echo root=rw; else echo root=ro; fi
echo ---ps
ps -o pid,args
echo ---hosts
cat /etc/hosts
"""


def _mask(caps: tuple[str, ...] | list[str]) -> str:
    return f"{sum(1 << CAPABILITIES.index(c) for c in caps):016x}"


def _parse(out: str) -> tuple[dict[str, str], list[str], str]:
    head, _, rest = out.partition("---ps\n")
    ps, _, hosts = rest.partition("---hosts\n")
    values = {}
    for line in head.splitlines():
        key, sep, value = line.partition("=") if "=" in line else line.partition(":")
        if sep:
            values[key.strip()] = value.strip()
    return values, ps.splitlines()[1:], hosts


@pytest.fixture
def container(busybox: Busybox, tmp_path: Path) -> Iterator[SpecInput]:
    """A mounted busybox rootfs, its /etc files and a SpecInput for it."""
    if not os.path.exists(RUNC):
        pytest.skip("runc is not installed")
    cid = "kspec-" + secrets.token_hex(6)
    busybox.rootfs.create(cid, [busybox.chain_id])
    try:
        merged = busybox.rootfs.mount(cid, [busybox.chain_id])
        files = write_etc_files(tmp_path / "etc" / cid, hostname="spec-test-host",
                                extra_hosts=[("marker", "10.9.8.7")])
        yield SpecInput(
            container_id=cid, rootfs=merged,
            args=["/bin/sh", "-c", SCRIPT.replace("{masked}", " ".join(MASKED_PATHS))],
            hostname="spec-test-host", hostname_path=files.hostname,
            hosts_path=files.hosts, resolv_conf_path=files.resolv_conf,
            cgroups_path=f"/{CGROUP_PARENT}/{cid}",
        )
    finally:
        busybox.rootfs.remove(cid)
        for hierarchy in Path("/sys/fs/cgroup").iterdir():
            with contextlib.suppress(OSError):
                (hierarchy / CGROUP_PARENT).rmdir()


def _run(inp: SpecInput, tmp_path: Path) -> str:
    bundle = tmp_path / f"bundle-{secrets.token_hex(3)}"
    bundle.mkdir()
    (bundle / "config.json").write_text(json.dumps(build_spec(inp)))
    state = tmp_path / "runc-state"
    try:
        proc = subprocess.run(
            [RUNC, "--root", str(state), "run", "--bundle", str(bundle), inp.container_id],
            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60, check=False,
        )
    finally:
        subprocess.run([RUNC, "--root", str(state), "delete", "--force", inp.container_id],
                       capture_output=True, check=False)
    assert proc.returncode == 0, f"runc run failed ({proc.returncode}):\n{proc.stderr}"
    return proc.stdout


def test_container_sees_what_docker_gives(container: SpecInput, tmp_path: Path) -> None:
    values, ps, hosts = _parse(_run(container, tmp_path))
    assert values["CapEff"] == _mask(DEFAULT_CAPABILITIES)
    assert values["CapBnd"] == _mask(DEFAULT_CAPABILITIES)
    assert values["CapPrm"] == _mask(DEFAULT_CAPABILITIES)
    assert values["CapInh"] == values["CapAmb"] == "0" * 16
    assert values["Seccomp"] == "2"
    assert values["hostname"] == "spec-test-host"
    assert values["pid"] == "1"
    # masked: a file has /dev/null bound over it, a directory an empty tmpfs
    on_host = [p for p in MASKED_PATHS if os.path.exists(p)]
    assert on_host, "nothing to check: no masked path exists on this host"
    for path in on_host:
        expected = "dir:0" if os.path.isdir(path) else "file:1:3"
        assert values[f"masked {path}"] == expected, path
    assert values["procsys"].split(",")[0] == "ro"
    assert values["net"] == "lo"
    assert values["user"] == "0:0"
    assert values["root"] == "rw"
    pids = sorted(int(line.split()[0]) for line in ps)
    assert pids[0] == 1 and len(pids) <= 3, ps  # sh, ps (and a subshell at most)
    assert hosts == Path(container.hosts_path or "").read_text()
    assert "10.9.8.7\tmarker" in hosts


def test_non_root_user_on_a_read_only_root(container: SpecInput, tmp_path: Path) -> None:
    user = resolve_user(container.rootfs, "nobody")
    values, _, _ = _parse(_run(replace(container, user=user, readonly_rootfs=True), tmp_path))
    assert values["user"] == "65534:65534"
    assert values["CapEff"] == "0" * 16
    assert values["CapBnd"] == _mask(DEFAULT_CAPABILITIES)
    assert values["root"] == "ro"
