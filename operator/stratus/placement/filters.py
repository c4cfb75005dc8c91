"""The NoValidHost filter step: which nodes could hold a Server, and which filter ruled out
the others. Pure: it works on a snapshot of nodes and what their pods request; the real
kube-scheduler makes the final choice among the nodes that pass."""

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from stratus.api.server import ServerCondition
from stratus.core.errors import StratusError

NO_VALID_HOST = "NoValidHost"


class NoValidHost(StratusError):
    """No node can hold the Server; a change of nodes or capacity retries it at once, and the
    delay is only a safety net."""

    retry_after = 600.0
    phase = "Error"
    condition = ServerCondition.WORKLOAD_READY


@dataclass(frozen=True)
class Node:
    """A node as placement sees it: where it is, what it offers and what is already asked."""

    name: str
    zone: str | None
    schedulable: bool
    cpu: int
    """Allocatable CPU in millicores."""
    memory: int
    """Allocatable memory in bytes."""
    requested_cpu: int = 0
    requested_memory: int = 0


@dataclass(frozen=True)
class Request:
    """What the Server needs of a node, and where it may and may not go."""

    cpu: int
    memory: int
    zone: str | None = None
    policy: str | None = None
    """The ServerGroup's policy, if the Server is in one."""
    group_hosts: frozenset[str] = field(default_factory=frozenset)
    """Nodes already running other members of the Server's group."""


Filter = Callable[[Node, Request], bool]


def _compute(node: Node, _: Request) -> bool:
    return node.schedulable


def _zone(node: Node, request: Request) -> bool:
    return request.zone is None or node.zone == request.zone


def _affinity(node: Node, request: Request) -> bool:
    return (
        request.policy != "affinity" or not request.group_hosts or node.name in request.group_hosts
    )


def _anti_affinity(node: Node, request: Request) -> bool:
    return request.policy != "anti-affinity" or node.name not in request.group_hosts


def _cores(node: Node, request: Request) -> bool:
    return node.cpu - node.requested_cpu >= request.cpu


def _ram(node: Node, request: Request) -> bool:
    return node.memory - node.requested_memory >= request.memory


FILTERS: tuple[tuple[str, Filter], ...] = (
    ("ComputeFilter", _compute),
    ("AvailabilityZoneFilter", _zone),
    ("ServerGroupAffinityFilter", _affinity),
    ("ServerGroupAntiAffinityFilter", _anti_affinity),
    ("CoreFilter", _cores),
    ("RamFilter", _ram),
)
"""In Nova's order; each filter sees only the nodes the ones before it kept."""


def _why(name: str, request: Request) -> str:
    return {
        "ComputeFilter": "not schedulable",
        "AvailabilityZoneFilter": f"not in zone {request.zone}",
        "ServerGroupAffinityFilter": "not running the group's members",
        "ServerGroupAntiAffinityFilter": "already running a member of the group",
        "CoreFilter": f"less than {request.cpu}m CPU free",
        "RamFilter": f"less than {request.memory // 2**20}Mi memory free",
    }[name]


def hosts_for(nodes: Iterable[Node], request: Request) -> list[str]:
    """The nodes that pass every filter, or NoValidHost saying which filter removed how many."""
    remaining: Sequence[Node] = sorted(nodes, key=lambda n: n.name)
    total = len(remaining)
    eliminated: list[str] = []
    for name, keeps in FILTERS:
        kept = [node for node in remaining if keeps(node, request)]
        if len(kept) < len(remaining):
            eliminated.append(
                f"{name} eliminated {len(remaining) - len(kept)} ({_why(name, request)})"
            )
        remaining = kept
        if not remaining:
            break
    if not remaining:
        detail = "; ".join(eliminated) if eliminated else "the cluster has no nodes"
        raise NoValidHost(NO_VALID_HOST, f"No valid host was found among {total} nodes: {detail}")
    return [node.name for node in remaining]
