"""``commit``, ``diff``, ``export``: ketchd does what Docker does, ketch prints what docker does.

One scenario (a busybox container that adds, modifies and deletes files and
replaces a directory; an untouched one; a running one) is run three times:
the docker CLI 28 against the reference Docker 20.10, the docker CLI against
ketchd, and ``ketch`` against ketchd (``ketch`` runs only the commands
under test, docker the helpers). The transcripts, normalised (image IDs
numbered, ages and table padding squeezed, Docker 20.10's old wordings
rewritten: ``support.conformance.Normalizer``), must be equal. Docker lists
changes in random order: ``diff`` output is compared sorted. The scenario
also asserts what Docker is known to do, so the reference run checks the
test itself.

Export archives are compared entry by entry (name, type, permission bits,
owner, link target, size). Known differences, left out of the comparison:

* Docker's per-container init layer adds ``/.dockerenv``, ``/dev/console``,
  ``/dev/pts``, ``/dev/shm`` and the ``/etc/mtab -> /proc/mounts`` link,
  which ketch does not create;
* Docker's init layer makes ``/etc/hostname``, ``/etc/hosts`` and
  ``/etc/resolv.conf`` as empty files of mode 0755, ketch as 0644 (both
  are empty mount targets): their modes are not compared;
* Docker 20.10 writes the file type bits into the tar mode field, Docker
  >= 24 and ketch do not: only permission bits are compared.

The CLI-only cases (argument and flag errors, help, client-side checks,
refusing a terminal) compare ``ketch`` with ``docker`` on each engine.
"""

from __future__ import annotations

import io
import os
import pty
import re
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest
from support.conformance import Normalizer
from support.dockercli import DOCKER_CLI, Result
from support.engines import Engine
from support.images import OfflineImages, import_offline_images

from .recorder import RecordingProxy
from .runner import KETCH, Runner, as_ketch, assert_same

P = "kt-cde"
OPS = ("echo new > /added; echo more >> /etc/passwd; rm /etc/group; rm -rf /usr; "
       "mkdir -p /usr/local; echo x > /usr/local/f; mkdir /home/u; touch /tmp/t; "
       "mkfifo /fifo; chmod 4755 /added")
#: What the running container does; its symlink is exported, not committed and
#: listed (ketch's layer sizes leave symlink targets out, Docker's count them).
RUNNING = "echo hi > /r; ln -s /r /lnk; sleep 60"
#: What Docker's init layer adds to an export and ketch does not (see the module doc).
INIT_LAYER_ONLY = {".dockerenv", "dev/console", "dev/pts", "dev/shm", "etc/mtab"}
ENGINE_FILES = {"etc/hostname", "etc/hosts", "etc/resolv.conf"}


def _ensure_busybox(runner: Runner, images: OfflineImages) -> None:
    if runner.docker("image", "inspect", "busybox:latest").returncode != 0:
        import_offline_images(runner.env, images, names=("busybox",))


def _cleanup(runner: Runner) -> None:
    ids = runner.docker("ps", "-aq", "--filter", f"name={P}-").ok().stdout.split()
    if ids:
        runner.docker("rm", "-fv", *ids).ok()
    refs = runner.docker("images", "--format", "{{.Repository}}:{{.Tag}}",
                         f"{P}/*").ok().stdout.split()
    if refs:
        runner.docker("rmi", "-f", *refs).ok()
    # Unnamed commits are dangling children of busybox; other tests on the
    # same reference engine remove busybox.
    runner.docker("image", "prune", "-f").ok()


@pytest.fixture(scope="module")
def engines(refdocker: Engine, ketchd: Engine,
            offline_images: OfflineImages) -> Iterator[dict[str, Runner]]:
    """Runners on the reference Docker and on ketchd, busybox present on both."""
    runners = {"refdocker": Runner(dict(refdocker.env)), "ketchd": Runner(dict(ketchd.env))}
    for runner in runners.values():
        _ensure_busybox(runner, offline_images)
    yield runners
    for runner in runners.values():
        _cleanup(runner)


class Transcript:
    """The steps of one scenario run: command, exit code, normalised output.

    ``cli`` runs the program under test (docker or ketch), ``docker`` the
    docker CLI for everything around it.
    """

    def __init__(self, runner: Runner, program: str, tmp: Path) -> None:
        self.runner = runner
        self.program = program
        self.tmp = tmp
        self.normalize = Normalizer(paths={str(tmp): "<TMP>"})
        self.lines: list[str] = []

    def _record(self, label: str, result: Result, sort: bool, under_test: bool,
                binary: bool = False) -> Result:
        out = "<binary>" if binary and result.stdout_bytes else self.normalize(result.stdout)
        if sort:
            out = "\n".join(sorted(line for line in out.splitlines() if line))
        # the program under test may be either CLI: docker's name becomes ketch's
        stderr = as_ketch(result.stderr) if under_test else result.stderr
        err = self.normalize(stderr)
        self.lines.append(f"$ {self.normalize(label)}  [exit {result.returncode}]")
        self.lines += [line for line in out.splitlines()]
        self.lines += [f"stderr: {line}" for line in err.splitlines()]
        return result

    def cli(self, *args: str, sort: bool = False, binary: bool = False) -> Result:
        """The program under test; *binary*: stdout is a tar, recorded as ``<binary>``."""
        from support.dockercli import run

        result = run(self.runner.env, [self.program, *args], timeout=120)
        return self._record("cli " + " ".join(args), result, sort, True, binary)

    def docker(self, *args: str, sort: bool = False, label: str = "") -> Result:
        return self._record(label or "docker " + " ".join(args), self.runner.docker(*args),
                            sort, False)

    def note(self, label: str, text: str) -> None:
        self.lines.append(f"# {label}")
        self.lines += self.normalize(text).splitlines()

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


def tar_listing(data: bytes) -> list[str]:
    """Entries of an export, comparable across engines (see the module doc)."""
    rows = []
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        for m in tar.getmembers():
            name = m.name.rstrip("/")
            if name in INIT_LAYER_ONLY:
                continue
            mode = "-" if name in ENGINE_FILES else oct(m.mode & 0o7777)
            size = m.size if m.isreg() else 0
            rows.append(f"{name} type={m.type.decode()} mode={mode} owner={m.uid}:{m.gid} "
                        f"link={m.linkname} size={size}")
    return sorted(rows)


def _events(t: Transcript, since: float) -> None:
    until = time.time()
    t.docker("events", "--since", f"{since:.6f}", "--until", f"{until:.6f}", "--format",
             "{{.Type}} {{.Action}} {{.Actor.Attributes.imageRef}}",
             label="docker events (during the commit)")


def scenario(t: Transcript) -> None:
    _cleanup(t.runner)
    a, b, c = f"{P}-a", f"{P}-b", f"{P}-c"

    # -- a container that adds, modifies, deletes and replaces a directory ---------------
    t.docker("run", "--network", "none", "--name", a, "busybox", "sh", "-c", OPS).ok()
    diff = t.cli("diff", a, sort=True).ok().stdout.splitlines()
    for line in ("A /added", "C /etc/passwd", "D /etc/group", "C /usr", "D /usr/bin",
                 "A /usr/local/f", "A /fifo", "A /home/u", "C /tmp", "A /tmp/t"):
        assert line in diff, diff
    assert not any("hosts" in line or "resolv" in line or "hostname" in line for line in diff)
    out = t.cli("commit", "-m", "a message", "-a", "Kay Tee <kt@example.com>", "-c",
                'CMD ["cat", "/added"]', "-c", "ENV A=1", a, f"{P}/img:1").ok().stdout
    assert re.fullmatch(r"sha256:[0-9a-f]{64}\n", out), out
    assert t.docker("run", "--rm", "--network", "none", f"{P}/img:1").ok().stdout == "new\n"
    check = t.docker("run", "--rm", "--network", "none", f"{P}/img:1", "sh", "-c",
                     "tail -1 /etc/passwd; ls /etc/group 2>&1; ls -a /usr /usr/local; "
                     "cat /usr/local/f; echo A=$A; ls -l /added | cut -c1-10; "
                     "test -p /fifo && echo fifo")
    assert "more\n" in check.stdout and "A=1\n" in check.stdout
    assert "No such file or directory" in check.stdout  # the whiteout hides /etc/group
    assert "bin" not in check.stdout  # /usr was replaced, its old content is gone
    history = t.docker("history", f"{P}/img:1").ok().stdout
    assert "a message" in history and "sh -c echo new > /added;" in history
    t.docker("history", "--no-trunc", "--format", "{{.CreatedBy}}|{{.Size}}|{{.Comment}}",
             f"{P}/img:1").ok()
    inspect = t.docker("inspect", "-f", "{{json .Config.Cmd}} {{json .Config.Env}} "
                       "{{json .Config.Labels}} {{.Comment}} | {{.Author}} | "
                       "{{len .RootFS.Layers}}", f"{P}/img:1").ok().stdout
    assert inspect.startswith('["cat","/added"] ["A=1"] {} a message | Kay Tee '
                              "<kt@example.com> | 2\n"), inspect

    # -- errors ---------------------------------------------------------------------------
    t.cli("commit", f"{P}-nosuch")
    t.cli("diff", f"{P}-nosuch")
    t.cli("export", f"{P}-nosuch")
    bad = t.cli("commit", "-c", "RUN true", a)
    assert (bad.returncode, bad.stderr) == (
        1, "Error response from daemon: run is not a valid change command\n")
    t.cli("commit", "-c", "EXPOSE x", a)

    # -- export of a stopped container ------------------------------------------------------
    t.cli("export", "-o", str(t.tmp / "a.tar"), a).ok()
    archive = (t.tmp / "a.tar").read_bytes()
    assert (t.tmp / "a.tar").stat().st_mode & 0o777 == 0o600
    t.note("export of a", "\n".join(tar_listing(archive)))
    streamed = t.cli("export", a, binary=True).ok().stdout_bytes
    t.note("export to stdout is the same archive", str(streamed == archive))

    # -- an untouched container --------------------------------------------------------------
    t.docker("create", "--network", "none", "--name", b, "busybox", "true").ok()
    assert t.cli("diff", b).ok().stdout == ""
    t.cli("commit", b, f"{P}/same").ok()
    layers = t.docker("inspect", "-f", "{{len .RootFS.Layers}}", "busybox", f"{P}/same")
    assert layers.ok().stdout == "1\n1\n"
    t.docker("history", "--format", "{{.Size}} {{.CreatedBy}}", f"{P}/same").ok()

    # -- a running container: paused during the commit, unless told not to -----------------
    t.docker("run", "-d", "--network", "none", "--name", c, "busybox", "sh", "-c",
             RUNNING).ok()
    deadline = time.monotonic() + 15
    while t.runner.docker("exec", c, "cat", "/r").stdout != "hi\n":
        assert time.monotonic() < deadline, "the running container never wrote /r"
        time.sleep(0.1)
    since = time.time()
    t.cli("commit", c, f"{P}/run:2").ok()
    _events(t, since)
    assert t.docker("inspect", "-f", "{{.State.Status}}", c).ok().stdout == "running\n"
    assert t.docker("run", "--rm", "--network", "none", f"{P}/run:2", "cat",
                    "/r").ok().stdout == "hi\n"
    since = time.time()
    t.cli("commit", "--pause=false", c).ok()
    _events(t, since)
    t.docker("pause", c).ok()
    since = time.time()
    t.cli("commit", "-p", c).ok()
    _events(t, since)
    assert t.docker("inspect", "-f", "{{.State.Status}}", c).ok().stdout == "paused\n"
    t.docker("unpause", c).ok()
    t.cli("diff", c, sort=True).ok()
    running = t.cli("export", c, binary=True).ok().stdout_bytes
    with tarfile.open(fileobj=io.BytesIO(running)) as tar:
        member = tar.extractfile("r")
        assert member is not None and member.read() == b"hi\n"
    t.note("export of the running c", "\n".join(tar_listing(running)))
    _cleanup(t.runner)


def _transcript(runner: Runner, program: str) -> str:
    with tempfile.TemporaryDirectory(prefix="kt-cde-") as tmp:
        transcript = Transcript(runner, program, Path(tmp))
        scenario(transcript)
        return transcript.text()


def _compare(expected: str, actual: str, what: str) -> None:
    if actual != expected:
        import difflib

        diff = "".join(difflib.unified_diff(expected.splitlines(keepends=True),
                                            actual.splitlines(keepends=True),
                                            "reference: docker CLI on Docker 20.10", what, n=4))
        raise AssertionError(f"{what} differs from the reference:\n{diff}")


def _keep(name: str, text: str) -> str:
    """With ``KETCH_TEST_TRANSCRIPTS=DIR``, also write the transcript there to read it."""
    directory = os.environ.get("KETCH_TEST_TRANSCRIPTS")
    if directory:
        Path(directory).mkdir(parents=True, exist_ok=True)
        (Path(directory) / f"commit_diff_export.{name}.txt").write_text(text)
    return text


def test_scenario_matches_docker(engines: dict[str, Runner]) -> None:
    reference = _keep("refdocker", _transcript(engines["refdocker"], DOCKER_CLI))
    on_ketchd = _keep("ketchd", _transcript(engines["ketchd"], DOCKER_CLI))
    _compare(reference, on_ketchd, "docker CLI on ketchd")
    with_ketch = _keep("ketch-cli", _transcript(engines["ketchd"], KETCH))
    _compare(reference, with_ketch, "ketch on ketchd")


# --- the CLI alone: ketch against docker on the same engine -----------------------------------

_ID64 = re.compile(r"\b[0-9a-f]{64}\b")


def same(docker: Result, ketch: Result) -> None:
    """Equal but for new IDs and the program's own name (in help texts too)."""
    assert_same(docker, ketch, normalize=lambda s: as_ketch(_ID64.sub("<id>", s)))


CLI_CASES = [
    ["commit"],
    ["commit", "a", "b", "c"],
    ["commit", "--bogus", "x"],
    ["commit", "-p=maybe", "x"],
    ["commit", " "],
    ["commit", "x", "UPPER"],
    ["commit", "x", "a@sha256:" + "0" * 64],
    ["commit", "x", "bad name"],
    ["commit", f"{P}-nosuch"],
    ["commit", f"{P}-nosuch", "repo:tag"],
    ["container", "commit", f"{P}-nosuch"],
    ["diff"],
    ["diff", "a", "b"],
    ["diff", ""],
    ["diff", f"{P}-nosuch"],
    ["container", "diff", f"{P}-nosuch"],
    ["export"],
    ["export", "a", "b"],
    ["export", f"{P}-nosuch"],
    ["export", "-o", "/nonexistent-dir/x.tar", "x"],
    ["export", "-o", "/tmp", "x"],
    ["export", "-o", "/dev/null", "x"],
    ["container", "export", f"{P}-nosuch"],
    ["commit", "--help"],
    ["diff", "--help"],
    ["export", "--help"],
    ["container", "commit", "--help"],
]


@pytest.mark.parametrize("args", CLI_CASES, ids=" ".join)
def test_cli_matches_docker(containers: Runner, args: list[str]) -> None:
    same(*containers.both(*args))


def test_export_output_checks_match_docker(containers: Runner,
                                                            workdir: Path) -> None:
    (workdir / "lnk").symlink_to(workdir / "nowhere")
    os.mkfifo(workdir / "fifo")
    for target in ("lnk", "fifo"):
        same(*containers.both("export", "-o", str(workdir / target), "x"))
    assert not (workdir / "nowhere").exists()
    # a daemon error leaves neither the file nor the temporary file behind
    same(*containers.both("export", "-o", str(workdir / "out.tar"), f"{P}-nosuch"))
    assert sorted(p.name for p in workdir.iterdir()) == ["fifo", "lnk"]


def test_commit_diff_export_of_one_container_match_docker(containers: Runner,
                                                         workdir: Path) -> None:
    name = f"{P}-cli"
    containers.docker("run", "--network", "none", "--name", name, "busybox", "sh", "-c",
                      OPS).ok()
    docker, ketch = containers.both("diff", name)
    assert sorted(ketch.stdout.splitlines()) == sorted(docker.stdout.splitlines())
    assert (ketch.returncode, ketch.stderr) == (docker.returncode, docker.stderr) == (0, "")
    docker, ketch = containers.both("commit", "-c", "ENV X=1", name, f"{P}/cli")
    same(docker, ketch)
    assert re.fullmatch(r"sha256:[0-9a-f]{64}\n", ketch.stdout)
    containers.docker("rmi", f"{P}/cli", docker.stdout.strip(), ketch.stdout.strip())
    exports = []
    for program in (DOCKER_CLI, KETCH):
        target = workdir / f"{Path(program).name}.tar"
        subprocess.run([program, "export", "-o", str(target), name], env=containers.env,
                       check=True, timeout=120)
        exports.append(target.read_bytes())
        assert [p.name for p in workdir.iterdir() if p.name.startswith(".tmp-")] == []
    assert exports[0] == exports[1]
    docker, ketch = containers.both("export", name)
    assert ketch.stdout_bytes == docker.stdout_bytes == exports[0]
    containers.docker("rm", "-f", name).ok()


def test_export_refuses_a_terminal(containers: Runner) -> None:
    results = []
    for program in (DOCKER_CLI, KETCH):
        master, slave = pty.openpty()
        try:
            proc = subprocess.run([program, "export", f"{P}-anything"], stdout=slave,
                                  stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                                  env=containers.env, timeout=60)
        finally:
            os.close(slave)
            os.close(master)
        results.append((proc.returncode, proc.stderr.decode()))
    assert results[1] == results[0] == (
        1, "cowardly refusing to save to a terminal. Use the -o flag or redirect\n")


@pytest.fixture
def proxied(containers: Runner, container_engine: Engine,
            workdir: Path) -> Iterator[tuple[Runner, RecordingProxy]]:
    proxy = RecordingProxy(workdir / "p.sock", str(container_engine.socket))
    env = dict(containers.env, DOCKER_HOST=proxy.host, KETCH_HOST=proxy.host)
    yield Runner(env), proxy
    proxy.close()


@pytest.mark.parametrize("args", [
    ["commit", "NAME"],
    ["commit", "-a", "A <a@b>", "-m", "m", "-c", "ENV A=1", "-c", "CMD x", "-p=false",
     "NAME", "localhost:5000/x/y:t"],
    ["commit", "--pause", "NAME", "plain"],
], ids=lambda a: " ".join(a))
def test_commit_sends_the_query_docker_sends(proxied: tuple[Runner, RecordingProxy],
                                            args: list[str]) -> None:
    runner, proxy = proxied
    name = f"{P}-q"
    runner.docker("create", "--network", "none", "--name", name, "busybox").ok()
    argv = [name if a == "NAME" else a for a in args]
    sent: list[tuple[str, list[tuple[str, str]], bytes, str]] = []
    for run in (runner.docker, runner.ketch):
        proxy.requests.clear()
        out = run(*argv).ok().stdout.strip()
        commits = [r for r in proxy.requests if r.path == "/commit"]
        assert len(commits) == 1
        request = commits[0]
        query = sorted(parse_qsl(urlsplit(request.target).query, keep_blank_values=True))
        sent.append((request.method, query, request.body,
                     request.headers.get("content-type", "")))
        runner.docker("rmi", out).ok()
    assert sent[1] == sent[0]
    runner.docker("rm", "-f", name).ok()

