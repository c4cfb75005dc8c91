"""The cluster as placement sees it: Kopf indexes of nodes, of what pods request on each node
and of where ServerGroup members run; and the retry of unplaced Servers when that changes."""

from typing import Any

import kopf

from stratus.builders.server import LABEL_SERVER_GROUP
from stratus.handlers.children import PARENTS, run
from stratus.placement import inventory
from stratus.placement.inventory import FINISHED, node_record, pod_record

NO_VALID_HOST = "NoValidHost"
_seen_nodes: dict[str, dict[str, Any]] = {}
"""The last record of each node, so heartbeats that change nothing placement reads are
not taken for new capacity."""


@kopf.index("", "v1", "nodes")
def nodes_for_placement(name: str, body: kopf.Body, **_: Any) -> dict[str, dict[str, Any]]:
    return {name: node_record(body)}


@kopf.index("", "v1", "pods")
def pod_requests_by_node(body: kopf.Body, **_: Any) -> dict[str, tuple[int, int]] | None:
    record = pod_record(body)
    return {record[0]: (record[1], record[2])} if record else None


@kopf.index("", "v1", "pods", labels={LABEL_SERVER_GROUP: kopf.PRESENT})
def server_group_hosts(
    namespace: str | None, body: kopf.Body, labels: kopf.Labels, **_: Any
) -> dict[str, str] | None:
    node = (body.get("spec") or {}).get("nodeName")
    if not node or (body.get("status") or {}).get("phase") in FINISHED:
        return None
    return {f"{namespace}/{labels[LABEL_SERVER_GROUP]}": node}


@kopf.on.event("", "v1", "nodes")
def node_changed(type: str | None, name: str, body: kopf.Body, **kwargs: Any) -> None:
    inventory.bind(kwargs)
    record = None if type == "DELETED" else node_record(body)
    if _seen_nodes.get(name) == record:
        return
    if record is None:
        _seen_nodes.pop(name, None)
    else:
        _seen_nodes[name] = record
    retry_unplaced(kwargs)


def _capacity_freed(type: str | None, body: kopf.Body, **_: Any) -> bool:
    placed = bool((body.get("spec") or {}).get("nodeName"))
    return placed and (type == "DELETED" or (body.get("status") or {}).get("phase") in FINISHED)


@kopf.on.event("", "v1", "pods", when=_capacity_freed)
def pod_left_node(**kwargs: Any) -> None:
    retry_unplaced(kwargs)


def retry_unplaced(indexes: dict[str, Any]) -> None:
    """Servers that got NoValidHost try again: a node or some capacity may now fit them."""
    parent = PARENTS.get("Server")
    waiting: kopf.Index[str, kopf.Body] = indexes["servers_without_host"]
    if parent is None:
        return
    for server in list(waiting.get(NO_VALID_HOST, [])):
        run(parent.kind, server, parent.ensure)
