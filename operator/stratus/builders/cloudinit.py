"""cloud-init NoCloud data: the user's user data as given, and a network-config (version 2)
that gives every Stratus interface the address IPAM allocated."""

import ipaddress

import yaml

from stratus.builders.meta import Manifest
from stratus.builders.server import Interface

EMPTY_USER_DATA = "#cloud-config\n{}\n"
ROUTE_METRIC = 200
"""Above the pod network's DHCP route: a Network's gateway is the fallback default route."""


def network_config(pod_mac: str, interfaces: list[Interface]) -> str:
    """DHCP on the pod network, static addresses on Stratus Networks, matched by MAC."""
    ethernets: Manifest = {
        "default": {"match": {"macaddress": pod_mac}, "set-name": "eth0", "dhcp4": True}
    }
    gateway_used = False
    for interface in interfaces:
        entry: Manifest = {
            "match": {"macaddress": interface.mac},
            "set-name": f"eth{interface.index + 1}",
            "addresses": [interface.address_with_prefix],
        }
        if interface.gateway and not gateway_used:
            default = (
                "::/0" if ipaddress.ip_address(interface.gateway).version == 6 else "0.0.0.0/0"
            )
            entry["routes"] = [{"to": default, "via": interface.gateway, "metric": ROUTE_METRIC}]
            gateway_used = True
        if interface.dns:
            entry["nameservers"] = {"addresses": list(interface.dns)}
        if interface.mtu:
            entry["mtu"] = interface.mtu
        ethernets[interface.name] = entry
    document = yaml.safe_dump({"version": 2, "ethernets": ethernets}, sort_keys=False)
    return str(document)
