"""Containers outlive the driver: a process that created them is killed -9,
a new driver recovers them, their exits and every log line."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from ketch.runtime.conmon import ConmonRuntime
from ketch.runtime.logfile import read_log
from runtime.helpers import Env, new_id

TESTS = Path(__file__).resolve().parents[1]

DAEMON = textwrap.dedent("""
    import asyncio, sys
    from pathlib import Path
    sys.path.insert(0, sys.argv[1])
    from runtime.helpers import Env
    from ketch.runtime.conmon import ConmonRuntime

    async def main() -> None:
        env = Env(Path(sys.argv[2]), Path(sys.argv[3]))
        rt = ConmonRuntime(env.root)
        slow, quick, idle, rotating = sys.argv[4:8]
        specs = [
            (slow, ["sh", "-c", "i=0; while [ $i -lt 30 ]; do i=$((i+1)); echo line$i; "
                                "sleep 0.05; done; exit 4"], {}),
            (quick, ["sh", "-c", "sleep 0.2; echo quick; exit 9"], {}),
            (idle, ["sleep", "1000"], {}),
            (rotating, ["sh", "-c", "sleep 0.3; i=0; while [ $i -lt 30 ]; do i=$((i+1)); "
                                    "echo line$i; sleep 0.02; done; sleep 1000"],
             {"max_size": 1000, "max_files": 3}),
        ]
        for cid, args, kw in specs:
            opts = env.options(args, container_id=cid, **kw)
            await rt.create(opts)
            await rt.start(cid)
        print("ready", flush=True)
        await asyncio.sleep(1000)

    asyncio.run(main())
""")


async def test_containers_survive_the_driver(env: Env, rootfs: Path) -> None:
    slow, quick, idle, rotating = (new_id() for _ in range(4))
    script = env.base / "daemon.py"
    script.write_text(DAEMON)
    proc = subprocess.Popen([sys.executable, str(script), str(TESTS), str(env.base),
                             str(rootfs), slow, quick, idle, rotating],
                            stdout=subprocess.PIPE, text=True)
    rt = ConmonRuntime(env.root)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        os.kill(proc.pid, signal.SIGKILL)  # the "daemon" dies mid-flight
        proc.wait()
        await asyncio.sleep(1.0)  # containers go on writing; quick exits unwatched

        state = await rt.recover(slow)
        assert state.status == "running" and state.pid > 0
        state = await rt.recover(quick)
        assert state.status == "stopped"
        assert state.exit is not None and state.exit.exit_code == 9
        assert (await rt.wait_exit(quick)).exit_code == 9
        assert (await rt.recover(idle)).status == "running"
        assert (await rt.recover(rotating)).status == "running"

        assert (await asyncio.wait_for(rt.wait_exit(slow), 10)).exit_code == 4
        lines = [e.data for e in read_log(env.logs / slow / "ctr.log")]
        assert lines == [b"line%d\n" % i for i in range(1, 31)]

        # the rotating one was replaced once while no driver ran: the file held
        # before the outage survived, and the recovered keeper filed it away
        rotated = env.logs / rotating / "ctr.log"
        assert (env.logs / rotating / "ctr.log.1").exists()
        assert [e.data for e in read_log(rotated)] == [b"line%d\n" % i for i in range(1, 31)]

        # the recovered containers are fully manageable
        io = await rt.attach(idle)
        await rt.kill(idle, signal.SIGKILL)
        assert await asyncio.wait_for(io.read(), 10) is None
        await io.close()
        assert (await rt.wait_exit(idle)).exit_code == 137
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for cid in (slow, quick, idle, rotating):
            if (env.root / cid).exists():
                await rt.delete(cid, force=True)
        await rt.close()


async def test_monitor_killed_reports_lost_exit(env: Env) -> None:
    """If conmon itself is killed, the exit code is unknown: 255, as Docker's
    containerd reports for a lost task, once the process is gone."""
    rt = ConmonRuntime(env.root)
    opts = env.options(["sleep", "1000"])
    cid = opts.container_id
    try:
        await rt.create(opts)
        await rt.start(cid)
        conmon_pid = int((env.root / cid / "conmon.pid").read_text())
        os.kill(conmon_pid, signal.SIGKILL)
        await asyncio.sleep(0.1)
        fresh = ConmonRuntime(env.root)
        assert (await fresh.recover(cid)).status == "running"
        waiter = asyncio.ensure_future(fresh.wait_exit(cid))
        await asyncio.sleep(0.1)
        assert not waiter.done()
        await fresh.kill(cid, signal.SIGKILL)
        assert (await asyncio.wait_for(waiter, 10)).exit_code == 255
        await fresh.close()
    finally:
        await rt.delete(cid, force=True)
        await rt.close()
