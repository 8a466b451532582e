"""htpasswd Basic auth, the built-in token issuer, external issuers, TLS."""

from __future__ import annotations

import base64
import json
import ssl
import subprocess
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

import bcrypt
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from .conftest import BIN, Server


@pytest.fixture
def htpasswd(tmp_path: Path) -> Path:
    path = tmp_path / "htpasswd"
    lines = [f"{u}:{bcrypt.hashpw(p.encode(), bcrypt.gensalt(rounds=4)).decode()}"
             for u, p in (("pusher", "pw-push"), ("reader", "pw-read"))]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_htpasswd_basic(make_registry: Callable[..., Server], htpasswd: Path) -> None:
    server = make_registry("--htpasswd", str(htpasswd), "--pull-only", "reader")
    anon = server.request("GET", "/v2/")
    assert anon.status == 401 and anon.error_codes() == ["UNAUTHORIZED"]
    assert anon.headers["www-authenticate"].startswith("Basic realm=")
    assert server.request("GET", "/v2/", auth="pusher:wrong").status == 401
    assert server.request("GET", "/v2/", auth="pusher:pw-push").status == 200
    assert server.request("POST", "/v2/a/blobs/uploads/").status == 401
    digest = server.push_blob("a", b"data", auth="pusher:pw-push")
    got = server.request("GET", f"/v2/a/blobs/{digest}", auth="reader:pw-read")
    assert got.status == 200 and got.body == b"data"
    denied = server.request("POST", "/v2/a/blobs/uploads/", auth="reader:pw-read")
    assert denied.status == 403 and denied.error_codes() == ["DENIED"]
    assert server.request("GET", "/v2/_catalog", auth="reader:pw-read").json() == {
        "repositories": ["a"]}
    assert server.request("GET", "/v2/_catalog").status == 401


def _token(server: Server, scope: str, creds: str | None) -> str:
    headers = {}
    if creds:
        headers["Authorization"] = "Basic " + base64.b64encode(creds.encode()).decode()
    reply = server.request("GET", f"/token?service=ketch-registry&scope={quote(scope)}",
                           headers=headers)
    assert reply.status == 200, reply.body
    body = reply.json()
    assert body["token"] == body["access_token"] and body["expires_in"] > 0
    return str(body["token"])


def test_token_flow(make_registry: Callable[..., Server], htpasswd: Path) -> None:
    server = make_registry("--auth", "token", "--htpasswd", str(htpasswd),
                           "--pull-only", "reader")
    challenge = server.request("POST", "/v2/app/blobs/uploads/")
    assert challenge.status == 401
    header = challenge.headers["www-authenticate"]
    assert header.startswith("Bearer ")
    assert f'realm="http://{server.addr}/token"' in header
    assert 'service="ketch-registry"' in header
    assert 'scope="repository:app:pull,push"' in header

    push_token = _token(server, "repository:app:pull,push", "pusher:pw-push")
    claims = jwt.decode(push_token, options={"verify_signature": False})
    assert claims["access"] == [{"type": "repository", "name": "app",
                                 "actions": ["pull", "push"]}]
    bearer = f"Bearer {push_token}"
    digest = server.push_blob("app", b"layer", auth=bearer)
    # A token for one repository does not open another.
    other = server.request("POST", "/v2/other/blobs/uploads/", auth=bearer)
    assert other.status == 401 and 'error="insufficient_scope"' in \
        other.headers["www-authenticate"]
    # A pull-only user gets only pull, whatever it asks for.
    read_token = _token(server, "repository:app:pull,push", "reader:pw-read")
    read_claims = jwt.decode(read_token, options={"verify_signature": False})
    assert read_claims["access"][0]["actions"] == ["pull"]
    assert server.request("GET", f"/v2/app/blobs/{digest}", auth=f"Bearer {read_token}") \
        .status == 200
    assert server.request("POST", "/v2/app/blobs/uploads/", auth=f"Bearer {read_token}") \
        .status == 401
    # Anonymous callers get a token with no access; bad passwords get nothing.
    anon = _token(server, "repository:app:pull", None)
    assert jwt.decode(anon, options={"verify_signature": False})["access"] == []
    bad = server.request("GET", "/token?service=ketch-registry&scope=repository:app:pull",
                         auth="pusher:nope")
    assert bad.status == 401
    # A forged token (signed by another key) is refused.
    forged = jwt.encode(dict(claims, exp=int(time.time()) + 60),
                        ec.generate_private_key(ec.SECP256R1()), algorithm="ES256")
    assert server.request("GET", f"/v2/app/blobs/{digest}", auth=f"Bearer {forged}") \
        .status == 401
    # Catalog needs the registry:catalog:* scope.
    cat = _token(server, "registry:catalog:*", "pusher:pw-push")
    assert server.request("GET", "/v2/_catalog", auth=f"Bearer {cat}").json() == {
        "repositories": ["app"]}


def test_external_issuer(make_registry: Callable[..., Server], tmp_path: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    pub = tmp_path / "issuer.pub"
    pub.write_bytes(key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    server = make_registry("--auth", "token", "--token-realm", "https://auth.example/token",
                           "--token-service", "reg", "--token-issuer", "corp",
                           "--token-public-key", str(pub))
    reply = server.request("GET", "/v2/")
    assert 'realm="https://auth.example/token"' in reply.headers["www-authenticate"]
    now = int(time.time())
    claims = {"iss": "corp", "aud": "reg", "sub": "ci", "iat": now, "exp": now + 60,
              "access": [{"type": "repository", "name": "ext", "actions": ["pull", "push"]}]}
    token = "Bearer " + jwt.encode(claims, key, algorithm="ES256")
    server.push_blob("ext", b"external", auth=token)
    wrong_aud = "Bearer " + jwt.encode(dict(claims, aud="elsewhere"), key, algorithm="ES256")
    assert server.request("GET", "/v2/", auth=wrong_aud).status == 401
    expired = "Bearer " + jwt.encode(dict(claims, exp=now - 10), key, algorithm="ES256")
    assert server.request("GET", "/v2/", auth=expired).status == 401
    assert server.request("GET", "/token").status == 405  # no built-in issuer


def test_tls(make_registry: Callable[..., Server], tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    server = make_registry("--tls-cert", str(cert), "--tls-key", str(key))
    context = ssl.create_default_context(cafile=str(cert))
    with urllib.request.urlopen(f"https://{server.addr}/v2/", context=context,
                                timeout=10) as resp:
        assert resp.status == 200
        assert resp.headers["Docker-Distribution-API-Version"] == "registry/2.0"
        assert json.loads(resp.read()) == {}


def test_config_file_and_bad_configs(make_registry: Callable[..., Server], htpasswd: Path,
                                     tmp_path: Path) -> None:
    config = tmp_path / "registry.toml"
    config.write_text(f'delete_enabled = true\n[auth]\nmode = "htpasswd"\n'
                      f'htpasswd = "{htpasswd}"\npull_only = ["reader"]\n')
    server = make_registry("--config", str(config))
    assert server.request("GET", "/v2/").status == 401
    digest = server.push_blob("cfg", b"x", auth="pusher:pw-push")
    assert server.request("DELETE", f"/v2/cfg/blobs/{digest}", auth="reader:pw-read") \
        .status == 403
    assert server.request("DELETE", f"/v2/cfg/blobs/{digest}", auth="pusher:pw-push") \
        .status == 202
    bad = tmp_path / "bad.toml"
    for text, extra in (("no_such_key = 1\n", []), ("[auth]\nmode = 'magic'\n", []),
                        ("", ["--auth", "token"]), ("", ["--tls-cert", str(htpasswd)])):
        bad.write_text(text)
        result = subprocess.run([str(BIN), "serve", "--root", str(tmp_path / "r"),
                                 "--config", str(bad), *extra],
                                capture_output=True, text=True, timeout=30)
        assert result.returncode == 2, (text, extra, result.stderr)
        assert result.stderr.startswith("ketch-registry: ")
