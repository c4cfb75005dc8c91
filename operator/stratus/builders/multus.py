"""What a Network becomes: a Multus NetworkAttachmentDefinition whose CNI config attaches
interfaces to the host's bridge or NIC, with the addresses Stratus allocated."""

import json

from stratus.api.network import NetworkSpec
from stratus.builders.meta import Manifest, Owner, child

NAD_API_VERSION = "k8s.cni.cncf.io/v1"
CNI_VERSION = "1.0.0"


def cni_config(name: str, spec: NetworkSpec) -> Manifest:
    """The CNI plugin config. IPAM is static with the `ips` capability: Stratus allocates the
    address and a Server's network annotation passes it in."""
    plugin: Manifest = {"type": spec.type}
    if spec.type == "bridge":
        plugin["bridge"] = spec.host_interface
        if spec.vlan is not None:
            plugin["vlan"] = spec.vlan
    else:
        # macvlan and ipvlan tag through a VLAN sub-interface of the host NIC.
        plugin["master"] = (
            f"{spec.host_interface}.{spec.vlan}" if spec.vlan else spec.host_interface
        )
        plugin["mode"] = "bridge" if spec.type == "macvlan" else "l2"
    if spec.mtu is not None:
        plugin["mtu"] = spec.mtu
    plugin["capabilities"] = {"ips": True}
    plugin["ipam"] = {"type": "static"}
    return {"cniVersion": CNI_VERSION, "name": name, **plugin}


def build_network_attachment(owner: Owner, spec: NetworkSpec) -> Manifest:
    attachment = child(
        NAD_API_VERSION, "NetworkAttachmentDefinition", owner.name, owner, owner.namespace
    )
    config = cni_config(f"{owner.namespace}-{owner.name}", spec)
    attachment["spec"] = {"config": json.dumps(config, sort_keys=True)}
    return attachment
