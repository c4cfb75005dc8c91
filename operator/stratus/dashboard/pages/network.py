"""Neutron: Networks with their subnet and pool, and a Network's Ports and free addresses."""

import itertools

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from stratus.api.network import Subnet
from stratus.dashboard import manifests
from stratus.dashboard.kubeapi import NETWORKS, PORTS
from stratus.dashboard.views import fragment, kind_routes, page, visit
from stratus.ipam.allocator import free_addresses

FREE_SHOWN = 10
"""How many of the next free addresses a Network's page lists."""


async def detail(request: Request) -> Response:
    """A Network, its Ports (one LIST of the Project's, whatever their number) and the
    addresses a Server would get next."""
    place = await visit(request)
    name = request.path_params["name"]
    # The Ports first: the Network, read after them, is as new as the version watched from.
    ports = await place.kube.list(PORTS, place.namespace)
    network = await place.kube.get(NETWORKS, name, place.namespace)
    held = sorted(
        (p for p in ports["items"] if p["spec"].get("network") == name),
        key=lambda p: p["metadata"]["name"],
    )
    subnet = Subnet.model_validate(network["spec"]["subnet"])
    taken = {p["spec"]["address"] for p in held}
    free = list(itertools.islice(free_addresses(subnet, taken), FREE_SHOWN))
    template = "networks/_detail.html" if fragment(request) else "networks/detail.html"
    version = ports["metadata"]["resourceVersion"]
    return page(place, template, network=network, ports=held, free=free, version=version)


routes = [
    *kind_routes(NETWORKS, manifests.network, to_the_new_one=True),
    Route("/p/{project}/networks/{name}", detail, methods=["GET"]),
]
