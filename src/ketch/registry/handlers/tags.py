"""``/v2/<name>/tags/list``: the repository's tags, sorted, paginated."""

from __future__ import annotations

from aiohttp import web

from ketch.registry.errcodes import ErrorCode, RegistryError
from ketch.registry.handlers.base import Registry, Target, paginate


async def list_tags(request: web.Request, registry: Registry,
                    target: Target) -> web.StreamResponse:
    tags = sorted(registry.storage.tags(target.name))
    if not tags and not registry.storage.repo_exists(target.name):
        raise RegistryError(ErrorCode.NAME_UNKNOWN, detail={"name": target.name})
    page, link = paginate(tags, request, f"/v2/{target.name}/tags/list")
    headers = {"Link": link} if link else None
    return web.json_response({"name": target.name, "tags": page}, headers=headers)
