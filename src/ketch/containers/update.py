"""``docker update``: new resource limits and restart policy for a container.

``POST /containers/{id}/update`` carries Docker's ``UpdateConfig``: the
resource fields of HostConfig plus ``RestartPolicy``. As in moby, a zero
(or absent) field leaves the current value alone, and the checks are
moby's, with its messages: CPU quota/period and NanoCPUs exclude each
other, a memory limit above the current memory+swap limit needs a new
swap limit, AutoRemove containers keep their restart policy. The new
limits apply to a running container at once (``runc update``) and are
kept in its HostConfig for the next start.
"""

from __future__ import annotations

from typing import Any

import msgspec

from ketch.containers.model import HostConfig, RestartPolicy
from ketch.containers.spec import cfs_period_quota
from ketch.errors import Conflict, InvalidArgument

#: moby's minimum for a memory limit
MIN_MEMORY = 6 * 1024 * 1024


class UpdateRequest(msgspec.Struct, rename="pascal"):
    cpu_shares: int = 0
    memory: int = 0
    nano_cpus: int = msgspec.field(default=0, name="NanoCpus")
    blkio_weight: int = 0
    cpu_period: int = 0
    cpu_quota: int = 0
    cpuset_cpus: str = ""
    cpuset_mems: str = ""
    memory_reservation: int = 0
    memory_swap: int = 0
    kernel_memory: int = 0
    pids_limit: int | None = None
    restart_policy: RestartPolicy | None = None


def updated_host_config(host: HostConfig, req: UpdateRequest, container_id: str) -> HostConfig:
    """*host* with *req* applied (a new struct), or the error Docker gives."""
    def _conflict(message: str) -> Conflict:
        return Conflict(f"Cannot update container {container_id}: {message}")

    if 0 < req.memory < MIN_MEMORY:
        raise InvalidArgument("Minimum memory limit allowed is 6MB")
    if req.memory > 0 and req.memory_swap > 0 and req.memory_swap < req.memory:
        raise InvalidArgument(
            "Minimum memoryswap limit should be larger than memory limit, see usage")
    if req.nano_cpus > 0 and host.cpu_period > 0:
        raise _conflict("Conflicting options: Nano CPUs cannot be updated as CPU Period "
                        "has already been set")
    if req.nano_cpus > 0 and host.cpu_quota > 0:
        raise _conflict("Conflicting options: Nano CPUs cannot be updated as CPU Quota "
                        "has already been set")
    if req.cpu_period > 0 and host.nano_cpus > 0:
        raise _conflict("Conflicting options: CPU Period cannot be updated as NanoCPUs "
                        "has already been set")
    if req.cpu_quota > 0 and host.nano_cpus > 0:
        raise _conflict("Conflicting options: CPU Quota cannot be updated as NanoCPUs "
                        "has already been set")
    new = msgspec.structs.replace(host)
    for name in ("blkio_weight", "cpu_shares", "nano_cpus", "cpu_period", "cpu_quota",
                 "cpuset_cpus", "cpuset_mems", "memory_reservation"):
        value = getattr(req, name)
        if value:
            setattr(new, name, value)
    if req.memory:
        if req.memory > host.memory_swap and req.memory_swap == 0:
            raise _conflict("Memory limit should be smaller than already set memoryswap "
                            "limit, update the memoryswap at the same time")
        new.memory = req.memory
    if req.memory_swap:
        new.memory_swap = req.memory_swap
    if req.pids_limit is not None:
        new.pids_limit = req.pids_limit
    if req.restart_policy is not None and req.restart_policy.name:
        _check_restart_policy(req.restart_policy)
        if host.auto_remove and req.restart_policy.name != "no":
            raise _conflict("Restart policy cannot be updated because AutoRemove is "
                            "enabled for the container")
        new.restart_policy = req.restart_policy
    return new


def _check_restart_policy(policy: RestartPolicy) -> None:
    """moby's ``ValidateRestartPolicy``, with its messages."""
    name, count = policy.name, policy.maximum_retry_count
    if name in ("always", "unless-stopped", "no"):
        if count != 0:
            raise InvalidArgument(
                "invalid restart policy: maximum retry count can only be used with "
                "'on-failure'" + (" and cannot be negative" if count < 0 else ""))
    elif name == "on-failure":
        if count < 0:
            raise InvalidArgument("invalid restart policy: maximum retry count cannot be "
                                  "negative")
    else:
        raise InvalidArgument(f"invalid restart policy: unknown policy '{name}'; use one of "
                              "'no', 'always', 'on-failure', or 'unless-stopped'")


def runc_resources(host: HostConfig) -> dict[str, Any]:
    """The limits of *host* as ``runc update --resources`` reads them
    (LinuxResources); unset ones are left out, so runc leaves them alone."""
    memory = {key: value for key, value in (
        ("limit", host.memory), ("reservation", host.memory_reservation),
        ("swap", host.memory_swap)) if value}
    period, quota = cfs_period_quota(host.nano_cpus, host.cpu_period, host.cpu_quota)
    cpu = {key: value for key, value in (
        ("shares", host.cpu_shares), ("quota", quota), ("period", period),
        ("cpus", host.cpuset_cpus), ("mems", host.cpuset_mems)) if value}
    out: dict[str, Any] = {"memory": memory, "cpu": cpu}
    if host.pids_limit:
        out["pids"] = {"limit": host.pids_limit}
    if host.blkio_weight:
        out["blockIO"] = {"weight": host.blkio_weight}
    return out


__all__ = ["UpdateRequest", "runc_resources", "updated_host_config"]
