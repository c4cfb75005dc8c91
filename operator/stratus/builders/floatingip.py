"""What a FloatingIP with port forwardings becomes: a Service of type LoadBalancer at the
floating IP, selecting the Server's pod, as Harvester and Kube-OVN expose a VM on the pod
network. The client's address is kept (externalTrafficPolicy Local), so that the Server's
security groups judge the connection by where it really comes from."""

from stratus.api.floatingip import PortForwarding
from stratus.builders.loadbalancer import VIP_ANNOTATIONS, port_name
from stratus.builders.meta import Manifest, Owner, child
from stratus.builders.server import LABEL_SERVER


def service_name(floating_ip: str) -> str:
    return f"fip-{floating_ip}"[:63].rstrip("-")


def build_forwarding_service(
    owner: Owner, address: str, server: str, forwardings: list[PortForwarding]
) -> Manifest:
    service = child("v1", "Service", service_name(owner.name), owner, str(owner.namespace))
    service["metadata"]["annotations"] = dict.fromkeys(VIP_ANNOTATIONS, address)
    service["spec"] = {
        "type": "LoadBalancer",
        "loadBalancerIP": address,
        "externalTrafficPolicy": "Local",
        "selector": {LABEL_SERVER: server},
        "ports": [
            {
                "name": port_name(f.protocol, f.external_port),
                "protocol": f.protocol,
                "port": f.external_port,
                "targetPort": f.internal_port or f.external_port,
            }
            for f in forwardings
        ],
    }
    return service
