"""The Engine API client: requests, version negotiation, error mapping, streams.

Resource methods live in ``images.py``, ``containers.py`` and ``system.py`` and
return plain dicts and lists decoded from the daemon's JSON; this module holds the parts
they share. Behaviour follows the Docker Go client where users can see it:
the API version is negotiated once per process from ``/_ping``, error bodies
``{"message": ...}`` become ``ketch.errors`` kinds, and errors inside JSON
message streams are raised when the stream reaches them.
"""

from __future__ import annotations

import http.client
import json
import os
from collections.abc import Iterator, Mapping, Sequence
from urllib.parse import quote, urlencode

from ketch import __version__
from ketch.client.errors import ConnectionFailed, ProtocolError, StreamError
from ketch.client.transport import BLOCK_SIZE, UnixHTTPConnection, resolve_host, socket_path
from ketch.errors import KetchError, error_for_status

TYPE_CHECKING = False  # typing is not imported at run time: it costs startup time
if TYPE_CHECKING:
    from typing import IO, Any

    from ketch.client.containers import ContainersAPI
    from ketch.client.images import ImagesAPI
    from ketch.client.networks import NetworksAPI
    from ketch.client.system import SystemAPI

#: The newest Engine API version this client speaks.
MAX_API_VERSION = "1.50"
#: What a daemon that sends no Api-Version header is assumed to speak (docker's rule).
FALLBACK_API_VERSION = "1.24"

Params = Mapping[str, str | Sequence[str] | None]


def version_tuple(version: str) -> tuple[int, ...]:
    """``"1.41"`` -> ``(1, 41)``; junk compares as zero."""
    parts: list[int] = []
    for piece in version.split("."):
        try:
            parts.append(int(piece))
        except ValueError:
            parts.append(0)
    return tuple(parts)


def encode_filters(filters: Mapping[str, Sequence[str]] | None) -> str | None:
    """Docker's ``filters`` query value: ``{"key":{"value":true}}``, keys sorted."""
    if not filters:
        return None
    doc = {key: {v: True for v in sorted(values)} for key, values in sorted(filters.items())}
    return json.dumps(doc, separators=(",", ":"))


class Response:
    """An HTTP response whose connection is closed with it."""

    def __init__(self, conn: http.client.HTTPConnection, resp: http.client.HTTPResponse) -> None:
        self._conn = conn
        self.raw = resp
        self.status = resp.status
        self.headers = resp.headers

    @property
    def content_type(self) -> str:
        return self.headers.get("Content-Type", "")

    def read(self) -> bytes:
        try:
            return self.raw.read()
        finally:
            self.close()

    def json(self) -> Any:
        body = self.read()
        if not body:
            return None
        try:
            return json.loads(body)
        except ValueError as exc:
            raise ProtocolError(f"Error reading JSON: {exc}") from None

    def iter_chunks(self, size: int = BLOCK_SIZE) -> Iterator[bytes]:
        """Body bytes as they arrive (``read1`` returns without waiting to fill ``size``)."""
        try:
            while True:
                chunk = self.raw.read1(size)
                if not chunk:
                    return
                yield chunk
        finally:
            self.close()

    def iter_json(self) -> Iterator[dict[str, Any]]:
        """Objects of a JSON stream: separated by newlines or ``\\r\\n`` or nothing at all,
        and split across chunks anywhere."""
        decoder = json.JSONDecoder()
        buf = ""
        pending = b""
        for chunk in self.iter_chunks(64 * 1024):
            pending += chunk
            try:
                buf += pending.decode()
                pending = b""
            except UnicodeDecodeError:
                continue  # a multi-byte character is split across chunks
            while True:
                buf = buf.lstrip(" \t\r\n")
                if not buf:
                    break
                try:
                    obj, end = decoder.raw_decode(buf)
                except ValueError:
                    break  # incomplete: wait for more bytes
                buf = buf[end:]
                yield obj
        if buf.strip() or pending:
            raise ProtocolError("unexpected EOF in JSON stream")

    def close(self) -> None:
        self.raw.close()
        self._conn.close()


def raise_for_message(msg: Mapping[str, Any]) -> None:
    """Raise StreamError if a JSON-stream message reports a failure."""
    detail = msg.get("errorDetail")
    if detail:
        message = detail.get("message") or msg.get("error") or ""
        raise StreamError(str(message), int(detail.get("code") or 0))
    if msg.get("error"):
        raise StreamError(str(msg["error"]))


def checked_messages(messages: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Pass messages through, raising at the first error item."""
    for msg in messages:
        raise_for_message(msg)
        yield msg


class Client:
    """A connection profile for one daemon: ``Client(host)`` where host is
    ``unix:///path`` (``None``: ``$KETCH_HOST``, else ``unix:///run/ketch.sock``)."""

    def __init__(self, host: str | None = None, *, version: str | None = None,
                 timeout: float | None = None) -> None:
        self.host = resolve_host(host)
        self.socket_path = socket_path(self.host)
        self.timeout = timeout
        self._version = version
        self._images: ImagesAPI | None = None
        self._system: SystemAPI | None = None
        self._containers: ContainersAPI | None = None
        self._networks: NetworksAPI | None = None

    # -- resources -----------------------------------------------------------

    @property
    def images(self) -> ImagesAPI:
        if self._images is None:
            from ketch.client.images import ImagesAPI

            self._images = ImagesAPI(self)
        return self._images

    @property
    def containers(self) -> ContainersAPI:
        if self._containers is None:
            from ketch.client.containers import ContainersAPI

            self._containers = ContainersAPI(self)
        return self._containers

    @property
    def network(self) -> NetworksAPI:
        if self._networks is None:
            from ketch.client.networks import NetworksAPI

            self._networks = NetworksAPI(self)
        return self._networks

    @property
    def system(self) -> SystemAPI:
        if self._system is None:
            from ketch.client.system import SystemAPI

            self._system = SystemAPI(self)
        return self._system

    # -- version negotiation ---------------------------------------------------

    @property
    def api_version(self) -> str:
        """The API version used in request paths, negotiated on first use."""
        if self._version is None:
            self._version = self.negotiate()
        return self._version

    def ping_headers(self) -> Mapping[str, str]:
        """Headers of ``/_ping`` (HEAD, then GET if HEAD is not understood), as docker does."""
        resp = self.send("HEAD", "/_ping", versioned=False)
        resp.read()
        if resp.status not in (200, 500):
            resp = self.send("GET", "/_ping", versioned=False)
            resp.read()
        if resp.status >= 400 and resp.status != 500:
            raise error_for_status(resp.status, f"ping failed: HTTP {resp.status}")
        return dict(resp.headers.items())

    def negotiate(self) -> str:
        """Docker's rule: the daemon's version if lower than ours, else ours."""
        headers = {k.lower(): v for k, v in self.ping_headers().items()}
        server = headers.get("api-version") or FALLBACK_API_VERSION
        if version_tuple(server) < version_tuple(MAX_API_VERSION):
            return server
        return MAX_API_VERSION

    # -- requests ------------------------------------------------------------

    def url(self, path: str, params: Params | None = None, versioned: bool = True) -> str:
        """``/v1.41/images/json?all=1``: versioned path plus sorted query, as Go encodes it."""
        prefix = f"/v{self.api_version}" if versioned else ""
        target = prefix + quote(path, safe="/:@!$&'()*+,;=")
        if params:
            pairs: list[tuple[str, str]] = []
            for key in sorted(params):
                value = params[key]
                if value is None:
                    continue
                if isinstance(value, str):
                    pairs.append((key, value))
                else:
                    pairs.extend((key, v) for v in value)
            if pairs:
                target += "?" + urlencode(pairs)
        return target

    def send(self, method: str, path: str, *, params: Params | None = None,
             body: bytes | IO[bytes] | None = None, headers: Mapping[str, str] | None = None,
             versioned: bool = True, timeout: float | None = None) -> Response:
        """Send one request and return the response whatever its status."""
        target = self.url(path, params, versioned)
        conn = UnixHTTPConnection(self.socket_path, self.host,
                                  timeout=timeout if timeout is not None else self.timeout)
        hdrs = {"User-Agent": f"ketch-client/{__version__} ({os.uname().sysname.lower()})"}
        if headers:
            hdrs.update(headers)
        if body is not None and not any(k.lower() == "content-type" for k in hdrs):
            hdrs["Content-Type"] = "text/plain"
        try:
            conn.request(method, target, body=body, headers=hdrs)
            resp = conn.getresponse()
        except ConnectionFailed:
            conn.close()
            raise
        except (BrokenPipeError, ConnectionResetError) as exc:
            # The daemon may have answered (an error) before reading our whole body:
            # its answer is still in the socket buffer and says more than EPIPE.
            try:
                resp = conn.getresponse()
            except (http.client.HTTPException, OSError):
                conn.close()
                raise ProtocolError(f"error during connect: {exc}") from None
        except (http.client.HTTPException, OSError) as exc:
            conn.close()
            raise ProtocolError(f"error during connect: {exc}") from None
        return Response(conn, resp)

    def request(self, method: str, path: str, *, params: Params | None = None,
                body: bytes | IO[bytes] | None = None,
                headers: Mapping[str, str] | None = None,
                timeout: float | None = None) -> Response:
        """Send a request and raise the matching ``ketch.errors`` kind on a non-2xx answer."""
        resp = self.send(method, path, params=params, body=body, headers=headers,
                         timeout=timeout)
        if 200 <= resp.status < 400:
            return resp
        raise self.error_from(resp, method, path)

    def error_from(self, resp: Response, method: str, path: str) -> KetchError:
        """Docker's ``checkResponseErr``: the body's message, or a note that it had none."""
        body = resp.read()
        reason = resp.raw.reason or http.client.responses.get(resp.status, "")
        status_text = f"{resp.status} {reason}".strip()
        if not body:
            return error_for_status(
                resp.status,
                f"request returned {status_text} for API route and version "
                f"{self.url(path)}, check if the server supports the requested API version",
            )
        if resp.content_type == "application/json":
            try:
                doc = json.loads(body)
            except ValueError as exc:
                return ProtocolError(f"Error reading JSON: {exc}")
            message = doc.get("message") if isinstance(doc, dict) else None
            if not message:
                return error_for_status(
                    resp.status,
                    f"API returned a {resp.status} ({reason}) but provided no error-message",
                )
            return error_for_status(resp.status, str(message).strip())
        return error_for_status(resp.status, body.decode(errors="replace").strip())

    def get_raw(self, path: str, params: Params | None = None) -> bytes:
        """The body of a GET as bytes (``inspect`` prints the daemon's own JSON text)."""
        return self.request("GET", path, params=params).read()

    def get_json(self, path: str, params: Params | None = None) -> Any:
        return self.request("GET", path, params=params).json()

    def post_json(self, path: str, params: Params | None = None, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"} if data is not None else None
        return self.request("POST", path, params=params, body=data, headers=headers).json()

    def delete_json(self, path: str, params: Params | None = None) -> Any:
        return self.request("DELETE", path, params=params).json()

    def stream_json(self, method: str, path: str, *, params: Params | None = None,
                    body: bytes | IO[bytes] | None = None,
                    headers: Mapping[str, str] | None = None) -> Iterator[dict[str, Any]]:
        """A JSON message stream; raises StreamError at an error item."""
        resp = self.request(method, path, params=params, body=body, headers=headers)
        return checked_messages(resp.iter_json())

    def download(self, method: str, path: str, out: IO[bytes], *,
                 params: Params | None = None) -> int:
        """Copy a raw response body to ``out`` as it arrives; returns the byte count."""
        resp = self.request(method, path, params=params)
        total = 0
        for chunk in resp.iter_chunks():
            out.write(chunk)
            total += len(chunk)
        return total
