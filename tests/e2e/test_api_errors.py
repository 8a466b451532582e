"""Image endpoints' error statuses and messages, below any client.

Clients decide what to do from the status (docker-py raises ImageNotFound
for a 404 whose message says "no such image", APIError otherwise) and show
the message as is, so both must be Docker's. Each request is sent raw on
the socket, unversioned, and status, content type and body are recorded.
"""

from __future__ import annotations

import json
from urllib.parse import quote

from support.conformance import Conform, Session

ZEROS = "sha256:" + "0" * 64


def call(s: Session, method: str, path: str, exact: bool = True) -> None:
    """Record status, content type and body; or, where Docker's answer is
    an accident (a 500 carrying a Go parser message), only that it is an
    error with a JSON message."""
    r = s.engine.request(method, path)
    ctype = r.headers.get("content-type", "")
    try:
        body = r.json()
    except ValueError:
        body = r.text
    if exact:
        s.record(f"{method} {path}", f"{r.status} {ctype}\n{json.dumps(body, sort_keys=True)}")
    else:
        shape = isinstance(body, dict) and isinstance(body.get("message"), str)
        s.record(f"{method} {path}", f"error: {r.status >= 400} {ctype} message: {shape}")


def test_image_endpoint_errors(conform: Conform) -> None:
    def scenario(s: Session) -> None:
        filters = quote(json.dumps({"bogus": {"1": True}}))
        busybox = s.baseline.ids["busybox:latest"]
        s.docker("tag", "busybox", "second:1").ok()
        for method, path in [
            ("GET", "/images/nope/json"),
            ("GET", "/images/nope:1.0/json"),
            ("GET", f"/images/{ZEROS}/json"),
            ("GET", "/images/UPPER/json"),
            ("GET", "/images/nope/history"),
            ("DELETE", "/images/nope"),
            ("DELETE", "/images/UPPER"),
            ("DELETE", f"/images/{busybox[7:19]}"),  # two tags: 409
            ("POST", "/images/nope/tag?repo=x&tag=1"),
            ("GET", f"/images/json?filters={filters}"),
            ("GET", "/images/get?names=nope"),
            ("GET", "/images/nope/get"),
            ("POST", f"/images/prune?filters={filters}"),
            ("POST", "/images/create?fromSrc=-&changes=RUN%20x"),
        ]:
            call(s, method, path)
        # Docker answers these with 500 and Go's own parser messages.
        for method, path in [
            ("POST", "/images/busybox/tag?repo=UPPER&tag=1"),
            ("POST", "/images/busybox/tag?repo=x&tag=bad%20tag"),
            ("GET", "/images/json?filters=notjson"),
        ]:
            call(s, method, path, exact=False)
        s.docker("images", stdout="rows").ok()

    conform(scenario)
