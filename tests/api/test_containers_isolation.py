"""What a container sees of the host: not its processes, mounts, hostname or
network interfaces; Docker's default capabilities."""

from __future__ import annotations

import socket
from typing import Any

import pytest
from support.dockercli import docker
from support.images import import_offline_images

# Docker's default set: CHOWN DAC_OVERRIDE FOWNER FSETID KILL SETGID SETUID
# SETPCAP NET_BIND_SERVICE NET_RAW SYS_CHROOT MKNOD AUDIT_WRITE SETFCAP
DOCKER_DEFAULT_CAPS = 0x00000000a80425fb


@pytest.fixture(scope="module")
def engine(ketchd: Any, offline_images: Any) -> Any:
    import_offline_images(ketchd.env, offline_images, names=("busybox",))
    return ketchd


def _run(engine: Any, *args: str) -> str:
    return docker(engine.env, "run", "--rm", "busybox", *args).ok().stdout


def test_processes_are_private(engine: Any) -> None:
    out = _run(engine, "ps", "-o", "pid,comm")
    lines = out.strip().splitlines()[1:]
    assert [line.split()[1] for line in lines] == ["ps"]
    assert lines[0].split()[0] == "1"


def test_mounts_are_private(engine: Any) -> None:
    out = _run(engine, "cat", "/proc/mounts")
    mount_points = [line.split()[1] for line in out.splitlines()]
    assert mount_points[0] == "/" and out.startswith("overlay / overlay")
    host_only = [m for m in mount_points if m.startswith(("/work", "/tmp/kt-", "/run/ketch",
                                                          "/var/lib"))]
    assert host_only == []
    assert "/proc" in mount_points and "/etc/hosts" in mount_points


def test_hostname_is_the_short_id(engine: Any) -> None:
    cid = docker(engine.env, "run", "-d", "busybox", "sleep", "30").ok().stdout.strip()
    try:
        name = docker(engine.env, "exec", cid, "hostname").ok().stdout.strip()
        assert name == cid[:12] != socket.gethostname()
    finally:
        docker(engine.env, "rm", "-f", cid).ok()


def _interfaces(out: str) -> list[str]:
    return [line.split(":")[0].strip() for line in out.splitlines()[2:]]


def test_network_is_private(engine: Any) -> None:
    """Loopback and the container's own end of the default bridge (none with the
    reference's --bridge=none), never the host's interfaces."""
    assert _interfaces(_run(engine, "cat", "/proc/net/dev")) in (["lo"], ["lo", "eth0"])
    none = docker(engine.env, "run", "--rm", "--network", "none", "busybox",
                  "cat", "/proc/net/dev").ok().stdout
    assert _interfaces(none) == ["lo"]
    host = docker(engine.env, "run", "--rm", "--network", "host", "busybox",
                  "cat", "/proc/net/dev").ok().stdout
    assert len(host.splitlines()) > 3  # the host's interfaces


def test_default_capabilities(engine: Any) -> None:
    status = _run(engine, "cat", "/proc/self/status")
    caps = {k: int(v, 16) for k, v in (line.split(":\t") for line in status.splitlines()
                                       if line.startswith("Cap"))}
    assert caps["CapEff"] == DOCKER_DEFAULT_CAPS
    assert caps["CapBnd"] == DOCKER_DEFAULT_CAPS
    assert caps["CapInh"] == 0
    dropped = docker(engine.env, "run", "--rm", "--cap-drop", "ALL", "busybox", "cat",
                     "/proc/self/status").ok().stdout
    assert "CapEff:\t0000000000000000" in dropped
    nobody = docker(engine.env, "run", "--rm", "-u", "nobody", "busybox", "id").ok().stdout
    assert nobody.startswith("uid=65534(nobody)")
