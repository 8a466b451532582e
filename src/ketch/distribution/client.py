"""One registry, one repository scope set: the HTTP half of pull and push.

The client picks the scheme (HTTPS; plain HTTP only as a fallback for
insecure or loopback registries), answers authentication challenges
(:mod:`ketch.distribution.auth`) and maps the registry's error envelope to
the engine's error kinds. Blob downloads are verified while they stream
and resumed with ``Range`` when the connection breaks.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

import aiohttp
from yarl import URL

from ketch.distribution.auth import (
    Challenge,
    Credentials,
    basic_header,
    parse_challenges,
)
from ketch.distribution.endpoint import Endpoint
from ketch.errors import Forbidden, InvalidArgument, KetchError, NotFound, Unauthorized
from ketch.oci import mediatypes
from ketch.oci.digest import algorithm_of, digest_bytes, new_hasher

log = logging.getLogger(__name__)

MANIFEST_ACCEPT = ", ".join((
    mediatypes.DOCKER_MANIFEST_LIST, mediatypes.OCI_INDEX,
    mediatypes.DOCKER_MANIFEST, mediatypes.OCI_MANIFEST,
))
USER_AGENT = "ketch/0 (registry client)"
_CHUNK = 1 << 20
#: how many times one blob download is resumed before giving up
RESUME_ATTEMPTS = 5

ProgressFn = Callable[[int], None]
#: Receives a downloaded blob's bytes in order (it may wait: back-pressure).
BlobSink = Callable[[bytes], Awaitable[None]]


class RegistryError(KetchError):
    """The registry refused or failed a request (its message kept)."""

    status = 500


class RegistryUnreachable(RegistryError):
    """The connection failed before or while a request was sent."""


def _error_text(body: bytes, status: int) -> tuple[str, str]:
    """``(code, message)`` from the spec's ``{"errors":[...]}`` envelope."""
    try:
        data = json.loads(body)
        first = data["errors"][0]
        code = str(first.get("code", ""))
        message = str(first.get("message", "")) or code.lower().replace("_", " ")
        return code, message
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        text = body.decode("utf-8", "replace").strip()[:200]
        return "", text or f"HTTP {status}"


def layer_verification_failed(digest: str) -> InvalidArgument:
    """Docker's words for a blob whose bytes do not hash to its digest."""
    return InvalidArgument(f"filesystem layer verification failed for digest {digest}")


def registry_error(status: int, body: bytes, what: str) -> KetchError:
    code, message = _error_text(body, status)
    detail = f"{code.lower().replace('_', ' ')}: {message}" if code else message
    if status == 401:
        return Unauthorized(f"{what}: unauthorized: {message}")
    if status == 403 or code == "DENIED":
        return Forbidden(f"{what}: denied: {message}")
    if status == 404:
        return NotFound(f"{what}: {detail}")
    if status == 400 or status == 416:
        return InvalidArgument(f"{what}: {detail}")
    return RegistryError(f"{what}: received unexpected HTTP status: {status} {detail}")


class RegistryClient:
    """Talks to one registry on behalf of one operation."""

    def __init__(
        self, session: aiohttp.ClientSession, endpoint: Endpoint, credentials: Credentials,
        scopes: list[str],
    ) -> None:
        self.session = session
        self.endpoint = endpoint
        self.credentials = credentials
        self.scopes = list(scopes)
        self.base = URL(endpoint.base("https"))
        self._authorization: str | None = None
        self._challenge: Challenge | None = None

    # -- connecting and authenticating ----------------------------------------------
    async def connect(self) -> None:
        """Pick the scheme and authenticate for ``self.scopes`` (``GET /v2/``)."""
        try:
            response = await self._ping(self.endpoint.scheme or "https")
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            if not self.endpoint.insecure or self.endpoint.scheme:
                raise RegistryUnreachable(
                    f"Get \"{self.base}/v2/\": {exc}") from None
            try:
                response = await self._ping("http")
            except (aiohttp.ClientError, OSError, TimeoutError) as exc2:
                raise RegistryUnreachable(
                    f"Get \"{self.base}/v2/\": {exc2}") from None
        async with response:
            body = await response.read()
            if response.status == 401:
                await self._answer(response.headers.get("WWW-Authenticate", ""))
                return
            if response.status >= 400:
                raise registry_error(response.status, body, f"ping {self.endpoint.host}")

    async def _ping(self, scheme: str) -> aiohttp.ClientResponse:
        self.base = URL(self.endpoint.base(scheme))
        return await self.session.get(self.base / "v2/", headers=self._headers({}),
                                      allow_redirects=True)

    async def _answer(self, header: str) -> None:
        challenges = parse_challenges(header)
        for challenge in challenges:
            if challenge.scheme == "bearer":
                self._challenge = challenge
                self._authorization = f"Bearer {await self._fetch_token(challenge)}"
                return
        for challenge in challenges:
            if challenge.scheme == "basic":
                self._challenge = challenge
                if self.credentials.anonymous:
                    raise Unauthorized(f"{self.endpoint.host}: authentication required")
                self._authorization = basic_header(self.credentials)
                return
        raise Unauthorized(
            f"{self.endpoint.host}: unsupported authentication challenge {header!r}")

    async def _fetch_token(self, challenge: Challenge) -> str:
        try:
            return await self._request_token(challenge)
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            realm = challenge.params.get("realm", "")
            raise RegistryUnreachable(f"token from {realm}: {exc}") from None

    async def _request_token(self, challenge: Challenge) -> str:
        if self.credentials.registry_token:
            return self.credentials.registry_token
        realm = challenge.params.get("realm")
        if not realm:
            raise Unauthorized(f"{self.endpoint.host}: bearer challenge without a realm")
        service = challenge.params.get("service", "")
        scopes = list(self.scopes)
        if not scopes and challenge.params.get("scope"):
            scopes = challenge.params["scope"].split(" ")
        if self.credentials.identity_token:
            form = {"grant_type": "refresh_token", "client_id": "ketch",
                    "refresh_token": self.credentials.identity_token, "service": service,
                    "scope": " ".join(scopes)}
            response = await self.session.post(realm, data=form)
        else:
            query: list[tuple[str, str]] = [("service", service)] if service else []
            query += [("scope", scope) for scope in scopes]
            if not self.credentials.anonymous:
                query.append(("account", self.credentials.username))
            headers = {} if self.credentials.anonymous else {
                "Authorization": basic_header(self.credentials)}
            response = await self.session.get(URL(realm).with_query(query), headers=headers)
        async with response:
            body = await response.read()
            if response.status in (401, 403):
                raise Unauthorized(
                    f"Get \"{realm}\": unauthorized: incorrect username or password")
            if response.status >= 400:
                raise registry_error(response.status, body, f"token from {realm}")
            try:
                data = await response.json(content_type=None)
            except ValueError:
                raise RegistryError(f"token from {realm}: not JSON") from None
        token = data.get("token") or data.get("access_token") if isinstance(data, dict) \
            else None
        if not isinstance(token, str) or not token:
            raise RegistryError(f"token from {realm}: no token in the answer")
        return token

    async def add_scope(self, scope: str) -> None:
        """Widen a bearer token to one more scope (for a cross-repository mount)."""
        if scope in self.scopes:
            return
        self.scopes.append(scope)
        if self._challenge is not None and self._challenge.scheme == "bearer":
            self._authorization = f"Bearer {await self._fetch_token(self._challenge)}"

    def _headers(self, extra: Mapping[str, str]) -> dict[str, str]:
        headers = {"User-Agent": USER_AGENT, **extra}
        if self._authorization:
            headers["Authorization"] = self._authorization
        return headers

    # -- requests -------------------------------------------------------------------
    async def request(
        self, method: str, path: str | URL, headers: Mapping[str, str] | None = None,
        data: Any = None, replayable: bool = True,
    ) -> aiohttp.ClientResponse:
        """Send a request; a 401 is answered once (re-authenticating) if the body allows."""
        url = path if isinstance(path, URL) else URL(path)
        if not url.is_absolute():
            url = self.base.join(url)
        response = await self._send(method, url, headers, data)
        if response.status == 401 and replayable:
            challenge = response.headers.get("WWW-Authenticate", "")
            response.release()
            if challenge:
                await self._answer(challenge)
                response = await self._send(method, url, headers, data)
        return response

    async def _send(self, method: str, url: URL, headers: Mapping[str, str] | None,
                    data: Any) -> aiohttp.ClientResponse:
        try:
            return await self.session.request(method, url, headers=self._headers(headers or {}),
                                              data=data)
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise RegistryUnreachable(f"{method} {url}: {exc or type(exc).__name__}") from None

    async def get_manifest(self, repo: str, reference: str) -> tuple[bytes, str, str]:
        """``(raw, media type, digest)`` of a manifest or index; the digest is computed."""
        response = await self.request("GET", f"/v2/{repo}/manifests/{reference}",
                                      {"Accept": MANIFEST_ACCEPT})
        async with response:
            body = await response.read()
            if response.status >= 400:
                raise registry_error(response.status, body, f"manifest for {reference}")
            media_type = response.headers.get("Content-Type", "").split(";")[0].strip()
        digest = digest_bytes(body)
        if reference.startswith(("sha256:", "sha512:")):
            digest = digest_bytes(body, algorithm_of(reference))
            if digest != reference:
                raise InvalidArgument(
                    f"manifest verification failed for digest {reference}")
        return body, media_type, digest

    async def list_tags(self, repo: str) -> list[str]:
        """Every tag of a repository, following ``Link`` pagination."""
        tags: list[str] = []
        next_url: str | URL | None = f"/v2/{repo}/tags/list"
        while next_url is not None:
            response = await self.request("GET", next_url)
            async with response:
                body = await response.read()
                if response.status >= 400:
                    raise registry_error(response.status, body, f"tags of {repo}")
                link = response.headers.get("Link", "")
            try:
                found = json.loads(body).get("tags") or []
            except (ValueError, AttributeError):
                raise RegistryError(f"tags of {repo}: not a tag list") from None
            tags.extend(str(tag) for tag in found)
            next_url = None
            if link.startswith("<") and 'rel="next"' in link:
                next_url = self._location(link[1:link.index(">")])
        return tags

    async def get_blob(self, repo: str, digest: str, size: int,
                       limit: int = 8 << 20) -> bytes:
        """A small blob (a config), verified, resumed like any download."""
        if size > limit:
            raise InvalidArgument(f"blob {digest} is larger than {limit} bytes")
        parts: list[bytes] = []

        async def collect(chunk: bytes) -> None:
            parts.append(chunk)

        await self.download_blob(repo, digest, size, collect, lambda _: None)
        return b"".join(parts)

    async def download_blob(
        self, repo: str, digest: str, size: int, sink: BlobSink, progress: ProgressFn,
        *, verify: bool = True,
    ) -> None:
        """Stream a blob into ``sink``, each byte once and in order.

        A broken connection resumes from the bytes already received with a
        ``Range`` request; a registry that answers 200 instead of 206 sends
        everything again, and the bytes already received are skipped. The
        digest is checked at the end unless ``verify`` is false (the caller
        hashes what it reads, off the event loop).
        """
        hasher = new_hasher(algorithm_of(digest)) if verify else None
        received = 0
        failures = 0
        while True:
            headers = {"Range": f"bytes={received}-"} if received else {}
            try:
                response = await self.request("GET", f"/v2/{repo}/blobs/{digest}", headers)
                async with response:
                    if response.status >= 400 and response.status != 416:
                        raise registry_error(response.status, await response.read(),
                                             f"blob {digest}")
                    skip = received if received and response.status != 206 else 0
                    async for chunk in response.content.iter_chunked(_CHUNK):
                        if skip:
                            dropped = min(skip, len(chunk))
                            chunk, skip = chunk[dropped:], skip - dropped
                            if not chunk:
                                continue
                        received += len(chunk)
                        if size and received > size:
                            raise InvalidArgument(
                                f"blob {digest} is larger than its descriptor says ({size})")
                        if hasher is not None:
                            hasher.update(chunk)
                        await sink(chunk)
                        progress(received)
                if size and received < size:
                    raise aiohttp.ClientPayloadError(
                        f"short read: {received} of {size} bytes")
                break
            except (TimeoutError, aiohttp.ClientPayloadError, aiohttp.ClientConnectionError,
                    RegistryUnreachable) as exc:
                failures += 1
                if failures > RESUME_ATTEMPTS:
                    raise RegistryError(f"downloading {digest}: {exc}") from None
                log.info("download of %s interrupted at %d bytes (%s); resuming",
                         digest, received, exc)
                await asyncio.sleep(min(0.2 * failures, 2.0))
        if hasher is not None and f"{algorithm_of(digest)}:{hasher.hexdigest()}" != digest:
            raise layer_verification_failed(digest)

    async def blob_exists(self, repo: str, digest: str) -> int | None:
        """The blob's size if the repository has it, else None."""
        response = await self.request("HEAD", f"/v2/{repo}/blobs/{digest}")
        async with response:
            if response.status == 200:
                return int(response.headers.get("Content-Length", "0") or 0)
            if response.status == 404:
                return None
            raise registry_error(response.status, b"", f"blob {digest}")

    async def mount_blob(self, repo: str, digest: str, source_repo: str) -> bool:
        """Cross-repository mount; False when the registry wants an upload instead."""
        response = await self.request(
            "POST", URL(f"/v2/{repo}/blobs/uploads/").with_query(
                {"mount": digest, "from": source_repo}))
        async with response:
            if response.status == 201:
                return True
            if response.status == 202:
                location = response.headers.get("Location")
                if location:  # cancel the upload session the registry opened instead
                    cancel = await self.request("DELETE", self._location(location))
                    cancel.release()
                return False
            if response.status in (401, 403, 404):
                return False
            raise registry_error(response.status, await response.read(), f"mount {digest}")

    def _location(self, location: str) -> URL:
        return self.base.join(URL(location))

    async def upload_blob(
        self, repo: str, digest: str, size: int, path: Path, progress: ProgressFn,
    ) -> None:
        """Monolithic upload (POST, then PUT with the whole blob) from a file."""
        response = await self.request("POST", f"/v2/{repo}/blobs/uploads/")
        async with response:
            if response.status != 202:
                raise registry_error(response.status, await response.read(),
                                     f"starting upload of {digest}")
            location = response.headers.get("Location", "")
        if not location:
            raise RegistryError(f"upload of {digest}: registry gave no Location")
        url = self._location(location).update_query({"digest": digest})
        response = await self.request(
            "PUT", url, {"Content-Type": "application/octet-stream",
                         "Content-Length": str(size)},
            data=_file_chunks(path, progress), replayable=False)
        async with response:
            if response.status not in (201, 204):
                raise registry_error(response.status, await response.read(),
                                     f"upload of {digest}")

    async def upload_bytes(self, repo: str, digest: str, data: bytes) -> None:
        response = await self.request("POST", f"/v2/{repo}/blobs/uploads/")
        async with response:
            if response.status != 202:
                raise registry_error(response.status, await response.read(),
                                     f"starting upload of {digest}")
            location = response.headers.get("Location", "")
        url = self._location(location).update_query({"digest": digest})
        response = await self.request(
            "PUT", url, {"Content-Type": "application/octet-stream"}, data=data)
        async with response:
            if response.status not in (201, 204):
                raise registry_error(response.status, await response.read(),
                                     f"upload of {digest}")

    async def put_manifest(self, repo: str, reference: str, raw: bytes, media_type: str) -> None:
        response = await self.request("PUT", f"/v2/{repo}/manifests/{reference}",
                                      {"Content-Type": media_type}, data=raw)
        async with response:
            if response.status not in (200, 201, 202):
                raise registry_error(response.status, await response.read(),
                                     f"manifest {reference}")


async def _file_chunks(path: Path, progress: ProgressFn) -> AsyncIterator[bytes]:
    sent = 0
    with path.open("rb") as source:
        while chunk := await asyncio.to_thread(source.read, 1 << 20):
            sent += len(chunk)
            yield chunk
            progress(sent)

