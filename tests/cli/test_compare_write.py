"""Commands that change the engine: ketch does what docker does and prints the same.

A change cannot be made twice on one state, so each case makes it with the
docker CLI, restores the state, makes it again with ``ketch`` and compares.
Images come from fixed docker-archives, so their IDs (and so the output) are
the same every time they are loaded.
"""

from __future__ import annotations

import io
import json
import os
import pty
import re
import signal
import subprocess
import tarfile
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from support.dockercli import DOCKER_CLI, Result

from .archives import ArchiveImage, busybox_rootfs, files_layer, write_docker_archive
from .runner import KETCH, Runner, as_ketch, assert_same, sorted_body


@pytest.fixture(scope="module")
def victim_archive(cli_dir: Path) -> Path:
    """Two images of their own: one tagged twice, one untagged (dangling)."""
    layer = files_layer({"victim/data": b"victim layer\n"})
    images = [
        ArchiveImage(layers=[layer], created="2018-03-03T03:03:03Z",
                     tags=["ketchtest/victim:1", "ketchtest/victim:2"], comment="victim"),
        ArchiveImage(layers=[files_layer({"victim/orphan": b"orphan\n"})],
                     created="2018-04-04T04:04:04Z", comment="orphan"),
    ]
    return write_docker_archive(cli_dir / "victim.tar", images)


@pytest.fixture(scope="module")
def rootfs_tar(cli_dir: Path) -> Path:
    path = cli_dir / "rootfs.tar"
    path.write_bytes(busybox_rootfs())
    return path


def twice(runner: Runner, reset: Callable[[], None], *args: str,
          input: bytes | str | None = None) -> tuple[Result, Result]:
    """Run ``args`` with docker, reset the state, run them with ketch, reset again."""
    reset()
    docker = runner.docker(*args, input=input)
    reset()
    ketch = runner.ketch(*args, input=input)
    reset()
    return docker, ketch


def loader(runner: Runner, *archives: Path) -> Callable[[], None]:
    def reset() -> None:
        for archive in archives:
            runner.docker("load", "-i", str(archive)).ok()
    return reset


def test_tag_creates_the_reference_docker_would(runner: Runner) -> None:
    source = runner.docker("inspect", "-f", "{{.Id}}", "ketchtest/busybox").ok().stdout
    for target, listed in [("ketchtest/tagged", "ketchtest/tagged:latest"),
                           ("ketchtest/tagged:v1", "ketchtest/tagged:v1"),
                           ("docker.io/library/ktagged:x", "ktagged:x"),
                           ("localhost:5000/ns/tagged:y", "localhost:5000/ns/tagged:y")]:
        result = runner.ketch("tag", "ketchtest/busybox:1.0", target)
        assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
        assert runner.docker("inspect", "-f", "{{.Id}}", target).ok().stdout == source
        tags = runner.docker("inspect", "-f", "{{json .RepoTags}}", source.strip()).ok().stdout
        assert f'"{listed}"' in tags
    by_id = source.strip().split(":")[1][:12]
    runner.ketch("tag", by_id, "ketchtest/tagged:byid").ok()
    assert runner.docker("inspect", "-f", "{{.Id}}", "ketchtest/tagged:byid").ok().stdout == source
    for target in ("ketchtest/tagged", "ketchtest/tagged:v1", "ktagged:x",
                   "localhost:5000/ns/tagged:y", "ketchtest/tagged:byid"):
        runner.docker("rmi", target).ok()


def test_rmi_prints_what_docker_prints(runner: Runner, victim_archive: Path) -> None:
    reset = loader(runner, victim_archive)
    for args in (["rmi", "ketchtest/victim:1"],
                 ["rmi", "ketchtest/victim:1", "ketchtest/victim:2"],
                 ["image", "rm", "ketchtest/victim:2", "nosuch:1", "ketchtest/victim:1"],
                 ["rmi", "--no-prune", "ketchtest/victim:1", "ketchtest/victim:2"],
                 ["rmi", "-f", "ketchtest/victim:1"],
                 ["image", "remove", "-f", "nosuch", "ketchtest/victim:2"]):
        assert_same(*twice(runner, reset, *args))


def test_rmi_by_id_conflict_matches_docker(runner: Runner, victim_archive: Path) -> None:
    reset = loader(runner, victim_archive)
    reset()
    image_id = runner.docker("inspect", "-f", "{{.Id}}", "ketchtest/victim:1").ok().stdout
    short = image_id.strip().split(":")[1][:12]
    assert_same(*twice(runner, reset, "rmi", short))  # referenced twice: must be forced
    assert_same(*twice(runner, reset, "rmi", "-f", short))


def test_save_streams_the_same_archive(runner: Runner, workdir: Path) -> None:
    docker, ketch = runner.both("save", "ketchtest/busybox", "ketchtest/multi:latest")
    assert ketch.returncode == docker.returncode == 0 and ketch.stderr == ""
    assert len(ketch.stdout_bytes) > 1_000_000
    assert tar_members(ketch.stdout_bytes) == tar_members(docker.stdout_bytes)
    out = workdir / "saved.tar"
    runner.ketch("save", "-o", str(out), "ketchtest/busybox", "ketchtest/multi:latest").ok()
    assert tar_members(out.read_bytes()) == tar_members(docker.stdout_bytes)
    assert (out.stat().st_mode & 0o777) == 0o600
    assert not [p for p in workdir.iterdir() if p.name != "saved.tar"], "temp file left"
    assert_same(*runner.both("save", "-o", str(workdir / "x.tar"), "nosuch"))
    assert not (workdir / "x.tar").exists()


def tar_members(data: bytes) -> tuple[list[str], dict[str, bytes]]:
    """What an archive holds that is stable: its member names, and the manifest and
    image configs. Two ``docker save`` runs of Docker 20.10 differ in header times,
    legacy layer JSON and in which copy of a shared layer is the symlink."""
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        names = sorted(m.name for m in tar.getmembers())
        stable = {}
        for m in tar.getmembers():
            if m.isreg() and m.name.endswith(".json") and "/" not in m.name:
                body = tar.extractfile(m).read()  # type: ignore[union-attr]
                if m.name == "manifest.json":  # entries come in map order
                    entries = json.loads(body)
                    for entry in entries:
                        entry["RepoTags"] = sorted(entry.get("RepoTags") or [])
                    body = json.dumps(sorted(entries, key=lambda e: e["Config"])).encode()
                stable[m.name] = body
        return names, stable


def all_sorted(text: str) -> str:
    return "\n".join(sorted(text.splitlines()))


def test_save_refuses_a_terminal(runner: Runner) -> None:
    results = []
    for program in (DOCKER_CLI, KETCH):
        master, slave = pty.openpty()
        try:
            proc = subprocess.run([program, "save", "ketchtest/busybox"], stdout=slave,
                                  stderr=subprocess.PIPE,
                                  stdin=subprocess.DEVNULL, env=runner.env, timeout=60)
        finally:
            os.close(slave)
            os.close(master)
        results.append((proc.returncode, proc.stderr.decode()))
    assert results[1] == results[0] == (
        1, "cowardly refusing to save to a terminal. Use the -o flag or redirect\n")


def test_load_prints_what_docker_prints(runner: Runner, victim_archive: Path,
                                        standard_archive: Path) -> None:
    for archive in (victim_archive, standard_archive):
        assert_same(*runner.both("load", "-i", str(archive)))
        assert_same(*runner.both("load", "-q", "-i", str(archive)))
        data = archive.read_bytes()
        assert_same(*runner.both("load", input=data))
        assert_same(*runner.both("image", "load", "--quiet", input=data))


def test_load_errors_match_docker(runner: Runner, workdir: Path) -> None:
    junk = workdir / "junk.tar"
    junk.write_bytes(b"this is not a tar archive\n" * 100)
    assert_same(*runner.both("load", "-i", str(junk)))
    assert_same(*runner.both("load", input=b""),
                normalize=lambda s: re.sub(r"(docker|ketch)-import-\d+", "import-N", s))


def test_load_on_a_terminal_shows_progress(runner: Runner, victim_archive: Path) -> None:
    runner.docker("rmi", "-f", "ketchtest/victim:1", "ketchtest/victim:2").ok()
    master, slave = pty.openpty()
    try:
        proc = subprocess.run([KETCH, "load", "-i", str(victim_archive)], stdout=slave,
                              stderr=subprocess.PIPE, env=runner.env, timeout=60)
        os.close(slave)
        slave = -1
        output = b""
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            if not chunk:
                break
            output += chunk
    finally:
        if slave >= 0:
            os.close(slave)
        os.close(master)
    text = output.decode()
    assert proc.returncode == 0, proc.stderr
    assert "Loading layer" in text and "Loaded image: ketchtest/victim:1" in text


_IMPORTED = re.compile(r"^sha256:[0-9a-f]{64}\n$")


def test_import_makes_the_same_image(runner: Runner, rootfs_tar: Path) -> None:
    fmt = "{{json .Config.Cmd}} {{json .Config.Env}} {{.Comment}} {{.Os}} {{len .RootFS.Layers}}"
    cases = [
        ([str(rootfs_tar)], None),
        (["-", ], rootfs_tar.read_bytes()),
        (["-c", 'CMD ["sh", "-c", "echo hi"]', "-c", "ENV A=1", "--change", "WORKDIR /bin",
          "-m", "imported by a test", str(rootfs_tar)], None),
        (["--message", "from stdin", "-", ], rootfs_tar.read_bytes()),
    ]
    for n, (args, data) in enumerate(cases):
        results = []
        for tool, run in (("docker", runner.docker), ("ketch", runner.ketch)):
            ref = f"ketchtest/imported-{tool}:{n}"
            result = run("import", *args, ref, input=data)
            assert result.returncode == 0 and result.stderr == "", result.describe()
            assert _IMPORTED.match(result.stdout), result.describe()
            shown = runner.docker("inspect", "-f", fmt, ref).ok().stdout
            workdir = runner.docker("inspect", "-f", "{{.Config.WorkingDir}}", ref).ok().stdout
            results.append((shown, workdir))
            runner.docker("rmi", ref).ok()
        assert results[1] == results[0]
    assert_same(*runner.both("import", "-c", "BOGUS x", str(rootfs_tar)))
    assert_same(*runner.both("import", "-c", "EXPOSE bogus/port", str(rootfs_tar)))


def test_prune_matches_docker(runner: Runner, victim_archive: Path,
                              standard_archive: Path, tmp_path: Path) -> None:
    # The engine is shared: images other tests put there (busybox for the
    # container tests) are saved first and restored by every reset and at
    # the end, so both CLIs prune the same set and later tests find theirs.
    present = runner.docker("images", "--format", "{{.Repository}}:{{.Tag}}").ok().stdout
    others = [ref for ref in present.split()
              if not ref.startswith("ketchtest/") and "<none>" not in ref]
    archives = [standard_archive, victim_archive]
    if others:
        archives.append(tmp_path / "others.tar")
        runner.docker("save", "-o", str(archives[-1]), *others).ok()
    # The daemon deletes in map order (random): compare the lines as sets.
    reset = loader(runner, *archives)
    try:
        for args, data in ((["-f"], None), (["--force", "--filter", "until=1h"], None),
                           (["-f", "--filter", "label=nosuch"], None), (["-a", "-f"], None),
                           ([], "n\n"), ([], ""), ([], "y\n"), (["-a"], "Y\n"),
                           (["-f", "--filter", "bogus=1"], None)):
            docker, ketch = twice(runner, reset, "image", "prune", *args, input=data)
            assert_same(docker, ketch, normalize=all_sorted)
    finally:
        reset()


def test_events_between_two_times_match_docker(runner: Runner) -> None:
    since = str(int(time.time()))
    time.sleep(1.1)
    runner.docker("tag", "ketchtest/busybox", "ketchtest/evt:1").ok()
    runner.docker("rmi", "ketchtest/evt:1").ok()
    time.sleep(1.1)
    until = str(int(time.time()))
    for extra in ([], ["--format", "json"], ["--format", "{{.Type}} {{.Action}} {{.Actor.ID}}"],
                  ["--format", "{{json .Actor.Attributes}} {{.Status}} {{.TimeNano}}"],
                  ["--filter", "event=untag"], ["-f", "type=container"]):
        docker, ketch = runner.both("events", "--since", since, "--until", until, *extra)
        assert docker.stdout.count("\n") >= (0 if "type=container" in extra else 1)
        assert_same(docker, ketch)


def test_events_stream_until_interrupted(runner: Runner) -> None:
    proc = subprocess.Popen([KETCH, "events", "--format", "{{.Action}} {{.Actor.Attributes.name}}"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=runner.env)
    try:
        time.sleep(1.0)
        runner.docker("tag", "ketchtest/busybox", "ketchtest/evt:2").ok()
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line == b"tag ketchtest/evt:2\n"
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        runner.docker("rmi", "ketchtest/evt:2")
    assert proc.returncode == 130 and err == b""


def test_unreachable_daemon_message(runner: Runner, workdir: Path) -> None:
    env = dict(runner.env)
    host = f"unix://{workdir}/nothing.sock"
    env["DOCKER_HOST"] = env["KETCH_HOST"] = host
    for argv in (["images"], ["version"], ["info"], ["image", "inspect", "x"], ["events"]):
        docker = runner.docker(*argv, env=env)
        ketch = runner.ketch(*argv, env=env)
        assert ketch.returncode == docker.returncode == 1
        assert ketch.stderr == as_ketch(docker.stderr)
        if argv == ["images"]:
            assert ketch.stdout == "" and ketch.stderr == (
                f"Cannot connect to the ketch daemon at {host}. Is the ketch daemon running?\n")
    via_flag = runner.ketch("-H", host, "images")
    assert via_flag.returncode == 1 and "Cannot connect to the ketch daemon" in via_flag.stderr
    tcp = runner.ketch("-H", "tcp://127.0.0.1:2375", "images")
    assert tcp.returncode == 1 and "not supported yet" in tcp.stderr


def test_multi_repository_listing_matches_docker(runner: Runner) -> None:
    runner.docker("tag", "ketchtest/multi", "localhost:5000/ketchtest/multi:v3").ok()
    runner.docker("tag", "ketchtest/multi", "docker.io/library/kmulti:v4").ok()
    try:
        for args in (["images"], ["images", "--digests"]):
            assert_same(*runner.both(*args), normalize=sorted_body)
        assert_same(*runner.both("images", "-a", "--format", "json"), normalize=all_sorted)
    finally:
        runner.docker("rmi", "localhost:5000/ketchtest/multi:v3", "kmulti:v4").ok()
