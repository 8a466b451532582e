"""The aiohttp application: routes under ``/`` and ``/v{major.minor}/``,
version checks, common headers and error mapping."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from ketch.api import (
    archive,
    build,
    commit,
    containers,
    distribution,
    execs,
    images,
    networks,
    stats,
    system,
    volumes,
)
from ketch.api.errors import Handler, error_middleware, json_error
from ketch.api.keys import SERVICES, Services
from ketch.api.version import API_VERSION, check_version
from ketch.errors import KetchError
from ketch.system import ENGINE_VERSION

VERSION_PREFIX = r"/v{version:[0-9]+\.[0-9]+}"
ROUTE_MODULES = (system, images, containers, execs, distribution, networks, build, commit,
                 volumes, archive, stats)


@web.middleware
async def version_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    requested = request.match_info.get("version")
    try:
        request["api_version"] = check_version(requested) if requested else API_VERSION
    except KetchError as exc:
        return json_error(exc.status, exc.message)
    return await handler(request)


async def _common_headers(request: web.Request, response: web.StreamResponse) -> None:
    response.headers["Api-Version"] = API_VERSION
    response.headers["Ostype"] = "linux"
    response.headers["Server"] = f"ketch/{ENGINE_VERSION} (linux)"
    response.headers["Docker-Experimental"] = "false"


def create_app(services: Services) -> web.Application:
    app = web.Application(middlewares=[error_middleware, version_middleware],
                          client_max_size=64 << 20)
    app[SERVICES] = services
    app[volumes.VOLUMES] = services.volumes
    app[networks.NETWORKS] = services.networks
    app[networks.ATTACHER] = services.containers

    def add(method: str, path: str,
            handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> None:
        app.router.add_route(method, path, handler)
        app.router.add_route(method, VERSION_PREFIX + path, handler)

    for module in ROUTE_MODULES:
        module.add_routes(add)
    app.on_response_prepare.append(_common_headers)
    return app
