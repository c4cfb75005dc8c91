"""For administrators, as their RBAC allows: nodes as hypervisors, every Project with its usage,
and the Flavor catalogue. The API server refuses these reads to everyone else."""

from collections import defaultdict
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from stratus.dashboard import manifests
from stratus.dashboard.access import Permissions
from stratus.dashboard.display import gauges
from stratus.dashboard.kubeapi import (
    FLAVORS,
    HOST_MAINTENANCES,
    NODES,
    PODS,
    PROJECTS,
    SERVERS,
    ApiError,
)
from stratus.dashboard.views import (
    form_of,
    gather,
    kube_of,
    redirect,
    refused,
    render,
)
from stratus.placement.inventory import node_record, nodes_of, pod_record


def admin_page(request: Request, template: str, **context: Any) -> Response:
    return render(request, template, {"admin": True} | context)


async def hypervisors(request: Request) -> Response:
    """Each node with its zone, CPU and memory asked of what it offers, the Servers on it, as
    placement sees them, and its maintenance: one LIST each of nodes, pods, Servers and
    HostMaintenances."""
    kube = kube_of(request)
    nodes, pods, servers, maintenances = await gather(
        kube.list(NODES), kube.list(PODS), kube.list(SERVERS), kube.list(HOST_MAINTENANCES)
    )
    asked: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for pod in pods["items"]:
        record = pod_record(pod)
        if record is not None:
            asked[record[0]].append(record[1:])
    records = {n["metadata"]["name"]: [node_record(n)] for n in nodes["items"]}
    on_host: dict[str, list[str]] = defaultdict(list)
    for server in servers["items"]:
        host = (server.get("status") or {}).get("host")
        if host:
            on_host[host].append(f"{server['metadata']['namespace']}/{server['metadata']['name']}")
    hosts = sorted(nodes_of(records, asked), key=lambda n: n.name)
    in_maintenance = {m["spec"]["node"]: m for m in maintenances["items"]}
    context = {"hosts": hosts, "servers": on_host, "maintenance": in_maintenance}
    return admin_page(request, "admin/hypervisors.html", **context)


async def start_maintenance(request: Request) -> Response:
    """Take a node out of service: its Servers live-migrate away (Nova's host evacuation)."""
    node = request.path_params["node"]
    try:
        await kube_of(request).create(HOST_MAINTENANCES, manifests.maintenance(node))
    except ApiError as error:
        return refused(error)
    return redirect(request, "/admin/hypervisors")


async def end_maintenance(request: Request) -> Response:
    """Put a node back in service."""
    node = request.path_params["node"]
    listed = await kube_of(request).list(HOST_MAINTENANCES)
    try:
        for found in listed["items"]:
            if found["spec"]["node"] == node:
                await kube_of(request).delete(HOST_MAINTENANCES, found["metadata"]["name"])
    except ApiError as error:
        return refused(error)
    return redirect(request, "/admin/hypervisors")


async def projects(request: Request) -> Response:
    listed = await kube_of(request).list(PROJECTS)
    rows = [(p, gauges(p)) for p in sorted(listed["items"], key=lambda p: p["metadata"]["name"])]
    return admin_page(request, "admin/projects.html", projects=rows)


async def flavors(request: Request) -> Response:
    kube = kube_of(request)
    listed, rules = await gather(kube.list(FLAVORS), kube.rules("default"))
    items = sorted(listed["items"], key=lambda f: (f["spec"]["vcpus"], f["metadata"]["name"]))
    can = Permissions.of(rules).can
    return admin_page(request, "admin/flavors.html", flavors=items, can=can)


async def create_flavor(request: Request) -> Response:
    try:
        await kube_of(request).create(FLAVORS, manifests.flavor(await form_of(request)))
    except ApiError as error:
        return refused(error)
    return redirect(request, "/admin/flavors")


routes = [
    Route("/admin/hypervisors", hypervisors, methods=["GET"]),
    Route("/admin/hypervisors/{node}/maintenance", start_maintenance, methods=["POST"]),
    Route("/admin/hypervisors/{node}/in-service", end_maintenance, methods=["POST"]),
    Route("/admin/projects", projects, methods=["GET"]),
    Route("/admin/flavors", flavors, methods=["GET"]),
    Route("/admin/flavors", create_flavor, methods=["POST"]),
]
