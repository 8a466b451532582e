"""A loopback HTTP proxy in front of a registry that breaks the first download
of each blob half way (headers promise the whole body, the connection closes
after half), to test that pulls resume with ``Range``."""

from __future__ import annotations

import http.client
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

_HOP = {"connection", "keep-alive", "transfer-encoding", "proxy-connection", "upgrade"}


class CutProxy:
    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.cut: set[str] = set()
        self.ranges: list[tuple[str, str]] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                proxy.forward(self)

            def do_HEAD(self) -> None:
                proxy.forward(self)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.host = f"127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def start(self) -> CutProxy:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(10)

    def forward(self, handler: BaseHTTPRequestHandler) -> None:
        headers = {k: v for k, v in handler.headers.items() if k.lower() not in _HOP}
        headers["Host"] = self.upstream
        conn = http.client.HTTPConnection(self.upstream, timeout=30)
        conn.request(handler.command, handler.path, headers=headers)
        response = conn.getresponse()
        body = response.read()
        conn.close()
        is_blob = "/blobs/sha256:" in handler.path and handler.command == "GET"
        if is_blob and "Range" in handler.headers:
            self.ranges.append((handler.path, handler.headers["Range"]))
        cut = is_blob and response.status == 200 and handler.path not in self.cut \
            and len(body) > 1
        handler.send_response(response.status)
        for key, value in response.getheaders():
            if key.lower() not in _HOP and key.lower() != "content-length":
                handler.send_header(key, value)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        if handler.command == "HEAD":
            return
        if cut:
            self.cut.add(handler.path)
            handler.wfile.write(body[: len(body) // 2])
            handler.wfile.flush()
            handler.close_connection = True
            return
        handler.wfile.write(body)
