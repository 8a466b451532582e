"""``GET /containers/{id}/stats`` through the real docker CLI 28, the raw API,
and side by side with Docker 20.10 (key sets), plus the cgroup/proc parsers on
files laid out as the kernel writes them."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.dockercli import docker
from support.images import import_offline_images
from support.unixhttp import UnixHTTPConnection

from ketch.containers import stats

API = "/v1.50"


@pytest.fixture(scope="module")
def engine(ketchd: Any, offline_images: Any) -> Any:
    import_offline_images(ketchd.env, offline_images, names=("busybox",))
    return ketchd


def _run_detached(engine: Any, *args: str) -> str:
    return docker(engine.env, "run", "-d", *args).ok().stdout.strip()


@pytest.fixture
def containers(engine: Any) -> Iterator[list[str]]:
    """IDs the test starts on ``engine``; all force-removed at the end."""
    started: list[str] = []
    yield started
    for cid in started:
        docker(engine.env, "rm", "-f", cid).ok()


def _get(engine: Any, path: str) -> tuple[int, Any]:
    response = engine.request("GET", path)
    return response.status, json.loads(response.body)


def _stream(engine: Any, cid: str, count: int) -> list[dict[str, Any]]:
    """The first ``count`` objects of a stats stream; then hang up."""
    conn = UnixHTTPConnection(str(engine.socket), timeout=30)
    try:
        conn.request("GET", f"{API}/containers/{cid}/stats?stream=1")
        response = conn.getresponse()
        assert response.status == 200
        return [json.loads(response.readline()) for _ in range(count)]
    finally:
        conn.close()


def _bytes(text: str) -> float:
    match = re.fullmatch(r"([0-9.]+)([KMGT]?i?B)", text)
    assert match, text
    units = {"B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40}
    return float(match.group(1)) * units[match.group(2)]


# -- through the CLI and the API ------------------------------------------------------

def test_cli_no_stream_memory_and_pids(engine: Any, containers: list[str]) -> None:
    cid = _run_detached(engine, "--name", "stats-mem", "--memory", "64m", "busybox",
                        "sleep", "60")
    containers.append(cid)
    out = docker(engine.env, "stats", "--no-stream", "--format",
                 "{{.Name}} {{.MemUsage}} {{.PIDs}}", cid).ok().stdout.strip()
    name, usage, slash, limit, pids = out.split()
    assert (name, slash, limit) == ("stats-mem", "/", "64MiB"), out
    assert 0 < _bytes(usage) < 64 << 20, out
    assert int(pids) >= 1, out


def test_cpu_percent_of_a_busy_container(engine: Any, containers: list[str]) -> None:
    cid = _run_detached(engine, "busybox", "sh", "-c", "while :; do :; done")
    containers.append(cid)
    first, second = _stream(engine, cid, 2)
    assert first["precpu_stats"]["cpu_usage"]["total_usage"] == 0
    assert second["precpu_stats"] == first["cpu_stats"]
    assert second["preread"] == first["read"]
    cpu, pre = second["cpu_stats"], second["precpu_stats"]
    cpu_delta = cpu["cpu_usage"]["total_usage"] - pre["cpu_usage"]["total_usage"]
    system_delta = cpu["system_cpu_usage"] - pre["system_cpu_usage"]
    percent = cpu_delta / system_delta * cpu["online_cpus"] * 100
    assert percent > 10, (percent, cpu, pre)
    assert second["pids_stats"]["current"] >= 1
    assert second["name"] == "/" + docker(engine.env, "inspect", "-f", "{{.Name}}",
                                          cid).ok().stdout.strip().lstrip("/")


def test_one_shot_and_stopped(engine: Any, containers: list[str]) -> None:
    cid = _run_detached(engine, "busybox", "sleep", "60")
    containers.append(cid)
    status, body = _get(engine, f"{API}/containers/{cid}/stats?stream=0&one-shot=1")
    assert status == 200
    assert body["id"] == cid and body["read"] != stats.ZERO_TIME
    assert body["precpu_stats"]["cpu_usage"]["total_usage"] == 0
    assert body["memory_stats"]["usage"] > 0
    assert engine.request(
        "GET", f"{API}/containers/{cid}/stats?stream=1&one-shot=1").status == 400
    docker(engine.env, "kill", cid).ok()
    status, body = _get(engine, f"{API}/containers/{cid}/stats?stream=0")
    assert status == 200
    assert body == stats.empty_stats(cid, body["name"])


def test_stream_ends_when_the_container_is_removed(engine: Any) -> None:
    cid = _run_detached(engine, "busybox", "sleep", "60")
    conn = UnixHTTPConnection(str(engine.socket), timeout=30)
    try:
        conn.request("GET", f"{API}/containers/{cid}/stats")
        response = conn.getresponse()
        assert response.getheader("Content-Type") == "text/plain; charset=utf-8"
        assert json.loads(response.readline())["pids_stats"]["current"] >= 1
        docker(engine.env, "rm", "-f", cid).ok()
        rest = [json.loads(line) for line in response.read().splitlines()]
    finally:
        conn.close()
        docker(engine.env, "rm", "-f", cid)
    # the stream ended (read() returned) after at most the samples taken while
    # the container went away
    assert len(rest) <= 3
    assert all(body["id"] == cid for body in rest)


def test_unknown_container_is_404(engine: Any) -> None:
    status, body = _get(engine, f"{API}/containers/no-such-thing/stats?stream=0")
    assert (status, body) == (404, {"message": "No such container: no-such-thing"})


# -- against Docker 20.10 -------------------------------------------------------------

def _keys(body: dict[str, Any]) -> dict[str, Any]:
    """Key sets, one level into each object-valued section."""
    return {k: sorted(v) if isinstance(v, dict) else None for k, v in body.items()}


def test_keys_match_docker(engine: Any, refdocker: Any, offline_images: Any) -> None:
    import_offline_images(refdocker.env, offline_images, names=("busybox",))
    bodies: list[dict[str, Any]] = []
    stopped: list[dict[str, Any]] = []
    for target in (engine, refdocker):
        cid = _run_detached(target, "--network", "none", "--memory", "64m", "busybox",
                            "sleep", "60")
        try:
            status, body = _get(target, f"/v1.41/containers/{cid}/stats?stream=0")
            assert status == 200, body
            bodies.append(body)
            docker(target.env, "kill", cid).ok()
            stopped.append(_get(target, f"/v1.41/containers/{cid}/stats?stream=0")[1])
        finally:
            docker(target.env, "rm", "-f", cid).ok()
    ours, theirs = bodies
    assert _keys(ours) == _keys(theirs)
    assert _keys(ours["cpu_stats"]) == _keys(theirs["cpu_stats"])
    assert sorted(ours["memory_stats"]["stats"]) == sorted(theirs["memory_stats"]["stats"])
    assert _keys(stopped[0]) == _keys(stopped[1])


# -- parsers on kernel-shaped files ---------------------------------------------------

def test_system_cpu(tmp_path: Path) -> None:
    (tmp_path / "stat").write_text(
        "cpu  100 2 30 4000 5 6 7 8 0 0\ncpu0 50 1 15 2000 2 3 3 4 0 0\n"
        "cpu1 50 1 15 2000 3 3 4 4 0 0\nintr 1 2 3\n")
    # the first seven columns (steal and guest excluded), at 100 ticks a second
    assert stats.system_cpu(tmp_path) == (4150 * 10_000_000, 2)


def test_blkio_throttle_fallback(tmp_path: Path) -> None:
    (tmp_path / "blkio.throttle.io_service_bytes").write_text(
        "8:0 Read 4096\n8:0 Write 512\nTotal 4608\n")
    (tmp_path / "blkio.throttle.io_serviced").write_text("8:0 Read 1\n8:0 Write 1\nTotal 2\n")
    body = stats.read_blkio(tmp_path)
    assert body["io_service_bytes_recursive"] == [
        {"major": 8, "minor": 0, "op": "Read", "value": 4096},
        {"major": 8, "minor": 0, "op": "Write", "value": 512}]
    assert len(body["io_serviced_recursive"]) == 2
    assert body["sectors_recursive"] == []


def test_memory_limit_capped_at_host_memory(tmp_path: Path) -> None:
    (tmp_path / "memory.stat").write_text("cache 4096\ntotal_inactive_file 1024\n")
    for name, value in (("usage_in_bytes", "8192"), ("max_usage_in_bytes", "9000"),
                        ("failcnt", "0"), ("limit_in_bytes", "9223372036854771712")):
        (tmp_path / f"memory.{name}").write_text(value + "\n")
    body = stats.read_memory(tmp_path, host_memory=1 << 30)
    assert body["limit"] == 1 << 30 and body["usage"] == 8192 and "failcnt" not in body
    assert body["stats"]["total_inactive_file"] == 1024 and body["stats"]["rss"] == 0
    # Go encodes the map with its keys sorted
    assert list(body["stats"]) == sorted(body["stats"]) and len(body["stats"]) == 32


def test_ketch_stats_prints_docker_stats_table(engine: Any) -> None:
    """``ketch stats --no-stream`` and ``docker stats --no-stream``: same columns
    and, for the numbers that cannot move between two samples, the same values."""
    from cli.runner import Runner

    docker(engine.env, "run", "-d", "--name", "kstats", "--memory", "32m", "busybox",
           "sleep", "120").ok()
    try:
        runner = Runner(engine.env)
        fmt = "{{.Name}} {{.ID}} {{.PIDs}} {{.MemUsage}}"
        ours, theirs = (runner.ketch(*args) for args in (
            ["stats", "--no-stream", "--format", fmt, "kstats"],
            ["container", "stats", "--no-stream", "kstats"]))
        reference = runner.docker("stats", "--no-stream", "--format", fmt, "kstats")
        assert ours.returncode == 0, ours.describe()
        name, ident, pids, usage = ours.stdout.split(" ", 3)
        assert (name, pids) == ("kstats", "1")
        assert reference.stdout.startswith(f"kstats {ident} 1 ")
        assert re.fullmatch(r"\d+(\.\d+)?[KM]iB / 32MiB\n", usage), usage
        docker_table = runner.docker("stats", "--no-stream", "kstats").stdout
        # column widths follow the values, which move between samples
        assert theirs.stdout.splitlines()[0].split() == docker_table.splitlines()[0].split()
        assert theirs.stdout.splitlines()[1].split()[:2] == \
            docker_table.splitlines()[1].split()[:2]  # ID and name
        missing = runner.ketch("stats", "--no-stream", "nosuch")
        assert missing.returncode == 1
        assert "No such container: nosuch" in missing.stderr
    finally:
        docker(engine.env, "rm", "-f", "kstats")
