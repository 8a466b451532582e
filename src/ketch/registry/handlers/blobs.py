"""``/v2/<name>/blobs/<digest>``: fetch (with ``Range``), probe and delete."""

from __future__ import annotations

import asyncio
import re

from aiohttp import web

from ketch.registry.errcodes import ErrorCode, RegistryError
from ketch.registry.handlers.base import Registry, Target, require_delete
from ketch.registry.names import check_digest

_RANGE_RE = re.compile(r"^bytes=(\d*)-(\d*)$")
_CHUNK = 1 << 20


def parse_range(header: str, size: int) -> tuple[int, int] | None:
    """A single byte range as (start, end inclusive); None if unsatisfiable."""
    match = _RANGE_RE.match(header.strip())
    if match is None or (not match.group(1) and not match.group(2)):
        return None
    if not match.group(1):
        suffix = int(match.group(2))
        if suffix == 0:
            return None
        return max(size - suffix, 0), size - 1
    start = int(match.group(1))
    end = int(match.group(2)) if match.group(2) else size - 1
    if start >= size or end < start:
        return None
    return start, min(end, size - 1)


async def get_blob(request: web.Request, registry: Registry,
                   target: Target) -> web.StreamResponse:
    digest = check_digest(target.ref)
    size = registry.storage.repo_blob_size(target.name, digest)
    if size is None:
        raise RegistryError(ErrorCode.BLOB_UNKNOWN, detail={"digest": digest})
    headers = {"Docker-Content-Digest": digest, "Accept-Ranges": "bytes",
               "ETag": f'"{digest}"', "Content-Type": "application/octet-stream",
               "Cache-Control": "max-age=31536000"}
    status, start, end = 200, 0, size - 1
    range_header = request.headers.get("Range")
    local = registry.storage.blob_file(digest)
    if local is not None and not range_header:
        # The common full download: let the kernel copy it (sendfile).
        return web.FileResponse(local, headers=headers)
    if range_header and size > 0:
        parsed = parse_range(range_header, size)
        if parsed is None:
            raise RegistryError(ErrorCode.RANGE_INVALID,
                                headers={"Content-Range": f"bytes */{size}"})
        status, (start, end) = 206, parsed
        headers["Content-Range"] = f"bytes {start}-{end}/{size}"
    length = end - start + 1 if size else 0
    headers["Content-Length"] = str(length)
    response = web.StreamResponse(status=status, headers=headers)
    await response.prepare(request)
    if request.method == "HEAD" or length == 0:
        await response.write_eof()
        return response
    f = await asyncio.to_thread(registry.storage.open_blob, digest, start)
    try:
        remaining = length
        while remaining > 0:
            block = await asyncio.to_thread(f.read, min(_CHUNK, remaining))
            if not block:
                break
            await response.write(block)
            remaining -= len(block)
    finally:
        f.close()
    await response.write_eof()
    return response


async def delete_blob(request: web.Request, registry: Registry,
                      target: Target) -> web.StreamResponse:
    require_delete(registry)
    digest = check_digest(target.ref)
    if not registry.storage.unlink_blob(target.name, digest):
        raise RegistryError(ErrorCode.BLOB_UNKNOWN, detail={"digest": digest})
    return web.Response(status=202, headers={"Docker-Content-Digest": digest})
