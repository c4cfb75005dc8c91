"""What a LoadBalancer becomes: a Service of type LoadBalancer at its VIP, without a selector,
and the EndpointSlice Stratus keeps for it from the member Servers, each endpoint ready only
while its member is healthy, so that kube-proxy and the cluster's load balancer send
connections to healthy members only."""

from dataclasses import dataclass
from ipaddress import ip_address

from stratus.api.loadbalancer import LoadBalancerSpec
from stratus.builders.meta import ChildRef, Children, Manifest, Owner, child

SERVICE_NAME_LABEL = "kubernetes.io/service-name"
MANAGED_BY_LABEL = "endpointslice.kubernetes.io/managed-by"
SLICE_MANAGER = "loadbalancer.stratus.io"
VIP_ANNOTATIONS = ("metallb.universe.tf/loadBalancerIPs", "kube-vip.io/loadbalancerIPs")
"""How MetalLB and kube-vip are asked for a particular address."""


@dataclass(frozen=True)
class Member:
    name: str
    address: str | None
    healthy: bool


def service_name(load_balancer: str) -> str:
    return f"lb-{load_balancer}"[:63].rstrip("-")


def port_name(protocol: str, port: int) -> str:
    return f"{protocol.lower()}-{port}"


def readiness_probe(spec: LoadBalancerSpec) -> Manifest | None:
    """The health monitor as the readiness probe KubeVirt runs against a member's guest: a
    member failing it `maxRetries` times in a row turns not Ready, and leaves the endpoints."""
    monitor = spec.health_monitor
    if monitor is None:
        return None
    first = spec.listeners[0]
    port = monitor.port or first.target_port or first.port
    check: Manifest = (
        {"httpGet": {"port": port, "path": monitor.path or "/"}}
        if monitor.type == "HTTP"
        else {"tcpSocket": {"port": port}}
    )
    return {
        **check,
        "periodSeconds": monitor.delay_seconds,
        "timeoutSeconds": monitor.timeout_seconds,
        "failureThreshold": monitor.max_retries,
    }


def build_load_balancer(
    owner: Owner, spec: LoadBalancerSpec, vip: str | None, members: list[Member]
) -> Children:
    namespace = str(owner.namespace)
    name = service_name(owner.name)
    service = child("v1", "Service", name, owner, namespace)
    service_spec: Manifest = {
        "type": "LoadBalancer",
        "ports": [
            {
                "name": port_name(listener.protocol, listener.port),
                "protocol": listener.protocol,
                "port": listener.port,
                "targetPort": listener.target_port or listener.port,
            }
            for listener in spec.listeners
        ],
        "sessionAffinity": "ClientIP" if spec.pool.algorithm == "SOURCE_IP" else "None",
    }
    if vip is not None:
        service_spec["loadBalancerIP"] = vip
        service["metadata"]["annotations"] = dict.fromkeys(VIP_ANNOTATIONS, vip)
    service["spec"] = service_spec
    reachable = [m for m in members if m.address]
    family = "IPv6" if reachable and ip_address(str(reachable[0].address)).version == 6 else "IPv4"
    endpoints = child(
        "discovery.k8s.io/v1",
        "EndpointSlice",
        name,
        owner,
        namespace,
        {SERVICE_NAME_LABEL: name, MANAGED_BY_LABEL: SLICE_MANAGER},
    )
    endpoints |= {
        "addressType": family,
        "endpoints": [
            {
                "addresses": [m.address],
                "conditions": {"ready": m.healthy, "serving": m.healthy, "terminating": False},
            }
            for m in reachable
        ],
        "ports": [
            {
                "name": port_name(listener.protocol, listener.port),
                "protocol": listener.protocol,
                "port": listener.target_port or listener.port,
            }
            for listener in spec.listeners
        ],
    }
    return {ChildRef.of(service): service, ChildRef.of(endpoints): endpoints}
