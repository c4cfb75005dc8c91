"""HostMaintenance handlers: cordon the node, have every Server on it move away, report those
that cannot, and uncordon the node when the HostMaintenance is deleted.

Each Server moves itself (handlers/migration.py): its own pass sees that its node is under
maintenance and live-migrates through placement, so a Server's status has one writer. This
handler only wakes the Servers that have not tried yet, and sums up what their statuses say."""

from collections.abc import Mapping
from typing import Any

import kopf

from stratus.api.maintenance import HOST_MAINTENANCE, HostMaintenanceSpec
from stratus.api.server import MIGRATION_DONE, SERVER
from stratus.constants import GROUP, VERSION
from stratus.core import kube
from stratus.core.errors import DependencyNotReady, InvalidInput
from stratus.core.indexes import index
from stratus.core.parents import PARENTS, Parent, own_pass, parent_key, register, run
from stratus.core.reconcile import Outcome, parse_spec, reconcile
from stratus.core.workqueue import Strength

CORDONED_BY = f"{GROUP}/cordoned-by"
"""On a Node: the HostMaintenance that cordoned it, and will uncordon it."""


@kopf.on.resume(GROUP, VERSION, HOST_MAINTENANCE.plural)
@kopf.on.create(GROUP, VERSION, HOST_MAINTENANCE.plural)
@kopf.on.update(GROUP, VERSION, HOST_MAINTENANCE.plural)
def maintenance_changed(body: kopf.Body, **_: Any) -> None:
    own_pass(HOST_MAINTENANCE, body, ensure_maintenance)


@kopf.on.delete(GROUP, VERSION, HOST_MAINTENANCE.plural)
def maintenance_deleted(body: kopf.Body, **_: Any) -> None:
    reconcile(HOST_MAINTENANCE, body, end_maintenance, error_phase="Deleting", deletion=True)


@index(GROUP, VERSION, HOST_MAINTENANCE.plural)
def maintenances_by_name(name: str, body: kopf.Body, **_: Any) -> dict[str, kopf.Body]:
    return {name: body}


@index(GROUP, VERSION, HOST_MAINTENANCE.plural)
def maintenances_by_node(body: kopf.Body, **_: Any) -> dict[str, kopf.Body]:
    return {str(body["spec"]["node"]): body}


@index(GROUP, VERSION, SERVER.plural)
def servers_by_host(body: kopf.Body, **_: Any) -> dict[str, kopf.Body] | None:
    host = (body.get("status") or {}).get("host")
    return {host: body} if host else None


def maintenance_of(node: str) -> Mapping[str, Any] | None:
    """The HostMaintenance of a node, if it is in maintenance."""
    for maintenance in maintenances_by_node.get(node):
        if not maintenance["metadata"].get("deletionTimestamp"):
            found: Mapping[str, Any] = maintenance
            return found
    return None


def maintenance_request(maintenance: Mapping[str, Any]) -> str:
    """How a Server's status.migration names the maintenance that moved it: with its uid, so
    a maintenance deleted and made again tries the Servers that could not move again."""
    metadata = maintenance["metadata"]
    return f"{HOST_MAINTENANCE.kind}/{metadata['name']}/{metadata['uid'][:8]}"


def _migration(server: Mapping[str, Any]) -> Mapping[str, Any]:
    return (server.get("status") or {}).get("migration") or {}


def tried(server: Mapping[str, Any], maintenance: Mapping[str, Any], node: str) -> bool:
    """Whether the Server already tried to move for this maintenance (it may be moving)."""
    migration = _migration(server)
    if migration and migration.get("phase") not in MIGRATION_DONE:
        return True
    return (
        migration.get("requestedBy") == maintenance_request(maintenance)
        and migration.get("sourceHost") == node
    )


def cordon(node: Mapping[str, Any], name: str) -> bool:
    """Cordon the node for this maintenance; False when someone else had cordoned it."""
    metadata = node["metadata"]
    owner = (metadata.get("annotations") or {}).get(CORDONED_BY)
    if owner not in (None, name):
        raise InvalidInput(
            "AlreadyInMaintenance", f"node {metadata['name']} is in HostMaintenance {owner}"
        )
    if (node.get("spec") or {}).get("unschedulable") and owner is None:
        return False
    if owner is None or not (node.get("spec") or {}).get("unschedulable"):
        patch = {"spec": {"unschedulable": True}, "metadata": {"annotations": {CORDONED_BY: name}}}
        kube.merge_patch("v1", "Node", metadata["name"], None, patch)
    return True


def ensure_maintenance(body: kopf.Body) -> Outcome:
    spec = parse_spec(HostMaintenanceSpec, body)
    node = kube.read("v1", "Node", spec.node)
    if node is None:
        raise DependencyNotReady("NodeNotFound", f"node {spec.node} does not exist")
    cordoned = cordon(node, body["metadata"]["name"])
    servers = sorted(servers_by_host.get(spec.node), key=server_key)
    server_parent = PARENTS[SERVER.kind]
    for server in servers:
        if not tried(server, body, spec.node):
            run(SERVER, server, server_parent.ensure, Strength.ENSURE)
    return summary(body, spec.node, servers, cordoned)


def server_key(server: Mapping[str, Any]) -> str:
    return parent_key(server["metadata"]["namespace"], server["metadata"]["name"])


def summary(
    maintenance: Mapping[str, Any], node: str, servers: list[Mapping[str, Any]], cordoned: bool
) -> Outcome:
    """What the Servers still on the node say of their moves."""
    stuck = [
        {
            "server": server_key(s),
            "reason": str(_migration(s).get("reason")),
            "message": str(_migration(s).get("message") or ""),
        }
        for s in servers
        if tried(s, maintenance, node) and _migration(s).get("phase") == "Failed"
    ]
    fields = {
        "cordoned": cordoned,
        "servers": [server_key(s) for s in servers],
        "migrating": [
            server_key(s)
            for s in servers
            if _migration(s) and _migration(s).get("phase") not in MIGRATION_DONE
        ],
        "unmovable": stuck,
    }
    if not servers:
        message = f"node {node} is cordoned and runs no Server"
        return Outcome("InMaintenance", True, "Evacuated", message, fields)
    if stuck and len(stuck) == len(servers):
        detail = "; ".join(f"{s['server']}: {s['reason']}" for s in stuck)
        message = f"{len(stuck)} Server(s) cannot leave node {node}: {detail}"
        return Outcome("Blocked", False, "ServersNotMovable", message, fields, failed=True)
    message = f"moving {len(servers)} Server(s) off node {node}"
    return Outcome("Migrating", False, "Migrating", message, fields)


def end_maintenance(body: kopf.Body) -> Outcome:
    """Put the node back in service, if this maintenance is what took it out."""
    spec = parse_spec(HostMaintenanceSpec, body)
    node = kube.read("v1", "Node", spec.node)
    annotations = ((node or {}).get("metadata") or {}).get("annotations") or {}
    if node is not None and annotations.get(CORDONED_BY) == body["metadata"]["name"]:
        patch = {"spec": {"unschedulable": None}, "metadata": {"annotations": {CORDONED_BY: None}}}
        kube.merge_patch("v1", "Node", spec.node, None, patch)
    return Outcome("Deleting", False, "Deleting", f"node {spec.node} is back in service")


@kopf.on.event(GROUP, VERSION, SERVER.plural)
def server_moved(body: kopf.Body, **_: Any) -> None:
    """A Server on a node in maintenance changed (it moved, or could not): sum up again."""
    status = body.get("status") or {}
    for node in {status.get("host"), _migration(body).get("sourceHost")} - {None}:
        for maintenance in maintenances_by_node.get(str(node)):
            run(HOST_MAINTENANCE, maintenance, ensure_maintenance)


register(
    Parent(
        HOST_MAINTENANCE,
        maintenances_by_name,
        lambda _: {},
        ensure_maintenance,
        waiting_phase=lambda _: "Pending",
    )
)
