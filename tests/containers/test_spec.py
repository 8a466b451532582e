"""build_spec() rules that the Docker captures do not pin down: limits, overrides, errors."""

from __future__ import annotations

import resource
from pathlib import Path
from typing import Any

import pytest

from ketch.containers.caps import host_capabilities
from ketch.containers.spec import (
    DEFAULT_PATH,
    SpecInput,
    Ulimit,
    build_spec,
    container_env,
    exec_process,
    merge_env,
)
from ketch.containers.users import ResolvedUser
from ketch.errors import InvalidArgument


def spec(**kw: Any) -> dict[str, Any]:
    kw.setdefault("args", ["true"])
    return build_spec(SpecInput(container_id="c" * 64, rootfs=Path("/rootfs"), **kw))


def dests(s: dict[str, Any]) -> list[str]:
    return [m["destination"] for m in s["mounts"]]


def test_env_defaults_and_merge() -> None:
    assert container_env([], "h", False) == [f"PATH={DEFAULT_PATH}", "HOSTNAME=h"]
    assert container_env(["A=1"], "h", True) == [
        f"PATH={DEFAULT_PATH}", "HOSTNAME=h", "TERM=xterm", "A=1"]
    assert container_env(["PATH=/p", "TERM=dumb"], "h", True) == [
        "PATH=/p", "HOSTNAME=h", "TERM=dumb"]
    # a bare name unsets; a later value revives it in place
    assert merge_env(["A=1", "B=2"], ["A"]) == ["B=2"]
    assert merge_env(["A=1", "B=2"], ["A", "A=3"]) == ["A=3", "B=2"]
    assert merge_env(["A=1"], ["C=x=y", "C=z"]) == ["A=1", "C=x=y", "C=z"]


def test_ulimit_within_host_hard_limit() -> None:
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    s = spec(ulimits=[Ulimit("nofile", 100, hard)])
    assert s["process"]["rlimits"] == [{"type": "RLIMIT_NOFILE", "hard": hard, "soft": 100}]
    assert "rlimits" not in spec()["process"]


@pytest.mark.skipif("CAP_SYS_RESOURCE" in host_capabilities(),
                    reason="the daemon may raise limits here")
def test_ulimit_above_host_hard_limit_is_refused() -> None:
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard == resource.RLIM_INFINITY:
        pytest.skip("no hard nofile limit here")
    with pytest.raises(InvalidArgument, match="above the host's hard limit"):
        spec(ulimits=[Ulimit("nofile", 1024, hard + 1)])
    with pytest.raises(InvalidArgument, match="above the host's hard limit"):
        spec(ulimits=[Ulimit("nofile", -1, -1)])


def test_ulimit_errors() -> None:
    with pytest.raises(InvalidArgument, match="invalid ulimit type: bogus"):
        spec(ulimits=[Ulimit("bogus", 1, 1)])
    with pytest.raises(InvalidArgument, match="soft limit must be less than or equal"):
        spec(ulimits=[Ulimit("core", 10, 5)])


def test_unknown_or_unavailable_capability_is_refused() -> None:
    with pytest.raises(InvalidArgument, match='unknown capability: "CAP_FOO"'):
        spec(cap_add=["foo"])
    missing = [c for c in ("CAP_SYS_RESOURCE",) if c not in host_capabilities()]
    if missing:
        with pytest.raises(InvalidArgument, match="not available on this host"):
            spec(cap_add=missing)


def test_non_root_user_has_no_effective_capabilities() -> None:
    s = spec(user=ResolvedUser(1000, 1000, (1000,)))
    assert set(s["process"]["capabilities"]) == {"bounding"}
    assert s["process"]["user"] == {"uid": 1000, "gid": 1000, "additionalGids": [1000]}


def test_user_mounts_replace_defaults_and_are_sorted() -> None:
    shm = {"destination": "/dev/shm", "type": "bind", "source": "/host/shm", "options": ["rbind"]}
    hosts = {"destination": "/etc/hosts", "type": "bind", "source": "/mine", "options": ["rbind"]}
    deep = {"destination": "/a/b/c", "type": "tmpfs", "source": "tmpfs", "options": []}
    s = spec(mounts=[deep, shm, hosts], hosts_path=Path("/engine/hosts"),
             hostname_path=Path("/engine/hostname"))
    d = dests(s)
    assert d.count("/dev/shm") == 1 and d.count("/etc/hosts") == 1
    assert d[:6] == ["/proc", "/dev", "/dev/pts", "/sys", "/sys/fs/cgroup", "/dev/mqueue"]
    assert d[6:] == ["/etc/hostname", "/dev/shm", "/etc/hosts", "/a/b/c"]
    assert next(m for m in s["mounts"] if m["destination"] == "/etc/hosts")["source"] == "/mine"


def test_user_dev_mount_replaces_everything_under_dev() -> None:
    dev = {"destination": "/dev", "type": "bind", "source": "/hostdev", "options": ["rbind"]}
    assert dests(spec(mounts=[dev])) == ["/proc", "/sys", "/sys/fs/cgroup", "/dev"]


def test_ipc_none_has_no_shm_and_private_ipc() -> None:
    s = spec(ipc="none")
    assert "/dev/shm" not in dests(s)
    assert {"type": "ipc"} in s["linux"]["namespaces"]


def test_security_overrides() -> None:
    s = spec(masked_paths=["/proc/x"], readonly_paths=[], seccomp=False,
             no_new_privileges=True, annotations={"a": "b"}, cgroupns="private")
    assert s["linux"]["maskedPaths"] == ["/proc/x"]
    assert s["linux"]["readonlyPaths"] == []
    assert "seccomp" not in s["linux"]
    assert s["process"]["noNewPrivileges"] is True
    assert s["annotations"] == {"a": "b"}
    assert {"type": "cgroup"} in s["linux"]["namespaces"]
    privileged = spec(privileged=True, masked_paths=["/proc/x"])
    assert "maskedPaths" not in privileged["linux"]
    assert "seccomp" not in privileged["linux"]
    assert privileged["linux"]["resources"]["devices"] == [{"allow": True, "access": "rwm"}]


def test_tty_console_size_and_cgroup_path() -> None:
    s = spec(tty=True, console_size=(40, 120))
    assert s["process"]["terminal"] is True
    assert s["process"]["consoleSize"] == {"height": 40, "width": 120}
    assert s["linux"]["cgroupsPath"] == "/ketch/" + "c" * 64


def test_bad_input() -> None:
    with pytest.raises(InvalidArgument, match="no command"):
        spec(args=[])
    with pytest.raises(InvalidArgument, match="invalid network mode"):
        spec(network="container:abc")


def test_exec_process_derives_from_the_container() -> None:
    base = spec(ulimits=[Ulimit("core", 0, 0)], no_new_privileges=True, tty=True)["process"]
    env = merge_env(container_env(["A=1"], "h", True), ["B=2"])
    p = exec_process(base, args=["ls", "/"], env=env, cwd="/tmp")
    assert p["args"] == ["ls", "/"] and p["cwd"] == "/tmp" and p["env"] == env
    assert "terminal" not in p
    assert p["capabilities"] == base["capabilities"]
    assert p["rlimits"] == base["rlimits"] and p["noNewPrivileges"] is True
    priv = exec_process(base, args=["id"], env=[], cwd="", privileged=True, tty=True,
                        user=ResolvedUser(5, 6, (6, 7)), console_size=(10, 20))
    assert priv["capabilities"]["effective"] == list(host_capabilities())
    assert priv["user"] == {"uid": 5, "gid": 6, "additionalGids": [6, 7]}
    assert priv["terminal"] is True and priv["consoleSize"] == {"height": 10, "width": 20}
    assert priv["cwd"] == "/"
    with pytest.raises(InvalidArgument):
        exec_process(base, args=[], env=[], cwd="/")
