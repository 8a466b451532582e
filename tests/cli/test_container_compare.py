"""Container commands: ``ketch`` prints and exits as Docker CLI 28 does.

Each case runs the docker CLI and ``ketch`` with the same arguments against
the same engine and compares exit codes, stdout and stderr. Commands that
change state run on a state reset before each CLI. Container IDs, ages and
the daemon's own mention of "docker" (in pull errors) are normalised; names
are fixed with ``--name`` so that everything else must match exactly.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from support.dockercli import Result

from .runner import KETCH, Runner, assert_same, without_ages

_ID64 = re.compile(r"\b[0-9a-f]{64}\b")
_ID12 = re.compile(r"\b[0-9a-f]{12}\b")
_UP = re.compile(r"Up (Less than a second|\d+ seconds?|About a minute|\d+ minutes)")


def norm(text: str) -> str:
    """IDs and ages out; docker's name in the daemon's own messages kept as one word."""
    text = _ID64.sub("<id>", text)
    text = _ID12.sub("<id12>", text)
    text = _UP.sub("Up <age>", text)
    return without_ages(text).replace("docker", "ketch")


def same(docker: Result, ketch: Result) -> None:
    assert_same(docker, ketch, normalize=norm)


def twice(runner: Runner, reset: Callable[[], None], *args: str,
          input: str | None = None) -> tuple[Result, Result]:
    reset()
    docker = runner.docker(*args, input=input)
    reset()
    ketch = runner.ketch(*args, input=input)
    return docker, ketch


def rm(runner: Runner, *names: str) -> None:
    runner.docker("rm", "-f", *names)


# --- run ----------------------------------------------------------------------------------

RUN_CASES = [
    ["run", "--rm", "busybox", "sh", "-c", "echo out; echo err >&2; exit 3"],
    ["run", "--rm", "hello-world"],
    ["run", "--rm", "busybox", "true"],
    ["run", "--rm", "busybox", "nosuchcommand"],
    ["run", "--rm", "busybox", "/etc/passwd"],
    ["run", "--rm", "busybox", "/tmp"],
    ["run", "--rm", "-e", "A=1", "-e", "A=2", "-h", "kthost", "busybox", "env"],
    ["run", "--rm", "-w", "/tmp/new/dir", "-u", "1000:1000", "busybox", "sh", "-c",
     "pwd; id"],
    ["run", "--rm", "-u", "nobody", "busybox", "id"],
    ["run", "--rm", "--entrypoint", "echo", "busybox", "hi", "there"],
    ["run", "--rm", "--entrypoint=", "busybox", "echo", "reset"],
    ["run", "--rm", "--read-only", "busybox", "touch", "/x"],
    ["run", "--rm", "--cap-drop", "CHOWN", "busybox", "chown", "1", "/tmp"],
    ["run", "--rm", "--cap-drop", "all", "--cap-add", "chown", "busybox", "sh", "-c",
     "grep Cap /proc/self/status"],
    ["run", "--rm", "--privileged", "busybox", "sh", "-c", "grep CapEff /proc/self/status"],
    ["run", "--rm", "--network", "none", "busybox", "cat", "/proc/net/dev"],
    ["run", "--rm", "--network", "host", "-l", "kt=1", "busybox", "true"],
    ["run", "--rm", "-a", "stdout", "busybox", "sh", "-c", "echo o; echo e >&2"],
    ["run", "--rm", "-a", "stderr", "busybox", "sh", "-c", "echo o; echo e >&2"],
    ["run", "--rm", "-t", "busybox", "sh", "-c", "echo tty; echo err >&2; exit 2"],
    ["run", "--rm", "--stop-signal", "SIGUSR1", "--stop-timeout", "3", "--log-opt",
     "max-size=1m", "busybox", "true"],
    ["run", "--rm", "--sig-proxy=false", "--detach-keys", "ctrl-x,x", "busybox", "echo", "k"],
    ["run", "--rm", "nosuchimage"],
    ["run", "--rm", "nosuch/image:tag"],
    ["run", "--rm", "--pull", "never", "nosuchimage"],
    ["run", "--rm", "-q", "nosuchimage"],
    ["container", "run", "--rm", "busybox", "echo", "alias"],
]


@pytest.mark.parametrize("args", RUN_CASES, ids=" ".join)
def test_run_matches_docker(containers: Runner, args: list[str]) -> None:
    same(*containers.both(*args))


@pytest.mark.parametrize("args,input", [
    (["run", "-i", "--rm", "busybox", "cat"], "piped\ninput\n"),
    (["run", "-i", "--rm", "busybox", "sh", "-c", "cat; echo after; exit 4"], "data"),
    (["run", "-i", "--rm", "busybox", "wc", "-c"], "x" * 300000),
    (["run", "-i", "--rm", "busybox", "true"], "ignored"),
    (["run", "--rm", "busybox", "cat"], "not attached"),
    (["run", "-i", "-a", "stdin", "-a", "stdout", "--rm", "busybox", "cat"], "in"),
], ids=lambda v: " ".join(v) if isinstance(v, list) else "")
def test_run_with_stdin_matches_docker(containers: Runner, args: list[str], input: str) -> None:
    same(*containers.both(*args, input=input))


ARG_ERRORS = [
    ["run"],
    ["create"],
    ["run", "--bogus", "busybox"],
    ["run", "-e", "=x", "busybox"],
    ["run", "-a", "bogus", "busybox"],
    ["run", "-l", " =x", "busybox"],
    ["run", "--pull", "bogus", "busybox"],
    ["run", "--restart", "always", "--rm", "busybox"],
    ["run", "--restart", ":1", "busybox"],
    ["run", "--restart", "on-failure:x", "busybox"],
    ["run", "--env-file", "/nonexistent", "busybox"],
    ["run", "--stop-timeout", "x", "busybox"],
    ["run", "--pid", "bad", "busybox"],
    ["run", "--uts", "bad", "busybox"],
    ["run", "--userns", "bad", "busybox"],
    ["run", "--cgroupns", "bad", "busybox"],
    ["run", "-m", "1x", "busybox"],
    ["run", "-m", "1.2.3", "busybox"],
    ["run", "--cpus", "x", "busybox"],
    ["run", "--cpus", "0.0000000001", "busybox"],
    ["run", "--log-driver", "none", "--log-opt", "a=b", "busybox"],
    ["run", "UPPER"],
    ["run", "a@b"],
    ["run", "-it", "busybox"],
    ["run", "-d", "-a", "stdout", "busybox"],
    ["create", "--bogus", "busybox"],
    ["create", "-e", "=x", "busybox"],
    ["create", "nosuchimage"],
    ["create", "-q", "nosuchimage"],
    ["create", "UPPER"],
]


@pytest.mark.parametrize("args", ARG_ERRORS, ids=" ".join)
def test_run_and_create_errors_match_docker(containers: Runner, args: list[str]) -> None:
    same(*containers.both(*args))


def test_env_file_errors_match_docker(containers: Runner, workdir: Path) -> None:
    for content in (b"=x\n", b"A B=1\n", b"ok=1\n\xff\xfe\n"):
        path = workdir / "env"
        path.write_bytes(content)
        same(*containers.both("run", "--rm", "--env-file", str(path), "busybox", "env"))
    path.write_bytes(b"\xef\xbb\xbfA=1\n  # c\n\nB= spaced \nPATH\n")
    same(*containers.both("run", "--rm", "-h", "h", "--env-file", str(path), "busybox", "env"))


def test_detached_run_and_create_match_docker(containers: Runner) -> None:
    def reset() -> None:
        rm(containers, "kt-d")

    for args in (["run", "-d", "--name", "kt-d", "busybox", "sleep", "60"],
                 ["run", "-d", "--name", "kt-d", "busybox", "nosuchcommand"],
                 ["run", "-d", "--rm", "--name", "kt-d", "busybox", "true"],
                 ["create", "--name", "kt-d", "busybox"],
                 ["container", "create", "-t", "-i", "--name", "kt-d", "busybox", "sh"]):
        docker, ketch = twice(containers, reset, *args)
        same(docker, ketch)
        assert re.fullmatch(r"[0-9a-f]{64}\n", ketch.stdout), ketch.describe()
    reset()
    containers.docker("create", "--name", "kt-d", "busybox").ok()
    same(*containers.both("create", "--name", "kt-d", "busybox"))
    same(*containers.both("run", "--name", "kt-d", "busybox"))


def test_run_without_rm_keeps_the_container_with_its_exit_code(containers: Runner) -> None:
    result = containers.ketch("run", "--name", "kt-keep", "busybox", "sh", "-c", "exit 7")
    assert result.returncode == 7
    assert containers.docker("inspect", "-f", "{{.State.ExitCode}}", "kt-keep").ok() \
        .stdout == "7\n"
    containers.ketch("run", "--rm", "--name", "kt-gone", "busybox", "true").ok()
    assert containers.docker("ps", "-aq", "-f", "name=kt-gone").ok().stdout == ""


# --- lifecycle ------------------------------------------------------------------------------


def _reset_pair(runner: Runner) -> Callable[[], None]:
    """Two running containers, one exited, one created (fresh each time)."""
    def reset() -> None:
        rm(runner, "kt-a", "kt-b", "kt-x", "kt-c", "kt-new")
        runner.docker("run", "-d", "--name", "kt-a", "busybox", "sleep", "60").ok()
        runner.docker("run", "-d", "--name", "kt-b", "busybox", "sleep", "60").ok()
        runner.docker("run", "--name", "kt-x", "busybox", "sh", "-c", "exit 5")
        runner.docker("create", "--name", "kt-c", "busybox", "sleep", "60").ok()
    return reset


LIFECYCLE = [
    ["stop", "kt-a"],
    ["stop", "-t", "0", "kt-a", "kt-b"],
    ["stop", "--time", "0", "kt-a"],
    ["stop", "-t", "0", "--time", "0", "kt-a"],
    ["stop", "-s", "KILL", "kt-a", "nosuch", "kt-x"],
    ["stop", "nosuch1", "nosuch2"],
    ["container", "stop", "-t", "0", "kt-c"],
    ["kill", "kt-a", "kt-b"],
    ["kill", "-s", "HUP", "kt-a"],
    ["kill", "-s", "bogus", "kt-a"],
    ["kill", "kt-x"],
    ["kill", "nosuch", "kt-a"],
    ["restart", "-t", "0", "kt-a", "kt-x", "nosuch"],
    ["restart", "-t", "0", "kt-c"],
    ["start", "kt-c", "kt-x"],
    ["start", "kt-a"],
    ["start", "nosuch", "kt-c", "nosuch2"],
    ["start", "-a", "kt-x"],
    ["start", "-a", "kt-c", "kt-x"],
    ["pause", "kt-a", "kt-b"],
    ["pause", "kt-x"],
    ["unpause", "kt-a"],
    ["rm", "kt-x", "kt-c"],
    ["rm", "kt-a"],
    ["rm", "-f", "kt-a", "nosuch", "kt-c"],
    ["rm", "-f", "nosuch"],
    ["rm", "nosuch", "kt-x"],
    ["rm", "-v", "/kt-x"],
    ["rm", "/"],
    ["container", "rm", "-fv", "kt-b"],
    ["container", "remove", "kt-c"],
    ["rename", "kt-a", "kt-new"],
    ["rename", "kt-a", "kt-b"],
    ["rename", "nosuch", "kt-new"],
    ["rename", " ", "kt-new"],
    ["rename", "kt-a"],
    ["wait", "kt-x"],
    ["wait", "kt-x", "nosuch", "kt-x"],
    ["container", "prune", "-f"],
    ["container", "prune", "-f", "--filter", "until=1h"],
    ["container", "prune", "-f", "--filter", "label=nothing"],
    ["container", "prune", "--filter", "bogus"],
]


@pytest.mark.parametrize("args", LIFECYCLE, ids=" ".join)
def test_lifecycle_commands_match_docker(containers: Runner, args: list[str]) -> None:
    same(*twice(containers, _reset_pair(containers), *args))


def test_lifecycle_commands_change_state_as_docker(containers: Runner) -> None:
    reset = _reset_pair(containers)
    reset()
    state = "{{.Name}} {{.State.Status}} {{.State.ExitCode}}"

    def states() -> str:
        ids = containers.docker("ps", "-aq").ok().stdout.split()
        return "".join(sorted(containers.docker("inspect", "-f", state, *ids).ok()
                              .stdout.splitlines(keepends=True)))

    for args in (["stop", "-t", "1", "kt-a"], ["kill", "kt-b"], ["start", "kt-c"],
                 ["pause", "kt-a"], ["rename", "kt-x", "kt-new"], ["rm", "kt-new"]):
        reset()
        containers.docker(*args)
        expected = states()
        reset()
        containers.ketch(*args)
        assert states() == expected, args


def test_prune_asks_first(containers: Runner) -> None:
    reset = _reset_pair(containers)
    same(*twice(containers, reset, "container", "prune", input="n\n"))
    same(*twice(containers, reset, "container", "prune", input="y\n"))
    assert "kt-x" not in containers.docker("ps", "-a").ok().stdout


def test_wait_blocks_until_the_container_exits(containers: Runner) -> None:
    containers.docker("run", "-d", "--name", "kt-w", "busybox", "sh", "-c",
                      "sleep 1; exit 9").ok()
    started = time.monotonic()
    result = containers.ketch("wait", "kt-w")
    assert (result.returncode, result.stdout, result.stderr) == (0, "9\n", "")
    assert time.monotonic() - started > 0.5


# --- reading: ps, inspect, logs, top, exec -----------------------------------------------


@pytest.fixture
def populated(containers: Runner) -> Runner:
    """A few containers in every state, with labels, output and a TTY one."""
    d = containers.docker
    d("run", "-d", "--name", "kt-run", "-l", "app=web", "-l", "tier=1", "busybox", "sh", "-c",
      "echo started; echo warn >&2; exec sleep 60").ok()
    d("run", "-d", "--name", "kt-tty", "-t", "busybox", "sh", "-c",
      "echo tty line; exec sleep 60").ok()
    d("run", "--name", "kt-exit", "busybox", "sh", "-c",
      "for i in 1 2 3 4 5; do echo line $i; done; echo oops >&2; exit 3")
    d("create", "--name", "kt-new", "--entrypoint", "echo", "busybox",
      "a very long command line that is cut in the table").ok()
    d("run", "-d", "--name", "kt-paused", "busybox", "sleep", "60").ok()
    d("pause", "kt-paused").ok()
    time.sleep(0.3)  # let the output reach the logs
    return containers


PS_CASES = [
    ["ps"],
    ["ps", "-a"],
    ["ps", "-q"],
    ["ps", "-aq"],
    ["ps", "-a", "--no-trunc"],
    ["ps", "-n", "2"],
    ["ps", "-n", "0"],
    ["ps", "-l"],
    ["ps", "-l", "-q"],
    ["ps", "-s"],
    ["ps", "-a", "-s", "--format", "{{.Names}} {{.Size}}"],
    ["ps", "-a", "--format", "json"],
    ["ps", "-a", "--format", "table {{.Names}}\\t{{.State}}\\t{{.Labels}}\\t{{.Command}}"],
    ["ps", "-a", "--format", "{{.Names}} {{.Label \"app\"}} {{.Mounts}} {{.Networks}}"],
    ["ps", "-a", "--format", "{{.ID}} {{.Image}} {{.Ports}} {{.LocalVolumes}} {{.Platform}}"],
    ["ps", "-a", "--format", "raw"],
    ["ps", "-a", "--format", "table"],
    ["ps", "-a", "-f", "status=exited"],
    ["ps", "-a", "-f", "status=paused", "-f", "status=created"],
    ["ps", "-a", "--filter", "label=app=web"],
    ["ps", "-a", "--filter", "name=kt-e", "--filter", "name=kt-t"],
    ["ps", "-a", "-f", "exited=3"],
    ["ps", "-a", "-f", "ancestor=busybox"],
    ["ps", "-f", "bogus=1"],
    ["ps", "-f", "nonsense"],
    ["ps", "--format", "{{.Foo}}"],
    ["ps", "--format", "{{"],
    ["ps", "-q", "--format", "{{.Names}}"],
    ["ps", "x"],
    ["container", "ls", "-a"],
    ["container", "list", "-aq", "--no-trunc"],
    ["container", "ps", "-a", "-n", "1"],
]


def test_ps_matches_docker(populated: Runner) -> None:
    for args in PS_CASES:
        same(*populated.both(*args))


INSPECT_CASES = [
    ["container", "inspect", "kt-run"],
    ["container", "inspect", "kt-run", "kt-exit", "nosuch"],
    ["container", "inspect", "-s", "kt-new"],
    ["inspect", "kt-exit"],
    ["inspect", "--type", "container", "kt-run"],
    ["inspect", "--type", "container", "busybox"],
    ["inspect", "-s", "kt-run"],
    ["inspect", "--format", "json", "kt-new"],
    ["inspect", "-f", "{{.State.Status}} {{.State.ExitCode}} {{.State.Running}}",
     "kt-run", "kt-exit", "kt-new", "kt-paused"],
    ["inspect", "-f", "{{.State}}", "kt-exit"],
    ["inspect", "-f", "{{json .State}}", "kt-exit"],
    ["inspect", "-f", "{{.Config.Cmd}} {{.Config.Entrypoint}} {{.Config.Labels}}", "kt-run",
     "kt-new"],
    ["inspect", "-f", "{{json .Config}}", "kt-run"],
    ["inspect", "-f", "{{.Config.Tty}} {{.Config.OpenStdin}} {{.Config.Env}}", "kt-tty"],
    ["inspect", "-f", "{{.HostConfig.RestartPolicy}} {{.HostConfig.LogConfig}}", "kt-run"],
    ["inspect", "-f", "{{.HostConfig.CapAdd}} {{.HostConfig.Dns}} {{.HostConfig.Binds}}",
     "kt-run"],
    ["inspect", "-f", "{{.HostConfig.MemorySwappiness}} {{.HostConfig.PidsLimit}}",
     "kt-run"],
    ["inspect", "-f", "{{.ID}} {{.Name}} {{.Path}} {{.Args}} {{.RestartCount}}", "kt-run"],
    ["inspect", "-f", "{{.Id}} {{.Created}}", "kt-run"],
    ["inspect", "-f", "{{.Mounts}} {{.GraphDriver.Name}}", "kt-run"],
    ["inspect", "-f", "{{.NetworkSettings.IPAddress}} {{.NetworkSettings.Ports}}",
     "kt-run"],
    ["inspect", "-s", "-f", "{{.SizeRw}} {{.SizeRootFs}}", "kt-run"],
    ["inspect", "-f", "{{.SizeRw}}", "kt-run"],
    ["inspect", "-f", "{{.Nope}}", "kt-run"],
    ["inspect", "-f", "{{json .}}", "kt-new"],
    ["container", "inspect", "-f", "{{.Config.Image}}"],
]


def test_inspect_matches_docker(populated: Runner) -> None:
    for args in INSPECT_CASES:
        same(*populated.both(*args))


LOGS_CASES = [
    ["logs", "kt-exit"],
    ["logs", "kt-run"],
    ["logs", "kt-tty"],
    ["logs", "-t", "kt-exit"],
    ["logs", "--timestamps", "--details", "kt-exit"],
    ["logs", "-n", "2", "kt-exit"],
    ["logs", "--tail", "0", "kt-exit"],
    ["logs", "--tail", "all", "kt-exit"],
    ["logs", "--since", "1h", "kt-exit"],
    ["logs", "--since", "2000-01-01T00:00:00Z", "--until", "1h", "kt-exit"],
    ["logs", "--until", "2000-01-01", "kt-exit"],
    ["logs", "--since", "bogus", "kt-exit"],
    ["logs", "-f", "kt-exit"],
    ["logs", "kt-new"],
    ["logs", "nosuch"],
    ["logs", "kt-run", "kt-exit"],
    ["logs", " "],
    ["container", "logs", "-n", "1", "kt-exit"],
]


def test_logs_match_docker(populated: Runner) -> None:
    for args in LOGS_CASES:
        same(*populated.both(*args))


def test_logs_follow_streams_until_the_container_exits(containers: Runner) -> None:
    containers.docker("run", "-d", "--name", "kt-f", "busybox", "sh", "-c",
                      "echo first; sleep 2; echo second").ok()
    proc = subprocess.Popen([KETCH, "logs", "-f", "kt-f"], env=containers.env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == b"first\n"
        assert proc.poll() is None  # still following
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert (proc.returncode, out, err) == (0, b"second\n", b"")


TOP_CASES = [
    ["top", "kt-run"],
    ["top", "kt-run", "-o", "pid,comm"],
    ["top", "kt-exit"],
    ["top", "nosuch"],
    ["top"],
    ["container", "top", "kt-tty"],
]


_CPU = re.compile(r"^(\S+ +\d+ +\d+ +)\d+", re.MULTILINE)


def test_top_matches_docker(populated: Runner) -> None:
    def no_cpu(text: str) -> str:  # ps's C column (CPU use) moves between two runs
        return norm(_CPU.sub(r"\g<1>0", text))

    for args in TOP_CASES:
        assert_same(*populated.both(*args), normalize=no_cpu)


EXEC_CASES: list[tuple[list[str], str | None]] = [
    (["exec", "kt-run", "echo", "hi"], None),
    (["exec", "kt-run", "sh", "-c", "echo out; echo err >&2; exit 3"], None),
    (["exec", "-e", "A=1", "-e", "B", "-w", "/tmp", "-u", "1000", "kt-run", "sh", "-c",
      "echo $A $B; pwd; id -u"], None),
    (["exec", "-i", "kt-run", "sh", "-c", "cat; echo done"], "fed by a pipe\n"),
    (["exec", "-i", "kt-run", "wc", "-c"], "y" * 200000),
    (["exec", "kt-run", "cat"], "not attached"),
    (["exec", "-t", "kt-run", "sh", "-c", "echo with tty; echo err >&2"], None),
    (["exec", "-it", "kt-run", "sh"], None),
    (["exec", "-d", "kt-run", "sh", "-c", "echo detached > /tmp/d"], None),
    (["exec", "kt-run", "nosuchcommand"], None),
    (["exec", "kt-exit", "ls"], None),
    (["exec", "kt-paused", "ls"], None),
    (["exec", "nosuch", "ls"], None),
    (["exec", "kt-run"], None),
    (["exec", "-e", "=x", "kt-run", "true"], None),
    (["exec", "--env-file", "/nonexistent", "kt-run", "true"], None),
    (["container", "exec", "kt-tty", "echo", "alias"], None),
]


def test_exec_matches_docker(populated: Runner) -> None:
    for args, input in EXEC_CASES:
        same(*populated.both(*args, input=input))


def test_attach_and_start_attached_match_docker(populated: Runner) -> None:
    for args in (["attach", "kt-exit"], ["attach", "kt-paused"], ["attach", "nosuch"],
                 ["attach", "kt-new"], ["start", "-a", "a", "b"], ["start", "-ai", "nosuch"]):
        same(*populated.both(*args))
    # A container that ends while attached: its output, then its exit status.
    def reset() -> None:
        rm(populated, "kt-att")
        populated.docker("run", "-d", "--name", "kt-att", "busybox", "sh", "-c",
                         "sleep 1; echo bye; echo err >&2; exit 6").ok()

    same(*twice(populated, reset, "attach", "kt-att"))
    same(*twice(populated, reset, "attach", "--no-stdin", "--sig-proxy=false", "kt-att"))

    def reset_created(script: str) -> Callable[[], None]:
        def reset() -> None:
            rm(populated, "kt-att")
            populated.docker("create", "--name", "kt-att", "-i", "busybox", "sh", "-c",
                             script).ok()
        return reset

    same(*twice(populated, reset_created("echo out; echo err >&2; exit 4"),
                "start", "-a", "kt-att"))
    same(*twice(populated, reset_created("cat; echo end; exit 4"), "start", "-ai", "kt-att",
                input="from stdin\n"))


# --- signals ------------------------------------------------------------------------------------


@pytest.mark.parametrize("program", ["docker", "ketch"])
def test_signals_are_forwarded_to_the_container(containers: Runner, program: str) -> None:
    """``--sig-proxy`` (the default): SIGTERM to the CLI reaches the container, whose
    exit status becomes the CLI's (checked on docker too, to check the test)."""
    binary = KETCH if program == "ketch" else containers.env["PATH"].split(os.pathsep)[0] + \
        "/docker"
    script = "trap 'echo got TERM; exit 7' TERM; echo ready; while :; do sleep 0.1; done"
    proc = subprocess.Popen([binary, "run", "--rm", "--name", f"kt-sig-{program}", "busybox",
                             "sh", "-c", script], env=containers.env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == b"ready\n"
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert (proc.returncode, out, err) == (7, b"got TERM\n", b"")


@pytest.mark.parametrize("command", [
    ["logs"], ["exec"], ["attach"], ["start"], ["rm"], ["stop"], ["restart"], ["kill"],
    ["pause"], ["unpause"], ["top"], ["wait"], ["rename"], ["container", "prune"],
], ids=" ".join)
def test_help_matches_docker(crunner: Runner, command: list[str]) -> None:
    docker, ketch = crunner.both(*command, "--help")
    assert ketch.returncode == docker.returncode == 0
    assert ketch.stdout == docker.stdout.replace("docker", "ketch")
