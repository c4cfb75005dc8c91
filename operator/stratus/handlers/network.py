"""Network handlers: the Multus attachment, subnet checks CEL cannot make, port counts, and a
deletion that waits, as Neutron's does, while Servers still hold addresses on the Network."""

import ipaddress
from typing import Any

import kopf

from stratus.api.network import NETWORK, NetworkSpec
from stratus.builders.meta import ChildRef, Children, Owner
from stratus.builders.multus import build_network_attachment
from stratus.builders.securitygroup import MULTI_POLICY_API, build_network_default_deny
from stratus.constants import API_VERSION, GROUP, VERSION
from stratus.core import kube
from stratus.core.errors import InvalidInput, WaitingForEvent
from stratus.core.indexes import index
from stratus.core.parents import Parent, own_pass, parent_key, register, wake
from stratus.core.quota import refresh_usage
from stratus.core.reconcile import Outcome, parse_spec, reconcile
from stratus.core.resolve import ports_key, split_reference
from stratus.core.workqueue import hold
from stratus.ipam.allocator import capacity, subnet_problems
from stratus.ipam.ports import LABEL_NETWORK, label_value, taken_addresses

INT64_MAX = 2**63 - 1
"""The API's integers are 64-bit: a /64 has more free addresses than status can say."""


@kopf.on.resume(GROUP, VERSION, NETWORK.plural)
@kopf.on.create(GROUP, VERSION, NETWORK.plural)
@kopf.on.update(GROUP, VERSION, NETWORK.plural)
def network_changed(body: kopf.Body, **_: Any) -> None:
    own_pass(NETWORK, body, ensure_network)


@kopf.on.delete(GROUP, VERSION, NETWORK.plural)
def network_deleted(body: kopf.Body, **_: Any) -> None:
    reconcile(NETWORK, body, release_network, error_phase="Deleting", deletion=True)


@index(GROUP, VERSION, NETWORK.plural)
def networks_by_name(
    namespace: str | None, name: str, body: kopf.Body, **_: Any
) -> dict[str, kopf.Body]:
    return {parent_key(namespace, name): body}


def network_children(body: kopf.Body) -> Children:
    """The attachment, and where the cluster has MultiNetworkPolicy, the default deny that
    leaves the Servers on it to their SecurityGroups."""
    owner = Owner.of(body)
    attachment = build_network_attachment(owner, parse_spec(NetworkSpec, body))
    children: Children = {ChildRef.of(attachment): attachment}
    if kube.served(MULTI_POLICY_API, "MultiNetworkPolicy"):
        deny = build_network_default_deny(owner, owner.name)
        children[ChildRef.of(deny)] = deny
    return children


def ensure_network(body: kopf.Body) -> Outcome:
    spec = parse_spec(NetworkSpec, body)
    if problems := subnet_problems(spec.subnet):
        raise InvalidInput("InvalidSubnet", "; ".join(problems))
    outside = [
        p["spec"]["address"]
        for p in ports_of(body)
        if ipaddress.ip_address(p["spec"]["address"]) not in ipaddress.ip_network(spec.subnet.cidr)
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


def ports_of(body: kopf.Body) -> list[kube.Manifest]:
    """The Ports on this Network (a namespaced, label-selected read)."""
    selector = f"{LABEL_NETWORK}={label_value(body['metadata']['name'])}"
    ports = kube.list_objects(API_VERSION, "Port", body["metadata"]["namespace"], selector)
    return [p for p in ports if p["spec"]["network"] == body["metadata"]["name"]]


def observe_network(body: kopf.Body) -> Outcome:
    spec = parse_spec(NetworkSpec, body)
    # The count follows the Port index, which Kopf updates before it hands any handler the
    # Port's event: a LIST here would read every Port of the Network once per address taken.
    allocated = len(taken_addresses(body["metadata"]["namespace"], body["metadata"]["name"]))
    total = capacity(spec.subnet)
    return Outcome(
        phase="Active",
        message=f"{allocated} of {total} addresses allocated",
        fields={
            "networkAttachmentDefinition": body["metadata"]["name"],
            "ports": {"allocated": allocated, "available": min(total - allocated, INT64_MAX)},
        },
    )


def release_network(body: kopf.Body) -> Outcome:
    """Ports whose holder is gone are freed; while a living holder keeps one, the Network
    stays (Neutron answers NetworkInUse). Then the Project's usage no longer counts it."""
    namespace, name = body["metadata"]["namespace"], body["metadata"]["name"]
    with hold(ports_key(namespace, name)):
        holders = set()
        for port in ports_of(body):
            holder = str(port["spec"]["holder"])
            if holder_exists(holder):
                holders.add(holder)
            else:
                kube.delete(API_VERSION, "Port", port["metadata"]["name"], namespace)
    if holders:
        listed = ", ".join(sorted(holders))
        raise WaitingForEvent(
            "NetworkInUse",
            f"{len(holders)} holders still have addresses on Network {name}: {listed}; "
            "delete them or detach them first",
        )
    refresh_usage(namespace)
    return Outcome(phase="Deleting", ready=False, reason="Deleting", message="no ports left")


def holder_exists(holder: str) -> bool:
    """Whether a Port's holder (`Kind/namespace/name`) still exists: one being deleted frees
    its own addresses, and its Ports' events then end the wait."""
    kind, _, rest = holder.partition("/")
    namespace, name = split_reference("", rest)
    if not kube.served(API_VERSION, kind):
        return False  # not a kind of Stratus's: nothing can hold the address
    return kube.read(API_VERSION, kind, name, namespace or None) is not None


PARENT = Parent(
    NETWORK, networks_by_name, network_children, ensure_network, observe_network, release_network
)
register(PARENT)


@kopf.on.event(GROUP, VERSION, "ports")
def port_changed(body: kopf.Body, **_: Any) -> None:
    """An address was taken or released: recount the Network's ports, or, for a deleted
    Network, see whether its last holder has gone."""
    key = parent_key(body["metadata"]["namespace"], str(body["spec"]["network"]))
    for network in networks_by_name.get(key):
        wake(PARENT, network, observe_network)
