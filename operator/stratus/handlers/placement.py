"""The cluster as placement sees it: Kopf indexes of nodes, of what pods request on each node
and of where ServerGroup members run; and the retry of unplaced Servers when that changes."""

from typing import Any

import kopf

from stratus.builders.server import LABEL_SERVER_GROUP
from stratus.constants import GROUP, VERSION
from stratus.core import conditions
from stratus.core.indexes import index
from stratus.core.parents import PARENTS, run
from stratus.core.workqueue import Strength
from stratus.placement import inventory
from stratus.placement.filters import NO_VALID_HOST
from stratus.placement.inventory import FINISHED, node_record, pod_record

_seen_nodes: dict[str, dict[str, Any]] = {}
"""The last record of each node, so heartbeats that change nothing placement reads are
not taken for new capacity."""


@index("", "v1", "nodes")
def nodes_for_placement(name: str, body: kopf.Body, **_: Any) -> dict[str, dict[str, Any]]:
    return {name: node_record(body)}


@index("", "v1", "pods")
def pod_requests_by_node(body: kopf.Body, **_: Any) -> dict[str, tuple[int, int]] | None:
    record = pod_record(body)
    return {record[0]: (record[1], record[2])} if record else None


@index("", "v1", "pods", labels={LABEL_SERVER_GROUP: kopf.PRESENT})
def server_group_hosts(
    namespace: str | None, body: kopf.Body, labels: kopf.Labels, **_: Any
) -> dict[str, str] | None:
    node = (body.get("spec") or {}).get("nodeName")
    if not node or (body.get("status") or {}).get("phase") in FINISHED:
        return None
    return {f"{namespace}/{labels[LABEL_SERVER_GROUP]}": node}


inventory.bind(nodes_for_placement, pod_requests_by_node, server_group_hosts)


@kopf.on.event("", "v1", "nodes")
def node_changed(type: str | None, name: str, body: kopf.Body, **_: Any) -> None:
    record = None if type == "DELETED" else node_record(body)
    if _seen_nodes.get(name) == record:
        return
    if record is None:
        _seen_nodes.pop(name, None)
    else:
        _seen_nodes[name] = record
    retry_unplaced()


def _capacity_freed(type: str | None, body: kopf.Body, **_: Any) -> bool:
    placed = bool((body.get("spec") or {}).get("nodeName"))
    return placed and (type == "DELETED" or (body.get("status") or {}).get("phase") in FINISHED)


@kopf.on.event("", "v1", "pods", when=_capacity_freed)
def pod_left_node(**_: Any) -> None:
    retry_unplaced()


@index(GROUP, VERSION, "servers")
def servers_without_host(body: kopf.Body, **_: Any) -> dict[str, kopf.Body] | None:
    """Servers no node could hold: a change of nodes or capacity retries them."""
    return {NO_VALID_HOST: body} if conditions.ready_reason(body) == NO_VALID_HOST else None


def retry_unplaced() -> None:
    """Servers that got NoValidHost try again: a node or some capacity may now fit them."""
    parent = PARENTS.get("Server")
    if parent is None:
        return
    for server in servers_without_host.get(NO_VALID_HOST):
        run(parent.kind, server, parent.ensure, Strength.ENSURE)
