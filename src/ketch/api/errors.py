"""The one place where engine errors become HTTP responses.

Docker clients read ``{"message": ...}`` with ``Content-Type`` exactly
``application/json``; the Go CLI compares the whole header value, so no
charset parameter is added.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from ketch.errors import KetchError

log = logging.getLogger("ketch.api")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def json_error(status: int, message: str) -> web.Response:
    return web.Response(
        status=status, body=json.dumps({"message": message}).encode() + b"\n",
        headers={"Content-Type": "application/json"},
    )


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except KetchError as exc:
        if exc.status == 304:
            return web.Response(status=304)
        if exc.status >= 500:
            log.error("%s %s: %s", request.method, request.path, exc.message)
        return json_error(exc.status, exc.message)
    except (web.HTTPNotFound, web.HTTPMethodNotAllowed):
        return json_error(404, "page not found")
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return json_error(exc.status, exc.text or exc.reason)
    except (ConnectionResetError, BrokenPipeError):
        raise
    except Exception as exc:
        log.exception("%s %s failed", request.method, request.path)
        return json_error(500, f"{type(exc).__name__}: {exc}")
