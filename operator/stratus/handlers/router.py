"""Router handlers: the Router takes each joined Network's gateway address and an address of
its external Network, as Ports (so no other holder can take them), refuses what Neutron
refuses (a gateway already taken, overlapping subnets), and keeps its Pod and NAT rules as
its Networks and its Project's floating IPs say."""

import itertools
from collections.abc import Mapping
from ipaddress import ip_network
from typing import Any

import kopf

from stratus.api.network import NetworkSpec
from stratus.api.router import ROUTER, RouterSpec
from stratus.builders.meta import Children, Owner
from stratus.builders.router import Leg, Translation, build_router, nat_rules, pod_name
from stratus.builders.server import MULTUS_NETWORKS
from stratus.config import settings
from stratus.constants import GROUP, VERSION
from stratus.core import kube
from stratus.core.errors import Conflict, InvalidInput, WaitingForEvent
from stratus.core.indexes import index
from stratus.core.parents import (
    Parent,
    dependency_key,
    own_pass,
    parent_key,
    register,
    run,
)
from stratus.core.reconcile import Outcome, parse_spec, reconcile
from stratus.core.resolve import ready_dependency, split_reference
from stratus.core.workqueue import Strength
from stratus.ipam.errors import AddressInUse
from stratus.ipam.ports import (
    Allocation,
    Holder,
    allocate,
    holder_addresses,
    release,
    taken_addresses,
)


@kopf.on.resume(GROUP, VERSION, ROUTER.plural)
@kopf.on.create(GROUP, VERSION, ROUTER.plural)
@kopf.on.update(GROUP, VERSION, ROUTER.plural)
def router_changed(body: kopf.Body, **_: Any) -> None:
    own_pass(ROUTER, body, ensure_router)


@kopf.on.delete(GROUP, VERSION, ROUTER.plural)
def router_deleted(body: kopf.Body, **_: Any) -> None:
    reconcile(ROUTER, body, release_router, "Deleting", deletion=True)


@index(GROUP, VERSION, ROUTER.plural)
def routers_by_name(
    namespace: str | None, name: str, body: kopf.Body, **_: Any
) -> dict[str, kopf.Body]:
    return {parent_key(namespace, name): body}


@index(GROUP, VERSION, ROUTER.plural)
def routers_by_namespace(namespace: str | None, body: kopf.Body, **_: Any) -> dict[str, Any]:
    return {str(namespace): body}


@index(GROUP, VERSION, ROUTER.plural)
def routers_by_dependency(body: kopf.Body, **_: Any) -> dict[str, kopf.Body]:
    return dict.fromkeys(router_dependencies(body), body)


@index(GROUP, VERSION, "floatingips")
def floatingips_by_namespace(namespace: str | None, body: kopf.Body, **_: Any) -> dict[str, Any]:
    return {str(namespace): body}


def router_dependencies(body: Mapping[str, Any]) -> list[str]:
    """The Networks a Router waits for, so that one turning Active wakes it at once."""
    spec = body.get("spec") or {}
    namespace = str(body["metadata"]["namespace"])
    keys = [
        dependency_key("Network", namespace, i["network"]) for i in spec.get("interfaces") or []
    ]
    gateway = (spec.get("externalGateway") or {}).get("network")
    if gateway:
        keys.append(dependency_key("Network", *split_reference(namespace, gateway)))
    return keys


def usable_network(namespace: str, name: str) -> NetworkSpec:
    found = ready_dependency("Network", name, namespace, ("Active",), "NetworkNotReady")
    return NetworkSpec.model_validate(found["spec"])


def external_network(namespace: str, reference: str) -> tuple[str, str, NetworkSpec]:
    """An external Network a Router or FloatingIP of `namespace` names (<namespace>/<name>)."""
    network_namespace, name = split_reference(namespace, reference)
    spec = usable_network(network_namespace, name)
    if not spec.external:
        raise InvalidInput(
            "NetworkNotExternal",
            f"Network {network_namespace}/{name} is not external: only an external Network "
            "(spec.external, set by administrators) leads outside",
        )
    return network_namespace, name, spec


def check_overlaps(subnets: Mapping[str, str]) -> None:
    """Neutron refuses to route between overlapping subnets: which way would a packet go?"""
    for (a, a_cidr), (b, b_cidr) in itertools.combinations(sorted(subnets.items()), 2):
        if ip_network(a_cidr).overlaps(ip_network(b_cidr)):
            raise InvalidInput(
                "OverlappingSubnets",
                f"Networks {a} ({a_cidr}) and {b} ({b_cidr}) overlap: a Router cannot join them",
            )


def legs_of(body: kopf.Body) -> tuple[list[Leg], Leg | None]:
    """The Router's interfaces, each address taken (idempotent: a pass again finds its own)."""
    spec = parse_spec(RouterSpec, body)
    namespace, name = str(body["metadata"]["namespace"]), str(body["metadata"]["name"])
    holder = Holder(ROUTER.kind, namespace, name)
    networks = {i.network: usable_network(namespace, i.network) for i in spec.interfaces}
    for network, network_spec in networks.items():
        if network_spec.external:
            raise InvalidInput(
                "ExternalNetworkAsInterface",
                f"Network {network} is external: name it as the externalGateway instead",
            )
        if network_spec.subnet.gateway is None:
            raise InvalidInput(
                "NoGateway", f"Network {network} has no gateway address for the Router to take"
            )
    external = None
    if spec.external_gateway is not None:
        external = external_network(namespace, spec.external_gateway.network)
    subnets = {n: s.subnet.cidr for n, s in networks.items()}
    if external is not None:
        subnets[f"{external[0]}/{external[1]}"] = external[2].subnet.cidr
    check_overlaps(subnets)
    internal = []
    for position, (network, network_spec) in enumerate(networks.items()):
        gateway = str(network_spec.subnet.gateway)
        try:
            # One address per Network: interface 0 of the holder on each, whatever the order.
            address = allocate(
                namespace, network, network_spec.subnet, holder, 0, gateway, gateway_allowed=True
            )
        except AddressInUse as taken:
            raise Conflict(
                "GatewayInUse",
                f"the gateway {gateway} of Network {network} is held by {taken.holder}",
            ) from taken
        internal.append(
            Leg(f"{namespace}/{network}", network_spec.subnet.cidr, address, f"gw{position}")
        )
    outside = None
    keeping: dict[str, set[tuple[str, int]]] = {namespace: {(network, 0) for network in networks}}
    if external is not None:
        ext_namespace, ext_name, ext_spec = external
        address = allocate(
            ext_namespace, ext_name, ext_spec.subnet, holder, 0,
            known_taken=taken_addresses(ext_namespace, ext_name),
        )  # fmt: skip
        outside = Leg(f"{ext_namespace}/{ext_name}", ext_spec.subnet.cidr, address, "ext0")
        keeping.setdefault(ext_namespace, set()).add((ext_name, 0))
    # Networks left, and a gateway moved elsewhere: their addresses go back to their pools.
    previous = (body.get("status") or {}).get("externalNetwork")
    for where in {namespace, *([split_reference(namespace, previous)[0]] if previous else [])}:
        release(where, holder, keeping.get(where, set()))
    return internal, outside


def carried(namespace: str, router: str) -> list[tuple[str, Translation]]:
    """The Project's floating IPs that this Router translates, by FloatingIP, as their status
    says (each FloatingIP chooses its Router)."""
    found = []
    for fip in floatingips_by_namespace.get(namespace):
        status = fip.get("status") or {}
        if status.get("router") == router and status.get("address") and status.get("fixedAddress"):
            translation = Translation(status["address"], status["fixedAddress"])
            found.append((str(fip["metadata"]["name"]), translation))
    return sorted(found)


def router_children(body: kopf.Body) -> Children:
    spec = parse_spec(RouterSpec, body)
    owner = Owner.of(body)
    internal, external = legs_of(body)
    dnat = [t for _, t in carried(str(owner.namespace), owner.name)]
    rules = nat_rules(internal, external, spec.snat, dnat)
    return build_router(owner, internal, external, rules, settings().router_image)


def ensure_router(body: kopf.Body) -> Outcome:
    children = router_children(body)
    replace_changed_pod(children)
    kube.sync(children)
    return observe_router(body)


def replace_changed_pod(children: Children) -> None:
    """A Pod's interfaces are set when it starts: a Router whose Networks changed gets a new
    Pod. The old one goes first; its deletion's event brings the Router back here."""
    for ref, wanted in children.items():
        if ref.kind != "Pod" or wanted is None:
            continue
        live = kube.read("v1", "Pod", ref.name, ref.namespace)
        if live is None:
            return
        selection = (live["metadata"].get("annotations") or {}).get(MULTUS_NETWORKS)
        if selection != wanted["metadata"]["annotations"][MULTUS_NETWORKS]:
            kube.delete("v1", "Pod", ref.name, ref.namespace, uid=live["metadata"]["uid"])
            raise WaitingForEvent("Replacing", "its Networks changed: its Pod is being replaced")


def observe_router(body: kopf.Body) -> Outcome:
    namespace, name = str(body["metadata"]["namespace"]), str(body["metadata"]["name"])
    holder = Holder(ROUTER.kind, namespace, name)
    spec = parse_spec(RouterSpec, body)
    pod = kube.read("v1", "Pod", pod_name(name), namespace)
    joined = [i.network for i in spec.interfaces]
    addresses = {a.network: a.address for a in held_on(namespace, holder, joined)}
    external_address = None
    if spec.external_gateway is not None:
        ext_namespace, ext_name = split_reference(namespace, spec.external_gateway.network)
        held = held_on(ext_namespace, holder, [ext_name])
        external_address = held[0].address if held else None
    fields = {
        "interfaces": [{"network": n, "address": addresses[n]} for n in joined if n in addresses],
        "externalAddress": external_address,
        "externalNetwork": "/".join(split_reference(namespace, spec.external_gateway.network))
        if spec.external_gateway
        else None,
        "pod": pod_name(name),
        "floatingIps": [
            {"address": t.floating, "fixedAddress": t.fixed, "floatingIp": fip}
            for fip, t in carried(namespace, name)
        ],
    }
    phase = ((pod or {}).get("status") or {}).get("phase")
    if phase != "Running":
        return Outcome(
            "Building", False, "PodNotRunning", f"its Pod is {phase or 'not created yet'}", fields
        )
    return Outcome("Active", message=f"routing {len(addresses)} Networks", fields=fields)


def held_on(namespace: str, holder: Holder, networks: list[str]) -> list[Allocation]:
    return [a for a in holder_addresses(namespace, holder) if a.network in networks]


def release_router(body: kopf.Body) -> Outcome:
    """Its Pod and rules go with it (ownerReferences); its addresses are freed here."""
    namespace, name = str(body["metadata"]["namespace"]), str(body["metadata"]["name"])
    holder = Holder(ROUTER.kind, namespace, name)
    gateway = ((body.get("spec") or {}).get("externalGateway") or {}).get("network")
    previous = (body.get("status") or {}).get("externalNetwork")
    outside = {split_reference(namespace, n)[0] for n in (gateway, previous) if n}
    for where in {namespace, *outside}:
        release(where, holder)
    return Outcome(phase="Deleting", ready=False, reason="Deleting", message="addresses released")


PARENT = Parent(
    ROUTER,
    routers_by_name,
    router_children,
    ensure_router,
    observe_router,
    release_router,
    depends_on=router_dependencies,
    by_dependency=routers_by_dependency,
    waiting_phase=lambda _: "Building",
)
register(PARENT)


def wake_routers(namespace: str) -> None:
    """The Project's floating IPs changed: each Router rewrites the translations it carries."""
    for router in routers_by_namespace.get(namespace):
        run(ROUTER, router, ensure_router, Strength.ENSURE)
