"""The aiohttp application: routing, access control and the one error path.

Repository names contain slashes, so routes cannot be expressed with
aiohttp's placeholders; a small table of anchored patterns, tried in order,
splits ``/v2/<name>/<resource>/<ref>`` from the end. The middleware checks
access for the matched route, calls the handler, and renders every
:class:`RegistryError` through :func:`error_response`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass

from aiohttp import web

from ketch.registry.auth import (
    Access,
    Authorizer,
    HtpasswdAuth,
    NoAuth,
    TokenAuth,
    TokenIssuer,
    Users,
)
from ketch.registry.config import RegistryConfig
from ketch.registry.errcodes import ErrorCode, RegistryError, error_response
from ketch.registry.fsdriver import FilesystemDriver
from ketch.registry.handlers import blobs, catalog, manifests, referrers, tags, uploads
from ketch.registry.handlers.base import REGISTRY, Handler, Registry, Target, version_check
from ketch.registry.names import check_name
from ketch.registry.storage import RegistryStorage

log = logging.getLogger("ketch.registry")


@dataclass(frozen=True)
class Route:
    pattern: re.Pattern[str]
    handlers: dict[str, Handler]


def _route(pattern: str, **handlers: Handler) -> Route:
    return Route(re.compile(pattern), {m.upper(): h for m, h in handlers.items()})


ROUTES = [
    _route(r"^$", get=version_check, head=version_check),
    _route(r"^_catalog$", get=catalog.list_catalog),
    _route(r"^(?P<name>.+)/tags/list$", get=tags.list_tags),
    _route(r"^(?P<name>.+)/manifests/(?P<ref>[^/]+)$", get=manifests.get_manifest,
           head=manifests.get_manifest, put=manifests.put_manifest,
           delete=manifests.delete_manifest),
    _route(r"^(?P<name>.+)/blobs/uploads/?$", post=uploads.start_upload),
    _route(r"^(?P<name>.+)/blobs/uploads/(?P<ref>[^/]+)$", get=uploads.get_upload,
           patch=uploads.patch_upload, put=uploads.put_upload, delete=uploads.cancel_upload),
    _route(r"^(?P<name>.+)/blobs/(?P<ref>[^/]+)$", get=blobs.get_blob, head=blobs.get_blob,
           delete=blobs.delete_blob),
    _route(r"^(?P<name>.+)/referrers/(?P<ref>[^/]+)$", get=referrers.list_referrers),
]

_ACTION = {"GET": "pull", "HEAD": "pull", "PUT": "push", "POST": "push", "PATCH": "push",
           "DELETE": "delete"}


def _needed(method: str, name: str, tail: str) -> list[Access]:
    if tail == "":
        return []
    if tail == "_catalog":
        return [Access("registry", "catalog", frozenset({"*"}))]
    actions = {_ACTION[method]}
    if method in ("PUT", "POST", "PATCH"):
        actions.add("pull")  # Docker asks for "pull,push" when it pushes.
    return [Access("repository", name, frozenset(actions))]


def _match(tail: str, method: str) -> tuple[Handler, Target]:
    for route in ROUTES:
        found = route.pattern.match(tail)
        if found is None:
            continue
        groups = found.groupdict()
        name = groups.get("name") or ""
        if name:
            check_name(name)
        handler = route.handlers.get(method)
        if handler is None:
            raise RegistryError(ErrorCode.UNSUPPORTED, f"method {method} not allowed")
        return handler, Target(name, groups.get("ref") or "")
    if "/" in tail:
        # Something shaped like a name was given but no resource matched it.
        raise RegistryError(ErrorCode.NAME_INVALID, detail={"path": tail})
    raise RegistryError(ErrorCode.NAME_UNKNOWN, detail={"path": tail})


async def dispatch(request: web.Request) -> web.StreamResponse:
    registry = request.app[REGISTRY]
    tail = request.match_info.get("tail", "")
    try:
        handler, target = _match(tail, request.method)
        registry.authorizer.authorize(request.headers,
                                      _needed(request.method, target.name, tail))
        return await handler(request, registry, target)
    except RegistryError as err:
        return error_response(err)
    except (ConnectionResetError, asyncio.CancelledError):
        raise
    except Exception as exc:
        log.exception("internal error on %s %s", request.method, request.path)
        return error_response(RegistryError(ErrorCode.UNKNOWN, str(exc)))


async def token_endpoint(request: web.Request) -> web.StreamResponse:
    registry = request.app[REGISTRY]
    if registry.issuer is None:
        return error_response(RegistryError(ErrorCode.UNSUPPORTED, "no token service here"))
    try:
        body = registry.issuer.issue(request.headers, request.query.get("service"),
                                     request.query.getall("scope", []))
    except RegistryError as err:
        return error_response(err)
    return web.json_response(body)


async def _add_version_header(request: web.Request, response: web.StreamResponse) -> None:
    response.headers["Docker-Distribution-API-Version"] = "registry/2.0"


def _authorizer(config: RegistryConfig, issuer: TokenIssuer | None) -> Authorizer:
    mode = config.auth.mode
    if mode == "htpasswd":
        return HtpasswdAuth(Users(config.auth))
    if mode == "token":
        scheme = "https" if config.tls_cert else "http"
        keys = [issuer.public_pem()] if issuer is not None else []
        return TokenAuth(config.auth, scheme, keys)
    return NoAuth()


def build_app(config: RegistryConfig) -> web.Application:
    storage = RegistryStorage(FilesystemDriver(config.root))
    issuer: TokenIssuer | None = None
    if config.auth.mode == "token" and config.auth.htpasswd:
        issuer = TokenIssuer(config.auth, Users(config.auth),
                             os.path.join(config.root, "_token", "key.pem"))
    registry = Registry(storage, config, _authorizer(config, issuer), issuer)
    app = web.Application(client_max_size=config.max_manifest_bytes + 1)
    app[REGISTRY] = registry
    app.router.add_route("*", "/v2/{tail:.*}", dispatch)
    app.router.add_route("*", "/v2", dispatch)
    app.router.add_get("/token", token_endpoint)
    app.on_response_prepare.append(_add_version_header)
    app.cleanup_ctx.append(_purge_uploads)
    return app


async def _purge_uploads(app: web.Application) -> AsyncIterator[None]:
    """Background task removing uploads older than ``upload_max_age``."""
    registry = app[REGISTRY]

    async def loop() -> None:
        while True:
            if not registry.config.read_only:
                try:
                    removed = await asyncio.to_thread(registry.storage.purge_uploads,
                                                      registry.config.upload_max_age)
                    if removed:
                        log.info("purged %d stale uploads", len(removed))
                except OSError:
                    log.exception("upload purge failed")
            await asyncio.sleep(registry.config.upload_purge_interval)

    task = asyncio.create_task(loop())
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
