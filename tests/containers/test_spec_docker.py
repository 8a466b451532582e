"""build_spec() against the specs Docker 20.10 really generated.

``data/docker-specs/<variant>.json`` holds, for one ``docker run`` variant
of a busybox container, the config.json that dockerd handed to runc
(captured by ``capture_docker_specs.py``). Each test builds the same
container's SpecInput the way the container service will (user resolved
from the image's own /etc/passwd and /etc/group) and compares the parts
that define the container: process, namespaces, capabilities, mounts,
masked and read-only paths, devices, resources, sysctls and seccomp.

Host-specific values (the rootfs path, the /etc file sources, the cgroup
path) are taken from Docker's spec so that the rest compares exactly.
Documented differences: /sys/devices/virtual/powercap is masked too;
"all capabilities" is what this host can grant (Docker 20.10 lists
CAP_SYS_RESOURCE, which root here lacks, and knows nothing of
CAP_PERFMON, CAP_BPF, CAP_CHECKPOINT_RESTORE); Docker names the host's
network namespace by path for ``--network host``, ketch leaves it out.
"""

from __future__ import annotations

import json
import os
import tarfile
from pathlib import Path
from typing import Any

import pytest
from support.images import OfflineImages

from ketch.containers.caps import CAPABILITIES, host_capabilities, seccomp_profile
from ketch.containers.spec import Resources, SpecInput, Ulimit, build_spec
from ketch.containers.users import resolve_user

from .capture_docker_specs import USERS_GROUP, USERS_PASSWD, VARIANTS

DATA = Path(__file__).parent / "data" / "docker-specs"
NEWER_CAPS = {"CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE"}

#: variant -> (User string, --group-add, other SpecInput fields)
INPUTS: dict[str, tuple[str, list[str], dict[str, Any]]] = {
    "default": ("", [], {}),
    "tty": ("", [], {"tty": True}),
    "privileged": ("", [], {"privileged": True}),
    "cap_add_drop": ("", [], {"cap_add": ["SYS_ADMIN", "CAP_NET_ADMIN"],
                              "cap_drop": ["NET_RAW", "CAP_MKNOD"]}),
    "cap_drop_all": ("", [], {"cap_drop": ["ALL"], "cap_add": ["CHOWN"]}),
    "cap_add_all": ("", [], {"cap_add": ["ALL"], "cap_drop": ["SYS_RESOURCE"]}),
    "read_only": ("", [], {"readonly_rootfs": True}),
    "network_none": ("", [], {"network": "none"}),
    "network_host": ("", [], {"network": "host"}),
    "user_nobody": ("nobody", [], {}),
    "user_numeric": ("1234:5678", [], {}),
    "user_groups": ("alice", [], {}),
    "user_group_add": ("alice:staff", ["wheel", "777"], {}),
    "workdir": ("", [], {"cwd": "/x"}),
    "shm_size": ("", [], {"shm_size": 128 << 20}),
    "ulimit": ("", [], {"ulimits": [Ulimit("nofile", 1024, 2048)]}),
    "hostname": ("", [], {"domainname": "example.com"}),
    "env": ("", [], {"env": ["FOO=bar", "PATH=/opt/bin"]}),
    "resources": ("", [], {
        "resources": Resources(memory=64 << 20, memory_swap=128 << 20,
                               nano_cpus=500_000_000, pids_limit=100),
        "oom_score_adj": 100,
        "sysctls": {"net.ipv4.ip_forward": "1"},
        "no_new_privileges": True,
    }),
    "ipc_pid_uts_host": ("", [], {"ipc": "host", "pid": "host", "uts": "host"}),
}


def test_every_captured_variant_has_inputs() -> None:
    assert set(INPUTS) == set(VARIANTS)
    assert {p.stem for p in DATA.glob("*.json") if not p.stem.startswith("etc_")} == set(VARIANTS)


@pytest.fixture(scope="module")
def image_roots(tmp_path_factory: pytest.TempPathFactory,
                offline_images: OfflineImages) -> dict[str, Path]:
    """Directories with the /etc/passwd and /etc/group of each image."""
    roots: dict[str, Path] = {}
    busybox = tmp_path_factory.mktemp("busybox-etc")
    (busybox / "etc").mkdir()
    with tarfile.open(offline_images.busybox) as tar:
        for name in ("etc/passwd", "etc/group"):
            member = tar.extractfile(name)
            assert member is not None
            (busybox / name).write_bytes(member.read())
    roots["busybox"] = busybox
    users = tmp_path_factory.mktemp("users-etc")
    (users / "etc").mkdir()
    (users / "etc/passwd").write_text(USERS_PASSWD)
    (users / "etc/group").write_text(USERS_GROUP)
    roots["users"] = users
    return roots


def _record(variant: str) -> dict[str, Any]:
    record: dict[str, Any] = json.loads((DATA / f"{variant}.json").read_text())
    return record


def _input(variant: str, record: dict[str, Any], roots: dict[str, Path]) -> SpecInput:
    docker = record["spec"]
    user, group_add, fields = INPUTS[variant]
    sources = {m["destination"]: m["source"] for m in docker["mounts"]}
    env = dict(e.split("=", 1) for e in docker["process"]["env"])
    return SpecInput(
        container_id=record["container_id"],
        rootfs=Path(docker["root"]["path"]),
        args=record["command"],
        hostname=docker.get("hostname") or env["HOSTNAME"],
        user=resolve_user(roots[record["image"]], user, group_add),
        hostname_path=Path(sources["/etc/hostname"]),
        hosts_path=Path(sources["/etc/hosts"]),
        resolv_conf_path=Path(sources["/etc/resolv.conf"]),
        cgroups_path=docker["linux"]["cgroupsPath"],
        cgroupns="host",
        **fields,
    )


def _rules(seccomp: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [
        (tuple(sorted(r["names"])), r["action"], json.dumps(r.get("args")), r.get("errnoRet"))
        for r in seccomp["syscalls"]
    ]


def _expected_all(docker_caps: list[str]) -> set[str]:
    """Docker's "all" translated to this host: what it can grant, newer caps too."""
    return (set(docker_caps) | NEWER_CAPS) & set(host_capabilities())


def _check_process(variant: str, docker: dict[str, Any], mine: dict[str, Any]) -> None:
    dp, mp = dict(docker["process"]), dict(mine["process"])
    dcaps, mcaps = dp.pop("capabilities"), mp.pop("capabilities")
    assert mp == dp
    assert set(mcaps) == set(dcaps)
    for kind, caps in dcaps.items():
        if variant in ("privileged", "cap_add_all"):
            assert set(mcaps[kind]) == _expected_all(caps) - (
                {"CAP_SYS_RESOURCE"} if variant == "cap_add_all" else set())
        elif variant == "default":
            assert mcaps[kind] == caps  # Docker's order too
        else:
            assert set(mcaps[kind]) == set(caps)


def _check_linux(variant: str, docker: dict[str, Any], mine: dict[str, Any]) -> None:
    dl, ml = dict(docker["linux"]), dict(mine["linux"])
    # Docker names the host's netns by path; leaving the namespace out is the same
    dl["namespaces"] = [ns for ns in dl["namespaces"]
                        if not (ns["type"] == "network" and "path" in ns)]
    for key in ("namespaces", "sysctl", "resources", "cgroupsPath", "readonlyPaths"):
        assert ml.get(key) == dl.get(key), key
    if "maskedPaths" in dl:
        assert ml["maskedPaths"] == [*dl["maskedPaths"], "/sys/devices/virtual/powercap"]
    else:
        assert "maskedPaths" not in ml
    if "seccomp" in dl:
        bounding = docker["process"]["capabilities"]["bounding"]
        assert _rules(seccomp_profile(bounding) or {}) == _rules(dl["seccomp"])
        compiled = seccomp_profile(mine["process"]["capabilities"]["bounding"])
        assert ml["seccomp"] == compiled
        assert ml["seccomp"]["architectures"] == dl["seccomp"]["architectures"]
        assert ml["seccomp"]["defaultAction"] == dl["seccomp"]["defaultAction"]
    else:
        assert "seccomp" not in ml
    if "devices" in dl:
        _check_host_devices(dl["devices"], ml["devices"])
    else:
        assert "devices" not in ml


def _check_host_devices(docker: list[dict[str, Any]], mine: list[dict[str, Any]]) -> None:
    """Same walk of /dev as Docker's (devices may have come and gone since)."""
    ours = {d["path"]: d for d in mine}
    for device in docker:
        try:
            st = os.lstat(device["path"])
        except FileNotFoundError:
            continue
        if os.major(st.st_rdev) == device["major"] and os.minor(st.st_rdev) == device["minor"]:
            assert ours.get(device["path"]) == device
    assert not any(p.startswith("/dev/pts/") or p == "/dev/console" for p in ours)
    assert len(mine) > 10


@pytest.mark.parametrize("variant", sorted(INPUTS))
def test_spec_matches_docker(variant: str, image_roots: dict[str, Path]) -> None:
    record = _record(variant)
    docker = record["spec"]
    mine = build_spec(_input(variant, record, image_roots))

    assert mine["ociVersion"] == docker["ociVersion"]
    assert mine.get("hostname") == docker.get("hostname")
    assert mine["root"] == {"path": docker["root"]["path"], **(
        {"readonly": True} if docker["root"].get("readonly") else {})}
    assert mine["mounts"] == docker["mounts"]
    _check_process(variant, docker, mine)
    _check_linux(variant, docker, mine)
    assert set(mine) - {"annotations"} == set(docker) - {"hooks"}


def test_default_capabilities_are_dockers_exactly() -> None:
    docker = _record("default")["spec"]["process"]["capabilities"]
    assert set(docker) == {"bounding", "effective", "permitted"}
    mine = build_spec(SpecInput(container_id="x", rootfs=Path("/r"), args=["true"]))
    assert mine["process"]["capabilities"] == docker


def test_host_network_spec_has_no_network_namespace() -> None:
    spec = build_spec(SpecInput(container_id="x", rootfs=Path("/r"), args=["true"],
                                network="host"))
    assert "network" not in {ns["type"] for ns in spec["linux"]["namespaces"]}
    assert "sysctl" not in spec["linux"]


def test_netns_path_is_joined() -> None:
    spec = build_spec(SpecInput(container_id="x", rootfs=Path("/r"), args=["true"],
                                network="/run/ketch/netns/x"))
    assert {"type": "network", "path": "/run/ketch/netns/x"} in spec["linux"]["namespaces"]


def test_all_capability_names_are_known() -> None:
    docker_all = _record("privileged")["spec"]["process"]["capabilities"]["bounding"]
    assert set(docker_all) <= set(CAPABILITIES)
