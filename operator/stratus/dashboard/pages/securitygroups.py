"""Neutron's security groups: each group with its rules and members; rules are added and
removed one at a time, against the group as it was read."""

from starlette.routing import Route

from stratus.dashboard import manifests
from stratus.dashboard.kubeapi import SECURITYGROUPS
from stratus.dashboard.manifests import Form
from stratus.dashboard.views import Visit, acting, kind_routes


async def add_rule(place: Visit, name: str, form: Form) -> str:
    group = await place.kube.get(SECURITYGROUPS, name, place.namespace)
    patch = manifests.add_rule(group, manifests.security_rule(form))
    await place.kube.patch(SECURITYGROUPS, name, patch, place.namespace)
    return f"A rule is added to SecurityGroup {name}."


async def remove_rule(place: Visit, name: str, form: Form) -> str:
    group = await place.kube.get(SECURITYGROUPS, name, place.namespace)
    patch = manifests.remove_rule(group, int(form.text("index") or -1))
    await place.kube.patch(SECURITYGROUPS, name, patch, place.namespace)
    return f"A rule is removed from SecurityGroup {name}."


ACTIONS = {"add-rule": add_rule, "remove-rule": remove_rule}

routes = [
    *kind_routes(SECURITYGROUPS, manifests.security_group),
    Route("/p/{project}/securitygroups/{name}/{action}", acting(ACTIONS), methods=["POST"]),
]
