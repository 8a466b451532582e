"""``/v2/_catalog``: every repository with content, sorted, paginated."""

from __future__ import annotations

import asyncio

from aiohttp import web

from ketch.registry.handlers.base import Registry, Target, paginate


async def list_catalog(request: web.Request, registry: Registry,
                       target: Target) -> web.StreamResponse:
    names = await asyncio.to_thread(registry.storage.repositories)
    page, link = paginate(names, request, "/v2/_catalog")
    headers = {"Link": link} if link else None
    return web.json_response({"repositories": page}, headers=headers)
