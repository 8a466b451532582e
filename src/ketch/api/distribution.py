"""Registry routes: pull (``POST /images/create?fromImage=``), push, login
check (``/auth``) and ``/distribution/{name}/json``."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ketch.api.params import query_str
from ketch.errors import NotFound


async def pull_image(request: web.Request) -> web.StreamResponse:
    """Called by ``POST /images/create`` when ``fromImage`` is given."""
    ref = query_str(request, "fromImage")
    raise NotFound(f"pull access denied for {ref}: pulling from registries is not "
                   "available in this engine yet")


def add_routes(add: Any) -> None:
    """The registry routes other than pull (which shares /images/create)."""
