"""`docker version`, `docker info` and the Engine API basics they rely on.

Version and info describe the engine itself, so their values legitimately
differ from Docker's; what must not differ is their shape: every field the
reference sends (the CLI renders what it finds), the sections the CLI
prints, and the facts both engines share (OS, architecture, kernel, CPUs,
the image count, the data root).
"""

from __future__ import annotations

import json
import os
import platform
import socket

import pytest
from support.conformance import Conform, ConformanceRunner, Session, keys_missing
from support.dockercli import docker
from support.engines import Engine

GOARCH = {"x86_64": "amd64", "aarch64": "arm64"}[platform.machine()]

#: /info keys of Docker 20.10 that an engine may leave out: the runtimes it
#: has are its own, and Docker itself dropped the others in later API
#: versions (KernelMemory in 1.42, KernelMemoryTCP and the commits'
#: "Expected" later still).
INFO_OPTIONAL_KEYS = (
    "Runtimes.*",
    "KernelMemory",
    "KernelMemoryTCP",
    "ContainerdCommit.Expected",
    "RuncCommit.Expected",
    "InitCommit.Expected",
)


def server_section(out: str) -> str:
    """The 'Server:' part of `docker version` / `docker info` output."""
    assert "\nServer:" in "\n" + out, out
    return out.split("Server:", 1)[1]


def test_version(engine: Engine, refdocker: Engine) -> None:
    r = docker(engine.env, "version").ok()
    assert r.stderr == ""
    server = server_section(r.stdout)
    for label in (
        "Engine:",
        "Version:",
        "API version:",
        "(minimum version ",
        "Go version:",
        "Git commit:",
        "Built:",
        f"OS/Arch:          linux/{GOARCH}",
        "Experimental:     false",
    ):
        assert label in server, f"{label!r} missing from the Server section:\n{server}"

    raw = docker(engine.env, "version", "--format", "{{json .Server}}").ok().stdout
    info = json.loads(raw)
    assert info["Os"] == "linux"
    assert info["Arch"] == GOARCH  # Go's names: amd64, arm64
    assert info["KernelVersion"] == platform.release()
    assert info["Components"][0]["Name"] == "Engine"
    for key in (
        "ApiVersion",
        "MinAPIVersion",
        "GitCommit",
        "GoVersion",
        "Os",
        "Arch",
        "KernelVersion",
        "BuildTime",
        "Experimental",
    ):
        assert key in info["Components"][0]["Details"], key
    # The client negotiated an API version it and the engine both speak.
    api = docker(engine.env, "version", "--format", "{{.Client.APIVersion}}").ok().stdout.strip()
    assert api == info["ApiVersion"]

    if engine is not refdocker:
        ref = json.loads(docker(refdocker.env, "version", "--format", "{{json .Server}}").stdout)
        missing = keys_missing(ref, info, ignore=INFO_OPTIONAL_KEYS)
        assert missing == [], f"keys Docker sends and {engine.kind} does not: {missing}"


def test_info(engine: Engine, refdocker: Engine, runner: ConformanceRunner) -> None:
    runner.baseline.reset(engine)
    r = docker(engine.env, "info").ok()
    assert "ERROR" not in r.stdout + r.stderr, r.stdout + r.stderr
    server = server_section(r.stdout)
    expect = [
        "Containers: 0",
        "Running: 0",
        "Paused: 0",
        "Stopped: 0",
        "Images: 2",
        "Server Version: ",
        "Storage Driver: ",
        "Logging Driver: json-file",
        "Cgroup Driver: ",
        "Kernel Version: " + platform.release(),
        "Operating System: ",
        "OSType: linux",
        "Architecture: " + platform.machine(),  # uname names here: x86_64
        f"CPUs: {os.cpu_count()}",
        "Total Memory: ",
        "Name: " + socket.gethostname(),
        "ID: ",
        f"Docker Root Dir: {engine.data_root}",
        "Debug Mode: ",  # ketchd's --log-level debug may well say true
        "Live Restore Enabled: ",  # ketchd keeps containers across restarts
    ]
    for line in expect:
        assert f"\n {line}" in server or f"\n  {line}" in server, (
            f"{line!r} missing from `docker info`:\n{server}"
        )

    info = json.loads(docker(engine.env, "info", "--format", "{{json .}}").ok().stdout)
    assert info["Images"] == 2
    assert info["Containers"] == 0
    assert info["OSType"] == "linux"
    assert info["DockerRootDir"] == str(engine.data_root)
    assert info["NCPU"] == os.cpu_count()
    assert info["MemTotal"] > 0
    if engine is not refdocker:
        ref = json.loads(docker(refdocker.env, "info", "--format", "{{json .}}").stdout)
        missing = keys_missing(ref, info, ignore=INFO_OPTIONAL_KEYS)
        assert missing == [], f"keys Docker sends and {engine.kind} does not: {missing}"


def test_ping_and_api_errors(engine: Engine) -> None:
    """What every client sees first: /_ping headers, versioned paths, 404s."""
    for method in ("GET", "HEAD"):
        r = engine.request(method, "/_ping")
        assert r.status == 200
        assert r.body == (b"OK" if method == "GET" else b"")
        assert r.headers["api-version"]
        assert r.headers["ostype"] == "linux"
        assert r.headers["docker-experimental"] == "false"
        assert "no-cache" in r.headers["cache-control"]
        assert r.headers["pragma"] == "no-cache"

    api = engine.request("GET", "/_ping").headers["api-version"]
    versioned = engine.request("GET", f"/v{api}/version")
    assert versioned.status == 200
    assert versioned.headers["content-type"] == "application/json"
    assert versioned.json()["ApiVersion"] == api

    missing = engine.request("GET", "/no/such/route")
    assert missing.status == 404
    assert missing.headers["content-type"] == "application/json"
    assert missing.json() == {"message": "page not found"}

    too_new = engine.request("GET", "/v9.99/version")
    assert too_new.status == 400
    assert too_new.json()["message"].startswith("client version 9.99 is too new.")


@pytest.mark.parametrize("args", [["system", "df"], ["system", "df", "-v"]], ids=["df", "df-v"])
def test_system_df(conform: Conform, args: list[str]) -> None:
    def scenario(s: Session) -> None:
        s.docker(*args).ok()
        s.docker("tag", "busybox", "bb:extra").ok()
        s.docker("import", str(s.images.busybox), "second:copy").ok()
        s.docker(*args).ok()
        s.docker(
            "system",
            "df",
            "--format",
            "{{.Type}} {{.TotalCount}} {{.Active}} {{.Size}} {{.Reclaimable}}",
        ).ok()
        s.docker("system", "df", "--format", "json").ok()

    conform(scenario)
