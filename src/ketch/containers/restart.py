"""Restart policies (``--restart``): whether an exited container goes again,
and after how long, with Docker's rules."""

from __future__ import annotations

from ketch.containers.model import RestartPolicy

INITIAL_DELAY = 0.1
MAX_DELAY = 60.0
#: a container that ran this long is healthy again: the delay starts over
RESET_AFTER = 10.0


def should_restart(policy: RestartPolicy, exit_code: int, restart_count: int,
                   manually_stopped: bool) -> bool:
    if manually_stopped:
        return False
    if policy.name in ("always", "unless-stopped"):
        return True
    if policy.name == "on-failure":
        return exit_code != 0 and (policy.maximum_retry_count <= 0 or
                                   restart_count < policy.maximum_retry_count)
    return False


def restart_on_daemon_start(policy: RestartPolicy, manually_stopped: bool) -> bool:
    """Docker starts these again when the daemon starts."""
    return policy.name in ("always", "unless-stopped") and not manually_stopped


def next_delay(previous: float, ran_for: float) -> float:
    if previous <= 0 or ran_for >= RESET_AFTER:
        return INITIAL_DELAY
    return min(previous * 2, MAX_DELAY)
