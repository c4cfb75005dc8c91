"""Snapshot handlers: a CSI VolumeSnapshot of the Volume's claim, and its readiness."""

from typing import Any

import kopf

from stratus.api.snapshot import SNAPSHOT, SnapshotSpec
from stratus.api.volume import USABLE_PHASES
from stratus.builders.meta import ChildRef, Children, Owner
from stratus.builders.storage import SNAPSHOT_API_VERSION, build_volume_snapshot
from stratus.config import settings
from stratus.constants import GROUP, VERSION
from stratus.core import kube
from stratus.core.indexes import index
from stratus.core.parents import Parent, dependency_key, own_pass, parent_key, register
from stratus.core.reconcile import Outcome, parse_spec
from stratus.core.resolve import ready_dependency


@kopf.on.resume(GROUP, VERSION, SNAPSHOT.plural)
@kopf.on.create(GROUP, VERSION, SNAPSHOT.plural)
@kopf.on.update(GROUP, VERSION, SNAPSHOT.plural)
def snapshot_changed(body: kopf.Body, **_: Any) -> None:
    own_pass(SNAPSHOT, body, ensure_snapshot)


@index(GROUP, VERSION, SNAPSHOT.plural)
def snapshots_by_name(
    namespace: str | None, name: str, body: kopf.Body, **_: Any
) -> dict[str, kopf.Body]:
    return {parent_key(namespace, name): body}


@index(GROUP, VERSION, SNAPSHOT.plural)
def snapshots_by_dependency(body: kopf.Body, **_: Any) -> dict[str, kopf.Body]:
    return {snapshot_dependencies(body)[0]: body}


def snapshot_dependencies(body: kopf.Body) -> list[str]:
    volume = str((body.get("spec") or {}).get("volume"))
    return [dependency_key("Volume", body["metadata"]["namespace"], volume)]


def snapshot_children(body: kopf.Body) -> Children:
    """The VolumeSnapshot; the Volume must hold a bound claim the first time."""
    spec = parse_spec(SnapshotSpec, body)
    owner = Owner.of(body)
    existing = kube.read(SNAPSHOT_API_VERSION, "VolumeSnapshot", owner.name, owner.namespace)
    claim = ((existing or {}).get("spec") or {}).get("source", {}).get("persistentVolumeClaimName")
    if claim is None:
        volume = ready_dependency(
            "Volume", spec.volume, str(owner.namespace), USABLE_PHASES, "VolumeNotReady"
        )
        claim = volume["status"]["claimName"]
    snapshot = build_volume_snapshot(owner, str(claim), settings().storage.snapshot_class)
    return {ChildRef.of(snapshot): snapshot}


def ensure_snapshot(body: kopf.Body) -> Outcome:
    kube.sync(snapshot_children(body))
    return observe_snapshot(body)


def observe_snapshot(body: kopf.Body) -> Outcome:
    name, namespace = body["metadata"]["name"], body["metadata"]["namespace"]
    snapshot = kube.read(SNAPSHOT_API_VERSION, "VolumeSnapshot", name, namespace) or {}
    status = snapshot.get("status") or {}
    fields = {"volumeSnapshot": name, "size": status.get("restoreSize")}
    if (error := status.get("error")) and error.get("message"):
        return Outcome(
            phase="Error",
            ready=False,
            reason="SnapshotFailed",
            message=str(error["message"]),
            fields=fields,
        )
    if status.get("readyToUse"):
        return Outcome(
            phase="Available",
            reason="Available",
            message=f"{fields['size']} snapshot ready",
            fields=fields,
        )
    return Outcome(
        phase="Creating",
        ready=False,
        reason="Creating",
        message="taking the snapshot",
        fields=fields,
    )


PARENT = Parent(
    SNAPSHOT,
    snapshots_by_name,
    snapshot_children,
    ensure_snapshot,
    observe_snapshot,
    depends_on=snapshot_dependencies,
    by_dependency=snapshots_by_dependency,
    waiting_phase=lambda _: "Creating",
)
register(PARENT)
