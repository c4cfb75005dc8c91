"""Neutron's L3 and Octavia: Routers (their Networks, external gateway and addresses),
floating IPs associated with a Server and disassociated again, and load balancers."""

from starlette.routing import Route

from stratus.dashboard import manifests
from stratus.dashboard.kubeapi import FLOATINGIPS, LOADBALANCERS, NETWORKS, ROUTERS, SERVERS
from stratus.dashboard.manifests import Form
from stratus.dashboard.views import Visit, acting, kind_routes


async def associate(place: Visit, name: str, form: Form) -> str:
    server = form.text("server")
    patch = manifests.association(server, form.text("fixedAddress"))
    await place.kube.patch(FLOATINGIPS, name, patch, place.namespace)
    return f"Floating IP {name} is being pointed at Server {server}."


async def disassociate(place: Visit, name: str, _: Form) -> str:
    await place.kube.patch(FLOATINGIPS, name, manifests.association(None), place.namespace)
    return f"Floating IP {name} is being disassociated."


ACTIONS = {"associate": associate, "disassociate": disassociate}

routes = [
    # A Router's form offers the Project's Networks; a floating IP's rows, its Servers.
    *kind_routes(ROUTERS, manifests.router, NETWORKS),
    *kind_routes(FLOATINGIPS, manifests.floating_ip, SERVERS),
    *kind_routes(LOADBALANCERS, manifests.load_balancer, NETWORKS, SERVERS),
    Route("/p/{project}/floatingips/{name}/{action}", acting(ACTIONS), methods=["POST"]),
]
