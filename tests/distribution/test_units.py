"""Pure parts of the registry client: X-Registry-Auth decoding, challenge
parsing, registry resolution, pull references, the layer cache."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from ketch.distribution.auth import decode_registry_auth, parse_challenges
from ketch.distribution.endpoint import endpoint_for, login_domain
from ketch.distribution.layercache import LayerCache
from ketch.distribution.service import pull_reference
from ketch.errors import InvalidArgument
from ketch.oci.reference import parse_normalized


def _encode(data: object, urlsafe: bool = True, pad: bool = True) -> str:
    raw = json.dumps(data).encode()
    text = (base64.urlsafe_b64encode(raw) if urlsafe else base64.b64encode(raw)).decode()
    return text if pad else text.rstrip("=")


def test_registry_auth_header_is_decoded_leniently() -> None:
    assert decode_registry_auth("e30=").anonymous
    assert decode_registry_auth("e30").anonymous
    assert decode_registry_auth(None).anonymous
    assert decode_registry_auth("%%% not base64").anonymous
    assert decode_registry_auth(_encode(["a list"])).anonymous
    creds = decode_registry_auth(_encode({"username": "u", "password": "p?>~",
                                          "serveraddress": "r.example"}, pad=False))
    assert (creds.username, creds.password, creds.server_address) == ("u", "p?>~", "r.example")
    std = decode_registry_auth(_encode({"username": "x", "password": "y>?"}, urlsafe=False))
    assert (std.username, std.password) == ("x", "y>?")
    combined = decode_registry_auth(_encode({"auth": base64.b64encode(b"me:pw:x").decode()}))
    assert (combined.username, combined.password) == ("me", "pw:x")
    token = decode_registry_auth(_encode({"identitytoken": "tok"}))
    assert token.identity_token == "tok" and not token.anonymous


def test_challenges_are_parsed() -> None:
    [bearer] = parse_challenges(
        'Bearer realm="https://auth.example/token",service="registry.example",'
        'scope="repository:a/b:pull,push"')
    assert bearer.scheme == "bearer"
    assert bearer.params == {"realm": "https://auth.example/token",
                             "service": "registry.example",
                             "scope": "repository:a/b:pull,push"}
    basic, other = parse_challenges('Basic realm="x y", Bearer realm=https://t/token')
    assert (basic.scheme, basic.params["realm"]) == ("basic", "x y")
    assert other.params["realm"] == "https://t/token"


@pytest.mark.parametrize(("name", "host", "insecure"), [
    ("busybox", "registry-1.docker.io", False),
    ("docker.io/library/busybox", "registry-1.docker.io", False),
    ("localhost:5000/x", "localhost:5000", True),
    ("127.0.0.1:5000/x", "127.0.0.1:5000", True),
    ("[::1]:5000/x", "[::1]:5000", True),
    ("registry.example:5000/x", "registry.example:5000", False),
    ("insecure.example/x", "insecure.example", True),
    ("10.1.2.3:5000/x", "10.1.2.3:5000", True),
])
def test_endpoint_resolution(name: str, host: str, insecure: bool) -> None:
    endpoint = endpoint_for(parse_normalized(name), ["insecure.example", "10.0.0.0/8"])
    assert (endpoint.host, endpoint.insecure) == (host, insecure)


def test_login_domain() -> None:
    assert login_domain("") == "docker.io"
    assert login_domain("https://index.docker.io/v1/") == "docker.io"
    assert login_domain("http://127.0.0.1:5000") == "127.0.0.1:5000"
    assert login_domain("registry.example") == "registry.example"


def test_pull_reference() -> None:
    digest = "sha256:" + "ab" * 32
    assert str(pull_reference("busybox", "")) == "docker.io/library/busybox:latest"
    assert str(pull_reference("busybox", "1.36")) == "docker.io/library/busybox:1.36"
    assert str(pull_reference("busybox:1.36", "")) == "docker.io/library/busybox:1.36"
    assert str(pull_reference("busybox", digest)) == f"docker.io/library/busybox@{digest}"
    assert str(pull_reference("h:5000/x", "t")) == "h:5000/x:t"
    with pytest.raises(InvalidArgument):
        pull_reference("busybox", "bad tag!")


def test_layer_cache_records_forms_and_sources(tmp_path: Path) -> None:
    cache = LayerCache(tmp_path / "cache")
    diff_id, blob = "sha256:" + "1" * 64, "sha256:" + "2" * 64
    assert cache.forms(diff_id) == []
    cache.record(diff_id, blob, 10, "gz", source="h/a")
    cache.record(diff_id, blob, 10, "gz", source="h/b")
    cache.record(diff_id, blob, 10, "gz", source="h/a")
    [form] = LayerCache(tmp_path / "cache").forms(diff_id)
    assert (form.digest, form.size, form.sources) == (blob, 10, ["h/a", "h/b"])
    (tmp_path / "cache" / f"{'1' * 64}.json").write_text("{broken")
    assert cache.forms(diff_id) == []
