"""The client's credential store: Docker's config.json format, keys and lookups."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from ketch.cli.credentials import (
    INDEX_SERVER,
    AuthConfig,
    ConfigError,
    ConfigFile,
    auth_key_for_domain,
    convert_to_hostname,
    registry_auth_for,
)


@pytest.mark.parametrize(("address", "host"), [
    ("localhost:5000", "localhost:5000"),
    ("http://localhost:5000/", "localhost:5000"),
    ("https://registry.example/v2/", "registry.example"),
    ("registry.example/some/path", "registry.example"),
    ("https://[::1]:5000/", "[::1]:5000"),
    (INDEX_SERVER, "index.docker.io"),
])
def test_convert_to_hostname(address: str, host: str) -> None:
    assert convert_to_hostname(address) == host


def test_docker_hub_uses_the_index_server_key() -> None:
    assert auth_key_for_domain("docker.io") == INDEX_SERVER
    assert auth_key_for_domain("localhost:5000") == "localhost:5000"


def test_no_credentials_encode_as_empty_object(tmp_path: Path) -> None:
    assert registry_auth_for(str(tmp_path), "docker.io") == "e30="


def test_store_get_erase_round_trip(tmp_path: Path) -> None:
    config = ConfigFile(str(tmp_path / "cfg"))
    assert config.store(AuthConfig("bob", "pw:with:colons", "localhost:5000"))
    assert not config.store(AuthConfig("bob", "pw:with:colons", "localhost:5000"))
    doc = json.loads((tmp_path / "cfg" / "config.json").read_text())
    assert doc == {"auths": {"localhost:5000": {
        "auth": base64.b64encode(b"bob:pw:with:colons").decode()}}}
    again = ConfigFile(str(tmp_path / "cfg")).get("localhost:5000")
    assert (again.username, again.password, again.server_address) == (
        "bob", "pw:with:colons", "localhost:5000")
    header = json.loads(base64.urlsafe_b64decode(
        registry_auth_for(str(tmp_path / "cfg"), "localhost:5000")))
    assert header == {"username": "bob", "password": "pw:with:colons",
                      "serveraddress": "localhost:5000"}
    config.erase("localhost:5000")
    assert json.loads((tmp_path / "cfg" / "config.json").read_text()) == {"auths": {}}


def test_legacy_keys_and_other_settings_are_kept(tmp_path: Path) -> None:
    auth = base64.b64encode(b"u:p").decode()
    (tmp_path / "config.json").write_text(json.dumps({
        "psFormat": "{{.ID}}", "auths": {"https://legacy.example:5000/v1/": {"auth": auth}}}))
    config = ConfigFile(str(tmp_path))
    found = config.get("legacy.example:5000")
    assert (found.username, found.password) == ("u", "p")
    config.store(AuthConfig("x", "y", "other:1"))
    doc = json.loads((tmp_path / "config.json").read_text())
    assert doc["psFormat"] == "{{.ID}}"
    assert sorted(doc["auths"]) == ["https://legacy.example:5000/v1/", "other:1"]


def test_a_broken_config_is_an_error_not_a_crash(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(ConfigError, match=r"config\.json"):
        ConfigFile(str(tmp_path))
    assert registry_auth_for(str(tmp_path), "localhost:5000") == "e30="
