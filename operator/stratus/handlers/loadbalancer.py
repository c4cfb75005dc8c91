"""LoadBalancer handlers: the VIP taken as a Port of its Network (never twice), the Service,
and the endpoints, which follow the members as their instances come, go, and turn healthy or
not: each member's health is its instance's readiness, as KubeVirt (or the kubelet, for a
Kata Pod) reports it. The health monitor is what decides it: the members' readiness probe."""

from collections.abc import Mapping
from typing import Any

import kopf

from stratus.api.loadbalancer import LOAD_BALANCER, LoadBalancerSpec
from stratus.api.server import SERVER
from stratus.builders.kubevirt import POD_NETWORK
from stratus.builders.loadbalancer import (
    Member,
    build_load_balancer,
    readiness_probe,
    service_name,
)
from stratus.builders.meta import Children, Manifest, Owner
from stratus.builders.server import LABEL_SERVER
from stratus.constants import API_VERSION, GROUP, VERSION
from stratus.core import kube
from stratus.core.changes import LastSeen
from stratus.core.errors import Conflict
from stratus.core.indexes import index
from stratus.core.parents import (
    PARENTS,
    Parent,
    dependency_key,
    own_pass,
    parent_key,
    register,
    run,
)
from stratus.core.quota import refresh_usage
from stratus.core.reconcile import Outcome, deleting, parse_spec, reconcile
from stratus.core.resolve import resolve_network, split_reference
from stratus.core.workqueue import Strength
from stratus.ipam.errors import AddressInUse
from stratus.ipam.ports import Holder, allocate, release, taken_addresses


@kopf.on.resume(GROUP, VERSION, LOAD_BALANCER.plural)
def load_balancer_resumed(body: kopf.Body, **_: Any) -> None:
    """Each Server's own resume pass takes its probe: Kopf fills the indexes before either."""
    own_pass(LOAD_BALANCER, body, ensure_load_balancer)


@kopf.on.create(GROUP, VERSION, LOAD_BALANCER.plural)
@kopf.on.update(GROUP, VERSION, LOAD_BALANCER.plural)
def load_balancer_changed(body: kopf.Body, **_: Any) -> None:
    own_pass(LOAD_BALANCER, body, ensure_load_balancer)
    recheck_members(body)


@kopf.on.delete(GROUP, VERSION, LOAD_BALANCER.plural)
def load_balancer_deleted(body: kopf.Body, **_: Any) -> None:
    reconcile(LOAD_BALANCER, body, release_load_balancer, "Deleting", deletion=True)
    recheck_members(body)


@index(GROUP, VERSION, LOAD_BALANCER.plural)
def load_balancers_by_name(
    namespace: str | None, name: str, body: kopf.Body, **_: Any
) -> dict[str, kopf.Body]:
    return {parent_key(namespace, name): body}


@index(GROUP, VERSION, LOAD_BALANCER.plural)
def load_balancers_by_namespace(namespace: str | None, body: kopf.Body, **_: Any) -> dict[str, Any]:
    return {str(namespace): body}


@index(GROUP, VERSION, LOAD_BALANCER.plural)
def load_balancers_by_dependency(body: kopf.Body, **_: Any) -> dict[str, kopf.Body]:
    return dict.fromkeys(load_balancer_dependencies(body), body)


@index(GROUP, VERSION, SERVER.plural)
def servers_by_namespace(namespace: str | None, body: kopf.Body, **_: Any) -> dict[str, Any]:
    return {str(namespace): body}


def load_balancer_dependencies(body: Mapping[str, Any]) -> list[str]:
    network = ((body.get("spec") or {}).get("vip") or {}).get("network")
    namespace = str(body["metadata"]["namespace"])
    return [dependency_key("Network", *split_reference(namespace, network))] if network else []


def take_vip(namespace: str, name: str, spec: LoadBalancerSpec) -> str | None:
    if spec.vip.network is None:
        return None
    vip_namespace, network, network_spec = resolve_network(
        namespace, spec.vip.network, external=True
    )
    subnet = network_spec.subnet
    holder = Holder(LOAD_BALANCER.kind, namespace, name)
    try:
        return allocate(
            vip_namespace, network, subnet, holder, 0, spec.vip.address,
            known_taken=taken_addresses(vip_namespace, network),
        )  # fmt: skip
    except AddressInUse as taken:
        raise Conflict("VipInUse", f"{taken.address} is already held by {taken.holder}") from taken


def in_pool(spec: LoadBalancerSpec, server: str, labels: Mapping[str, str]) -> bool:
    """Whether the pool holds a Server: by its name, or by labels its selector matches."""
    selector = spec.pool.selector or {}
    return server in spec.pool.members or (bool(selector) and selector.items() <= labels.items())


def member_names(namespace: str, spec: LoadBalancerSpec) -> list[str]:
    names = set(spec.pool.members)
    for server in servers_by_namespace.get(namespace) if spec.pool.selector else []:
        name, labels = str(server["metadata"]["name"]), server["metadata"].get("labels") or {}
        if in_pool(spec, name, labels):
            names.add(name)
    return sorted(names)


def member_probe(namespace: str, server: str, labels: Mapping[str, str]) -> Manifest | None:
    """A Server's readiness probe: the health monitor of the first LoadBalancer, by name, whose
    pool holds it and has one (KubeVirt runs one readiness probe per instance)."""
    balancers = sorted(load_balancers_by_namespace.get(namespace), key=lambda b: b.metadata.name)
    for body in balancers:
        spec = LoadBalancerSpec.model_validate(body.get("spec") or {})
        if not deleting(body) and spec.health_monitor and in_pool(spec, server, labels):
            return readiness_probe(spec)
    return None


def recheck_members(body: kopf.Body) -> None:
    """A pool or health monitor changed, or the LoadBalancer went: its members, and those it
    had, take their readiness probe again."""
    namespace = str(body["metadata"]["namespace"])
    names = set(member_names(namespace, parse_spec(LoadBalancerSpec, body)))
    names |= {m["name"] for m in (body.get("status") or {}).get("members") or []}
    server_parent = PARENTS[SERVER.kind]
    for server in servers_by_namespace.get(namespace):
        if server["metadata"]["name"] in names:
            run(SERVER, server, server_parent.ensure, Strength.ENSURE)


def member_state(namespace: str, name: str) -> Member:
    """A member's address on the pod network, and whether it serves: its instance runs and
    reports Ready (KubeVirt's readiness, which includes the guest's own probes)."""
    server = kube.read(API_VERSION, SERVER.kind, name, namespace)
    if server is None:
        return Member(name, None, False)
    if (server.get("spec") or {}).get("runtime") == "kata":
        pod = kube.read("v1", "Pod", name, namespace) or {}
        status = pod.get("status") or {}
        return Member(name, status.get("podIP"), _ready(status))
    instance = kube.read("kubevirt.io/v1", "VirtualMachineInstance", name, namespace) or {}
    status = instance.get("status") or {}
    address = next(
        (
            i.get("ipAddress")
            for i in status.get("interfaces") or []
            if i.get("name") == POD_NETWORK
        ),
        None,
    )
    return Member(name, address, status.get("phase") == "Running" and _ready(status))


def _ready(status: Mapping[str, Any]) -> bool:
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in status.get("conditions") or []
    )


def members_of(body: kopf.Body) -> list[Member]:
    namespace = str(body["metadata"]["namespace"])
    spec = parse_spec(LoadBalancerSpec, body)
    return [member_state(namespace, name) for name in member_names(namespace, spec)]


def load_balancer_children(body: kopf.Body) -> Children:
    namespace, name = str(body["metadata"]["namespace"]), str(body["metadata"]["name"])
    spec = parse_spec(LoadBalancerSpec, body)
    vip = take_vip(namespace, name, spec)
    return build_load_balancer(Owner.of(body), spec, vip, members_of(body))


def ensure_load_balancer(body: kopf.Body) -> Outcome:
    if not (body.get("status") or {}).get("service"):
        refresh_usage(str(body["metadata"]["namespace"]))  # counted once, when first made
    kube.sync(load_balancer_children(body))
    return observe_load_balancer(body)


def observe_load_balancer(body: kopf.Body) -> Outcome:
    namespace, name = str(body["metadata"]["namespace"]), str(body["metadata"]["name"])
    spec = parse_spec(LoadBalancerSpec, body)
    members = members_of(body)
    vip = take_vip(namespace, name, spec)
    if vip is None:
        service = kube.read("v1", "Service", service_name(name), namespace) or {}
        ingress = ((service.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
        vip = ingress[0].get("ip") if ingress else None
    serving = [m for m in members if m.healthy and m.address]
    operating = "ONLINE" if members and len(serving) == len(members) else "DEGRADED"
    operating = "OFFLINE" if not serving else operating
    fields = {
        "vipAddress": vip,
        "service": service_name(name),
        "operatingStatus": operating,
        "members": [
            {
                "name": m.name,
                "address": m.address,
                "operatingStatus": "ONLINE"
                if m in serving
                else ("ERROR" if m.address else "OFFLINE"),
            }
            for m in members
        ],
    }
    if vip is None:
        return Outcome(
            "Pending", False, "VipPending",
            "the cluster's load balancer implementation has not given the Service an address",
            fields,
        )  # fmt: skip
    message = f"{vip}: {len(serving)} of {len(members)} members serving"
    return Outcome("Active", message=message, fields=fields)


def release_load_balancer(body: kopf.Body) -> Outcome:
    namespace, name = str(body["metadata"]["namespace"]), str(body["metadata"]["name"])
    network = ((body.get("spec") or {}).get("vip") or {}).get("network")
    if network:
        release(split_reference(namespace, network)[0], Holder(LOAD_BALANCER.kind, namespace, name))
    refresh_usage(namespace)
    return Outcome(phase="Deleting", ready=False, reason="Deleting", message="VIP released")


PARENT = Parent(
    LOAD_BALANCER,
    load_balancers_by_name,
    load_balancer_children,
    ensure_load_balancer,
    observe_load_balancer,
    release_load_balancer,
    depends_on=load_balancer_dependencies,
    by_dependency=load_balancers_by_dependency,
    waiting_phase=lambda _: "Pending",
)
register(PARENT)

_seen = LastSeen()
"""What of each Server (its labels) and instance (its state) a pool was built from."""


def _rebuild(namespace: str) -> None:
    for load_balancer in load_balancers_by_namespace.get(namespace):
        run(LOAD_BALANCER, load_balancer, ensure_load_balancer, Strength.ENSURE)


@kopf.on.event(GROUP, VERSION, SERVER.plural)
def server_event(type: str | None, body: kopf.Body, **_: Any) -> None:
    """A Server came, went or changed its labels: pools that select by label may change."""
    if _seen.changed(type, body, tuple(sorted((body["metadata"].get("labels") or {}).items()))):
        _rebuild(str(body["metadata"]["namespace"]))


@kopf.on.event("kubevirt.io", "v1", "virtualmachineinstances", labels={LABEL_SERVER: kopf.PRESENT})
def instance_event(type: str | None, body: kopf.Body, **_: Any) -> None:
    """A member's instance started, stopped, or turned ready or not: the endpoints follow."""
    status = body.get("status") or {}
    address = next(
        (
            i.get("ipAddress")
            for i in status.get("interfaces") or []
            if i.get("name") == POD_NETWORK
        ),
        None,
    )
    if _seen.changed(type, body, (status.get("phase"), _ready(status), address)):
        _rebuild(str(body["metadata"]["namespace"]))
