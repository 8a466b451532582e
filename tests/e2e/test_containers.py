"""Containers through the real docker CLI: the everyday flow, with Docker's
output and exit codes (compared with Docker 20.10 running the same image)."""

from __future__ import annotations

from support.conformance import Conform, Session

NONE = ("--network", "none")


def test_run_in_foreground(conform: Conform) -> None:
    def scenario(s: Session) -> None:
        r = s.docker("run", "--rm", *NONE, "hello-world").ok()
        assert "Hello from ketch!" in r.stdout
        r = s.docker("run", "--rm", *NONE, "busybox", "sh", "-c",
                     "echo out; echo err >&2; exit 3").fails(3)
        assert r.stdout == "out\n" and r.stderr == "err\n"
        s.docker("run", "--rm", *NONE, "-e", "GREETING=hi", "-w", "/tmp", "-u", "nobody",
                 "busybox", "sh", "-c", "echo $GREETING; pwd; id").ok()
        r = s.sh("echo piped | docker run --rm -i --network none busybox cat").ok()
        assert r.stdout == "piped\n"
        s.docker("ps", "-a", "-q").ok()  # --rm left nothing behind

    conform(scenario)


def test_run_errors(conform: Conform) -> None:
    def scenario(s: Session) -> None:
        s.docker("run", "--rm", *NONE, "busybox", "nosuchcommand").fails(127)
        s.docker("run", "--rm", *NONE, "busybox", "/etc/passwd").fails(126)
        s.docker("run", "-d", "--name", "dup", *NONE, "busybox", "sleep", "30").ok()
        r = s.docker("run", "--name", "dup", *NONE, "busybox", "true").fails(125)
        assert 'The container name "/dup" is already in use' in r.stderr
        s.docker("rm", "dup").fails(1)
        s.docker("rm", "-f", "dup").ok()
        s.docker("exec", "nope", "true").fails(1)
        s.docker("create", "--name", "stopped", *NONE, "busybox", "true").ok()
        r = s.docker("exec", "stopped", "true").fails(1)
        assert "is not running" in r.stderr
        s.docker("rm", "stopped").ok()

    conform(scenario)


def test_detached_lifecycle(conform: Conform) -> None:
    def scenario(s: Session) -> None:
        s.docker("run", "-d", "--name", "web", *NONE, "busybox", "sh", "-c",
                 "echo started; exec sleep 1000").ok()
        s.docker("ps").ok()
        s.docker("ps", "-a", "-q").ok()
        s.docker("ps", "--format", "{{.Names}} {{.Image}} {{.Command}} {{.State}}").ok()
        s.sh("sleep 0.3").ok()
        s.docker("logs", "web").ok()
        r = s.docker("exec", "web", "ls", "/").ok()
        assert "bin" in r.stdout.split()
        r = s.docker("exec", "-i", "web", "sh", input="echo from stdin\nexit 4\n").fails(4)
        assert r.stdout == "from stdin\n"
        r = s.docker("top", "web", stdout="nonempty").ok()  # pids and times differ
        assert "sleep 1000" in r.stdout
        s.docker("pause", "web").ok()
        s.docker("ps", "--format", "{{.Names}} {{.Status}}").ok()
        s.docker("pause", "web").fails(1)
        s.docker("unpause", "web").ok()
        s.docker("stop", "-t", "1", "web").ok()
        s.docker("ps", "-a", "--format", "{{.Names}} {{.Status}}").ok()
        s.docker("start", "web").ok()
        s.docker("restart", "-t", "1", "web").ok()
        s.docker("rename", "web", "web2").ok()
        s.docker("kill", "web2").ok()
        r = s.docker("wait", "web2").ok()
        assert r.stdout == "137\n"
        s.docker("kill", "web2").fails(1)
        s.docker("inspect", "--format", "{{.State.Status}} {{.State.ExitCode}} {{.Name}}",
                 "web2").ok()
        s.docker("container", "prune", "-f").ok()
        s.docker("ps", "-a").ok()

    conform(scenario)


def test_logs_follow_ends_with_the_container(conform: Conform) -> None:
    def scenario(s: Session) -> None:
        s.docker("run", "-d", "--name", "counter", *NONE, "busybox", "sh", "-c",
                 "for i in 1 2 3; do echo line $i; sleep 0.2; done; echo bye >&2").ok()
        r = s.docker("logs", "-f", "counter").ok()
        assert r.stdout == "line 1\nline 2\nline 3\n" and r.stderr == "bye\n"
        s.docker("logs", "--tail", "1", "counter").ok()
        s.docker("wait", "counter").ok()
        s.docker("rm", "counter").ok()

    conform(scenario)
