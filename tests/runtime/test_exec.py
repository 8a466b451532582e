"""Exec sessions: attached and detached, TTY, stdin, exit codes, failures."""

from __future__ import annotations

import asyncio

import pytest

from ketch.errors import Conflict, InvalidArgument, NotFound
from ketch.runtime.base import ExecOptions
from ketch.runtime.conmon import ConmonRuntime
from runtime.helpers import Env, collect, live_processes_mentioning


async def _running(rt: ConmonRuntime, env: Env) -> str:
    opts = env.options(["sleep", "1000"])
    await rt.create(opts)
    await rt.start(opts.container_id)
    return opts.container_id


async def test_exec_output_and_exit_code(env: Env) -> None:
    rt = ConmonRuntime(env.root)
    cid = await _running(rt, env)
    try:
        script = "for i in $(seq 1 200); do echo out$i; echo err$i >&2; done; exit 5"
        handle = await rt.exec(cid, ExecOptions("e1", env.exec_process(["sh", "-c", script])))
        assert handle.pid > 0 and handle.io is not None
        out, err = await collect(handle.io)
        # attached before the process ran: nothing lost
        assert out == b"".join(b"out%d\n" % i for i in range(1, 201))
        assert err == b"".join(b"err%d\n" % i for i in range(1, 201))
        await handle.io.close()
        info = await rt.wait_exec(cid, "e1")
        assert info.exit_code == 5
        assert (await rt.wait_exec(cid, "e1")).exit_code == 5
        # the exec shares the container's namespaces
        h2 = await rt.exec(cid, ExecOptions("e2", env.exec_process(["hostname"])))
        assert h2.io is not None
        out, _ = await collect(h2.io)
        assert out == cid[:12].encode() + b"\n"
        await h2.io.close()
        assert (await rt.wait_exec(cid, "e2")).exit_code == 0
        await rt.delete_exec(cid, "e2")
        with pytest.raises(NotFound):
            await rt.wait_exec(cid, "e2")
    finally:
        await rt.delete(cid, force=True)
        await rt.close()


async def test_exec_stdin_and_close(env: Env) -> None:
    rt = ConmonRuntime(env.root)
    cid = await _running(rt, env)
    try:
        handle = await rt.exec(cid, ExecOptions("cat", env.exec_process(["cat"]), stdin=True))
        assert handle.io is not None
        await handle.io.write(b"piped\n")
        await handle.io.close_stdin()
        out, _ = await collect(handle.io)
        assert out == b"piped\n"
        assert (await rt.wait_exec(cid, "cat")).exit_code == 0
        await handle.io.close()
    finally:
        await rt.delete(cid, force=True)
        await rt.close()


async def test_exec_tty_size_and_resize(env: Env) -> None:
    rt = ConmonRuntime(env.root)
    cid = await _running(rt, env)
    try:
        proc = env.exec_process(["sh", "-c", "stty size; read x; stty size"])
        handle = await rt.exec(cid, ExecOptions("tty", proc, tty=True, stdin=True,
                                                console_size=(24, 80)))
        assert handle.io is not None
        got = b""
        while b"\n" not in got:
            chunk = await asyncio.wait_for(handle.io.read(), 10)
            assert chunk is not None and chunk[0] == 1
            got += chunk[1]
        assert got == b"24 80\r\n"
        await rt.resize_exec(cid, "tty", 40, 132)
        await asyncio.sleep(0.1)
        await handle.io.write(b"\n")
        out, err = await collect(handle.io)
        assert out.endswith(b"40 132\r\n") and err == b""
        assert (await rt.wait_exec(cid, "tty")).exit_code == 0
        await handle.io.close()
        with pytest.raises(Conflict):
            await rt.resize_exec(cid, "tty", 10, 10)
    finally:
        await rt.delete(cid, force=True)
        await rt.close()


async def test_detached_exec_then_attach(env: Env) -> None:
    rt = ConmonRuntime(env.root)
    cid = await _running(rt, env)
    try:
        proc = env.exec_process(["sh", "-c", "sleep 0.3; echo late; exit 2"])
        handle = await rt.exec(cid, ExecOptions("bg", proc, attach=False))
        assert handle.io is None and handle.pid > 0
        io = await rt.attach_exec(cid, "bg")
        out, _ = await collect(io)
        assert out == b"late\n"
        await io.close()
        assert (await rt.wait_exec(cid, "bg")).exit_code == 2
    finally:
        await rt.delete(cid, force=True)
        await rt.close()


async def test_exec_failures(env: Env) -> None:
    rt = ConmonRuntime(env.root)
    cid = await _running(rt, env)
    try:
        with pytest.raises(InvalidArgument) as caught:
            await rt.exec(cid, ExecOptions("bad", env.exec_process(["nosuch"])))
        assert 'exec: "nosuch": executable file not found in $PATH' in caught.value.message
        assert not (env.root / cid / "exec" / "bad").exists()
        assert len(live_processes_mentioning(env.root / cid / "exec")) == 0
        # the exec id can be used again after a failure
        h = await rt.exec(cid, ExecOptions("bad", env.exec_process(["true"])))
        assert (await rt.wait_exec(cid, "bad")).exit_code == 0
        assert h.io is not None
        await h.io.close()
        with pytest.raises(Conflict):
            await rt.exec(cid, ExecOptions("bad", env.exec_process(["true"])))
        long = await rt.exec(cid, ExecOptions("long", env.exec_process(["sleep", "1000"]),
                                              attach=False))
        with pytest.raises(Conflict):
            await rt.delete_exec(cid, "long")
        assert long.pid > 0
        await rt.pause(cid)
        with pytest.raises(Conflict):
            await rt.exec(cid, ExecOptions("paused", env.exec_process(["true"])))
        await rt.unpause(cid)
    finally:
        await rt.delete(cid, force=True)  # ends the exec sessions' monitors too
    assert not live_processes_mentioning(env.root)
    stopped = env.options(["true"])
    await rt.create(stopped)
    await rt.start(stopped.container_id)
    await rt.wait_exit(stopped.container_id)
    with pytest.raises(Conflict):
        await rt.exec(stopped.container_id, ExecOptions("x", env.exec_process(["true"])))
    await rt.delete(stopped.container_id)
    await rt.close()
