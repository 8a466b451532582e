"""Capability sets and the capability-dependent seccomp filter.

``data/seccomp-by-cap.json`` records, for each capability outside Docker's
default set, how Docker 20.10's compiled filter changed when that one
capability was added (rules added, rules removed). The same must hold for
ketch's compiled filter.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ketch.containers.caps import (
    CAPABILITIES,
    DEFAULT_CAPABILITIES,
    container_capabilities,
    host_capabilities,
    normalize_capability,
    seccomp_profile,
)
from ketch.errors import InvalidArgument

DATA = Path(__file__).parent / "data"
BY_CAP: dict[str, dict[str, list[dict[str, Any]]]] = json.loads(
    (DATA / "seccomp-by-cap.json").read_text()
)


def _key(rule: dict[str, Any]) -> str:
    return json.dumps({**rule, "names": sorted(rule["names"])}, sort_keys=True)


def _keys(rules: list[dict[str, Any]]) -> list[str]:
    return sorted(_key(r) for r in rules)


def test_names_are_normalized() -> None:
    assert normalize_capability("net_admin") == "CAP_NET_ADMIN"
    assert normalize_capability("CAP_NET_ADMIN") == "CAP_NET_ADMIN"
    assert normalize_capability(" all ") == "ALL"
    with pytest.raises(InvalidArgument, match=r'^invalid CapDrop: unknown capability: "CAP_X"$'):
        normalize_capability("x", "CapDrop")


def test_docker_tweak_rules() -> None:
    default = list(DEFAULT_CAPABILITIES)
    assert container_capabilities() == default
    assert container_capabilities(["CHOWN"], []) == default  # no duplicates
    dropped = container_capabilities(["NET_ADMIN"], ["kill"])
    assert dropped == [c for c in default if c != "CAP_KILL"] + ["CAP_NET_ADMIN"]
    assert container_capabilities(["chown"], ["ALL"]) == ["CAP_CHOWN"]
    assert container_capabilities([], ["ALL"]) == []
    every = container_capabilities(["ALL"], ["CAP_KILL"])
    assert every == [c for c in host_capabilities() if c != "CAP_KILL"]
    assert container_capabilities(privileged=True) == list(host_capabilities())
    assert container_capabilities(capabilities=["CAP_CHOWN", "kill"]) == [
        "CAP_CHOWN", "CAP_KILL"]


def test_host_capabilities_follow_the_bounding_set() -> None:
    with open("/proc/self/status") as f:
        mask = int(next(x for x in f if x.startswith("CapBnd:")).split()[1], 16)
    assert [CAPABILITIES.index(c) for c in host_capabilities()] == [
        bit for bit in range(len(CAPABILITIES)) if mask >> bit & 1]


def test_default_filter_shape() -> None:
    profile = seccomp_profile(DEFAULT_CAPABILITIES, machine="x86_64", kernel=(6, 1))
    assert profile is not None
    assert profile["defaultAction"] == "SCMP_ACT_ERRNO"
    assert profile["architectures"] == ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]
    names = {n for r in profile["syscalls"] if r["action"] == "SCMP_ACT_ALLOW"
             for n in r["names"] if "args" not in r}
    assert {"read", "write", "execve", "chroot", "ptrace", "arch_prctl"} <= names
    assert not {"mount", "reboot", "init_module", "bpf", "kexec_load"} & names
    clone3 = next(r for r in profile["syscalls"] if r["names"] == ["clone3"])
    assert clone3 == {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}


def test_kernel_and_machine_conditions() -> None:
    old = seccomp_profile(DEFAULT_CAPABILITIES, machine="x86_64", kernel=(4, 4))
    assert old is not None and ["ptrace"] not in [r["names"] for r in old["syscalls"]]
    arm = seccomp_profile(DEFAULT_CAPABILITIES, machine="aarch64", kernel=(6, 1))
    assert arm is not None and arm["architectures"][0] == "SCMP_ARCH_AARCH64"
    assert ["arch_prctl"] not in [r["names"] for r in arm["syscalls"]]
    assert seccomp_profile(DEFAULT_CAPABILITIES, machine="sparc64") is None


@pytest.mark.parametrize("cap", sorted(BY_CAP))
def test_each_capability_changes_the_filter_as_in_docker(cap: str) -> None:
    base = seccomp_profile(DEFAULT_CAPABILITIES, machine="x86_64", kernel=(6, 1))
    more = seccomp_profile([*DEFAULT_CAPABILITIES, cap], machine="x86_64", kernel=(6, 1))
    assert base is not None and more is not None
    base_keys, more_keys = _keys(base["syscalls"]), _keys(more["syscalls"])
    added = [k for k in more_keys if k not in base_keys]
    removed = [k for k in base_keys if k not in more_keys]
    assert added == _keys(BY_CAP[cap]["added"])
    assert removed == _keys(BY_CAP[cap]["removed"])


def test_newer_capabilities_follow_newer_docker() -> None:
    """Docker 20.10 did not know CAP_BPF/CAP_PERFMON; later releases allow these."""
    base = seccomp_profile(DEFAULT_CAPABILITIES, machine="x86_64", kernel=(6, 1))
    for cap, name in (("CAP_BPF", "bpf"), ("CAP_PERFMON", "perf_event_open")):
        more = seccomp_profile([*DEFAULT_CAPABILITIES, cap], machine="x86_64", kernel=(6, 1))
        assert base is not None and more is not None
        assert more["syscalls"][len(base["syscalls"]):] == [
            {"names": [name], "action": "SCMP_ACT_ALLOW"}]
