"""``/events``: headers flushed at once, image events with Docker's fields,
replay with ``since``, end with ``until``, filters."""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import quote

from support.unixhttp import UnixHTTPConnection

from .archives import docker_archive, layer_tar


def _events(engine: Any, query: str) -> list[dict[str, Any]]:
    response = engine.request("GET", f"/events?{query}", timeout=30)
    assert response.status == 200, response.text
    assert response.headers["content-type"] == "application/json"
    return [json.loads(line) for line in response.body.splitlines() if line.strip()]


def test_image_events_replayed_and_filtered(ketchd: Any) -> None:
    since = time.time()
    archive = docker_archive([layer_tar({"ev": b"events"})], ["events:1"])
    assert ketchd.request("POST", "/images/load?quiet=1", body=archive).status == 200
    assert ketchd.request("POST", "/images/events:1/tag?repo=events&tag=2").status == 201
    assert ketchd.request("DELETE", "/images/events:2").status == 200
    assert ketchd.request("DELETE", "/images/events:1").status == 200
    until = time.time() + 0.2
    events = _events(ketchd, f"since={since:.3f}&until={until:.3f}")
    actions = [e["Action"] for e in events if e["Type"] == "image"]
    assert actions == ["load", "tag", "untag", "untag", "delete"]
    tag = next(e for e in events if e["Action"] == "tag")
    assert tag["Actor"]["Attributes"]["name"] == "events:2"
    assert tag["status"] == "tag" and tag["id"] == tag["Actor"]["ID"]
    assert tag["scope"] == "local" and tag["timeNano"] // 10**9 == tag["time"]

    only_delete = quote(json.dumps({"event": ["delete"], "type": ["image"]}))
    filtered = _events(ketchd, f"since={since:.3f}&until={until:.3f}&filters={only_delete}")
    assert [e["Action"] for e in filtered] == ["delete"]


def test_headers_flushed_before_any_event(ketchd: Any) -> None:
    conn = UnixHTTPConnection(str(ketchd.socket), timeout=5)
    try:
        conn.request("GET", "/events")
        response = conn.getresponse()  # would time out if headers waited for an event
        assert response.status == 200
        assert response.getheader("Transfer-Encoding") == "chunked"
    finally:
        conn.close()


def test_bad_event_filter(ketchd: Any) -> None:
    bad = quote(json.dumps({"type": ["spaceship"]}))
    response = ketchd.request("GET", f"/events?filters={bad}")
    assert response.status == 400
    assert "spaceship" in response.json()["message"]
