"""``ketch pull/push/login/logout`` against the real Docker CLI 28.

Both CLIs talk to the session's ketchd, which talks to real ``ketch-registry``
processes on loopback; each CLI has its own config directory
(``KETCH_CONFIG`` / ``DOCKER_CONFIG``), so stored credentials never leak from
one to the other. Outputs are compared after normalising what differs by
nature: digests and layer IDs, registry ports, config paths.
"""

from __future__ import annotations

import base64
import json
import re
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from support.dockercli import Result
from support.engines import Engine
from support.images import OfflineImages, import_offline_images

from .recorder import RecordingProxy
from .registries import Registry
from .runner import Runner, assert_same

USER, PASSWORD = "alice", "s3cret"


@pytest.fixture(scope="module")
def regdir(cli_dir: Path) -> Path:
    return Path(tempfile.mkdtemp(prefix="registry", dir=cli_dir))


@pytest.fixture(scope="module")
def registries(regdir: Path) -> Iterator[dict[str, Registry]]:
    """Two open registries (one per CLI, so that neither sees the other's blobs)
    and one with htpasswd auth."""
    made: dict[str, Registry] = {}
    try:
        made["docker"] = Registry(regdir / "d").start()
        made["ketch"] = Registry(regdir / "k").start()
        made["auth"] = Registry(regdir / "a", {USER: PASSWORD}).start()
        yield made
    finally:
        for reg in made.values():
            reg.stop()


@pytest.fixture(scope="module")
def rrunner(ketchd: Engine, offline_images: OfflineImages, regdir: Path) -> Runner:
    """docker and ketch on ketchd, busybox and hello-world imported, each CLI with
    its own (empty) config directory."""
    env = dict(ketchd.env)
    import_offline_images(env, offline_images)
    env["DOCKER_CONFIG"] = str(regdir / "docker-config")
    env["KETCH_CONFIG"] = str(regdir / "ketch-config")
    return Runner(env)


@pytest.fixture
def configs(rrunner: Runner) -> Iterator[tuple[Path, Path]]:
    """(docker's, ketch's) config.json, both removed after the test."""
    docker = Path(rrunner.env["DOCKER_CONFIG"]) / "config.json"
    ketch = Path(rrunner.env["KETCH_CONFIG"]) / "config.json"
    for path in (docker, ketch):
        path.unlink(missing_ok=True)
    yield docker, ketch
    for path in (docker, ketch):
        path.unlink(missing_ok=True)


_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
_LAYER = re.compile(r"\b[0-9a-f]{12}\b")


def normalize(text: str, *regs: Registry) -> str:
    for reg in regs:
        text = text.replace(reg.addr, "REGISTRY")
    text = _DIGEST.sub("sha256:<digest>", text)
    return _LAYER.sub("<layer>", text)


def both(runner: Runner, docker_args: list[str], ketch_args: list[str],
         input: str | None = None) -> tuple[Result, Result]:
    return runner.docker(*docker_args, input=input), runner.ketch(*ketch_args, input=input)


def push_same(runner: Runner, registries: dict[str, Registry], image: str,
              path: str) -> tuple[str, str]:
    """Tag ``image`` into both open registries; (docker's ref, ketch's ref)."""
    dref = f"{registries['docker'].addr}/{path}"
    kref = f"{registries['ketch'].addr}/{path}"
    runner.docker("tag", image, dref).ok()
    runner.docker("tag", image, kref).ok()
    return dref, kref


# --- push / pull ----------------------------------------------------------------------


def test_push_then_pull_back_as_docker_does(rrunner: Runner,
                                            registries: dict[str, Registry]) -> None:
    regs = (registries["docker"], registries["ketch"])
    dref, kref = push_same(rrunner, registries, "busybox:latest", "cli/busybox:v1")
    docker, ketch = both(rrunner, ["push", dref], ["push", kref])
    assert "Pushed" in docker.stdout
    assert_same(docker, ketch, normalize=lambda s: normalize(s, *regs))
    # Pushed again: every layer is already there.
    docker, ketch = both(rrunner, ["push", dref], ["push", kref])
    assert "Layer already exists" in docker.stdout
    assert_same(docker, ketch, normalize=lambda s: normalize(s, *regs))
    # Pulled back after the tag is gone: the layers are still present locally.
    rrunner.docker("rmi", dref, kref).ok()
    docker, ketch = both(rrunner, ["pull", dref], ["pull", kref])
    assert docker.stdout.endswith(f"{dref}\n")
    assert_same(docker, ketch, normalize=lambda s: normalize(s, *regs))
    ids = [rrunner.docker("inspect", "-f", "{{.Id}}", ref).ok().stdout for ref in (dref, kref)]
    assert ids[0] == ids[1]


def test_pull_default_tag_quiet_and_all_tags(rrunner: Runner,
                                             registries: dict[str, Registry]) -> None:
    regs = (registries["docker"], registries["ketch"])
    for tag in ("latest", "other"):
        dref, kref = push_same(rrunner, registries, "hello-world:latest", f"cli/hello:{tag}")
        rrunner.docker("push", dref).ok()
        rrunner.ketch("push", kref).ok()
        rrunner.docker("rmi", dref, kref).ok()
    dname = f"{registries['docker'].addr}/cli/hello"
    kname = f"{registries['ketch'].addr}/cli/hello"
    for flags in ([], ["-q"], ["-a"], ["--all-tags", "-q"]):
        docker, ketch = both(rrunner, ["pull", *flags, dname], ["pull", *flags, kname])
        assert docker.returncode == 0, docker.describe()
        assert_same(docker, ketch, normalize=lambda s: normalize(s, *regs))
        all_tags = "-a" in flags or "--all-tags" in flags
        assert docker.stdout.endswith(f"{dname}\n" if all_tags else f"{dname}:latest\n")
        tags = ("latest", "other") if all_tags else ("latest",)
        for name in (dname, kname):
            rrunner.docker("rmi", *[f"{name}:{tag}" for tag in tags]).ok()


def test_push_quiet_prints_the_reference(rrunner: Runner,
                                         registries: dict[str, Registry]) -> None:
    regs = (registries["docker"], registries["ketch"])
    dref, kref = push_same(rrunner, registries, "busybox:latest", "cli/quiet")
    docker, ketch = both(rrunner, ["push", "-q", dref], ["push", "-q", kref])
    assert docker.stdout == f"{dref}:latest\n"
    assert_same(docker, ketch, normalize=lambda s: normalize(s, *regs))
    rrunner.docker("rmi", dref, kref).ok()


@pytest.mark.parametrize("args", [
    ["pull", "-a", "{reg}/cli/x:v1"],
    ["push", "-a", "{reg}/cli/x:v1"],
    ["push", "{reg}/cli/x@sha256:" + "a" * 64],
    ["pull", "{reg}/Cli/X"],
    ["pull", "{reg}/cli/missing:v1"],
    ["push", "{reg}/cli/notlocal:v1"],
    ["pull"],
    ["push", "a", "b"],
])
def test_errors_as_docker(rrunner: Runner, registries: dict[str, Registry],
                          args: list[str]) -> None:
    regs = (registries["docker"], registries["ketch"])
    dargs = [a.format(reg=registries["docker"].addr) for a in args]
    kargs = [a.format(reg=registries["ketch"].addr) for a in args]
    docker, ketch = both(rrunner, dargs, kargs)
    assert docker.returncode != 0
    assert "Traceback" not in ketch.stderr
    assert_same(docker, ketch, normalize=lambda s: normalize(s, *regs))


# --- login / logout -------------------------------------------------------------------


def _config_text(path: Path, reg: Registry) -> str:
    return path.read_text().replace(reg.addr, "REGISTRY")


def _login_norm(reg: Registry, configs: tuple[Path, Path]) -> Callable[[str], str]:
    def fix(text: str) -> str:
        text = text.replace(str(configs[0]), "CONFIG").replace(str(configs[1]), "CONFIG")
        # as_ketch renamed docker's documentation link too
        text = text.replace("docs.ketch.com", "docs.docker.com")
        return text.replace(reg.addr, "REGISTRY")
    return fix


def test_login_stores_docker_format_and_logout_removes(
        rrunner: Runner, registries: dict[str, Registry], configs: tuple[Path, Path]) -> None:
    reg = registries["auth"]
    fix = _login_norm(reg, configs)
    args = ["login", "-u", USER, "-p", PASSWORD, reg.addr]
    docker, ketch = rrunner.docker(*args), rrunner.ketch(*args)
    assert docker.stdout == "Login Succeeded\n", docker.describe()
    assert_same(docker, ketch, normalize=fix)
    assert _config_text(configs[1], reg) == _config_text(configs[0], reg)
    auths = json.loads(configs[1].read_text())["auths"]
    assert base64.b64decode(auths[reg.addr]["auth"]).decode() == f"{USER}:{PASSWORD}"
    # Again without flags: the stored credentials are tried first.
    docker, ketch = rrunner.docker("login", reg.addr), rrunner.ketch("login", reg.addr)
    assert docker.returncode == 0, docker.describe()
    assert_same(docker, ketch, normalize=fix)
    docker, ketch = rrunner.docker("logout", reg.addr), rrunner.ketch("logout", reg.addr)
    assert_same(docker, ketch, normalize=fix)
    assert _config_text(configs[1], reg) == _config_text(configs[0], reg)
    assert json.loads(configs[1].read_text())["auths"] == {}


def test_login_password_stdin(rrunner: Runner, registries: dict[str, Registry],
                              configs: tuple[Path, Path]) -> None:
    reg = registries["auth"]
    fix = _login_norm(reg, configs)
    args = ["login", "-u", USER, "--password-stdin", f"http://{reg.addr}/"]
    docker = rrunner.docker(*args, input=PASSWORD + "\n")
    ketch = rrunner.ketch(*args, input=PASSWORD + "\n")
    assert docker.returncode == 0, docker.describe()
    assert_same(docker, ketch, normalize=fix)
    assert _config_text(configs[1], reg) == _config_text(configs[0], reg)


@pytest.mark.parametrize("args", [
    ["login", "-u", USER, "-p", "wrong", "{reg}"],
    ["login", "-u", "nobody", "--password-stdin", "{reg}"],
    ["login", "{reg}"],
    ["login", "-u", USER, "{reg}"],
    ["login", "-p", "x", "--password-stdin", "{reg}"],
    ["login", "--password-stdin", "{reg}"],
    ["login", "-u", "", "-p", "x", "{reg}"],
    ["login", "a", "b"],
    ["logout", "a", "b"],
])
def test_login_failures_as_docker(rrunner: Runner, registries: dict[str, Registry],
                                  configs: tuple[Path, Path], args: list[str]) -> None:
    reg = registries["auth"]
    argv = [a.format(reg=reg.addr) for a in args]
    docker = rrunner.docker(*argv, input="bad\n")
    ketch = rrunner.ketch(*argv, input="bad\n")
    assert docker.returncode != 0
    assert "Traceback" not in ketch.stderr
    assert_same(docker, ketch, normalize=_login_norm(reg, configs))
    assert not configs[1].exists()


def test_credentials_are_sent_on_push_and_pull(
        rrunner: Runner, registries: dict[str, Registry], configs: tuple[Path, Path]) -> None:
    reg = registries["auth"]
    fix = _login_norm(reg, configs)
    ref = f"{reg.addr}/cli/private:v1"
    rrunner.docker("tag", "hello-world:latest", ref).ok()
    try:
        # Without credentials the registry refuses, the same way for both.
        docker, ketch = rrunner.docker("push", ref), rrunner.ketch("push", ref)
        assert docker.returncode != 0
        assert_same(docker, ketch, normalize=lambda s: normalize(fix(s), reg))
        rrunner.ketch("login", "-u", USER, "--password-stdin", reg.addr,
                      input=PASSWORD).ok()
        pushed = rrunner.ketch("push", ref)
        assert pushed.returncode == 0, pushed.describe()
        rrunner.docker("rmi", ref).ok()
        pulled = rrunner.ketch("pull", ref)
        assert pulled.returncode == 0, pulled.describe()
        assert pulled.stdout.endswith(f"{ref}\n")
    finally:
        rrunner.docker("rmi", ref)


def test_implicit_pull_of_create_uses_the_real_pull(
        rrunner: Runner, registries: dict[str, Registry], configs: tuple[Path, Path]) -> None:
    """``create`` of a missing image pulls it with the stored credentials, progress on
    stderr, exactly as docker's create does."""
    reg = registries["auth"]
    ref = f"{reg.addr}/cli/implicit:v1"
    rrunner.docker("tag", "hello-world:latest", ref).ok()
    for login in (rrunner.docker, rrunner.ketch):
        login("login", "-u", USER, "--password-stdin", reg.addr, input=PASSWORD).ok()
    rrunner.ketch("push", ref).ok()
    rrunner.docker("rmi", ref).ok()
    results = []
    try:
        for create in (rrunner.docker, rrunner.ketch):
            result = create("create", ref)
            results.append(result)
            assert result.returncode == 0, result.describe()
            rrunner.docker("rm", result.stdout.strip()).ok()
            rrunner.docker("rmi", ref).ok()
        docker, ketch = results
        assert ketch.stderr.startswith(f"Unable to find image '{ref}' locally\n")
        assert f"Status: Downloaded newer image for {ref}" in ketch.stderr
        assert_same(docker, ketch, normalize=lambda s: re.sub(
            r"\b[0-9a-f]{64}\b", "<id>", normalize(s, reg)))
    finally:
        rrunner.docker("rmi", ref)


# --- progress on a terminal -----------------------------------------------------------


def _random_rootfs(path: Path, size: int) -> Path:
    import io
    import os
    import tarfile

    with tarfile.open(path, "w") as tar:
        for name in ("a.bin", "b.bin"):
            data = os.urandom(size)
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def _pty_output(runner: Runner, argv: list[str]) -> str:
    import pexpect

    child = pexpect.spawn(argv[0], argv[1:], env=runner.env, dimensions=(40, 130),
                          timeout=60, encoding="utf-8")
    try:
        child.expect(pexpect.EOF)
        out = str(child.before)
    finally:
        child.close(force=True)
    assert child.exitstatus == 0, out
    return out


def test_pull_and_push_progress_on_a_terminal(rrunner: Runner,
                                              registries: dict[str, Registry],
                                              regdir: Path) -> None:
    """Per-layer lines that redraw in place (cursor up/down, erase line), ending on
    the same screen as docker's; off a terminal the same stream is plain lines."""
    from support.dockercli import DOCKER_CLI

    from .runner import KETCH
    from .screen import replay

    regs = (registries["docker"], registries["ketch"])
    tar = _random_rootfs(regdir / "random.tar", 3 << 20)
    dref = f"{registries['docker'].addr}/cli/progress:v1"
    kref = f"{registries['ketch'].addr}/cli/progress:v1"
    rrunner.docker("import", str(tar), dref).ok()
    rrunner.docker("tag", dref, kref).ok()
    try:
        screens = []
        raws = []
        for cli, ref in ((DOCKER_CLI, dref), (KETCH, kref)):
            raws.append(_pty_output(rrunner, [cli, "push", ref]))
            screens.append(normalize("\n".join(replay(raws[-1])), *regs))
        assert screens[1] == screens[0], (raws[0], raws[1])
        assert "\x1b[1A" in raws[1] and "\x1b[2K\r" in raws[1]
        rrunner.docker("rmi", dref, kref).ok()
        screens, raws = [], []
        for cli, ref in ((DOCKER_CLI, dref), (KETCH, kref)):
            raws.append(_pty_output(rrunner, [cli, "pull", ref]))
            screens.append(normalize("\n".join(replay(raws[-1])), *regs))
            rrunner.docker("rmi", ref).ok()  # so that each CLI pulls every layer
        assert screens[1] == screens[0], (raws[0], raws[1])
        assert "Pull complete" in screens[1]
        assert "\x1b[1A" in raws[1] and "\x1b[2K\r" in raws[1]
        assert "Downloading" in raws[1]
    finally:
        rrunner.docker("rmi", dref, kref)


# --- what is sent ---------------------------------------------------------------------


Sent = tuple[str, str, dict[str, str], object]


def _registry_requests(proxy: RecordingProxy) -> list[Sent]:
    """(method, path, query, decoded X-Registry-Auth) of the registry routes."""
    out: list[Sent] = []
    for req in proxy.taken():
        if req.path in ("/images/create", "/auth") or req.path.endswith("/push"):
            header = req.headers.get("x-registry-auth")
            decoded = (json.loads(base64.urlsafe_b64decode(header)) if header is not None
                       else None)
            out.append((req.method, req.path, req.query, decoded if req.path != "/auth"
                        else req.json()))
    return out


def test_requests_and_credentials_sent_as_docker_sends_them(
        rrunner: Runner, registries: dict[str, Registry], configs: tuple[Path, Path],
        ketchd: Engine, regdir: Path) -> None:
    reg = registries["auth"]
    ref = f"{reg.addr}/cli/sent:v1"
    rrunner.docker("tag", "hello-world:latest", ref).ok()
    proxy = RecordingProxy(Path(tempfile.mkdtemp(dir=regdir)) / "p.sock", str(ketchd.socket))
    env = dict(rrunner.env, DOCKER_HOST=proxy.host, KETCH_HOST=proxy.host)
    runner = Runner(env)
    try:
        seen: dict[str, list[Sent]] = {}
        for cli in ("docker", "ketch"):
            run = runner.docker if cli == "docker" else runner.ketch
            proxy.clear()
            run("pull", f"{reg.addr}/cli/nothing-yet")  # fails: not logged in, e30=
            run("login", "-u", USER, "--password-stdin", f"https://{reg.addr}/",
                input=PASSWORD).ok()
            run("push", ref).ok()
            run("push", "-a", f"{reg.addr}/cli/sent").ok()
            run("pull", ref + "@sha256:" + "0" * 64)
            run("pull", "--platform", "Linux/AMD64", ref).ok()
            run("create", "--pull", "always", ref)
            seen[cli] = list(_registry_requests(proxy))
        assert seen["ketch"] == seen["docker"]
        auths = [auth for _, path, _, auth in seen["docker"] if path != "/auth"]
        assert auths[0] == {} and auths[-1] == {
            "username": USER, "password": PASSWORD, "serveraddress": reg.addr}
    finally:
        proxy.close()
        rrunner.docker("rm", "-f", *rrunner.docker("ps", "-aq").stdout.split())
        rrunner.docker("rmi", ref)
