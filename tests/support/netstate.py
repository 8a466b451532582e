"""Host networking of test daemons: names of their own, and cleaning up after them.

Several ketchd run side by side on one machine (the suite's, other sessions'),
so each gets its own default bridge device, iptables chain prefix and address
pool (``daemon_settings``). A daemon leaves its bridges and rules in place when
it stops, as dockerd does, so that its running containers stay reachable;
``remove_host_state`` takes them away once none of its containers runs any
more, through the network service's own teardown.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import secrets
import threading
from pathlib import Path
from typing import Any

#: where test daemons' address pools come from (10.200.0.0 - 10.207.255.255)
POOL_SPACE = ipaddress.IPv4Network("10.200.0.0/13")


def _free_pool() -> str:
    """A random /20 of POOL_SPACE on no host route (checked again by the daemon)."""
    from ketch.networks import ipam

    routes = ipam.host_routes()
    candidates = list(POOL_SPACE.subnets(new_prefix=20))
    for _ in range(64):
        net = candidates[secrets.randbelow(len(candidates))]
        if not ipam.overlaps(net, routes):
            return str(net)
    raise RuntimeError(f"no free /20 left in {POOL_SPACE} for a test daemon")


def daemon_settings(bridge: bool = True) -> dict[str, Any]:
    """daemon.json network keys private to one test daemon: a default bridge of its
    own (or none), its own iptables chains and its own address pool."""
    tag = secrets.token_hex(3)
    return {
        "bridge": f"kd{tag}" if bridge else "none",
        "iptables-chain-prefix": f"KD{tag.upper()}",
        "default-address-pools": [{"base": _free_pool(), "size": 24}],
    }


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _containers_alive(db_path: Path) -> bool:
    """Whether a container of this data root still runs (its networking must stay)."""
    import sqlite3

    try:
        conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    except sqlite3.Error:
        return False
    try:
        rows = conn.execute("SELECT record FROM containers").fetchall()
    except sqlite3.Error:
        return False
    finally:
        conn.close()
    for (record,) in rows:
        with contextlib.suppress(ValueError, KeyError, TypeError):
            pid = int(json.loads(record)["state"].get("Pid") or 0)
            if pid and _alive(pid):
                return True
    return False


async def _teardown(db_path: Path, exec_root: Path, settings: dict[str, Any]) -> None:
    from ketch.networks.config import DAEMON_KEYS, from_daemon_settings
    from ketch.networks.service import NetworkService
    from ketch.store.db import Database
    from ketch.store.networks import NetworkTable

    config = from_daemon_settings(exec_root, {k: v for k, v in settings.items()
                                              if k in DAEMON_KEYS})
    db = Database(db_path)
    try:
        await NetworkService(NetworkTable(db), config).close(remove_host_state=True)
    finally:
        db.close()


def unmount_build_scratch(exec_root: Path) -> None:
    """Unmount the tmpfs a daemon keeps build contexts in (it unmounts it
    itself when it stops; not when it is killed)."""
    from ketch.build.scratch import BuildScratch

    BuildScratch(exec_root).unmount()


def remove_host_state(data_root: Path, exec_root: Path, config_file: Path) -> None:
    """Remove the bridges, rules and sandboxes a stopped daemon left, unless one
    of its containers still runs (a test restarting the daemon needs them)."""
    db_path = data_root / "ketch.db"
    if not db_path.exists() or _containers_alive(db_path):
        return
    try:
        settings = json.loads(config_file.read_text() or "{}")
    except (OSError, ValueError):
        settings = {}
    failure: list[BaseException] = []

    def run() -> None:
        try:
            asyncio.run(_teardown(db_path, exec_root, settings))
        except BaseException as exc:  # reported on the caller's thread
            failure.append(exc)

    # Its own thread: the caller may be inside an event loop already.
    thread = threading.Thread(target=run, name="netstate-teardown")
    thread.start()
    thread.join(120)
    if failure:
        raise RuntimeError(f"removing the host networking of {data_root}: {failure[0]}")
