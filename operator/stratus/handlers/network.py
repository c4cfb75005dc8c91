"""Network handlers: the Multus attachment, subnet checks CEL cannot make, and port counts."""

import ipaddress
from typing import Any

import kopf

from stratus.api.network import NETWORK, NetworkSpec
from stratus.builders.meta import ChildRef, Children, Owner
from stratus.builders.multus import build_network_attachment
from stratus.constants import API_VERSION, GROUP, VERSION
from stratus.core import kube
from stratus.core.errors import InvalidInput
from stratus.core.quota import refresh_usage
from stratus.core.reconcile import Outcome, parse_spec, reconcile
from stratus.handlers.children import Parent, parent_key, register, run
from stratus.ipam.allocator import capacity, subnet_problems
from stratus.ipam.ports import LABEL_NETWORK, label_value

INT64_MAX = 2**63 - 1
"""The API's integers are 64-bit: a /64 has more free addresses than status can say."""


@kopf.on.resume(GROUP, VERSION, NETWORK.plural)
@kopf.on.create(GROUP, VERSION, NETWORK.plural)
@kopf.on.update(GROUP, VERSION, NETWORK.plural)
def network_changed(body: kopf.Body, **_: Any) -> None:
    reconcile(NETWORK, body, lambda: ensure_network(body))


def _gone(type: str | None, **_: Any) -> bool:
    return type == "DELETED"


@kopf.on.event(GROUP, VERSION, NETWORK.plural, when=_gone)
def network_gone(namespace: str | None, **_: Any) -> None:
    """A Network has no finalizer, so only its DELETED event tells that the count fell."""
    refresh_usage(str(namespace))


@kopf.index(GROUP, VERSION, NETWORK.plural)
def networks_by_name(
    namespace: str | None, name: str, body: kopf.Body, **_: Any
) -> dict[str, kopf.Body]:
    return {parent_key(namespace, name): body}


def network_children(body: kopf.Body) -> Children:
    attachment = build_network_attachment(Owner.of(body), parse_spec(NetworkSpec, body))
    return {ChildRef.of(attachment): attachment}


def ensure_network(body: kopf.Body) -> Outcome:
    spec = parse_spec(NetworkSpec, body)
    if problems := subnet_problems(spec.subnet):
        raise InvalidInput("InvalidSubnet", "; ".join(problems))
    outside = [
        a
        for a in port_addresses(body)
        if ipaddress.ip_address(a) not in ipaddress.ip_network(spec.subnet.cidr)
    ]
    if outside:
        raise InvalidInput(
            "PortsOutsideSubnet",
            f"{len(outside)} allocated addresses lie outside {spec.subnet.cidr}, "
            f"such as {outside[0]}",
        )
    kube.sync(network_children(body))
    if not (body.get("status") or {}).get("networkAttachmentDefinition"):
        refresh_usage(body["metadata"]["namespace"])  # counted once, when it first appears
    return observe_network(body)


def port_addresses(body: kopf.Body) -> list[str]:
    """The addresses held on this Network (a namespaced, label-selected read)."""
    selector = f"{LABEL_NETWORK}={label_value(body['metadata']['name'])}"
    ports = kube.list_objects(API_VERSION, "Port", body["metadata"]["namespace"], selector)
    return [p["spec"]["address"] for p in ports if p["spec"]["network"] == body["metadata"]["name"]]


def observe_network(body: kopf.Body) -> Outcome:
    spec = parse_spec(NetworkSpec, body)
    allocated = len(port_addresses(body))
    total = capacity(spec.subnet)
    return Outcome(
        phase="Active",
        message=f"{allocated} of {total} addresses allocated",
        fields={
            "networkAttachmentDefinition": body["metadata"]["name"],
            "ports": {"allocated": allocated, "available": min(total - allocated, INT64_MAX)},
        },
    )


register(Parent(NETWORK, network_children, ensure_network, observe_network))


@kopf.on.event(GROUP, VERSION, "ports")
def port_changed(body: kopf.Body, **kwargs: Any) -> None:
    """An address was taken or released: recount the Network's ports."""
    index: kopf.Index[str, kopf.Body] = kwargs["networks_by_name"]
    key = parent_key(body["metadata"]["namespace"], str(body["spec"]["network"]))
    for network in index.get(key, []):
        run(NETWORK, network, observe_network)
