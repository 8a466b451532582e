"""ketchd as a process: one per data root, clean shutdown, configuration errors."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from .archives import docker_archive, layer_tar

KETCHD = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "ketchd"


def _run_ketchd(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(KETCHD), *args], capture_output=True, text=True, timeout=30)


def test_second_daemon_on_same_data_root_refuses(fresh_ketchd: Any, tmp_path: Path) -> None:
    config = tmp_path / "daemon.json"
    config.write_text("{}")
    result = _run_ketchd("-H", f"unix://{tmp_path}/other.sock", "--data-root",
                         str(fresh_ketchd.data_root), "--exec-root", str(tmp_path / "exec"),
                         "--pidfile", str(tmp_path / "pid"), "--config-file", str(config))
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "in use by another ketchd" in lines[0]
    assert f"pid {fresh_ketchd.pid}" in lines[0]
    assert not (tmp_path / "other.sock").exists()
    assert fresh_ketchd.request("GET", "/_ping").text == "OK"


def test_sigterm_shuts_down_cleanly(fresh_ketchd: Any) -> None:
    socket = Path(fresh_ketchd.socket)
    pidfile = Path(fresh_ketchd.pidfile)
    assert socket.exists() and pidfile.exists()
    assert oct(socket.stat().st_mode & 0o777) == "0o660"
    code = fresh_ketchd.stop()
    assert code == 0
    assert not socket.exists()
    assert not pidfile.exists()
    assert "Daemon shutdown complete" in Path(fresh_ketchd.log).read_text()


def test_state_survives_restart(fresh_ketchd: Any) -> None:
    archive = docker_archive([layer_tar({"f": b"persist"})], ["persist:1"])
    assert fresh_ketchd.request("POST", "/images/load?quiet=1", body=archive).status == 200
    before = fresh_ketchd.request("GET", "/images/persist:1/json").json()
    fresh_ketchd.stop()
    fresh_ketchd.start()
    after = fresh_ketchd.request("GET", "/images/persist:1/json").json()
    assert after["Id"] == before["Id"] and after["RepoTags"] == ["persist:1"]


def test_flag_and_file_conflict(tmp_path: Path) -> None:
    config = tmp_path / "daemon.json"
    config.write_text(json.dumps({"data-root": str(tmp_path / "a")}))
    result = _run_ketchd("--data-root", str(tmp_path / "b"), "--config-file", str(config))
    assert result.returncode == 1
    assert "specified both as a flag and in the configuration file" in result.stderr
    assert "Traceback" not in result.stderr


def test_unknown_config_key(tmp_path: Path) -> None:
    config = tmp_path / "daemon.json"
    config.write_text(json.dumps({"colour": "red"}))
    result = _run_ketchd("--config-file", str(config))
    assert result.returncode == 1
    assert "don't match any configuration option: colour" in result.stderr


def test_tcp_host_is_a_clear_error(tmp_path: Path) -> None:
    config = tmp_path / "daemon.json"
    config.write_text("{}")
    result = _run_ketchd("-H", "tcp://127.0.0.1:2375", "--data-root", str(tmp_path / "d"),
                         "--pidfile", str(tmp_path / "pid"), "--config-file", str(config))
    assert result.returncode == 1
    assert "only unix:// sockets" in result.stderr
    assert "Traceback" not in result.stderr


def test_registry_settings_from_daemon_json(make_ketchd: Any) -> None:
    engine = make_ketchd(config={"insecure-registries": ["10.0.0.0/8", "myreg:5000"],
                                 "registry-mirrors": ["https://mirror.invalid"],
                                 "max-concurrent-downloads": 2})
    registry = engine.request("GET", "/info").json()["RegistryConfig"]
    assert "10.0.0.0/8" in registry["InsecureRegistryCIDRs"]
    assert registry["Mirrors"] == ["https://mirror.invalid/"]
    assert registry["IndexConfigs"]["docker.io"]["Mirrors"] == ["https://mirror.invalid/"]


def test_bad_registry_setting(tmp_path: Path) -> None:
    config = tmp_path / "daemon.json"
    config.write_text(json.dumps({"max-concurrent-downloads": 0}))
    result = _run_ketchd("--config-file", str(config), "--data-root", str(tmp_path / "d"))
    assert result.returncode == 1
    assert "max-concurrent-downloads" in result.stderr


def test_docker_info_shows_registry_settings(make_ketchd: Any) -> None:
    from support.dockercli import docker

    engine = make_ketchd(config={"insecure-registries": ["myreg:5000"],
                                 "registry-mirrors": ["https://mirror.invalid"]})
    out = docker(engine.env, "info").ok().stdout
    assert "Insecure Registries:" in out and "myreg:5000" in out
    assert "Registry Mirrors:" in out and "https://mirror.invalid/" in out
