"""Network routes: translate HTTP to NetworkService calls and render Docker's JSON.

``GET /networks``, ``GET /networks/{id}`` (ID, name or ID prefix; ``verbose``
and ``scope`` accepted), ``POST /networks/create`` (201 ``{"Id","Warning"}``),
``DELETE /networks/{id}`` (204), ``POST /networks/prune``
(``{"NetworksDeleted"}``), and ``POST /networks/{id}/connect|disconnect``,
which need the container side: they call the :class:`NetworkAttacher` the
wiring puts under :data:`ATTACHER` (503 until it does).

The service is found under :data:`NETWORKS` in the application, so that this
module does not depend on the shape of ``Services``.
"""

from __future__ import annotations

from typing import Any, Protocol

import msgspec
from aiohttp import web

from ketch.api.gojson import GoDecoder, read_body
from ketch.api.params import query_filters, query_str
from ketch.api.streams import json_response
from ketch.api.version import at_least
from ketch.errors import InvalidArgument, NotFound, Unavailable
from ketch.networks.model import NetworkCreate
from ketch.networks.service import NetworkService
from ketch.networks.views import network_view


class EndpointIPAMConfig(msgspec.Struct, rename="pascal"):
    i_pv4_address: str = msgspec.field(default="", name="IPv4Address")
    i_pv6_address: str = msgspec.field(default="", name="IPv6Address")
    link_local_i_ps: list[str] | None = msgspec.field(default=None, name="LinkLocalIPs")


class EndpointConfig(msgspec.Struct, rename="pascal"):
    """What ``connect`` (and a container's NetworkingConfig) may ask for."""

    ipam_config: EndpointIPAMConfig | None = msgspec.field(default=None, name="IPAMConfig")
    links: list[str] | None = None
    aliases: list[str] | None = None
    mac_address: str = ""
    driver_opts: dict[str, str] | None = None
    gw_priority: int = 0


class ConnectRequest(msgspec.Struct, rename="pascal"):
    container: str = ""
    endpoint_config: EndpointConfig | None = None


class DisconnectRequest(msgspec.Struct, rename="pascal"):
    container: str = ""
    force: bool = False


class NetworkAttacher(Protocol):
    """The container side of ``docker network connect/disconnect``: records the
    network in the container's settings and, if it runs, calls
    ``NetworkService.connect_container`` / ``disconnect_container``."""

    async def connect_network(self, container: str, network: str,
                              config: EndpointConfig) -> None: ...

    async def disconnect_network(self, container: str, network: str, force: bool) -> None: ...


NETWORKS = web.AppKey("networks", NetworkService)
ATTACHER = web.AppKey("network_attacher", NetworkAttacher)

_create_decoder = GoDecoder(NetworkCreate)
_connect_decoder = GoDecoder(ConnectRequest)
_disconnect_decoder = GoDecoder(DisconnectRequest)

_BOOL_WORDS = {"1": True, "t": True, "true": True, "0": False, "f": False, "false": False}


def _service(request: web.Request) -> NetworkService:
    return request.app[NETWORKS]


async def list_networks(request: web.Request) -> web.Response:
    service = _service(request)
    networks = service.list_networks(query_filters(request))
    old = not at_least(request["api_version"], "1.28")
    return json_response([network_view(n, service.endpoints(n.id) if old else None)
                          for n in networks])


async def inspect_network(request: web.Request) -> web.Response:
    verbose = query_str(request, "verbose")
    if verbose and verbose.lower() not in _BOOL_WORDS:
        raise InvalidArgument(f"invalid value for verbose: {verbose}: strconv.ParseBool: "
                              f'parsing "{verbose}": invalid syntax')
    term = request.match_info["id"]
    scope = query_str(request, "scope")
    service = _service(request)
    net = service.get(term)
    if scope and scope != net.scope:
        raise NotFound(f"network {term} not found")
    return json_response(network_view(net, service.endpoints(net.id)))


async def create_network(request: web.Request) -> web.Response:
    create = await read_body(request, _create_decoder, NetworkCreate(), "network configuration")
    if not at_least(request["api_version"], "1.48"):
        create.enable_ipv4 = None
    network_id, warning = await _service(request).create(create)
    return json_response({"Id": network_id, "Warning": warning}, status=201)


async def delete_network(request: web.Request) -> web.Response:
    await _service(request).remove(request.match_info["id"])
    return web.Response(status=204)


async def prune_networks(request: web.Request) -> web.Response:
    removed = await _service(request).prune(query_filters(request))
    return json_response({"NetworksDeleted": removed or None})


def _attacher(request: web.Request) -> NetworkAttacher:
    attacher = request.app.get(ATTACHER)
    if attacher is None:
        raise Unavailable("connecting containers to networks is not available")
    return attacher


async def connect_network(request: web.Request) -> web.Response:
    body = await read_body(request, _connect_decoder, ConnectRequest(), "connect request")
    network = _service(request).get(request.match_info["id"])
    await _attacher(request).connect_network(body.container, network.id,
                                             body.endpoint_config or EndpointConfig())
    return web.Response(status=200)


async def disconnect_network(request: web.Request) -> web.Response:
    body = await read_body(request, _disconnect_decoder, DisconnectRequest(),
                         "disconnect request")
    network = _service(request).get(request.match_info["id"])
    await _attacher(request).disconnect_network(body.container, network.id, body.force)
    return web.Response(status=200)


def add_routes(add: Any) -> None:
    add("GET", "/networks", list_networks)
    add("GET", "/networks/", list_networks)
    add("POST", "/networks/create", create_network)
    add("POST", "/networks/prune", prune_networks)
    add("GET", "/networks/{id}", inspect_network)
    add("DELETE", "/networks/{id}", delete_network)
    add("POST", "/networks/{id}/connect", connect_network)
    add("POST", "/networks/{id}/disconnect", disconnect_network)
