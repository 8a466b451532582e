"""``cp`` (and ``container cp``): ketchd does what Docker does, ketch prints what docker does.

One scenario copies files, directories, symlinks and tar streams out of a
running and a stopped busybox container (``--network none``) and into
them, with ``-L``, ``-a``, ``-q=false`` and ``-`` both ways, and the error
cases (a missing path, a directory over a file, a directory that does not
exist). It runs three times: the docker CLI 28 against the reference
Docker 20.10, the docker CLI against ketchd, and ``ketch`` against ketchd
(``ketch`` runs the copies, docker the helpers). Each copy's exit code and
normalised output is recorded, then the local tree it wrote and the
container's side (read back with ``cp CONTAINER:/tmp -``); the three
transcripts must be equal.

Two containers' symlinks point at ``/etc`` and at ``../../../..``:
copying out of ``lnk/passwd`` must give the container's passwd and
copying into ``lnk/`` must write the container's /etc, never the host's
(checked on the host after every run).

Normalised away: the run's temporary directory; Docker's init-layer files
(``/etc/mtab``) and the contents of the engine's /etc files; 20.10's host
paths in ``lstat`` errors and its ``Error processing tar file(exit status
1):`` prefix; the Go CLI's racy ``level=error`` log lines when it stops
writing a tar the daemon refused early.
"""

from __future__ import annotations

import io
import os
import pty
import re
import secrets
import shutil
import stat
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.dockercli import DOCKER_CLI, Result, run
from support.engines import Engine
from support.images import OfflineImages, import_offline_images

from .runner import KETCH, Runner, as_ketch

P = "kt-cp-cli"
SETUP = ("mkdir -p /d/sub && echo hi > /d/f && echo x > /d/sub/g && chmod 700 /d/sub && "
         "ln -s /etc /lnk && ln -s ../../../.. /up && ln -s d /dl && echo f > /tmp/file")
#: Files whose content each engine writes its own way (hostname, addresses).
ENGINE_FILES = {"hostname", "hosts", "resolv.conf"}
#: Docker's init layer adds it, ketch does not.
INIT_LAYER_ONLY = {"mtab"}
_LSTAT_HOST = re.compile(r"lstat \S*/merged(/\S*)")


def _ensure_busybox(runner: Runner, images: OfflineImages) -> None:
    if runner.docker("image", "inspect", "busybox:latest").returncode != 0:
        import_offline_images(runner.env, images, names=("busybox",))


def _cleanup(runner: Runner) -> None:
    ids = runner.docker("ps", "-aq", "--filter", f"name={P}-").ok().stdout.split()
    if ids:
        runner.docker("rm", "-fv", *ids).ok()


@pytest.fixture(scope="module")
def engines(refdocker: Engine, ketchd: Engine,
            offline_images: OfflineImages) -> Iterator[dict[str, Runner]]:
    runners = {"refdocker": Runner(dict(refdocker.env)), "ketchd": Runner(dict(ketchd.env))}
    for runner in runners.values():
        _ensure_busybox(runner, offline_images)
        runner.env["KETCH_HOST"] = runner.env["DOCKER_HOST"]
    yield runners
    for runner in runners.values():
        _cleanup(runner)


@pytest.fixture
def workdir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="kt-cp-"))
    yield path
    shutil.rmtree(path)


class Transcript:
    """Steps of one run: the program under test copies, docker does the rest."""

    def __init__(self, runner: Runner, program: str, tmp: Path) -> None:
        self.runner = runner
        self.program = program
        self.tmp = tmp
        self.lines: list[str] = []

    def normalize(self, text: str) -> str:
        text = text.replace(str(self.tmp), "<TMP>")
        text = text.replace("Error processing tar file(exit status 1): ", "")
        text = _LSTAT_HOST.sub(r"lstat \1", text)
        return "\n".join(line for line in text.splitlines() if "level=error" not in line)

    def cp(self, *args: str, stdin: bytes | None = None, tar_out: bool = False) -> Result:
        result = run(self.runner.env, [self.program, "cp", *args], input=stdin, timeout=120,
                     cwd=self.tmp)
        out = "\n".join(tar_listing(result.stdout_bytes)) if tar_out and result.returncode == 0 \
            else self.normalize(result.stdout)
        err = self.normalize(as_ketch(result.stderr))
        self.lines.append(f"$ cp {' '.join(args)}  [exit {result.returncode}]")
        self.lines += out.splitlines() + [f"stderr: {line}" for line in err.splitlines()]
        return result

    def docker(self, *args: str) -> Result:
        return self.runner.docker(*args)

    def note(self, label: str, rows: list[str]) -> None:
        self.lines.append(f"# {label}")
        self.lines += rows

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


def tar_listing(data: bytes) -> list[str]:
    rows = []
    with tarfile.open(fileobj=io.BytesIO(data), mode="r|") as tar:
        for m in tar:
            base = m.name.rstrip("/").rsplit("/", 1)[-1]
            if base in INIT_LAYER_ONLY:
                continue
            size = "-" if base in ENGINE_FILES else m.size if m.isreg() else 0
            rows.append(f"{m.name} type={m.type.decode()} mode={oct(m.mode & 0o7777)} "
                        f"owner={m.uid}:{m.gid} link={m.linkname} size={size}")
    return rows


def tree(root: Path) -> list[str]:
    """The local files under *root*: type, permissions, size or link target."""
    rows = []
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if path.name in INIT_LAYER_ONLY or "src" in rel.parts[:1]:
            continue
        st = path.lstat()
        if stat.S_ISLNK(st.st_mode):
            what = f"link -> {os.readlink(path)}"
        elif stat.S_ISDIR(st.st_mode):
            what = "dir"
        else:
            what = f"file {'-' if path.name in ENGINE_FILES else st.st_size}"
        rows.append(f"{rel} {oct(stat.S_IMODE(st.st_mode))} {what}")
    return rows


def _tar_stream(*names: tuple[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in names:
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o640, 1_700_000_000
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _local_source(tmp: Path, tag: str) -> None:
    src = tmp / "src"
    (src / "dir" / "inner").mkdir(parents=True)
    (src / "file").write_text("local file\n")
    (src / "dir" / "a").write_text("a\n")
    (src / "dir" / "inner" / "b").write_text("bb\n")
    os.symlink("a", src / "dir" / "lk")
    (src / "owned").write_text("owned\n")
    os.chown(src / "owned", 1234, 5678)
    (src / "xdir" / "file").mkdir(parents=True)
    (src / tag).write_text("escape test\n")


def scenario(t: Transcript, tag: str) -> None:
    _cleanup(t.runner)
    c, s = f"{P}-run", f"{P}-stopped"
    t.docker("run", "-d", "--network", "none", "--name", c, "busybox", "sh", "-c",
             f"{SETUP} && sleep 600").ok()
    t.docker("run", "--network", "none", "--name", s, "busybox", "sh", "-c", SETUP).ok()
    assert t.docker("exec", c, "sh", "-c", "until test -f /tmp/file; do sleep 0.1; done")\
        .returncode == 0
    _local_source(t.tmp, tag)
    out = t.tmp / "out"

    # -- out of the containers ---------------------------------------------------------
    for ctr in (c, s):
        out.mkdir()
        t.cp(f"{ctr}:/d/f", "out/")
        t.cp(f"{ctr}:/d/f", "out/renamed")
        t.cp(f"{ctr}:/d", "out/")
        t.cp(f"{ctr}:/d", "out/newdir")
        t.cp(f"{ctr}:/d/.", "out/dotcopy")
        t.cp(f"{ctr}:/dl/", "out/viadl")
        t.cp(f"{ctr}:/lnk", "out/lnk")
        t.cp("-L", f"{ctr}:/lnk", "out/lnkL")
        t.cp(f"{ctr}:/lnk/passwd", "out/passwd-via-lnk")
        t.cp(f"{ctr}:/up/etc/passwd", "out/passwd-via-up")
        t.cp(f"{ctr}:/d", "out/renamed")
        t.cp(f"{ctr}:/d/f", "out/nodir/")
        t.cp(f"{ctr}:/d/f", "out/missing/x")
        t.cp(f"{ctr}:/nope", "out/")
        t.cp(f"{ctr}:/d/f/", "out/notadir")
        t.cp("-q=false", f"{ctr}:/d/f", "out/quiet-off")
        t.cp("-q=false", f"{ctr}:/d", "out/quiet-off-dir")
        t.cp("-q=false", f"{ctr}:/d", "out/renamed")  # the summary, then the error
        t.cp(f"{ctr}:/d", "-", tar_out=True)
        t.cp(f"{ctr}:/lnk/", "-", tar_out=True)
        t.note(f"local tree after copies out of {ctr}", tree(out))
        host = Path("/etc/passwd").read_bytes()
        for name in ("passwd-via-lnk", "passwd-via-up"):
            copied = (out / name).read_bytes()
            assert copied != host and copied.startswith(b"root:"), name
        shutil.rmtree(out)

    # -- into the containers -----------------------------------------------------------
    for ctr in (c, s):
        t.cp("src/file", f"{ctr}:/tmp/")
        t.cp("src/file", f"{ctr}:/tmp/renamed")
        t.cp("src/dir", f"{ctr}:/tmp/")
        t.cp("src/dir", f"{ctr}:/tmp/newdir")
        t.cp("src/dir/.", f"{ctr}:/tmp/newdir")
        t.cp("-a", "src/owned", f"{ctr}:/tmp/")
        t.cp("src/owned", f"{ctr}:/tmp/owned-no-a")
        t.cp("-", f"{ctr}:/tmp", stdin=_tar_stream(("from-stdin", b"stdin\n")))
        t.cp("-", f"{ctr}:/tmp/not-there", stdin=_tar_stream(("x", b"x")))
        t.cp("-", f"{ctr}:/tmp/file", stdin=_tar_stream(("x", b"x")))
        t.cp(f"src/{tag}", f"{ctr}:/lnk/")
        t.cp(f"src/{tag}", f"{ctr}:/up/tmp/")
        t.cp(f"src/{tag}", f"{ctr}:/up/up/lnk/{tag}-2")
        t.cp("src/dir", f"{ctr}:/d/f")
        t.cp("src/file", f"{ctr}:/nope/x")
        t.cp("src/file", f"{ctr}:/tmp/nodir/")
        t.cp("src/xdir/file", f"{ctr}:/tmp/")
        t.cp("src/missing", f"{ctr}:/tmp/")
        t.cp("-q=false", "src/file", f"{ctr}:/tmp/quiet-off")
        t.cp("-q=false", "src/dir", f"{ctr}:/lnk")
        t.cp(f"{ctr}:/tmp", "-", tar_out=True)
        t.cp(f"{ctr}:/etc/{tag}", "-", tar_out=True)
        t.cp(f"{ctr}:/etc/{tag}-2", "-", tar_out=True)
        for path in (f"/etc/{tag}", f"/tmp/{tag}", f"/etc/{tag}-2", "/etc/dir/inner/b"):
            assert not Path(path).exists(), f"{path} was written on the host"
    listing = t.docker("exec", c, "sh", "-c", "cd /tmp && ls -lnR | grep -v '^total'").ok()
    t.note("the running container's /tmp, seen from inside",
           [re.sub(r"\s+\w{3}\s+\d+\s+[\d:]+\s+", " <time> ", line)
            for line in listing.stdout.splitlines()])
    t.cp("-q=false", f"{c}:/tmp/from-stdin", "-", tar_out=True)
    _cleanup(t.runner)


def _run(runner: Runner, program: str, tag: str) -> str:
    tmp = Path(tempfile.mkdtemp(prefix="kt-cp-"))
    try:
        t = Transcript(runner, program, tmp)
        scenario(t, tag)
        return t.text()
    finally:
        shutil.rmtree(tmp)


def test_cp_on_ketchd_matches_docker(engines: dict[str, Runner]) -> None:
    tag = f"kt-cp-{secrets.token_hex(4)}"
    reference = _run(engines["refdocker"], DOCKER_CLI, tag)
    on_ketchd = _run(engines["ketchd"], DOCKER_CLI, tag)
    assert on_ketchd == reference
    with_ketch = _run(engines["ketchd"], KETCH, tag)
    assert with_ketch == on_ketchd


def test_cp_usage_errors_match_docker(engines: dict[str, Runner], workdir: Path) -> None:
    runner = engines["ketchd"]
    cases = [
        ("cp",), ("cp", "a"), ("cp", "a", "b"), ("cp", "a:b", "c:d"), ("cp", "", "b"),
        ("cp", "a:/x", ""), ("cp", f"{P}-nosuch:/x", "out"), ("cp", "./a:b", "c"),
        ("cp", "--help"), ("container", "cp", "--help"), ("cp", "-x", "a", "b"),
    ]
    for args in cases:
        docker_result = run(runner.env, [DOCKER_CLI, *args], timeout=60, cwd=workdir)
        ketch_result = run(runner.env, [KETCH, *args], timeout=60, cwd=workdir)
        expected = (docker_result.returncode, as_ketch(docker_result.stdout),
                    as_ketch(docker_result.stderr))
        got = (ketch_result.returncode, ketch_result.stdout, ketch_result.stderr)
        assert got == expected, args


def test_cp_reports_progress_only_on_a_terminal(engines: dict[str, Runner],
                                                workdir: Path) -> None:
    """On a terminal (stdout), the copy ends with docker's summary line on stderr;
    redirected, it says nothing (``-q`` is implied)."""
    runner = engines["ketchd"]
    name = f"{P}-tty"
    runner.docker("rm", "-f", name)
    runner.docker("run", "--network", "none", "--name", name, "busybox", "sh", "-c",
                  "mkdir /d && echo hi > /d/f").ok()
    try:
        results = []
        for program in (DOCKER_CLI, KETCH):
            outputs = []
            for tty in (True, False):
                dest = workdir / f"{Path(program).name}-{tty}"
                master, slave = pty.openpty()
                try:
                    proc = subprocess.run(
                        [program, "cp", f"{name}:/d", str(dest)],
                        stdout=slave if tty else subprocess.DEVNULL, stderr=subprocess.PIPE,
                        stdin=subprocess.DEVNULL, env=runner.env, timeout=60)
                finally:
                    os.close(slave)
                    os.close(master)
                assert (dest / "f").read_text() == "hi\n"
                outputs.append((proc.returncode,
                                proc.stderr.decode().replace(str(dest), "<DEST>")))
            results.append(outputs)
        assert results[1] == results[0] == [
            (0, "Successfully copied 2.56kB to <DEST>\n"), (0, "")]
    finally:
        runner.docker("rm", "-f", name)
