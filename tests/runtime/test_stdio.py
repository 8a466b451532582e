"""Attach: stdin, close_stdin, detaching, TTY output and resize."""

from __future__ import annotations

import asyncio

import pytest

from ketch.errors import Conflict
from ketch.runtime.conmon import ConmonRuntime
from runtime.helpers import Env, collect, read_until


async def test_stdin_piped_then_closed(env: Env) -> None:
    """echo x | docker run -i busybox cat: stdin_once closes the container's
    stdin when the client's input ends, and cat exits."""
    rt = ConmonRuntime(env.root)
    opts = env.options(["sh", "-c", "cat; echo done >&2"], stdin=True, stdin_once=True)
    cid = opts.container_id
    try:
        await rt.create(opts)
        io = await rt.attach(cid)
        await rt.start(cid)
        payload = b"".join(b"line %d\n" % i for i in range(2000))  # > one 32 KiB message
        await io.write(payload)
        await io.close_stdin()
        out, err = await collect(io)
        assert out == payload
        assert err == b"done\n"
        assert (await asyncio.wait_for(rt.wait_exit(cid), 10)).exit_code == 0
        await io.close()
    finally:
        await rt.delete(cid, force=True)
        await rt.close()


async def test_stdin_stays_open_across_attaches(env: Env) -> None:
    """docker run -d -i: detaching leaves stdin open for the next attach."""
    rt = ConmonRuntime(env.root)
    opts = env.options(["cat"], stdin=True)
    cid = opts.container_id
    try:
        await rt.create(opts)
        await rt.start(cid)
        first = await rt.attach(cid)
        await first.write(b"one\n")
        assert await read_until(first, b"one\n") == b"one\n"
        await first.close()
        await asyncio.sleep(0.1)
        assert (await rt.state(cid)).status == "running"
        second = await rt.attach(cid)
        await second.write(b"two\n")
        assert await read_until(second, b"two\n") == b"two\n"
        await second.close()
        assert (await rt.state(cid)).status == "running"
    finally:
        await rt.delete(cid, force=True)
        await rt.close()


async def test_detach_keeps_process_running(env: Env) -> None:
    rt = ConmonRuntime(env.root)
    opts = env.options(["sh", "-c", "while true; do echo tick; sleep 0.05; done"])
    cid = opts.container_id
    try:
        await rt.create(opts)
        await rt.start(cid)
        io = await rt.attach(cid)
        await read_until(io, b"tick\n")
        await io.close()
        await asyncio.sleep(0.2)
        assert (await rt.state(cid)).status == "running"
        io2 = await rt.attach(cid)
        await read_until(io2, b"tick\ntick\n")
        await io2.close()
    finally:
        await rt.delete(cid, force=True)
        await rt.close()


async def test_tty_output_size_and_resize(env: Env) -> None:
    rt = ConmonRuntime(env.root)
    script = "stty size; echo to-stderr >&2; read x; stty size; echo got:$x"
    opts = env.options(["sh", "-c", script], tty=True, stdin=True, stdin_once=True,
                       console_size=(30, 100))
    cid = opts.container_id
    try:
        await rt.create(opts)
        io = await rt.attach(cid)
        await rt.start(cid)
        first = await read_until(io, b"to-stderr\r\n")
        assert first.startswith(b"30 100\r\n")  # console_size applied at create
        await rt.resize(cid, 50, 120)
        await asyncio.sleep(0.1)  # conmon applies it from its control fifo
        await io.write(b"hello\n")
        out, err = await collect(io)
        assert err == b""  # a TTY has one stream: everything is stdout
        assert b"50 120\r\n" in out
        assert b"got:hello\r\n" in out
        assert (await rt.wait_exit(cid)).exit_code == 0
        with pytest.raises(Conflict):
            await rt.resize(cid, 10, 10)
        await io.close()
    finally:
        await rt.delete(cid, force=True)
        await rt.close()


async def test_tty_without_stdin(env: Env) -> None:
    rt = ConmonRuntime(env.root)
    opts = env.options(["sh", "-c", "tty; echo bye"], tty=True)
    cid = opts.container_id
    try:
        await rt.create(opts)
        io = await rt.attach(cid)
        await rt.start(cid)
        out, _ = await collect(io)
        assert out == b"/dev/pts/0\r\nbye\r\n"
        assert (await rt.wait_exit(cid)).exit_code == 0
    finally:
        await rt.delete(cid, force=True)
        await rt.close()


async def test_concurrent_attaches_get_the_same_output(env: Env) -> None:
    rt = ConmonRuntime(env.root)
    opts = env.options(["sh", "-c", "seq 1 500"])
    cid = opts.container_id
    try:
        await rt.create(opts)
        ios = [await rt.attach(cid) for _ in range(5)]
        await rt.start(cid)
        results = await asyncio.gather(*(collect(io) for io in ios))
        expected = b"".join(b"%d\n" % i for i in range(1, 501))
        assert all(out == expected for out, _ in results)
        for io in ios:
            await io.close()
        await rt.wait_exit(cid)
    finally:
        await rt.delete(cid, force=True)
        await rt.close()
