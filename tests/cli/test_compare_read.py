"""``ketch`` prints what Docker CLI 28 prints, for commands that only read.

Each case runs the docker CLI and ``ketch`` with the same arguments against the
same engine and compares exit codes, stdout and stderr byte for byte (docker's
name replaced by ketch's in messages). The test images have creation dates in
the past, so no output needs normalising.
"""

from __future__ import annotations

import re

import pytest

from .runner import Runner, as_ketch, assert_same

LISTING = [
    ["images"],
    ["images", "-a"],
    ["images", "-q"],
    ["images", "-aq"],
    ["images", "--no-trunc"],
    ["images", "--digests"],
    ["images", "--format", "json"],
    ["images", "--format", "table {{.ID}}\\t{{.Repository}}:{{.Tag}}\\t{{.Size}}"],
    ["images", "--format", "{{.Repository}}:{{.Tag}} {{.CreatedAt}} {{.VirtualSize}}"],
    ["images", "--format", "table"],
    ["images", "--format", "{{.ID}}", "-q"],
    ["images", "--format", "table {{.Digest}}", "--digests"],
    ["images", "--format", "table {{upper .Repository}}\t{{.Containers}}"],
    ["images", "ketchtest/busybox"],
    ["images", "ketchtest/busybox:1.0"],
    ["images", "-f", "reference=ketchtest/*"],
    ["images", "--filter", "dangling=true"],
    ["images", "--filter", "dangling=false", "--filter", "reference=*/multi"],
    ["images", "--filter", "before=ketchtest/multi"],
    ["images", "--filter", "label=org.example.a=1"],
    ["images", "nosuchrepo"],
    ["images", "ls"],
    ["image", "ls"],
    ["image", "list", "-q", "--no-trunc"],
    ["history", "ketchtest/multi"],
    ["history", "--no-trunc", "ketchtest/multi"],
    ["history", "-H=false", "ketchtest/multi"],
    ["history", "--human=false", "ketchtest/busybox"],
    ["history", "-q", "ketchtest/multi"],
    ["history", "--format", "json", "ketchtest/multi"],
    ["history", "--format", "{{.ID}}|{{.CreatedBy}}|{{.Size}}", "ketchtest/multi"],
    ["image", "history", "ketchtest/busybox:1.0"],
    ["system", "df"],
    ["system", "df", "-v"],
    ["system", "df", "--format", "json"],
    ["system", "df", "--format", "{{.Type}}: {{.Size}} ({{.Reclaimable}})"],
    ["system", "df", "-v", "--format", "{{range .Images}}{{.Repository}} {{end}}"],
]

INSPECT = [
    ["image", "inspect", "ketchtest/multi"],
    ["image", "inspect", "ketchtest/busybox", "ketchtest/multi:latest"],
    ["inspect", "ketchtest/busybox:1.0"],
    ["inspect", "--type", "image", "ketchtest/busybox"],
    ["image", "inspect", "--format", "json", "ketchtest/multi"],
    ["inspect", "-f", "{{.Config.Cmd}}", "ketchtest/multi"],
    ["inspect", "-f", "{{json .Config.Labels}}", "ketchtest/multi"],
    ["inspect", "-f", "{{.Config.Labels}}", "ketchtest/multi"],
    ["inspect", "-f", "{{.Config.Entrypoint}} {{.Config.Env}}", "ketchtest/busybox"],
    ["inspect", "-f", "{{index .Config.Labels \"org.example.a\"}}", "ketchtest/multi"],
    ["inspect", "-f", "{{range .RootFS.Layers}}{{.}} {{end}}", "ketchtest/multi"],
    ["inspect", "-f", "{{len .RepoTags}} {{.Size}} {{.Os}}/{{.Architecture}}",
     "ketchtest/multi"],
    ["inspect", "-f", "{{join .Config.Cmd \",\"}}|{{upper .Os}}|{{title .Os}}",
     "ketchtest/multi"],
    ["inspect", "-f", "{{if .Config.Labels}}labelled{{else}}plain{{end}}",
     "ketchtest/multi", "ketchtest/busybox"],
    ["inspect", "-f", "{{.Metadata.LastTagTime.IsZero}}", "ketchtest/busybox"],
    ["inspect", "-f", "{{range $k, $v := .Config.Labels}}{{$k}}={{$v}};{{end}}",
     "ketchtest/multi"],
    ["inspect", "-f", "{{printf \"%s-%q-%5.1f\" .Os .Comment 3.14159}}", "ketchtest/busybox"],
    ["inspect", "-f", "{{.Comment | printf \"%-30s|\"}}", "ketchtest/busybox"],
    ["inspect", "-f", "{{with .Config}}{{.Cmd}}{{end}}", "ketchtest/multi"],
    ["inspect", "-f", "{{- .Os -}}\n{{/* comment */}}", "ketchtest/multi"],
    ["inspect", "-f", "{{.Foo}}", "ketchtest/busybox"],
    ["inspect", "-f", "{{", "ketchtest/busybox"],
    ["inspect", "-f", "{{nosuchfunc .Os}}", "ketchtest/busybox"],
    ["inspect", "nosuch"],
    ["inspect", "--type", "image", "nosuch"],
    ["inspect", "--type", "bogus", "x"],
    ["image", "inspect", "nosuch"],
    ["image", "inspect", "nosuch", "ketchtest/busybox", "-f", "{{.Os}}"],
    ["image", "inspect", "-f", "{{.Os}}"],
]

ERRORS = [
    ["tag", "a"],
    ["tag", "nosuch", "x"],
    ["tag", "ketchtest/busybox", "UPPER"],
    ["tag", "ketchtest/busybox", "x@sha256:" + "a" * 64],
    ["rmi"],
    ["rmi", "nosuch1", "nosuch2"],
    ["rmi", "-f", "nosuch"],
    ["images", "a", "b"],
    ["images", "--bogus"],
    ["images", "-x"],
    ["images", "-aZ"],
    ["images", "--format"],
    ["images", "-f", "foo"],
    ["images", "-f", "bogus=1"],
    ["images", "--all=maybe"],
    ["images", "--format", "{{.Foo}}"],
    ["images", "--format", "{{"],
    ["images", "--format", "{{.ID}"],
    ["images", "--format", "{{index .ID 1 2}}"],
    ["history"],
    ["history", "a", "b"],
    ["history", "nosuch"],
    ["history", "--format", "{{.Nope}}", "ketchtest/busybox"],
    ["image", "prune", "x"],
    ["image", "bogus"],
    ["image", "--bogus"],
    ["bogus"],
    ["--bogus"],
    ["-H"],
    ["--log-level", "bogus", "images"],
    ["-H", "unix:///a.sock", "-H", "unix:///b.sock", "images"],
    ["load", "extra"],
    ["load", "-i", "/nonexistent.tar"],
    ["import"],
    ["import", "/nonexistent.tar"],
    ["import", "-", "BAD"],
    ["save"],
    ["save", "nosuch"],
    ["events", "--since", "bogus"],
    ["events", "--until", "2020-13-45"],
    ["events", "--format", "{{.Nope}}"],
    ["events", "--format", "{{"],
    ["version", "--format", "{{"],
    ["version", "extra"],
    ["info", "extra"],
    ["system", "df", "extra"],
]


def _case_id(argv: list[str]) -> str:
    return " ".join(argv)[:60]


@pytest.mark.parametrize("argv", LISTING, ids=_case_id)
def test_listing_matches_docker(runner: Runner, argv: list[str]) -> None:
    assert_same(*runner.both(*argv))


@pytest.mark.parametrize("argv", INSPECT, ids=_case_id)
def test_inspect_matches_docker(runner: Runner, argv: list[str]) -> None:
    assert_same(*runner.both(*argv))


@pytest.mark.parametrize("argv", ERRORS, ids=_case_id)
def test_errors_match_docker(runner: Runner, argv: list[str]) -> None:
    assert_same(*runner.both(*argv))


def test_version_server_section_matches_docker(runner: Runner) -> None:
    docker, ketch = runner.both("version")
    assert ketch.returncode == docker.returncode == 0
    assert ketch.stdout.split("\n\nServer:")[1] == docker.stdout.split("\n\nServer:")[1]
    client = ketch.stdout.split("\n\nServer:")[0]
    assert client.startswith("Client:\n Version:           ")
    api = re.search(r" API version:\s+(\S+)", docker.stdout)
    assert api is not None and f" API version:       {api.group(1)}" in client


@pytest.mark.parametrize("template", [
    "{{.Server.Version}} {{.Server.APIVersion}} {{.Server.Os}}",
    "{{range .Server.Components}}{{.Name}}={{.Version}};{{end}}",
    "{{json .Server}}",
    "{{.Client.Context}}",
    "{{.Server.Platform.Name}}|{{.Server.KernelVersion}}|{{.Server.Experimental}}",
])
def test_version_format_matches_docker(runner: Runner, template: str) -> None:
    assert_same(*runner.both("version", "--format", template))


def _info_normalized(text: str) -> str:
    """Drop the client section (ketch's own version) and sort docker's map-ordered lines."""
    _, _, server = text.partition("\nServer:\n")
    lines = []
    for line in server.splitlines():
        if line.startswith(" Runtimes: "):
            line = " Runtimes: " + " ".join(sorted(line.split()[1:]))
        lines.append(line)
    return "\n".join(lines)


def test_info_server_section_matches_docker(runner: Runner) -> None:
    docker, ketch = runner.both("info")
    assert ketch.returncode == docker.returncode == 0
    assert _info_normalized(ketch.stdout) == _info_normalized(docker.stdout)
    assert ketch.stderr == as_ketch(docker.stderr)
    assert ketch.stdout.startswith("Client:\n Version:    ")
    assert "\n Context:    default\n Debug Mode: false\n\nServer:\n" in ketch.stdout


@pytest.mark.parametrize("template", [
    "{{.ServerVersion}} {{.Images}} {{.Driver}}",
    "{{json .Plugins}}",
    "{{range .DriverStatus}}{{index . 0}};{{end}}",
    "{{.ClientInfo.Context}}",
    "{{.Swarm.LocalNodeState}} {{.NCPU}} {{.MemTotal}}",
])
def test_info_format_matches_docker(runner: Runner, template: str) -> None:
    assert_same(*runner.both("info", "--format", template))


def test_help_goes_where_docker_sends_it(runner: Runner) -> None:
    for argv in (["image"], ["system"]):
        docker, ketch = runner.both(*argv)
        assert (ketch.returncode, ketch.stdout) == (docker.returncode, docker.stdout) == (0, "")
        assert ketch.stderr.startswith(f"Usage:  ketch {argv[0]} COMMAND\n")
    ketch = runner.ketch("images", "--help")
    assert ketch.returncode == 0 and ketch.stderr == ""
    assert ketch.stdout.startswith("Usage:  ketch images [OPTIONS] [REPOSITORY[:TAG]]\n")
    assert "  -a, --all " in ketch.stdout and "  -f, --filter filter " in ketch.stdout
