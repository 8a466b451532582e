"""Interactive TTY sessions through a real pseudo-terminal (pexpect).

Each test runs with the docker CLI too, so the expectations are checked
against Docker's own behaviour: a shell typed into, the container's exit
code, window size changes seen by ``stty size`` inside, ctrl-c delivered to
the container rather than to the CLI, detaching with ctrl-p ctrl-q (or
``--detach-keys``) and attaching again, ``exec -it``, and the local terminal
restored afterwards.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator

import pexpect
import pytest
from support.dockercli import DOCKER_CLI

from .runner import KETCH, Runner

PROGRAMS = {"docker": DOCKER_CLI, "ketch": KETCH}
PROMPT = re.compile(rb"[/\w]* # ")
ROWS, COLS = 30, 100


@pytest.fixture(params=sorted(PROGRAMS))
def cli(request: pytest.FixtureRequest) -> str:
    return PROGRAMS[request.param]


@pytest.fixture
def spawn(containers: Runner) -> Iterator[object]:
    children: list[pexpect.spawn] = []

    def start(*argv: str, rows: int = ROWS, cols: int = COLS) -> pexpect.spawn:
        child = pexpect.spawn(argv[0], list(argv[1:]), env=containers.env,
                              dimensions=(rows, cols), timeout=30)
        children.append(child)
        return child

    yield start
    for child in children:
        if child.isalive():
            child.terminate(force=True)
        child.close()


def finished(child: pexpect.spawn) -> int:
    """Wait for the CLI to exit; its exit status."""
    child.expect(pexpect.EOF)
    child.close()
    assert child.signalstatus is None, f"killed by signal {child.signalstatus}"
    return int(child.exitstatus)


def test_run_it_shell_types_resizes_and_exits_with_its_code(spawn: object, cli: str) -> None:
    child = spawn(cli, "run", "-it", "--rm", "busybox", "sh")  # type: ignore[operator]
    child.expect(PROMPT)
    child.sendline("echo $((6 * 7))")
    child.expect(r"\r\n42\r\n")
    child.sendline("stty size")
    child.expect(rf"\r\n{ROWS} {COLS}\r\n")
    child.setwinsize(41, 123)  # SIGWINCH to the CLI, which resizes the container's TTY
    child.expect(PROMPT)
    for _ in range(50):  # the resize travels CLI -> daemon -> TTY: allow it a moment
        child.sendline("stty size")
        if child.expect([r"\r\n41 123\r\n", rf"\r\n{ROWS} {COLS}\r\n"]) == 0:
            break
    else:
        pytest.fail("the new window size never reached the container")
    child.sendline("tty; exit 5")
    child.expect(r"/dev/pts/\d+")
    assert finished(child) == 5


def test_ctrl_c_reaches_the_container_not_the_cli(spawn: object, cli: str) -> None:
    child = spawn(cli, "run", "-it", "--rm", "busybox", "sh")  # type: ignore[operator]
    child.expect(PROMPT)
    child.sendline("echo go$((1 + 1)); sleep 30; echo slept")
    child.expect(r"\r\ngo2\r\n")
    time.sleep(0.5)  # let the shell start sleep(1)
    child.sendintr()  # ctrl-c: a byte in raw mode, the container's TTY makes it SIGINT
    child.expect(PROMPT)
    child.sendline("echo still here")
    child.expect(r"\r\nstill here\r\n")
    assert "slept" not in child.before.decode()
    child.sendline("exit")
    assert finished(child) == 0


def test_detach_then_attach_then_exec(spawn: object, cli: str, containers: Runner) -> None:
    name = f"kt-det-{os.path.basename(cli)}"
    child = spawn(cli, "run", "-it", "--name", name, "busybox", "sh")  # type: ignore[operator]
    child.expect(PROMPT)
    child.sendline("echo first session")
    child.expect(r"first session\r\n")
    child.send("\x10\x11")  # ctrl-p ctrl-q
    assert finished(child) == 0
    assert "read escape sequence" not in child.before.decode()
    assert containers.docker("inspect", "-f", "{{.State.Running}}", name).ok().stdout == \
        "true\n"

    child = spawn(cli, "attach", name, rows=25, cols=90)  # type: ignore[operator]
    child.sendline("echo attached again; stty size")
    child.expect(r"\r\nattached again\r\n25 90\r\n")
    child.send("\x10\x11")
    child.expect(r"read escape sequence\r\n")
    assert finished(child) == 1

    child = spawn(cli, "exec", "-it", name, "sh", rows=20, cols=70)  # type: ignore[operator]
    child.expect(PROMPT)
    child.sendline("echo in exec; stty size")
    child.expect(r"\r\nin exec\r\n20 70\r\n")
    child.setwinsize(22, 77)
    for _ in range(50):
        child.sendline("stty size")
        if child.expect([r"\r\n22 77\r\n", r"\r\n20 70\r\n"]) == 0:
            break
    else:
        pytest.fail("exec's TTY was never resized")
    child.sendline("exit 4")
    assert finished(child) == 4

    child = spawn(cli, "exec", "-it", name, "sh")  # type: ignore[operator]
    child.expect(PROMPT)
    child.send("\x10\x11")
    child.expect(r"read escape sequence\r\n")
    assert finished(child) == 1

    child = spawn(cli, "attach", name)  # type: ignore[operator]
    child.sendline("exit 3")
    assert finished(child) == 3
    containers.docker("rm", name).ok()


def test_custom_detach_keys(spawn: object, cli: str, containers: Runner) -> None:
    name = f"kt-keys-{os.path.basename(cli)}"
    child = spawn(cli, "run", "-it", "--detach-keys", "ctrl-x,x", "--name", name,  # type: ignore[operator]
                  "busybox", "sh")
    child.expect(PROMPT)
    child.send("\x18")  # the first key alone is held back, then passed on with the next
    child.sendline("echo x-passed")
    child.expect(r"x-passed\r\n")
    child.send("\x18x")
    assert finished(child) == 0
    assert containers.docker("inspect", "-f", "{{.State.Running}}", name).ok().stdout == \
        "true\n"

    child = spawn(cli, "start", "-ai", "--detach-keys", "ctrl-a", name)  # type: ignore[operator]
    child.sendline("echo via start")
    child.expect(r"\r\nvia start\r\n")
    child.send("\x01")
    assert finished(child) == 0  # start detaches quietly, as run does
    containers.docker("rm", "-f", name).ok()


def test_start_attached_tty_container(spawn: object, cli: str, containers: Runner) -> None:
    name = f"kt-start-{os.path.basename(cli)}"
    containers.docker("create", "-it", "--name", name, "busybox", "sh").ok()
    child = spawn(cli, "start", "-ai", name, rows=33, cols=111)  # type: ignore[operator]
    child.expect(PROMPT)
    child.sendline("stty size; exit 2")
    child.expect(r"\r\n33 111\r\n")
    assert finished(child) == 2
    containers.docker("rm", name).ok()


def test_tty_without_stdin_gets_the_window_size(spawn: object, cli: str) -> None:
    # Without -i the TTY is on stdout only; the CLI sizes it just after the start.
    child = spawn(cli, "run", "-t", "--rm", "busybox", "sh", "-c",  # type: ignore[operator]
                  "sleep 1; stty -F /proc/self/fd/1 size; echo err >&2; exit 6",
                  rows=27, cols=88)
    # The container's TTY turns \n into \r\n, then ours (not raw: no stdin) once more.
    child.expect(r"27 88\r\r\nerr\r\r\n")
    assert finished(child) == 6


def test_the_local_terminal_is_restored(spawn: object, cli: str) -> None:
    """Raw mode during the session, the previous settings after it, whatever the end."""
    script = (f"stty -g; {cli} run -it --rm busybox sh -c 'exit 3'; echo rc=$?; stty -g; "
              f"{cli} run -it --rm busybox nosuchcommand; echo rc=$?; stty -g")
    child = spawn("/bin/sh", "-c", script)  # type: ignore[operator]
    assert finished(child) == 0
    out = child.before.decode()
    settings = re.findall(r"^([0-9a-f:]{40,})\r?$", out, re.MULTILINE)
    assert re.findall(r"rc=(\d+)", out) == ["3", "127"], out
    assert len(settings) == 3 and settings[0] == settings[1] == settings[2], out


def test_input_device_must_be_a_terminal_for_it(containers: Runner) -> None:
    for cli in (containers.docker, containers.ketch):
        result = cli("run", "-it", "--rm", "busybox", "true")
        assert (result.returncode, result.stderr) == (1, "the input device is not a TTY\n")
        result = cli("exec", "-it", "nosuch", "true")
        assert result.returncode == 1
