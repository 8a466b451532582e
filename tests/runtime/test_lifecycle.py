"""Create, start, wait, kill, pause, state, processes, delete, failures."""

from __future__ import annotations

import asyncio
import json
import signal
import time
from pathlib import Path

import pytest

from ketch.errors import Conflict, InvalidArgument, NotFound
from ketch.runtime.base import Runtime
from ketch.runtime.conmon import ConmonRuntime
from ketch.runtime.logfile import read_log
from runtime.helpers import Env, collect, live_processes_mentioning, runc_containers


async def test_exit_codes_and_states(env: Env) -> None:
    rt: Runtime = ConmonRuntime(env.root)  # mypy checks the protocol is met
    try:
        for args, code in ((["true"], 0), (["sh", "-c", "exit 3"], 3)):
            opts = env.options(args)
            pid = await rt.create(opts)
            assert pid > 0
            state = await rt.state(opts.container_id)
            assert (state.status, state.pid) == ("created", pid)
            await rt.start(opts.container_id)
            info = await rt.wait_exit(opts.container_id)
            assert info.exit_code == code
            assert not info.oom_killed
            assert abs(info.finished_at_ns - time.time_ns()) < 10e9
            state = await rt.state(opts.container_id)
            assert state.status == "stopped"
            assert state.exit is not None and state.exit.exit_code == code
            await rt.delete(opts.container_id)
            assert not (env.root / opts.container_id).exists()
    finally:
        await rt.close()


async def test_sigkill_reports_137_and_many_waiters(env: Env) -> None:
    rt = ConmonRuntime(env.root)
    opts = env.options(["sleep", "1000"])
    cid = opts.container_id
    try:
        await rt.create(opts)
        await rt.start(cid)
        assert (await rt.state(cid)).status == "running"
        waiters = [asyncio.ensure_future(rt.wait_exit(cid)) for _ in range(20)]
        await asyncio.sleep(0.05)
        assert not any(w.done() for w in waiters)
        await rt.kill(cid, signal.SIGKILL)
        results = await asyncio.wait_for(asyncio.gather(*waiters), 10)
        assert {r.exit_code for r in results} == {137}
        # killing an exited container is not an error
        await rt.kill(cid, signal.SIGTERM)
        assert (await rt.wait_exit(cid)).exit_code == 137
    finally:
        await rt.delete(cid, force=True)
        await rt.close()


async def test_kill_signal_and_all_processes(env: Env) -> None:
    rt = ConmonRuntime(env.root)
    trap = env.options(["sh", "-c", "trap 'exit 7' TERM; while true; do sleep 0.05; done"])
    group = env.options(["sh", "-c", "sleep 1000 & sleep 1000 & wait"])
    try:
        for o in (trap, group):
            await rt.create(o)
            await rt.start(o.container_id)
        await asyncio.sleep(0.2)
        await rt.kill(trap.container_id, signal.SIGTERM)
        assert (await asyncio.wait_for(rt.wait_exit(trap.container_id), 10)).exit_code == 7

        pids = await rt.processes(group.container_id)
        assert len(pids) == 3
        await rt.kill(group.container_id, signal.SIGKILL, all_processes=True)
        assert (await asyncio.wait_for(rt.wait_exit(group.container_id), 10)).exit_code == 137
    finally:
        for o in (trap, group):
            await rt.delete(o.container_id, force=True)
        await rt.close()


async def test_pause_unpause(env: Env) -> None:
    rt = ConmonRuntime(env.root)
    opts = env.options(["sh", "-c", "i=0; while true; do i=$((i+1)); echo $i; sleep 0.02; done"])
    cid = opts.container_id
    try:
        await rt.create(opts)
        await rt.start(cid)
        await asyncio.sleep(0.2)
        await rt.pause(cid)
        assert (await rt.state(cid)).status == "paused"
        with pytest.raises(Conflict):
            await rt.pause(cid)
        await asyncio.sleep(0.05)
        frozen = len(read_log(opts.log.path))
        await asyncio.sleep(0.3)
        assert len(read_log(opts.log.path)) == frozen
        await rt.unpause(cid)
        assert (await rt.state(cid)).status == "running"
        await asyncio.sleep(0.3)
        assert len(read_log(opts.log.path)) > frozen
        with pytest.raises(Conflict):
            await rt.unpause(cid)
        # a paused container can be removed by force
        await rt.pause(cid)
    finally:
        await rt.delete(cid, force=True)
        await rt.close()
    assert (env.root / cid).exists() is False


async def test_delete_running_needs_force(env: Env) -> None:
    rt = ConmonRuntime(env.root)
    opts = env.options(["sleep", "1000"])
    cid = opts.container_id
    try:
        await rt.create(opts)
        await rt.start(cid)
        with pytest.raises(Conflict):
            await rt.delete(cid)
        assert (await rt.state(cid)).status == "running"
    finally:
        await rt.delete(cid, force=True)
    with pytest.raises(NotFound):
        await rt.state(cid)
    await rt.close()


async def test_delete_created_container(env: Env) -> None:
    rt = ConmonRuntime(env.root)
    opts = env.options(["true"])
    await rt.create(opts)
    await rt.delete(opts.container_id)
    assert not live_processes_mentioning(env.root)
    await rt.close()


@pytest.mark.parametrize("tty", [False, True])
async def test_failed_create_is_clean(env: Env, tty: bool) -> None:
    rt = ConmonRuntime(env.root)
    opts = env.options(["nosuch"], tty=tty)
    with pytest.raises(InvalidArgument) as caught:
        await rt.create(opts)
    assert 'exec: "nosuch": executable file not found in $PATH' in caught.value.message
    assert caught.value.message.startswith("OCI runtime create failed: ")
    assert not (env.root / opts.container_id).exists()
    assert runc_containers(env.root / "runc") == []
    assert not live_processes_mentioning(env.root)

    missing = env.options(["/nonexistent/bin"])
    with pytest.raises(InvalidArgument, match="no such file or directory"):
        await rt.create(missing)
    assert not (env.root / missing.container_id).exists()
    await rt.close()


async def test_failed_create_internal_error(env: Env) -> None:
    rt = ConmonRuntime(env.root)
    opts = env.options(["true"])
    spec = json.loads((opts.bundle / "config.json").read_text())
    spec["mounts"].append({"destination": "/x", "type": "nosuchfs", "source": "none"})
    (opts.bundle / "config.json").write_text(json.dumps(spec))
    with pytest.raises(Exception) as caught:
        await rt.create(opts)
    assert type(caught.value).__name__ in ("InternalError", "InvalidArgument")
    assert "nosuchfs" in str(caught.value) or "no such device" in str(caught.value)
    assert not (env.root / opts.container_id).exists()
    await rt.close()


async def test_ids_are_checked(env: Env) -> None:
    rt = ConmonRuntime(env.root)
    for bad in ("../x", "runc", "", "a/b"):
        with pytest.raises(InvalidArgument):
            await rt.state(bad)
    with pytest.raises(NotFound):
        await rt.wait_exit("f" * 64)
    await rt.close()


async def test_output_goes_to_log_and_attach(env: Env) -> None:
    rt = ConmonRuntime(env.root)
    script = "for i in $(seq 1 300); do echo out$i; echo err$i >&2; done; exit 4"
    opts = env.options(["sh", "-c", script])
    cid = opts.container_id
    try:
        await rt.create(opts)
        io = await rt.attach(cid)  # between create and start: nothing may be lost
        await rt.start(cid)
        out, err = await collect(io)
        assert out == b"".join(b"out%d\n" % i for i in range(1, 301))
        assert err == b"".join(b"err%d\n" % i for i in range(1, 301))
        await io.close()
        assert (await rt.wait_exit(cid)).exit_code == 4
        entries = read_log(opts.log.path)
        assert b"".join(e.data for e in entries if e.stream == "stdout") == out
        assert b"".join(e.data for e in entries if e.stream == "stderr") == err
        with pytest.raises(Conflict):
            await rt.attach(cid)
    finally:
        await rt.delete(cid, force=True)
        await rt.close()


def test_log_path_must_not_hold_colons(env: Env, tmp_path: Path) -> None:
    async def go() -> None:
        rt = ConmonRuntime(env.root)
        opts = env.options(["true"])
        bad = type(opts.log)(tmp_path / "a:b" / "ctr.log")
        with pytest.raises(InvalidArgument):
            await rt.create(type(opts)(opts.container_id, opts.bundle, bad))
        await rt.close()

    asyncio.run(go())
    assert not (env.root / "x").exists()


async def test_oom_kill_is_recorded(env: Env) -> None:
    rt = ConmonRuntime(env.root)
    opts = env.options(["dd", "if=/dev/zero", "of=/dev/null", "bs=200M", "count=1"])
    spec = json.loads((opts.bundle / "config.json").read_text())
    spec["linux"]["resources"]["memory"] = {"limit": 32 << 20, "swap": 32 << 20}
    (opts.bundle / "config.json").write_text(json.dumps(spec))
    try:
        await rt.create(opts)
        await rt.start(opts.container_id)
        info = await asyncio.wait_for(rt.wait_exit(opts.container_id), 20)
        assert (info.exit_code, info.oom_killed) == (137, True)
    finally:
        await rt.delete(opts.container_id, force=True)
        await rt.close()
