"""Servers: the list with its actions, the launch wizard, and a Server's own page."""

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from stratus.api.flavor import FlavorSpec
from stratus.dashboard import manifests
from stratus.dashboard.display import launch_needs
from stratus.dashboard.kubeapi import (
    FLAVORS,
    IMAGES,
    KEYPAIRS,
    NETWORKS,
    SECURITYGROUPS,
    SERVERGROUPS,
    SERVERS,
    VOLUMES,
    Manifest,
)
from stratus.dashboard.manifests import Form
from stratus.dashboard.views import (
    Visit,
    acting,
    events_of,
    fragment,
    gather,
    kind_routes,
    listing,
    now,
    page,
    visit,
)


async def offered_flavors(place: Visit) -> list[Manifest]:
    """The Flavors this Project may launch, smallest first."""
    listed = await place.kube.list(FLAVORS)
    offered = [
        f
        for f in listed["items"]
        if FlavorSpec.model_validate(f["spec"]).offered_to(place.tenancy.name)
    ]
    return sorted(offered, key=lambda f: (f["spec"]["vcpus"], f["metadata"]["name"]))


async def wizard(request: Request) -> Response:
    place = await visit(request)
    reads = await gather(
        offered_flavors(place),
        *(
            listing(place, resource)
            for resource in (IMAGES, VOLUMES, NETWORKS, KEYPAIRS, SERVERGROUPS, SECURITYGROUPS)
        ),
    )
    flavors = reads[0]
    images, volumes, networks, key_pairs, groups, security = (items for items, _ in reads[1:])
    chosen = flavors[0] if flavors else None
    return page(
        place,
        "servers/new.html",
        flavors=flavors,
        images=images,
        volumes=[v for v in volumes if (v.get("status") or {}).get("phase") == "Available"],
        networks=networks,
        key_pairs=key_pairs,
        groups=groups,
        security_groups=security,
        chosen=chosen,
        needs=launch_needs(place.tenancy.project, chosen),
    )


async def quota_left(request: Request) -> Response:
    """The quota the chosen Flavor would leave, shown before the person submits."""
    place = await visit(request)
    name = request.query_params.get("flavor", "")
    flavor = await place.kube.get(FLAVORS, name) if name else None
    return page(place, "servers/_quota.html", needs=launch_needs(place.tenancy.project, flavor))


async def detail(request: Request) -> Response:
    place = await visit(request)
    name = request.path_params["name"]
    # The Events first: the Server, read after them, is as new as the version watched from.
    events, version = await events_of(place, "Server", name)
    server, (volumes, _), flavors = await gather(
        place.kube.get(SERVERS, name, place.namespace),
        listing(place, VOLUMES),
        offered_flavors(place),
    )
    template = "servers/_detail.html" if fragment(request) else "servers/detail.html"
    context = {
        "server": server,
        "events": events,
        "volumes": volumes,
        "version": version,
        "flavors": [flavor["metadata"]["name"] for flavor in flavors],
    }
    return page(place, template, **context)


async def power(place: Visit, name: str, state: str) -> str:
    await place.kube.patch(SERVERS, name, manifests.power(state), place.namespace)
    return f"Server {name} is asked to be {state}."


async def start(place: Visit, name: str, _: Form) -> str:
    return await power(place, name, "Running")


async def stop(place: Visit, name: str, _: Form) -> str:
    return await power(place, name, "Stopped")


async def shelve(place: Visit, name: str, _: Form) -> str:
    return await power(place, name, "Shelved")


async def reboot(place: Visit, name: str, _: Form) -> str:
    await place.kube.patch(SERVERS, name, manifests.reboot(now()), place.namespace)
    return f"Server {name} is asked to reboot."


async def migrate(place: Visit, name: str, _: Form) -> str:
    await place.kube.patch(SERVERS, name, manifests.migrate(now()), place.namespace)
    return f"Server {name} is asked to live-migrate to another node."


async def resize(place: Visit, name: str, form: Form) -> str:
    flavor = form.text("flavor")
    await place.kube.patch(SERVERS, name, manifests.resize_server(flavor), place.namespace)
    return f"Server {name} is asked to resize to {flavor}."


async def confirm_resize(place: Visit, name: str, _: Form) -> str:
    await place.kube.patch(SERVERS, name, manifests.confirm_resize(now()), place.namespace)
    return f"Server {name} is asked to confirm its resize."


async def revert_resize(place: Visit, name: str, _: Form) -> str:
    """Back to the Flavor the resize left, as the Server records it."""
    server = await place.kube.get(SERVERS, name, place.namespace)
    previous = ((server.get("status") or {}).get("previousFlavor") or {}).get("name")
    if not previous:
        return f"Server {name} has no resize to revert."
    await place.kube.patch(SERVERS, name, manifests.resize_server(previous), place.namespace)
    return f"Server {name} is asked to revert to {previous}."


async def change_volumes(place: Visit, name: str, volume: str, attaching: bool) -> str:
    """Add a Volume to the Server's, or take it away, unless someone changed the Server since
    it was read (the API server then refuses, and the person tries again)."""
    server = await place.kube.get(SERVERS, name, place.namespace)
    patch = (manifests.attach if attaching else manifests.detach)(server, volume)
    await place.kube.patch(SERVERS, name, patch, place.namespace)
    how = "attached to" if attaching else "detached from"
    return f"Volume {volume} is being {how} Server {name}."


async def attach(place: Visit, name: str, form: Form) -> str:
    return await change_volumes(place, name, form.text("volume"), attaching=True)


async def detach(place: Visit, name: str, form: Form) -> str:
    return await change_volumes(place, name, form.text("volume"), attaching=False)


ACTIONS = {
    "start": start,
    "stop": stop,
    "reboot": reboot,
    "shelve": shelve,
    "migrate": migrate,
    "resize": resize,
    "confirm-resize": confirm_resize,
    "revert-resize": revert_resize,
    "attach": attach,
    "detach": detach,
}


routes = [
    Route("/p/{project}/servers/new", wizard, methods=["GET"]),
    Route("/p/{project}/servers/new/quota", quota_left, methods=["GET"]),
    # The list offers Volumes to attach; a launched Server's own page shows it come up.
    *kind_routes(SERVERS, manifests.server, VOLUMES, to_the_new_one=True),
    Route("/p/{project}/servers/{name}", detail, methods=["GET"]),
    Route("/p/{project}/servers/{name}/{action}", acting(ACTIONS), methods=["POST"]),
]
