"""What every handler shares: the registry's services, the target of a route,
and the ``/v2/`` version check.

Handlers receive the :class:`Registry` (services) and a :class:`Target` (the
repository and the last path element, already split by the router, with the
name validated), and either return a response or raise ``RegistryError``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import web

from ketch.registry.auth import Access, Authorizer, TokenIssuer
from ketch.registry.config import RegistryConfig
from ketch.registry.errcodes import ErrorCode, RegistryError
from ketch.registry.storage import RegistryStorage


@dataclass
class Registry:
    storage: RegistryStorage
    config: RegistryConfig
    authorizer: Authorizer
    issuer: TokenIssuer | None = None
    _upload_locks: dict[str, tuple[asyncio.Lock, int]] = field(default_factory=dict)

    @contextlib.asynccontextmanager
    async def upload_lock(self, upload_id: str) -> AsyncIterator[None]:
        """Serialise requests on one upload: the offset check and the append
        must not interleave with another request's, or bytes and running hash
        could be appended in different orders."""
        lock, users = self._upload_locks.get(upload_id, (asyncio.Lock(), 0))
        self._upload_locks[upload_id] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._upload_locks[upload_id]
            if users == 1:
                del self._upload_locks[upload_id]
            else:
                self._upload_locks[upload_id] = (lock, users - 1)

    def may(self, request: web.Request, access: Access) -> bool:
        """Whether the request's credentials also grant ``access`` (for mounts)."""
        try:
            self.authorizer.authorize(request.headers, [access])
        except RegistryError:
            return False
        return True


REGISTRY = web.AppKey("registry", Registry)


@dataclass(frozen=True)
class Target:
    name: str
    ref: str


Handler = Callable[[web.Request, Registry, Target], Awaitable[web.StreamResponse]]


def require_writable(registry: Registry) -> None:
    if registry.config.read_only:
        raise RegistryError(ErrorCode.UNSUPPORTED, "registry is in read-only mode")


def require_delete(registry: Registry) -> None:
    require_writable(registry)
    if not registry.config.delete_enabled:
        raise RegistryError(ErrorCode.UNSUPPORTED, "deletes are disabled on this registry")


def page_size(request: web.Request) -> int | None:
    """The ``n`` query parameter: None when absent, else a non-negative int."""
    raw = request.query.get("n")
    if raw is None or raw == "":
        return None
    try:
        n = int(raw)
    except ValueError:
        raise RegistryError(ErrorCode.PAGINATION_NUMBER_INVALID, detail={"n": raw}) from None
    if n < 0:
        raise RegistryError(ErrorCode.PAGINATION_NUMBER_INVALID, detail={"n": raw})
    return n


def paginate(items: list[str], request: web.Request, path: str) -> tuple[list[str], str | None]:
    """Apply ``last``/``n`` to sorted ``items``; returns the page and a Link header."""
    last = request.query.get("last")
    if last:
        items = [i for i in items if i > last]
    n = page_size(request)
    if n is None or len(items) <= n:
        return items, None
    page = items[:n]
    if not page:
        return page, None
    return page, f'<{path}?n={n}&last={page[-1]}>; rel="next"'


async def run(func: Callable[..., object], *args: object) -> object:
    return await asyncio.to_thread(func, *args)


async def version_check(request: web.Request, registry: Registry,
                        target: Target) -> web.StreamResponse:
    return web.json_response({})
