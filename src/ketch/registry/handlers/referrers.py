"""``/v2/<name>/referrers/<digest>``: manifests whose subject is the digest."""

from __future__ import annotations

import asyncio

import msgspec
from aiohttp import web

from ketch.oci import mediatypes
from ketch.registry.handlers.base import Registry, Target
from ketch.registry.names import check_digest


async def list_referrers(request: web.Request, registry: Registry,
                         target: Target) -> web.StreamResponse:
    subject = check_digest(target.ref)
    found = await asyncio.to_thread(registry.storage.referrers, target.name, subject)
    headers = {"Content-Type": mediatypes.OCI_INDEX}
    wanted = request.query.get("artifactType")
    if wanted:
        found = [d for d in found if d.get("artifactType") == wanted]
        headers["OCI-Filters-Applied"] = "artifactType"
    found.sort(key=lambda d: str(d.get("digest")))
    body = {"schemaVersion": 2, "mediaType": mediatypes.OCI_INDEX, "manifests": found}
    return web.Response(status=200, body=msgspec.json.encode(body), headers=headers)
