"""The manifests the benchmark applies, as a tenant and an administrator would write them."""

from typing import Any

from bench.harness import Manifest

API_VERSION = "stratus.io/v1alpha1"
BENCH_LABEL = "bench.stratus.io/run"
"""On everything the benchmark creates, so that it can clear up after itself."""
PROJECT = "bench"
NETWORK = "bench-net"
IMAGE = "bench-image"
KEY_PAIR = "bench-key"
FLAVOR = "bench.tiny"
HUGE_FLAVOR = "bench.huge"
"""Bigger than any node: a Server of it meets NoValidHost."""
PUBLIC_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"
NODE_CPUS = 64
NODE_MEMORY = "256Gi"
NODE_PODS = 250
ZONES = ("zone-a", "zone-b", "zone-c")


def stratus(kind: str, name: str, spec: dict[str, Any], namespace: str | None = None) -> Manifest:
    metadata: dict[str, Any] = {"name": name, "labels": {BENCH_LABEL: "true"}}
    if namespace:
        metadata["namespace"] = namespace
    return {"apiVersion": API_VERSION, "kind": kind, "metadata": metadata, "spec": spec}


def node(index: int) -> Manifest:
    """A KWOK node the size of a large hypervisor."""
    name = f"bench-node-{index:03d}"
    allocatable = {"cpu": str(NODE_CPUS), "memory": NODE_MEMORY, "pods": str(NODE_PODS)}
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
            "labels": {
                BENCH_LABEL: "true",
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "topology.kubernetes.io/zone": ZONES[index % len(ZONES)],
                "topology.kubernetes.io/region": "local",
                "type": "kwok",
                "kubevirt.io/schedulable": "true",
            },
        },
        "status": {
            "allocatable": allocatable,
            "capacity": allocatable,
            "nodeInfo": {
                "architecture": "amd64",
                "operatingSystem": "linux",
                "kubeletVersion": "fake",
                "containerRuntimeVersion": "kata-simulated",
            },
        },
    }


def flavors() -> list[Manifest]:
    return [
        stratus("Flavor", FLAVOR, {"vcpus": 1, "memory": "256Mi", "disk": "1Gi"}),
        stratus(
            "Flavor",
            HUGE_FLAVOR,
            {"vcpus": NODE_CPUS * 2, "memory": "1Gi", "disk": "1Gi", "dedicatedCpu": True},
        ),
    ]


def project(name: str) -> Manifest:
    """A tenant without limits: the benchmark measures the operator, not quota refusals."""
    return stratus("Project", name, {"deletionPolicy": "Cascade"})


def network(name: str, namespace: str, octet: int) -> Manifest:
    subnet = {"cidr": f"10.{octet}.0.0/20", "gateway": f"10.{octet}.0.1"}
    spec = {"type": "bridge", "hostInterface": "br1", "subnet": subnet}
    return stratus("Network", name, spec, namespace)


def image(namespace: str) -> Manifest:
    source = {"url": "https://download.cirros-cloud.net/0.6.2/cirros-0.6.2-x86_64-disk.img"}
    return stratus(
        "Image", IMAGE, {"source": source, "diskFormat": "qcow2", "visibility": "public"}, namespace
    )


def key_pair(namespace: str) -> Manifest:
    return stratus("KeyPair", KEY_PAIR, {"publicKey": PUBLIC_KEY}, namespace)


def server(name: str, namespace: str, network_name: str = NETWORK) -> Manifest:
    """A Server as in Rally's boot scenario: from an Image, one address, a KeyPair."""
    spec = {
        "flavor": FLAVOR,
        "image": f"{PROJECT}/{IMAGE}",
        "networks": [{"network": network_name}],
        "keyPair": KEY_PAIR,
    }
    return stratus("Server", name, spec, namespace)


def volume(name: str, namespace: str) -> Manifest:
    return stratus("Volume", name, {"size": "1Gi"}, namespace)
