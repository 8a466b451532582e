"""``docker cp``'s routes: ``HEAD``, ``GET`` and ``PUT /containers/{id}/archive?path=``.

``HEAD`` answers 200 with the path's stat in ``X-Docker-Container-Path-Stat``
(base64 of ``{"name","size","mode","mtime","linkTarget"}``); ``GET`` adds the
tar of the path (``application/x-tar``, never compressed: every client
takes a plain tar); ``PUT`` extracts the (chunked) tar body into the
directory ``path``, with ``noOverwriteDirNonDir`` and ``copyUIDGID`` as in
moby. Lookup errors (404 ``Could not find the file ...``) come before any
body byte is read or written.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from ketch.api.keys import SERVICES
from ketch.api.params import query_bool, query_str
from ketch.containers.archive import ContainerArchive
from ketch.containers.archive_paths import STAT_HEADER
from ketch.containers.commit import ContainerFiles

log = logging.getLogger("ketch.api")
_CHUNK = 1 << 20


def _archive(request: web.Request) -> ContainerArchive:
    services = request.app[SERVICES]
    return ContainerArchive(ContainerFiles(services.containers, services.committer))


async def stat_path(request: web.Request) -> web.Response:
    found = await _archive(request).stat(request.match_info["id"], query_str(request, "path"))
    return web.Response(status=200, headers={STAT_HEADER: found.header_value()})


async def get_archive(request: web.Request) -> web.StreamResponse:
    stream = await _archive(request).archive(request.match_info["id"],
                                             query_str(request, "path"))
    try:
        response = web.StreamResponse(headers={STAT_HEADER: stream.stat.header_value(),
                                               "Content-Type": "application/x-tar"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        try:
            async for chunk in stream:
                await response.write(chunk)
        except Exception as exc:
            # Headers are gone: all that is left to say is a broken stream.
            log.error("GET %s: archive aborted: %s", request.path, exc)
            if request.transport is not None:
                request.transport.close()
            return response
        await response.write_eof()
        return response
    finally:
        await stream.aclose()


async def _body(request: web.Request) -> AsyncIterator[bytes]:
    async for chunk in request.content.iter_chunked(_CHUNK):
        yield chunk


async def put_archive(request: web.Request) -> web.Response:
    # moby: overwriting is allowed unless noOverwriteDirNonDir is given and true
    no_overwrite = "noOverwriteDirNonDir" in request.query \
        and query_bool(request, "noOverwriteDirNonDir")
    await _archive(request).extract(
        request.match_info["id"], query_str(request, "path"), _body(request),
        no_overwrite_dir_non_dir=no_overwrite,
        copy_uid_gid=query_bool(request, "copyUIDGID"))
    return web.Response(status=200)


def add_routes(add: Any) -> None:
    add("HEAD", "/containers/{id}/archive", stat_path)
    add("GET", "/containers/{id}/archive", get_archive)
    add("PUT", "/containers/{id}/archive", put_archive)
