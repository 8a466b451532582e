"""``/v2/<name>/blobs/uploads/[<uuid>]``: the blob upload state machine.

POST opens an upload (or mounts a blob from another repository, or takes
the whole blob at once with ``?digest=``); PATCH appends a chunk, checked
against ``Content-Range`` when given so chunks cannot arrive out of order;
PUT ``?digest=`` appends an optional last chunk and commits; GET reports
progress, DELETE cancels. The body is streamed to storage, never buffered.
"""

from __future__ import annotations

import asyncio
import re

from aiohttp import web

from ketch.oci.digest import algorithm_of
from ketch.registry.auth import Access
from ketch.registry.errcodes import ErrorCode, RegistryError
from ketch.registry.handlers.base import Registry, Target, require_writable
from ketch.registry.names import check_digest, check_name, check_upload_id
from ketch.registry.storage import UploadState

_CONTENT_RANGE_RE = re.compile(r"^(?:bytes )?(\d+)-(\d+)(?:/(?:\d+|\*))?$")
_CHUNK = 1 << 20


def _progress_headers(name: str, state: UploadState) -> dict[str, str]:
    return {
        "Location": f"/v2/{name}/blobs/uploads/{state.uuid}",
        "Range": f"0-{max(state.offset - 1, 0)}",
        "Docker-Upload-UUID": state.uuid,
    }


def _committed(name: str, digest: str) -> web.Response:
    return web.Response(status=201, headers={
        "Location": f"/v2/{name}/blobs/{digest}", "Docker-Content-Digest": digest,
        "Content-Length": "0"})


def _check_supported(digest: str) -> str:
    check_digest(digest)
    if algorithm_of(digest) not in ("sha256", "sha512"):
        raise RegistryError(ErrorCode.DIGEST_INVALID, "unsupported digest algorithm")
    return digest


async def _receive(request: web.Request, registry: Registry, name: str,
                   state: UploadState) -> UploadState:
    """Append the request body to the upload after checking Content-Range."""
    header = request.headers.get("Content-Range")
    if header:
        match = _CONTENT_RANGE_RE.match(header.strip())
        if match is None:
            raise RegistryError(ErrorCode.RANGE_INVALID, headers=_progress_headers(name, state))
        start, end = int(match.group(1)), int(match.group(2))
        if start != state.offset or end < start:
            raise RegistryError(ErrorCode.RANGE_INVALID, headers=_progress_headers(name, state))
        if request.content_length is not None and request.content_length != end - start + 1:
            raise RegistryError(ErrorCode.SIZE_INVALID, detail={"content_range": header})
    writer = registry.storage.open_upload_writer(name, state.uuid)
    buffer = bytearray()
    try:
        # Gather network reads into large writes: one thread hop per MiB.
        async for block in request.content.iter_chunked(_CHUNK):
            buffer += block
            if len(buffer) >= _CHUNK:
                await asyncio.to_thread(writer.write, bytes(buffer))
                buffer.clear()
        if buffer:
            await asyncio.to_thread(writer.write, bytes(buffer))
    finally:
        await asyncio.to_thread(writer.close)
    return registry.storage.upload_state(name, state.uuid)


async def start_upload(request: web.Request, registry: Registry,
                       target: Target) -> web.StreamResponse:
    require_writable(registry)
    name = target.name
    mount, source = request.query.get("mount"), request.query.get("from")
    if mount:
        digest = _check_supported(mount)
        if source:
            check_name(source)
            if (registry.storage.repo_blob_size(source, digest) is not None
                    and registry.may(request, Access("repository", source,
                                                     frozenset({"pull"})))):
                registry.storage.link_blob(name, digest)
                return _committed(name, digest)
        # Not mountable (or no source named): fall back to a plain upload.
    state = await asyncio.to_thread(registry.storage.start_upload, name)
    digest_param = request.query.get("digest")
    if digest_param is not None and not mount:
        digest = _check_supported(digest_param)
        await _receive(request, registry, name, state)
        await asyncio.to_thread(registry.storage.finish_upload, name, state.uuid, digest)
        return _committed(name, digest)
    return web.Response(status=202, headers=_progress_headers(name, state))


async def patch_upload(request: web.Request, registry: Registry,
                       target: Target) -> web.StreamResponse:
    require_writable(registry)
    upload_id = check_upload_id(target.ref)
    async with registry.upload_lock(upload_id):
        state = registry.storage.upload_state(target.name, upload_id)
        state = await _receive(request, registry, target.name, state)
    return web.Response(status=202, headers=_progress_headers(target.name, state))


async def put_upload(request: web.Request, registry: Registry,
                     target: Target) -> web.StreamResponse:
    require_writable(registry)
    upload_id = check_upload_id(target.ref)
    raw = request.query.get("digest")
    if not raw:
        raise RegistryError(ErrorCode.DIGEST_INVALID, "digest parameter is required")
    digest = _check_supported(raw)
    async with registry.upload_lock(upload_id):
        state = registry.storage.upload_state(target.name, upload_id)
        if request.content_length or request.headers.get("Content-Range") or \
                request.headers.get("Transfer-Encoding", "").lower() == "chunked":
            await _receive(request, registry, target.name, state)
        await asyncio.to_thread(registry.storage.finish_upload, target.name, upload_id,
                                digest)
    return _committed(target.name, digest)


async def get_upload(request: web.Request, registry: Registry,
                     target: Target) -> web.StreamResponse:
    upload_id = check_upload_id(target.ref)
    state = registry.storage.upload_state(target.name, upload_id)
    return web.Response(status=204, headers=_progress_headers(target.name, state))


async def cancel_upload(request: web.Request, registry: Registry,
                        target: Target) -> web.StreamResponse:
    require_writable(registry)
    upload_id = check_upload_id(target.ref)
    async with registry.upload_lock(upload_id):
        await asyncio.to_thread(registry.storage.cancel_upload, target.name, upload_id)
    return web.Response(status=204)
