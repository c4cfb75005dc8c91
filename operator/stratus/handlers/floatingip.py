"""FloatingIP handlers: an address of an external Network's pool, taken as a Port (never
twice, whatever runs at once, and kept across restarts), pointed at a Server through the
Project's Router whose gateway is on that external Network, as Neutron requires, or, with port
forwardings, at the Server's pod through a Service."""

from collections.abc import Mapping
from typing import Any

import kopf

from stratus.api.floatingip import FLOATING_IP, FloatingIPSpec
from stratus.api.router import RouterSpec
from stratus.api.server import SERVER
from stratus.builders.floatingip import build_forwarding_service, service_name
from stratus.builders.meta import ChildRef, Children, Owner
from stratus.constants import API_VERSION, GROUP, VERSION
from stratus.core import kube
from stratus.core.changes import LastSeen
from stratus.core.errors import Conflict, StratusError
from stratus.core.indexes import index
from stratus.core.parents import Parent, dependency_key, own_pass, parent_key, register, run
from stratus.core.quota import refresh_usage
from stratus.core.reconcile import Outcome, parse_spec, reconcile
from stratus.core.resolve import split_reference
from stratus.core.workqueue import Strength
from stratus.handlers.router import (
    external_network,
    floatingips_by_namespace,
    routers_by_namespace,
    wake_routers,
)
from stratus.ipam.errors import AddressInUse, NetworkFull
from stratus.ipam.ports import Holder, allocate, release, taken_addresses


class NoMoreFloatingIps(StratusError):
    """The external Network's pool is spent: one frees up when a FloatingIP is released."""

    retry_after = 60.0


@kopf.on.resume(GROUP, VERSION, FLOATING_IP.plural)
@kopf.on.create(GROUP, VERSION, FLOATING_IP.plural)
@kopf.on.update(GROUP, VERSION, FLOATING_IP.plural)
def floating_ip_changed(body: kopf.Body, **_: Any) -> None:
    own_pass(FLOATING_IP, body, ensure_floating_ip)


@kopf.on.delete(GROUP, VERSION, FLOATING_IP.plural)
def floating_ip_deleted(body: kopf.Body, **_: Any) -> None:
    reconcile(FLOATING_IP, body, release_floating_ip, "Deleting", deletion=True)


@index(GROUP, VERSION, FLOATING_IP.plural)
def floating_ips_by_name(
    namespace: str | None, name: str, body: kopf.Body, **_: Any
) -> dict[str, kopf.Body]:
    return {parent_key(namespace, name): body}


@index(GROUP, VERSION, FLOATING_IP.plural)
def floating_ips_by_dependency(body: kopf.Body, **_: Any) -> dict[str, kopf.Body]:
    return dict.fromkeys(floating_ip_dependencies(body), body)


def floating_ip_dependencies(body: Mapping[str, Any]) -> list[str]:
    """The external Network, whose turning Active wakes the FloatingIP at once."""
    namespace = str(body["metadata"]["namespace"])
    network = str((body.get("spec") or {}).get("network"))
    return [dependency_key("Network", *split_reference(namespace, network))]


def take_address(namespace: str, name: str, spec: FloatingIPSpec) -> str:
    ext_namespace, ext_name, network = external_network(namespace, spec.network)
    holder = Holder(FLOATING_IP.kind, namespace, name)
    try:
        return allocate(
            ext_namespace, ext_name, network.subnet, holder, 0, spec.address,
            known_taken=taken_addresses(ext_namespace, ext_name),
        )  # fmt: skip
    except NetworkFull as full:
        raise NoMoreFloatingIps(
            "NoMoreFloatingIps",
            f"external Network {ext_namespace}/{ext_name} has no free address: all "
            f"{full.capacity} are held; release a FloatingIP, or ask for a larger pool",
        ) from full
    except AddressInUse as taken:
        raise Conflict(
            "FloatingIpInUse", f"{taken.address} is already held by {taken.holder}"
        ) from taken


def route_to(namespace: str, spec: FloatingIPSpec) -> tuple[str, str] | str:
    """The Router and Server address a floating IP reaches, or why there is none. The Router
    is one of the Project's with its gateway on the floating IP's external Network, joining a
    Network where the Server has an address: Neutron refuses an association without one."""
    server = kube.read(API_VERSION, SERVER.kind, str(spec.server), namespace)
    if server is None:
        return f"Server {spec.server} does not exist"
    addresses: dict[str, list[str]] = (server.get("status") or {}).get("addresses") or {}
    outside = split_reference(namespace, spec.network)
    for router in sorted(routers_by_namespace.get(namespace), key=lambda r: r["metadata"]["name"]):
        router_spec = RouterSpec.model_validate(router.get("spec") or {})
        gateway = router_spec.external_gateway
        if gateway is None or split_reference(namespace, gateway.network) != outside:
            continue
        for interface in router_spec.interfaces:
            reachable = addresses.get(interface.network) or []
            if spec.fixed_address is not None:
                reachable = [a for a in reachable if a == spec.fixed_address]
            if reachable:
                return str(router["metadata"]["name"]), reachable[0]
    wanted = f"the address {spec.fixed_address}" if spec.fixed_address else "an address"
    return (
        f"no Router of this Project with its gateway on {outside[0]}/{outside[1]} joins a "
        f"Network where Server {spec.server} has {wanted}: add that Network to such a Router"
    )


def forwarding_children(body: kopf.Body, address: str | None = None) -> Children:
    """The Service of a FloatingIP that forwards ports to a Server; none otherwise."""
    spec = parse_spec(FloatingIPSpec, body)
    owner = Owner.of(body)
    address = address or (body.get("status") or {}).get("address")
    ref = ChildRef("v1", "Service", service_name(owner.name), owner.namespace)
    if not (spec.port_forwardings and spec.server and address):
        return {ref: None}
    return {ref: build_forwarding_service(owner, address, spec.server, spec.port_forwardings)}


def ensure_floating_ip(body: kopf.Body) -> Outcome:
    """The address first, then the association; an association that cannot be made yet
    keeps the address, and says why (a Router or the Server appearing ends the wait)."""
    spec = parse_spec(FloatingIPSpec, body)
    namespace, name = str(body["metadata"]["namespace"]), str(body["metadata"]["name"])
    address = take_address(namespace, name, spec)
    if not (body.get("status") or {}).get("address"):
        refresh_usage(namespace)  # counted once, when it first holds an address
    kube.sync(forwarding_children(body, address))
    fields: dict[str, Any] = {
        "address": address,
        "server": None,
        "fixedAddress": None,
        "router": None,
        "service": None,
    }
    if spec.server is None:
        return Outcome("Down", message=f"{address}, not associated", fields=fields)
    if spec.port_forwardings:
        return forwarded(namespace, name, spec, address, fields)
    route = route_to(namespace, spec)
    if isinstance(route, str):
        return Outcome("Down", False, "NoRouterToServer", route, fields)
    router, fixed = route
    fields |= {"server": spec.server, "fixedAddress": fixed, "router": router}
    message = f"{address} -> Server {spec.server} ({fixed}) through Router {router}"
    return Outcome("Active", message=message, fields=fields)


def forwarded(
    namespace: str, name: str, spec: FloatingIPSpec, address: str, fields: dict[str, Any]
) -> Outcome:
    """Port forwardings reach the Server's pod, wherever it runs, through the Service."""
    server = str(spec.server)
    if kube.read(API_VERSION, SERVER.kind, server, namespace) is None:
        return Outcome("Down", False, "ServerNotFound", f"Server {server} does not exist", fields)
    fields |= {"server": server, "service": service_name(name)}
    ports = ", ".join(
        f"{f.protocol} {f.external_port}->{f.internal_port or f.external_port}"
        for f in spec.port_forwardings
    )
    return Outcome("Active", message=f"{address} -> Server {server}: {ports}", fields=fields)


def release_floating_ip(body: kopf.Body) -> Outcome:
    namespace, name = str(body["metadata"]["namespace"]), str(body["metadata"]["name"])
    network = str((body.get("spec") or {}).get("network"))
    release(split_reference(namespace, network)[0], Holder(FLOATING_IP.kind, namespace, name))
    refresh_usage(namespace)
    return Outcome(phase="Deleting", ready=False, reason="Deleting", message="address released")


PARENT = Parent(
    FLOATING_IP,
    floating_ips_by_name,
    forwarding_children,
    ensure_floating_ip,
    release=release_floating_ip,
    depends_on=floating_ip_dependencies,
    by_dependency=floating_ips_by_dependency,
    waiting_phase=lambda _: "Down",
)
register(PARENT)

_seen = LastSeen()
"""What of each FloatingIP (its translation), Router (its generation) and Server (its
addresses) the other kinds here were last told of."""


@kopf.on.event(GROUP, VERSION, FLOATING_IP.plural)
def floating_ip_event(type: str | None, body: kopf.Body, **_: Any) -> None:
    """A floating IP was associated, moved or released: the Project's Routers rewrite their
    translations."""
    status = body.get("status") or {}
    now = (status.get("address"), status.get("fixedAddress"), status.get("router"))
    if _seen.changed(type, body, now):
        wake_routers(str(body["metadata"]["namespace"]))


def reassociate(namespace: str, server: str | None = None) -> None:
    """The Project's floating IPs (those of one Server) look for their way again."""
    for fip in floatingips_by_namespace.get(namespace):
        if server is None or (fip.get("spec") or {}).get("server") == server:
            run(FLOATING_IP, fip, ensure_floating_ip, Strength.ENSURE)


@kopf.on.event(GROUP, VERSION, "routers")
def router_event(type: str | None, body: kopf.Body, **_: Any) -> None:
    """A Router came, went, or changed its Networks or gateway (its generation)."""
    if _seen.changed(type, body, (body["metadata"].get("generation"),)):
        reassociate(str(body["metadata"]["namespace"]))


@kopf.on.event(GROUP, VERSION, SERVER.plural)
def server_event(type: str | None, body: kopf.Body, **_: Any) -> None:
    """A Server's addresses came or went: its floating IPs follow."""
    addresses = (body.get("status") or {}).get("addresses") or {}
    now = tuple(sorted((n, tuple(a)) for n, a in addresses.items()))
    if _seen.changed(type, body, now):
        reassociate(str(body["metadata"]["namespace"]), str(body["metadata"]["name"]))
