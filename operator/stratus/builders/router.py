"""What a Router becomes, as Neutron's L3 agent makes a router namespace: a Pod with one Multus
interface per Network at that subnet's gateway address and one on the external Network,
forwarding between them, with the NAT rules (SNAT out, DNAT for floating IPs) in a ConfigMap
that the Pod applies with iptables-restore whenever it changes, so that a floating IP comes
and goes without restarting the Router. IPv6 is routed, not translated, as in Neutron."""

import json
from dataclasses import dataclass
from ipaddress import ip_address, ip_network

from stratus.builders.meta import ChildRef, Children, Manifest, Owner, child
from stratus.builders.server import MULTUS_NETWORKS
from stratus.constants import GROUP

LABEL_ROUTER = f"{GROUP}/router"
RULES_FILE = "rules.v4"
RULES_DIR = "/etc/stratus-router"
APPLY_RULES = f"""set -eu
applied=""
while true; do
  wanted=$(cat {RULES_DIR}/{RULES_FILE})
  if [ "$wanted" != "$applied" ]; then
    iptables-restore < {RULES_DIR}/{RULES_FILE} && applied="$wanted"
  fi
  sleep 2
done
"""
"""The router's own loop: the kubelet updates the mounted ConfigMap, this applies it."""


@dataclass(frozen=True)
class Leg:
    """One interface of the Router: where it is and its address there."""

    network: str
    """The NetworkAttachmentDefinition, <namespace>/<name>."""
    cidr: str
    address: str
    interface: str
    """The interface's name inside the Pod: gw<N> on the Networks, ext0 outside."""

    def selection(self) -> Manifest:
        namespace, name = self.network.split("/", 1)
        prefix = ip_network(self.cidr).prefixlen
        return {
            "name": name,
            "namespace": namespace,
            "ips": [f"{self.address}/{prefix}"],
            "interface": self.interface,
        }


@dataclass(frozen=True)
class Translation:
    floating: str
    fixed: str


def pod_name(router: str) -> str:
    return f"router-{router}"[:253]


def nat_rules(
    internal: list[Leg], external: Leg | None, snat: bool, dnat: list[Translation]
) -> str:
    """The IPv4 NAT table, as iptables-restore reads it: each floating IP translated to its
    Server both ways, then the Networks' other traffic leaving behind the external address."""
    lines = ["*nat", ":PREROUTING ACCEPT [0:0]", ":POSTROUTING ACCEPT [0:0]"]
    if external is not None and ip_address(external.address).version == 4:
        out = external.interface
        for t in dnat:
            lines.append(f"-A PREROUTING -d {t.floating}/32 -j DNAT --to-destination {t.fixed}")
            lines.append(
                f"-A POSTROUTING -s {t.fixed}/32 -o {out} -j SNAT --to-source {t.floating}"
            )
        behind = external.address
        if snat:
            for leg in internal:
                if ip_network(leg.cidr).version == 4:
                    lines.append(
                        f"-A POSTROUTING -s {leg.cidr} -o {out} -j SNAT --to-source {behind}"
                    )
    return "\n".join([*lines, "COMMIT", ""])


def build_router(
    owner: Owner, internal: list[Leg], external: Leg | None, rules: str, image: str
) -> Children:
    """The Router's ConfigMap of NAT rules and its Pod, placed by the scheduler like any."""
    namespace = str(owner.namespace)
    name = pod_name(owner.name)
    labels = {LABEL_ROUTER: owner.name}
    config = child("v1", "ConfigMap", name, owner, namespace, labels)
    config["data"] = {RULES_FILE: rules}
    legs = [*internal, *([external] if external else [])]
    pod = child("v1", "Pod", name, owner, namespace, labels)
    pod["metadata"]["annotations"] = {
        MULTUS_NETWORKS: json.dumps([leg.selection() for leg in legs], sort_keys=True)
    }
    pod["spec"] = {
        "securityContext": {
            # Namespaced sysctls the kubelet must allow (--allowed-unsafe-sysctls).
            "sysctls": [
                {"name": "net.ipv4.ip_forward", "value": "1"},
                {"name": "net.ipv6.conf.all.forwarding", "value": "1"},
            ],
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [
            {
                "name": "router",
                "image": image,
                "command": ["/bin/sh", "-c", APPLY_RULES],
                "securityContext": {
                    "allowPrivilegeEscalation": False,
                    "readOnlyRootFilesystem": True,
                    "capabilities": {"drop": ["ALL"], "add": ["NET_ADMIN", "NET_RAW"]},
                },
                "resources": {
                    "requests": {"cpu": "50m", "memory": "32Mi"},
                    "limits": {"memory": "64Mi"},
                },
                "volumeMounts": [{"name": "rules", "mountPath": RULES_DIR, "readOnly": True}],
            }
        ],
        "volumes": [{"name": "rules", "configMap": {"name": name}}],
        "terminationGracePeriodSeconds": 5,
    }
    return {ChildRef.of(config): config, ChildRef.of(pod): pod}
