"""Live migration of Servers (Nova's os-migrateLive). A request, a new migrateRequestedAt or the
maintenance of the Server's node, is placed with the filters of a new Server, minus the node it
leaves; a KubeVirt VirtualMachineInstanceMigration then moves the instance to the node chosen,
and status.migration follows it to its end. A refused or failed migration leaves the Server
running where it was, with the reason in status.migration and a Warning Event."""

from collections.abc import Mapping
from typing import Any

import kopf
from kubernetes.client.exceptions import ApiException

from stratus.api.server import MIGRATION_DONE, ServerMigration, ServerSpec, ServerStatus
from stratus.builders.kubevirt import VM_API_VERSION, build_migration, migration_name
from stratus.builders.meta import Manifest, Owner
from stratus.builders.server import Placement
from stratus.core import kube
from stratus.core.conditions import find
from stratus.core.errors import InvalidInput, StratusError
from stratus.core.reconcile import commit_status, parse_status
from stratus.handlers.maintenance import maintenance_of, maintenance_request
from stratus.placement import inventory
from stratus.placement.filters import Request, hosts_for
from stratus.placement.sizing import placement_request

USER_REQUEST = "migrateRequestedAt"
MIGRATION_KIND = "VirtualMachineInstanceMigration"


def new_request(spec: ServerSpec, status: ServerStatus) -> str | None:
    """What asks this Server to move and has not been acted on: a new migrateRequestedAt, or
    the maintenance of the node it runs on (tried once per maintenance and node)."""
    if spec.migrate_requested_at and spec.migrate_requested_at != status.migrated_for:
        return USER_REQUEST
    maintenance = maintenance_of(status.host) if status.host else None
    if maintenance is None or spec.power_state != "Running":
        return None
    request = maintenance_request(maintenance)
    last = status.migration
    if last and last.requested_by == request and last.source_host == status.host:
        return None
    return request


def movable(spec: ServerSpec, instance: Manifest | None) -> str:
    """The node a Server can be live-migrated from, or why it cannot be, as KubeVirt would
    refuse it (its LiveMigratable condition) or as Nova does (only an active server)."""
    if spec.runtime == "kata":
        raise InvalidInput(
            "LiveMigrationUnsupported",
            "a kata Server runs in a Pod, which cannot be live-migrated: stop it and start it "
            "again to move it",
        )
    status = (instance or {}).get("status") or {}
    if spec.power_state != "Running" or status.get("phase") != "Running":
        raise InvalidInput(
            "NotRunning",
            "only a running Server can be live-migrated; a stopped one starts "
            "wherever placement puts it",
        )
    migratable = find(status.get("conditions") or [], "LiveMigratable")
    if migratable and migratable.get("status") != "True":
        raise InvalidInput("NotLiveMigratable", str(migratable.get("message")))
    return str(status.get("nodeName"))


def awaiting_confirmation(status: ServerStatus, action: str) -> None:
    """Nova refuses to act on a server in VERIFY_RESIZE: what it runs now is not settled, and
    a revert must find it as the resize left it."""
    if status.previous_flavor is None:
        return
    flavor = status.flavor.name if status.flavor else ""
    raise InvalidInput(
        "ResizeNotConfirmed",
        f"a Server waiting for its resize to {flavor} to be confirmed cannot be {action}: "
        f"confirm it (spec.resizeConfirmedAt) or revert it (spec.flavor: "
        f"{status.previous_flavor.name}) first, then ask again",
    )


def choose_target(wanted: Request, source: str) -> str:
    """The node to move to: of those passing every filter (the node left excluded), the one
    with the most free memory, as Nova's RAM weigher ranks them."""
    nodes = [node for node in inventory.current().nodes() if node.name != source]
    hosts = set(hosts_for(nodes, wanted))
    return max(
        (node for node in nodes if node.name in hosts),
        key=lambda node: (node.memory - node.requested_memory, node.name),
    ).name


def migrate(body: kopf.Body, spec: ServerSpec, placement: Placement) -> dict[str, Any]:
    """Start a migration that was asked for, once; otherwise follow the one under way."""
    status = parse_status(ServerStatus, body)
    if status.migration and status.migration.phase not in MIGRATION_DONE:
        return follow(body, status.migration)
    request = new_request(spec, status)
    if request is None:
        return {}
    owner = Owner.of(body)
    fields: dict[str, Any] = {}
    key = request
    if request == USER_REQUEST:
        fields["migratedFor"] = spec.migrate_requested_at
        key = f"{request}={spec.migrate_requested_at}"
    instance = kube.read(VM_API_VERSION, "VirtualMachineInstance", owner.name, owner.namespace)
    source = status.host
    try:
        awaiting_confirmation(status, "live-migrated")
        source = movable(spec, instance)
        flavor = status.flavor
        if flavor is None:
            raise InvalidInput("NotRunning", "the Server has not been admitted yet")
        wanted = placement_request(str(owner.namespace), spec, flavor, placement)
        target = choose_target(wanted, source)
    except StratusError as refused:
        kopf.event(body, type="Warning", reason=refused.reason, message=refused.message)
        record = ServerMigration(
            requested_by=request,
            phase="Failed",
            source_host=source,
            reason=refused.reason,
            message=f"live migration refused: {refused.message}",
        )
        return fields | {"migration": dumped(record)}
    manifest = build_migration(owner, migration_name(owner.name, f"{key}@{source}"), target)
    record = ServerMigration(
        requested_by=request,
        phase="Pending",
        name=manifest["metadata"]["name"],
        source_host=source,
        target_host=target,
    )
    fields["migration"] = dumped(record)
    commit_status(body, fields)  # first: a pass after a crash follows it, and never re-places
    create_migration(manifest)
    kopf.event(body, type="Normal", reason="Migrating", message=f"from {source} to {target}")
    return fields


def create_migration(manifest: Manifest) -> None:
    try:
        kube.create(manifest)
    except ApiException as error:
        if error.status != 409:  # 409: an earlier pass made it, then crashed
            raise


def follow(body: kopf.Body, record: ServerMigration) -> dict[str, Any]:
    """Where the VirtualMachineInstanceMigration stands, into status.migration."""
    owner = Owner.of(body)
    live = kube.read(VM_API_VERSION, MIGRATION_KIND, str(record.name), owner.namespace)
    if live is None:
        if record.target_host:  # recorded, and the pass crashed before it was made
            create_migration(build_migration(owner, str(record.name), record.target_host))
        return {}
    status = live.get("status") or {}
    phase = status.get("phase") or "Pending"
    if phase == record.phase:
        return {}
    state = status.get("migrationState") or {}
    update: dict[str, Any] = {"phase": phase}
    if phase == "Failed":
        update["reason"] = "MigrationFailed"
        update["message"] = state.get("failureReason") or "the migration failed"
        kopf.event(body, type="Warning", reason="MigrationFailed", message=update["message"])
    elif phase == "Succeeded":
        update["target_host"] = state.get("targetNode") or record.target_host
        message = f"from {record.source_host} to {update['target_host']}"
        kopf.event(body, type="Normal", reason="Migrated", message=message)
    return {"migration": dumped(record.model_copy(update=update))}


def dumped(record: ServerMigration) -> dict[str, Any]:
    """Every field, unset ones as null, so a merge patch drops what the last one had."""
    return record.model_dump(by_alias=True)


def under_way(status: Mapping[str, Any]) -> ServerMigration | None:
    migration = status.get("migration")
    if not migration or migration.get("phase") in MIGRATION_DONE:
        return None
    return ServerMigration.model_validate(migration)
