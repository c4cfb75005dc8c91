"""What placement knows of the cluster, summarised from Kopf indexes of nodes and pods: small
records, so an index holds a few numbers per object rather than whole bodies."""

from collections.abc import Iterable, Mapping
from typing import Any

from stratus.core.errors import BackendUnavailable
from stratus.core.indexes import IndexHandle
from stratus.core.units import amount
from stratus.placement.filters import Node

ZONE_LABEL = "topology.kubernetes.io/zone"
FINISHED = ("Succeeded", "Failed")
REFUSING_TAINTS = ("NoSchedule", "NoExecute")


def millicores(quantity: str | int) -> int:
    return int(amount(quantity) * 1000)


def node_record(body: Mapping[str, Any]) -> dict[str, Any]:
    """A node's zone, allocatable CPU and memory, and whether new pods may land on it."""
    spec, status = body.get("spec") or {}, body.get("status") or {}
    allocatable = status.get("allocatable") or {}
    ready = any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in status.get("conditions") or []
    )
    # Servers' pods tolerate no taint: NoExecute keeps them off as NoSchedule does.
    tainted = any(t.get("effect") in REFUSING_TAINTS for t in spec.get("taints") or [])
    return {
        "zone": (body["metadata"].get("labels") or {}).get(ZONE_LABEL),
        "schedulable": ready and not spec.get("unschedulable") and not tainted,
        "cpu": millicores(allocatable.get("cpu", 0)),
        "memory": int(amount(allocatable.get("memory", 0))),
    }


def pod_record(body: Mapping[str, Any]) -> tuple[str, int, int] | None:
    """(node, CPU millicores, memory bytes) a placed, unfinished pod requests; None otherwise."""
    spec = body.get("spec") or {}
    node = spec.get("nodeName")
    if not node or (body.get("status") or {}).get("phase") in FINISHED:
        return None
    cpu = memory = 0
    for container in spec.get("containers") or []:
        requests = (container.get("resources") or {}).get("requests") or {}
        cpu += millicores(requests.get("cpu", 0))
        memory += int(amount(requests.get("memory", 0)))
    overhead = spec.get("overhead") or {}
    cpu += millicores(overhead.get("cpu", 0))
    memory += int(amount(overhead.get("memory", 0)))
    return node, cpu, memory


def nodes_of(
    records: Mapping[str, Iterable[Mapping[str, Any]]],
    requests: Mapping[str, Iterable[tuple[int, int]]],
) -> list[Node]:
    """Nodes with what their pods already request, from the two indexes' contents."""
    nodes = []
    for name, found in records.items():
        for record in found:
            asked = list(requests.get(name, ()))
            nodes.append(
                Node(
                    name=name,
                    zone=record["zone"],
                    schedulable=record["schedulable"],
                    cpu=record["cpu"],
                    memory=record["memory"],
                    requested_cpu=sum(cpu for cpu, _ in asked),
                    requested_memory=sum(memory for _, memory in asked),
                )
            )
    return nodes


class Inventory:
    """Live views (Kopf indexes) of nodes, what pods request on each, and where each
    ServerGroup's members run."""

    def __init__(
        self,
        nodes: IndexHandle[dict[str, Any]],
        requests: IndexHandle[tuple[int, int]],
        groups: IndexHandle[str],
    ) -> None:
        self._nodes, self._requests, self._groups = nodes, requests, groups

    def nodes(self) -> list[Node]:
        return nodes_of(self._nodes.index(), self._requests.index())

    def zone_of(self, node: str) -> str | None:
        return next((record["zone"] for record in self._nodes.get(node)), None)

    def group_hosts(self, namespace: str, group: str) -> frozenset[str]:
        return frozenset(self._groups.get(f"{namespace}/{group}"))


_current: list[Inventory] = []


def bind(
    nodes: IndexHandle[dict[str, Any]],
    requests: IndexHandle[tuple[int, int]],
    groups: IndexHandle[str],
) -> None:
    """The indexes placement reads, declared by the placement handlers."""
    _current[:] = [Inventory(nodes, requests, groups)]


def current() -> Inventory:
    if not _current:
        raise BackendUnavailable("InventoryNotReady", "the node inventory is not loaded yet")
    return _current[0]
