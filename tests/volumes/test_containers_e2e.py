"""Volumes in containers end to end: the real docker CLI 28 against a real ketchd.

What is checked is what a Docker user sees: data in a named volume outlives
the container that wrote it; an image's ``VOLUME`` gets an anonymous volume
filled from the image, shown in ``inspect`` as Docker shows it and removed by
``rm -v`` and ``run --rm``; binds (read-only, a missing ``-v`` source is
created, a missing ``--mount`` source is refused), tmpfs mounts,
``--volumes-from``, a volume in use cannot be removed, ``volume prune``
takes only what is unused (anonymous only, unless ``-a``), ``system df -v``
counts links and bytes, and a daemon restart keeps a running container's
volumes working and counted.

Containers run with ``--network none``: networking plays no part here.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cli.runner import KETCH
from support.dockercli import Result, docker, run
from support.engines import Engine, EngineSet
from support.images import OfflineImages, import_offline_images

ANON = re.compile(r"^[0-9a-f]{64}$")
NONE = ("--network", "none")


class Cli:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def __call__(self, *args: str, timeout: float = 120, env: dict[str, str] | None = None
                 ) -> Result:
        return docker(env or self.engine.env, *args, timeout=timeout)

    def ok(self, *args: str) -> str:
        return self(*args).ok().stdout

    def run(self, *args: str) -> Result:
        """``docker run --rm --network none ARGS`` (options, image, command)."""
        return self("run", "--rm", *NONE, *args)

    def mounts(self, container: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = json.loads(
            self.ok("inspect", "-f", "{{json .Mounts}}", container))
        return sorted(found, key=lambda m: m["Destination"])

    def volumes(self) -> set[str]:
        return set(self.ok("volume", "ls", "-q").split())

    def volume_root(self) -> Path:
        return self.engine.data_root / "volumes"


def tag() -> str:
    return secrets.token_hex(4)


def build_volume_image(cli: Cli, context: Path, ref: str) -> None:
    """An image whose /data holds a file and is a VOLUME, built by the classic builder."""
    context.mkdir()
    (context / "Dockerfile").write_text(
        "FROM busybox\n"
        "RUN mkdir -p /data/sub && echo from-image > /data/seed && "
        "echo deep > /data/sub/f && chown -R 7:8 /data/sub\n"
        "VOLUME /data\n")
    env = dict(cli.engine.env, DOCKER_BUILDKIT="0")
    result = cli("build", "-q", "-t", ref, str(context), env=env, timeout=300)
    assert result.returncode == 0, result.describe()


@pytest.fixture(scope="module")
def engine(engine_set: EngineSet, offline_images: OfflineImages,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """A ketchd of this module's own (prune and ``system df`` see only what the
    tests here make), with busybox and ``volimg`` (VOLUME /data)."""
    made = engine_set.ketchd()
    import_offline_images(made.env, offline_images, names=("busybox",))
    build_volume_image(Cli(made), tmp_path_factory.mktemp("ctx") / "c", "volimg")
    yield made
    made.stop()


@pytest.fixture
def cli(engine: Engine) -> Iterator[Cli]:
    """The CLI; the containers and volumes a test leaves are removed after it."""
    c = Cli(engine)
    before = c.volumes()
    yield c
    leftover = c.ok("ps", "-aq").split()
    if leftover:
        c("rm", "-fv", *leftover)
    new = c.volumes() - before
    if new:
        c("volume", "rm", "-f", *new)


# -- named volumes ---------------------------------------------------------------------


def test_named_volume_outlives_its_containers(cli: Cli) -> None:
    name = "kv-" + tag()
    # -v with a name that does not exist yet creates the volume
    cli.run("-v", f"{name}:/data", "busybox", "sh", "-c", "echo written > /data/f").ok()
    assert name in cli.volumes()
    assert cli.run("-v", f"{name}:/mnt", "busybox", "cat", "/mnt/f").ok().stdout == "written\n"
    # --mount type=volume reaches the same data
    out = cli.run("--mount", f"type=volume,src={name},dst=/m", "busybox", "cat", "/m/f")
    assert out.ok().stdout == "written\n"
    inspected = json.loads(cli.ok("volume", "inspect", name))[0]
    assert (Path(inspected["Mountpoint"]) / "f").read_text() == "written\n"
    assert inspected["Mountpoint"] == str(cli.volume_root() / name / "_data")


def test_volume_in_use_cannot_be_removed(cli: Cli) -> None:
    name = "kv-" + tag()
    cid = cli.ok("create", *NONE, "-v", f"{name}:/data", "busybox", "true").strip()
    result = cli("volume", "rm", name)
    assert result.returncode == 1
    assert result.stderr == (f"Error response from daemon: remove {name}: volume is in use - "
                             f"[{cid}]\n")
    assert cli("volume", "rm", "-f", name).returncode == 1  # force does not help
    resp = cli.engine.request("DELETE", f"/v1.50/volumes/{name}")
    assert (resp.status, resp.headers.get("content-type"), resp.json()) == (
        409, "application/json",
        {"message": f"remove {name}: volume is in use - [{cid}]"})
    cli.ok("rm", "-v", cid)  # -v keeps named volumes
    assert name in cli.volumes()
    assert cli.ok("volume", "rm", name) == name + "\n"
    assert name not in cli.volumes()


def test_inspect_shows_a_named_volume_as_docker(cli: Cli) -> None:
    name = "kv-" + tag()
    cli.ok("create", "--name", "c" + name, *NONE, "-v", f"{name}:/data:ro", "busybox")
    assert cli.mounts("c" + name) == [{
        "Type": "volume", "Name": name, "Source": str(cli.volume_root() / name / "_data"),
        "Destination": "/data", "Driver": "local", "Mode": "ro", "RW": False,
        "Propagation": ""}]
    ps = cli.ok("ps", "-a", "--filter", f"name=c{name}", "--format", "{{.Mounts}}")
    assert ps == name + "\n"


def test_volume_with_driver_options_is_mounted_while_used(cli: Cli) -> None:
    name = "kv-tmp-" + tag()
    cli.ok("volume", "create", "-o", "type=tmpfs", "-o", "device=tmpfs", "-o", "o=size=2m",
           name)
    data = cli.volume_root() / name / "_data"
    cid = cli.ok("run", "-d", *NONE, "-v", f"{name}:/v", "busybox", "sh", "-c",
                 "echo in-memory > /v/f; grep ' /v ' /proc/mounts; sleep 600").strip()
    try:
        assert os.path.ismount(data)
        assert (data / "f").read_text() == "in-memory\n"
        logs = cli.ok("logs", cid)
        assert logs.split()[2] == "tmpfs" and "size=2048k" in logs
        # prune never takes a volume with driver options
        assert name not in cli.ok("volume", "prune", "-a", "-f")
    finally:
        cli.ok("rm", "-f", cid)
    assert not os.path.ismount(data)
    assert name in cli.volumes()


def test_volume_subpath(cli: Cli) -> None:
    name = "kv-sub-" + tag()
    cli.run("-v", f"{name}:/v", "busybox", "sh", "-c",
            "mkdir -p /v/inner && echo deep > /v/inner/f").ok()
    out = cli.run("--mount", f"type=volume,src={name},dst=/s,volume-subpath=inner", "busybox",
                  "sh", "-c", "ls -A /s; echo new > /s/g").ok()
    assert out.stdout == "f\n"
    data = cli.volume_root() / name / "_data"
    assert (data / "inner" / "g").read_text() == "new\n"
    result = cli.run("--mount", f"type=volume,src={name},dst=/s,volume-subpath=missing",
                     "busybox", "true")
    assert result.returncode != 0 and "missing" in result.stderr
    pins = cli.engine.exec_root / "volume-subpaths"
    assert not pins.exists() or not any(os.path.ismount(p) for p in pins.iterdir())


# -- image volumes and anonymous volumes --------------------------------------------------


def test_image_volume_is_filled_from_the_image(cli: Cli) -> None:
    before = cli.volumes()
    cid = cli.ok("create", *NONE, "volimg", "sh", "-c",
                 "cat /data/seed /data/sub/f; stat -c %u:%g /data/sub").strip()
    new = cli.volumes() - before
    assert len(new) == 1
    (name,) = new
    assert ANON.match(name)
    assert cli.mounts(cid) == [{
        "Type": "volume", "Name": name, "Source": str(cli.volume_root() / name / "_data"),
        "Destination": "/data", "Driver": "local", "Mode": "", "RW": True,
        "Propagation": ""}]
    assert json.loads(cli.ok("inspect", "-f", "{{json .Config.Volumes}}", cid)) == {"/data": {}}
    labels = json.loads(cli.ok("volume", "inspect", "-f", "{{json .Labels}}", name))
    assert labels == {"com.docker.volume.anonymous": ""}
    assert cli.ok("start", "-a", cid) == "from-image\ndeep\n7:8\n"
    # docker rm -v takes the anonymous volume along
    cli.ok("rm", "-v", cid)
    assert name not in cli.volumes()
    assert not (cli.volume_root() / name).exists()


def test_plain_container_has_no_volumes(cli: Cli) -> None:
    cid = cli.ok("create", *NONE, "busybox").strip()
    assert cli.ok("inspect", "-f", "{{json .Config.Volumes}} {{json .Mounts}}", cid) == \
        "null []\n"


def test_run_rm_removes_anonymous_volumes_only(cli: Cli) -> None:
    name = "kv-" + tag()
    before = cli.volumes()
    out = cli.run("-v", f"{name}:/named", "-v", "/anon", "volimg", "sh", "-c",
                  "cat /data/seed; echo x > /named/f; echo y > /anon/f")
    assert out.ok().stdout == "from-image\n"
    assert cli.volumes() - before == {name}


def test_rm_without_v_leaves_a_dangling_anonymous_volume(cli: Cli) -> None:
    before = cli.volumes()
    cid = cli.ok("create", *NONE, "volimg").strip()
    (name,) = cli.volumes() - before
    cli.ok("rm", cid)
    assert name in cli.volumes()
    dangling = cli.ok("volume", "ls", "-q", "--filter", "dangling=true").split()
    assert name in dangling


def test_committed_volume_and_nocopy(cli: Cli) -> None:
    t = tag()
    base = cli.ok("create", *NONE, "busybox", "sh", "-c", "mkdir /v && echo c > /v/f").strip()
    cli.ok("start", "-a", base)
    cli.ok("commit", "--change", "VOLUME /v", base, f"committed{t}")
    try:
        assert cli.run(f"committed{t}", "cat", "/v/f").ok().stdout == "c\n"
        # a named volume given with nocopy stays empty
        name = "kv-" + t
        out = cli.run("-v", f"{name}:/v:nocopy", f"committed{t}", "ls", "-A", "/v")
        assert out.ok().stdout == ""
        # a named volume that already has data is not filled either
        cli.run("-v", f"{name}:/x", "busybox", "sh", "-c", "echo mine > /x/g").ok()
        out = cli.run("-v", f"{name}:/v", f"committed{t}", "ls", "-A", "/v")
        assert out.ok().stdout == "g\n"
    finally:
        cli("rmi", f"committed{t}")


# -- binds ---------------------------------------------------------------------------------


def test_read_only_bind(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "file").write_text("host data\n")
    out = cli.run("-v", f"{tmp_path}:/d:ro", "busybox", "sh", "-c",
                  "cat /d/file; echo x > /d/new || echo refused; grep ' /d ' /proc/mounts")
    lines = out.ok().stdout.splitlines()
    assert lines[0] == "host data"
    assert "Read-only file system" in out.stderr and lines[1] == "refused"
    assert lines[2].split()[3].split(",")[0] == "ro"
    assert not (tmp_path / "new").exists()
    # read-write: the host sees what the container writes
    cli.run("-v", f"{tmp_path}:/d", "busybox", "sh", "-c", "echo back > /d/new").ok()
    assert (tmp_path / "new").read_text() == "back\n"
    cid = cli.ok("create", *NONE, "-v", f"{tmp_path}:/d:ro", "busybox").strip()
    assert cli.mounts(cid) == [{"Type": "bind", "Source": str(tmp_path), "Destination": "/d",
                                "Mode": "ro", "RW": False, "Propagation": "rprivate"}]


def test_missing_bind_source(cli: Cli, tmp_path: Path) -> None:
    missing = tmp_path / "made" / "by" / "v"
    cli.run("-v", f"{missing}:/d", "busybox", "sh", "-c", "echo in > /d/f").ok()
    assert (missing / "f").read_text() == "in\n"
    assert stat.S_IMODE(os.stat(missing).st_mode) == 0o755
    other = tmp_path / "never"
    result = cli.run("--mount", f"type=bind,src={other},dst=/d", "busybox", "true")
    assert result.returncode == 125
    assert result.stderr.startswith(
        f'docker: Error response from daemon: invalid mount config for type "bind": '
        f"bind source path does not exist: {other}\n")
    assert not other.exists()
    assert cli.ok("ps", "-aq") == ""  # nothing was made


def test_bad_specs_are_refused_before_anything_is_made(cli: Cli) -> None:
    before = cli.volumes()
    result = cli("create", *NONE, "-v", "kv-" + tag() + ":/d", "-v", "/x:/d", "busybox")
    assert (result.returncode, result.stderr) == (
        1, "Error response from daemon: Duplicate mount point: /d\n")
    missing = "nosuch-" + tag()
    result = cli("create", *NONE, "--volumes-from", missing, "busybox")
    assert (result.returncode, result.stderr) == (
        1, f"Error response from daemon: No such container: {missing}\n")
    assert cli.volumes() == before
    assert cli.ok("ps", "-aq") == ""
    # found only once the container's root is there: the container and its
    # anonymous volumes go again; a named volume stays, as with Docker
    named = "kv-" + tag()
    result = cli("create", *NONE, "-v", f"{named}:/named", "-v", "/anon", "-v", "/etc/passwd",
                 "busybox")
    assert result.returncode == 1
    assert re.fullmatch(r"Error response from daemon: cannot mount volume over existing file, "
                        r"file exists /\S+/etc/passwd\n", result.stderr), result.stderr
    assert cli.volumes() == before | {named}
    assert cli.ok("ps", "-aq") == ""
    containers = cli.engine.data_root / "containers"
    assert not [p for p in containers.iterdir() if os.path.ismount(p / "rootfs" / "merged")]


# -- tmpfs -----------------------------------------------------------------------------------


def test_tmpfs_mounts(cli: Cli) -> None:
    out = cli.run("--tmpfs", "/t", "busybox", "sh", "-c",
                  "ls -A /t; grep ' /t ' /proc/mounts; echo x > /t/f && cat /t/f").ok()
    lines = out.stdout.splitlines()
    fields = lines[0].split()
    assert fields[:3] == ["tmpfs", "/t", "tmpfs"]
    assert {"rw", "nosuid", "nodev", "noexec"} <= set(fields[3].split(","))
    assert lines[1] == "x"
    out = cli.run("--mount", "type=tmpfs,dst=/m,tmpfs-size=1m,tmpfs-mode=1770", "busybox",
                  "sh", "-c", "grep ' /m ' /proc/mounts; stat -c %a /m").ok()
    mount_line, mode = out.stdout.splitlines()
    assert mount_line.split()[2] == "tmpfs" and "size=1024k" in mount_line
    assert mode == "1770"
    cid = cli.ok("create", *NONE, "--mount", "type=tmpfs,dst=/m", "--tmpfs", "/t:size=2m",
                 "busybox").strip()
    # HostConfig.Tmpfs is no mount point; a tmpfs --mount is
    assert cli.mounts(cid) == [{"Type": "tmpfs", "Source": "", "Destination": "/m",
                                "Mode": "", "RW": True, "Propagation": ""}]


def test_tmpfs_over_an_image_volume_takes_its_place(cli: Cli) -> None:
    before = cli.volumes()
    out = cli.run("--tmpfs", "/data", "volimg", "ls", "-A", "/data")
    assert out.ok().stdout == ""
    assert cli.volumes() == before


# -- volumes-from ----------------------------------------------------------------------------


def test_volumes_from(cli: Cli, tmp_path: Path) -> None:
    t = tag()
    name = "kv-" + t
    source = cli.ok("create", "--name", "src" + t, *NONE, "-v", f"{name}:/named",
                    "-v", f"{tmp_path}:/bound", "volimg").strip()
    src_mounts = cli.mounts(source)
    anon = next(m["Name"] for m in src_mounts if m["Destination"] == "/data")
    # read-write by default: writes land in the source's volumes and bind
    cli.run("--volumes-from", "src" + t, "busybox", "sh", "-c",
            "echo rw > /named/f && echo rw > /data/g && echo rw > /bound/h").ok()
    assert (tmp_path / "h").read_text() == "rw\n"
    out = cli.run("-v", f"{name}:/x", "busybox", "cat", "/x/f")
    assert out.ok().stdout == "rw\n"
    # :ro makes every one of them read-only
    out = cli.run("--volumes-from", f"src{t}:ro", "busybox", "sh", "-c",
                  "cat /data/g /data/seed; echo no > /named/f || echo refused")
    assert out.ok().stdout == "rw\nfrom-image\nrefused\n"
    reader = cli.ok("create", *NONE, "--volumes-from", f"src{t}:ro", "busybox").strip()
    seen = cli.mounts(reader)
    assert [(m["Destination"], m.get("Name", ""), m["RW"], m["Mode"]) for m in seen] == [
        ("/bound", "", False, ""), ("/data", anon, False, ""), ("/named", name, False, "")]
    # the anonymous volume is the source's: rm -v of the reader keeps it
    cli.ok("rm", "-v", reader)
    assert anon in cli.volumes()
    result = cli("volume", "rm", anon)
    assert result.returncode == 1 and "volume is in use" in result.stderr
    cli.ok("rm", "-v", source)
    assert anon not in cli.volumes() and name in cli.volumes()


# -- prune and disk usage --------------------------------------------------------------------


def test_prune_takes_only_unused_volumes(cli: Cli) -> None:
    t = tag()
    label = ["--label", f"prune={t}"]
    flt = ["--filter", f"label=prune={t}"]
    unused_named = cli.ok("volume", "create", *label, "kv-unused-" + t).strip()
    used_named = cli.ok("volume", "create", *label, "kv-used-" + t).strip()
    unused_anon = cli.ok("volume", "create", *label).strip()
    used_anon = cli.ok("volume", "create", *label).strip()
    cli.ok("create", *NONE, "-v", f"{used_named}:/a", "-v", f"{used_anon}:/b", "busybox")
    out = cli.ok("volume", "prune", "-f", *flt)
    assert out == f"Deleted Volumes:\n{unused_anon}\n\nTotal reclaimed space: 0B\n"
    cli.run("-v", f"{unused_named}:/a", "busybox", "sh", "-c", "echo 12345 > /a/f").ok()
    out = cli.ok("volume", "prune", "-a", "-f", *flt)
    assert out == f"Deleted Volumes:\n{unused_named}\n\nTotal reclaimed space: 6B\n"
    left = set(cli.ok("volume", "ls", "-q", *flt).split())
    assert left == {used_named, used_anon}


def _df_volume_section(text: str) -> str:
    return text.split("Local Volumes space usage:\n\n", 1)[1].split("\n\n", 1)[0]


def _df_volumes(cli: Cli) -> dict[str, tuple[str, str]]:
    """``system df -v``'s volume table: name -> (links, size)."""
    section = _df_volume_section(cli.ok("system", "df", "-v"))
    rows = [line.split() for line in section.splitlines()[1:]]
    return {row[0]: (row[1], row[2]) for row in rows}


def test_system_df_lists_volumes(cli: Cli) -> None:
    t = tag()
    busy, idle = "kv-busy-" + t, "kv-idle-" + t
    cli.ok("volume", "create", idle)
    cli.run("-v", f"{busy}:/v", "busybox", "sh", "-c",
            "head -c 3000 /dev/zero > /v/a; echo hi > /v/b").ok()
    for _ in range(2):
        cli.ok("create", *NONE, "-v", f"{busy}:/v", "busybox")
    usage = _df_volumes(cli)
    assert usage[busy] == ("2", "3.003kB")
    assert usage[idle] == ("0", "0B")
    summary = cli.ok("system", "df", "--format", "{{.Type}} {{.TotalCount}} {{.Active}}")
    assert re.search(r"^Local Volumes \d+ [1-9]\d*$", summary, re.M), summary
    # ketch's own CLI prints the same table
    env = dict(cli.engine.env, KETCH_HOST=cli.engine.env["DOCKER_HOST"])
    ours = run(env, [KETCH, "system", "df", "-v"]).ok().stdout
    assert _df_volume_section(ours) == _df_volume_section(cli.ok("system", "df", "-v"))


# -- daemon restart ----------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["stop", "kill9"])
def test_daemon_restart_keeps_volumes_working(make_ketchd: Callable[..., Engine],
                                              offline_images: OfflineImages,
                                              tmp_path: Path, how: str) -> None:
    engine = make_ketchd()
    import_offline_images(engine.env, offline_images, names=("busybox",))
    cli = Cli(engine)
    build_volume_image(cli, tmp_path / "ctx", "volimg")
    cli.ok("volume", "create", "-o", "type=tmpfs", "-o", "device=tmpfs", "mem")
    mem_data = engine.data_root / "volumes" / "mem" / "_data"
    cid = cli.ok("run", "-d", *NONE, "-v", "kept:/named", "-v", f"{tmp_path}:/bound",
                 "-v", "mem:/mem", "--tmpfs", "/t", "volimg", "sleep", "600").strip()
    anon = next(m["Name"] for m in cli.mounts(cid) if m["Destination"] == "/data")
    cli.ok("exec", cid, "sh", "-c",
           "echo before > /named/f; echo scratch > /t/f; echo mem > /mem/f")
    if how == "stop":
        engine.stop()
    else:
        engine.kill9()
    engine.start()
    try:
        out = cli.ok("exec", cid, "sh", "-c",
                     "cat /named/f /data/seed /t/f /mem/f; echo after > /named/g; "
                     "echo host > /bound/h")
        assert out == "before\nfrom-image\nscratch\nmem\n"
        assert os.path.ismount(mem_data)  # still in use: still mounted
        assert (tmp_path / "h").read_text() == "host\n"
        assert cli.run("-v", "kept:/k", "busybox", "cat", "/k/g").ok().stdout == "after\n"
        # still counted as in use, by this container only
        usage = _df_volumes(cli)
        assert usage["kept"][0] == "1" and usage[anon][0] == "1"
        result = cli("volume", "rm", "kept")
        assert result.stderr == ("Error response from daemon: remove kept: volume is in use "
                                 f"- [{cid}]\n")
        assert cli.ok("volume", "prune", "-f") == "Total reclaimed space: 0B\n"
        # stop and start again: the mounts are made anew
        cli.ok("stop", "-t", "0", cid)
        cli.ok("start", cid)
        assert cli.ok("exec", cid, "cat", "/named/g") == "after\n"
        assert cli.ok("exec", cid, "ls", "-A", "/mem") == ""  # a tmpfs volume starts empty
        cli.ok("rm", "-fv", cid)
        assert not os.path.ismount(mem_data)
        assert cli.volumes() == {"kept", "mem"}
        assert cli.ok("volume", "rm", "kept", "mem") == "kept\nmem\n"
    finally:
        cli("rm", "-fv", cid)
