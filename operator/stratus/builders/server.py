"""What every Server runtime shares: its interfaces and disks as plain data, the labels and
(anti-)affinity that place it, and the Multus selection carrying its addresses."""

import hashlib
import ipaddress
import json
from dataclasses import dataclass

from stratus.builders.meta import Manifest
from stratus.constants import GROUP

LABEL_SERVER = f"{GROUP}/server"
LABEL_SERVER_GROUP = f"{GROUP}/server-group"
ZONE_LABEL = "topology.kubernetes.io/zone"
HOSTNAME_LABEL = "kubernetes.io/hostname"
MULTUS_NETWORKS = "k8s.v1.cni.cncf.io/networks"
FLAVOR_ANNOTATION = f"{GROUP}/flavor"
"""On the instance (VMI or Pod): the Flavor it was started in, which a resize replaces."""
SOFT_WEIGHT = 100


@dataclass(frozen=True)
class Interface:
    """A Server's interface on a Stratus Network, with the address IPAM gave it."""

    index: int
    network: str
    namespace: str
    address: str
    cidr: str
    mac: str
    gateway: str | None = None
    dns: tuple[str, ...] = ()
    mtu: int | None = None

    @property
    def name(self) -> str:
        return f"nic{self.index}"

    @property
    def address_with_prefix(self) -> str:
        return f"{self.address}/{ipaddress.ip_network(self.cidr).prefixlen}"


@dataclass(frozen=True)
class Disk:
    """A Volume attached to a Server: its claim, and whether it comes and goes live."""

    volume: str
    claim: str
    block: bool = False
    hotpluggable: bool = False

    @property
    def name(self) -> str:
        return disk_name(self.volume)


@dataclass(frozen=True)
class Placement:
    zone: str | None = None
    group: str | None = None
    policy: str | None = None


@dataclass(frozen=True)
class Boot:
    """Where the root disk comes from: a copy (CDI source) of an Image, or a Volume's claim."""

    source: Manifest | None = None
    size: str | None = None
    storage_class: str | None = None
    claim: str | None = None


def disk_name(volume: str) -> str:
    """A Volume's disk name: a DNS label even for long or dotted Volume names."""
    readable = "vol-" + volume.replace(".", "-")
    if len(readable) <= 63:
        return readable
    digest = hashlib.sha256(volume.encode()).hexdigest()[:8]
    return f"{readable[:54].rstrip('-')}-{digest}"


def mac_address(server_uid: str, index: int) -> str:
    """A stable, locally administered MAC per Server interface, so cloud-init can match it."""
    digest = hashlib.sha256(f"{server_uid}/{index}".encode()).hexdigest()
    return "02:" + ":".join(digest[i : i + 2] for i in range(0, 10, 2))


def workload_labels(server: str, placement: Placement) -> dict[str, str]:
    """Labels on the pod that runs the Server: the group's (anti-)affinity selects them."""
    labels = {LABEL_SERVER: server}
    if placement.group:
        labels[LABEL_SERVER_GROUP] = placement.group
    return labels


def workload_annotations(flavor: str, interfaces: list[Interface]) -> dict[str, str]:
    """Annotations of the instance: its Flavor, and the Multus selection of its Networks."""
    annotations = {FLAVOR_ANNOTATION: flavor}
    if interfaces:
        annotations[MULTUS_NETWORKS] = multus_selection(interfaces)
    return annotations


def affinity(placement: Placement) -> Manifest | None:
    """Zone as required node affinity; the group's policy as pod (anti-)affinity per node."""
    result: Manifest = {}
    if placement.zone:
        term = {
            "matchExpressions": [{"key": ZONE_LABEL, "operator": "In", "values": [placement.zone]}]
        }
        result["nodeAffinity"] = {
            "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [term]}
        }
    if placement.group and placement.policy:
        pod_term = {
            "labelSelector": {"matchLabels": {LABEL_SERVER_GROUP: placement.group}},
            "topologyKey": HOSTNAME_LABEL,
        }
        kind = "podAntiAffinity" if "anti-affinity" in placement.policy else "podAffinity"
        if placement.policy.startswith("soft-"):
            result[kind] = {
                "preferredDuringSchedulingIgnoredDuringExecution": [
                    {"weight": SOFT_WEIGHT, "podAffinityTerm": pod_term}
                ]
            }
        else:
            result[kind] = {"requiredDuringSchedulingIgnoredDuringExecution": [pod_term]}
    return result or None


def multus_selection(interfaces: list[Interface]) -> str:
    """The Multus networks annotation: each interface's Network with its static address."""
    return json.dumps(
        [
            {
                "name": i.network,
                "namespace": i.namespace,
                "ips": [i.address_with_prefix],
                "mac": i.mac,
            }
            for i in interfaces
        ],
        sort_keys=True,
    )
