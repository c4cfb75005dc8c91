"""Volume handlers: admit against quota, create the claim or clone, grow it, report its state,
and keep an attached Volume from being deleted."""

from typing import Any

import kopf

from stratus.api.common import QUOTA_ADMITTED
from stratus.api.volume import USABLE_PHASES, VOLUME, VolumePhase, VolumeSpec, VolumeStatus
from stratus.builders.backup import build_mover_pod
from stratus.builders.meta import ChildRef, Children, Manifest, Owner
from stratus.builders.storage import (
    DATAVOLUME_API_VERSION,
    build_volume_claim,
    build_volume_datavolume,
    cdi_claim,
)
from stratus.config import settings
from stratus.constants import API_VERSION, GROUP, LABEL_KIND, LABEL_NAME, VERSION
from stratus.core import kube
from stratus.core.copies import DATAVOLUMES, copies_of, source_claim
from stratus.core.errors import InvalidInput, WaitingForEvent
from stratus.core.indexes import index
from stratus.core.movers import start_mover
from stratus.core.parents import (
    Parent,
    dependency_key,
    finish_deletion,
    own_pass,
    parent_key,
    register,
    wake,
)
from stratus.core.quota import admit_storage, refresh_usage
from stratus.core.reconcile import (
    Check,
    Outcome,
    commit_status,
    parse_spec,
    parse_status,
    reconcile,
)
from stratus.core.resolve import (
    attach_key,
    bucket_credentials,
    image_copy,
    ready_dependency,
    split_reference,
)
from stratus.core.units import amount
from stratus.core.workqueue import hold
from stratus.status.mover import mover_result
from stratus.status.storage import datavolume_failure


@kopf.on.resume(GROUP, VERSION, VOLUME.plural)
@kopf.on.create(GROUP, VERSION, VOLUME.plural)
@kopf.on.update(GROUP, VERSION, VOLUME.plural)
def volume_changed(body: kopf.Body, **_: Any) -> None:
    own_pass(VOLUME, body, ensure_volume)


@kopf.on.delete(GROUP, VERSION, VOLUME.plural)
def volume_deleted(body: kopf.Body, **_: Any) -> None:
    reconcile(VOLUME, body, release_volume, error_phase=VolumePhase.DELETING, deletion=True)


@index(GROUP, VERSION, VOLUME.plural)
def volumes_by_name(
    namespace: str | None, name: str, body: kopf.Body, **_: Any
) -> dict[str, kopf.Body]:
    return {parent_key(namespace, name): body}


@index(GROUP, VERSION, VOLUME.plural)
def volumes_by_dependency(body: kopf.Body, **_: Any) -> dict[str, kopf.Body] | None:
    dependencies = volume_dependencies(body)
    return {dependencies[0]: body} if dependencies else None


@index(GROUP, VERSION, VOLUME.plural)
def volumes_by_holder(namespace: str | None, body: kopf.Body, **_: Any) -> dict[str, kopf.Body]:
    """Volumes by the Server they are attached to, as their status last said."""
    holder = (body.get("status") or {}).get("attachedTo")
    return {parent_key(namespace, holder): body} if holder else {}


RESTORED_KINDS = (
    ("Image", "image"),
    ("Volume", "volume"),
    ("Snapshot", "snapshot"),
    ("VolumeBackup", "backup"),
)


def volume_dependencies(body: kopf.Body) -> list[str]:
    source = (body.get("spec") or {}).get("source") or {}
    namespace = body["metadata"]["namespace"]
    for kind, field in RESTORED_KINDS:
        if reference := source.get(field):
            return [dependency_key(kind, *split_reference(namespace, str(reference)))]
    return []


def storage_class_of(volume_type: str) -> str:
    offered = settings().storage.volume_types
    if volume_type not in offered:
        raise InvalidInput(
            "UnknownVolumeType",
            f"volumeType {volume_type} is not offered; offered: {', '.join(sorted(offered))}",
        )
    return offered[volume_type]


def attributes_class_of(volume_type: str) -> str | None:
    return settings().storage.volume_attributes.get(volume_type)


def wanted_type(body: kopf.Body, spec: VolumeSpec) -> str:
    """The spec's type, unless it is a retype the classes do not allow: a claim's StorageClass
    cannot change, so only types on the same StorageClass retype (in place, by their
    VolumeAttributesClass). A refused retype leaves the Volume as it is, in its phase."""
    current = parse_status(VolumeStatus, body).volume_type
    new_class = storage_class_of(spec.volume_type)
    if current is None or current == spec.volume_type:
        return spec.volume_type
    old_class = settings().storage.volume_types.get(current)
    why = None
    if old_class != new_class:
        why = (
            f"volume type {current} is on StorageClass {old_class} and {spec.volume_type} on "
            f"{new_class}: a claim's StorageClass cannot change, so a Volume retypes only "
            "between types of one StorageClass"
        )
    elif attributes_class_of(current) and not attributes_class_of(spec.volume_type):
        why = (
            f"volume type {spec.volume_type} has no VolumeAttributesClass, and a claim's "
            f"cannot be taken away once set (it has {attributes_class_of(current)})"
        )
    if why:
        refused = InvalidInput("RetypeRefused", f"{why}; volumeType {current} cancels the retype")
        refused.phase = str((body.get("status") or {}).get("phase") or VolumePhase.AVAILABLE)
        raise refused
    return spec.volume_type


def volume_children(body: kopf.Body) -> Children:
    """The claim or DataVolume; a source is resolved only until the child exists."""
    spec = parse_spec(VolumeSpec, body)
    owner = Owner.of(body)
    volume_type = wanted_type(body, spec)
    storage_class = storage_class_of(volume_type)
    source = spec.source
    if not made_by_cdi(spec):
        existing = kube.read("v1", "PersistentVolumeClaim", owner.name, owner.namespace)
        snapshot = None
        if source is not None and source.snapshot:
            data_source = ((existing or {}).get("spec") or {}).get("dataSource") or {}
            snapshot = data_source.get("name") or snapshot_to_restore(owner, spec)
        claim = build_volume_claim(
            owner, spec, storage_class, snapshot, attributes_class_of(volume_type)
        )
        children: Children = {ChildRef.of(claim): claim}
        if source is not None and source.backup:
            restored = parse_status(VolumeStatus, body).restored_from is not None
            children[restore_pod_ref(owner)] = None if restored else restore_pod(owner, spec)
        return children
    existing = kube.read(DATAVOLUME_API_VERSION, "DataVolume", owner.name, owner.namespace)
    clone_from = ((existing or {}).get("spec") or {}).get("source") or clone_source(owner, spec)
    datavolume = build_volume_datavolume(owner, spec, storage_class, clone_from)
    return {ChildRef.of(datavolume): datavolume}


def made_by_cdi(spec: VolumeSpec) -> bool:
    """An Image's or another Volume's copy, which CDI makes; the rest are plain claims."""
    return spec.source is not None and bool(spec.source.image or spec.source.volume)


def restore_pod_ref(owner: Owner) -> ChildRef:
    return ChildRef("v1", "Pod", owner.name, owner.namespace)


def restore_pod(owner: Owner, spec: VolumeSpec) -> Manifest:
    """The mover pod that writes an Available VolumeBackup into the new claim."""
    assert spec.source is not None and spec.source.backup is not None
    namespace, name = str(owner.namespace), spec.source.backup
    backup = ready_dependency("VolumeBackup", name, namespace, ("Available",), "BackupNotReady")
    status, backup_spec = backup["status"], backup["spec"]
    _check_size(spec, status.get("size"), f"VolumeBackup {name}")
    return build_mover_pod(
        owner,
        owner.name,
        "restore",
        settings().mover_image,
        bucket_credentials(namespace, backup_spec["bucket"]),
        (backup_spec["bucket"], backup_spec["volume"]),
        status["prefix"],
        status["backupId"],
        claim=owner.name,
        volume_mode=spec.volume_mode,
    )


def _check_size(spec: VolumeSpec, needed: str | int | None, what: str) -> None:
    if needed is not None and amount(spec.size) < amount(needed):
        raise InvalidInput(
            "VolumeTooSmall", f"size {spec.size} is smaller than the {needed} {what} needs"
        )


def snapshot_to_restore(owner: Owner, spec: VolumeSpec) -> str:
    name = str(spec.source.snapshot) if spec.source else ""
    snapshot = ready_dependency(
        "Snapshot", name, str(owner.namespace), ("Available",), "SnapshotNotReady"
    )
    status = snapshot["status"]
    _check_size(spec, status.get("size"), f"Snapshot {name}")
    return str(status["volumeSnapshot"])


def clone_source(owner: Owner, spec: VolumeSpec) -> Manifest:
    """What CDI copies from: a golden Image volume, a registry image, or another Volume."""
    assert spec.source is not None
    namespace = str(owner.namespace)
    if spec.source.volume:
        name = spec.source.volume
        volume = ready_dependency("Volume", name, namespace, USABLE_PHASES, "SourceVolumeNotReady")
        status = volume["status"]
        _check_size(spec, volume["spec"]["size"], f"Volume {name}")
        return {"pvc": {"namespace": namespace, "name": status["claimName"]}}
    copy = image_copy(namespace, str(spec.source.image))
    _check_size(spec, copy.min_disk, f"Image {copy.image}")
    return copy.source


def ensure_volume(body: kopf.Body) -> Outcome:
    spec = parse_spec(VolumeSpec, body)
    owner = Owner.of(body)
    namespace = str(owner.namespace)
    children = volume_children(body)
    claim = kube.read("v1", "PersistentVolumeClaim", owner.name, namespace)
    requested = _requested(claim)
    grows = requested is not None and amount(spec.size) > amount(requested)
    if not (body.get("status") or {}).get("claimName") or grows:
        admit_storage(body, spec.size)
        refresh_usage(namespace)
    restore = children.pop(restore_pod_ref(owner), None)
    kube.sync(children)
    if restore is not None:
        start_mover(restore)
    attributes = attributes_class_of(wanted_type(body, spec))
    if made_by_cdi(spec) and claim is not None:
        retypes = (claim.get("spec") or {}).get("volumeAttributesClassName") != attributes
        if grows or retypes:
            kube.converge(cdi_claim(owner, owner.name, spec.size if grows else None, attributes))
    outcome = observe_volume(body)
    outcome.checks[QUOTA_ADMITTED] = Check(True, "Admitted", f"{spec.size} of storage")
    return outcome


def _requested(claim: Manifest | None) -> str | None:
    return ((((claim or {}).get("spec") or {}).get("resources") or {}).get("requests") or {}).get(
        "storage"
    )


def observe_volume(body: kopf.Body) -> Outcome:
    """Creating until the claim is bound, then Available, InUse, Resizing or Retyping."""
    spec = parse_spec(VolumeSpec, body)
    wanted_type(body, spec)  # a refused retype stays refused, whatever event woke the Volume
    name, namespace = body["metadata"]["name"], body["metadata"]["namespace"]
    fields: dict[str, Any] = {"claimName": name}
    if made_by_cdi(spec):
        datavolume = kube.read(DATAVOLUME_API_VERSION, "DataVolume", name, namespace) or {}
        status = datavolume.get("status") or {}
        fields["progress"] = status.get("progress")
        failure = datavolume_failure(status)
        if failure:
            return Outcome(
                phase=VolumePhase.ERROR,
                ready=False,
                reason="CopyFailed",
                message=str(failure),
                fields=fields,
            )
        if status.get("phase") != "Succeeded":
            return Outcome(
                phase=VolumePhase.CREATING,
                ready=False,
                reason="Copying",
                message=f"copying the source {status.get('progress') or ''}".strip(),
                fields=fields,
            )
    restoring = restore_state(body, spec, fields)
    if restoring is not None:
        return restoring
    claim = kube.read("v1", "PersistentVolumeClaim", name, namespace) or {}
    claim_status = claim.get("status") or {}
    if claim_status.get("phase") != "Bound":
        return Outcome(
            phase=VolumePhase.CREATING,
            ready=False,
            reason="WaitingForClaim",
            message="waiting for the claim to be bound",
            fields=fields,
        )
    capacity = (claim_status.get("capacity") or {}).get("storage")
    fields["capacity"] = capacity
    fields["attachedTo"] = attached_to(namespace, name)
    if capacity and amount(capacity) < amount(spec.size):
        return Outcome(
            phase=VolumePhase.RESIZING,
            reason="Resizing",
            message=f"growing from {capacity} to {spec.size}",
            fields=fields,
        )
    retyping = retype_state(body, spec, claim, fields)
    if retyping is not None:
        return retyping
    if fields["attachedTo"]:
        return Outcome(
            phase=VolumePhase.IN_USE,
            reason="Attached",
            message=f"attached to {fields['attachedTo']}",
            fields=fields,
        )
    return Outcome(
        phase=VolumePhase.AVAILABLE,
        reason="Available",
        message=f"{capacity} available",
        fields=fields,
    )


def restore_state(body: kopf.Body, spec: VolumeSpec, fields: dict[str, Any]) -> Outcome | None:
    """Where a restore from a VolumeBackup stands, until it is done. Its success is recorded
    before its pod goes, so the restore never runs twice over a Volume already in use."""
    backup = spec.source.backup if spec.source else None
    if backup is None or parse_status(VolumeStatus, body).restored_from:
        return None
    owner = Owner.of(body)
    pod = kube.read("v1", "Pod", owner.name, owner.namespace)
    result = mover_result(pod or {})
    if result.phase == "Succeeded":
        commit_status(body, {"restoredFrom": backup, "progress": "100%"})
        kube.delete("v1", "Pod", owner.name, owner.namespace)
        return None
    if result.phase == "Failed":
        message = f"restoring VolumeBackup {backup} failed: {result.error}"
        return Outcome(VolumePhase.ERROR, False, "RestoreFailed", message, fields, failed=True)
    fields["progress"] = "copying" if result.phase == "Running" else None
    message = f"restoring VolumeBackup {backup}"
    return Outcome(VolumePhase.CREATING, False, "Restoring", message, fields)


def retype_state(
    body: kopf.Body, spec: VolumeSpec, claim: Manifest, fields: dict[str, Any]
) -> Outcome | None:
    """Where a retype stands, read off the claim: the CSI driver applies the new
    VolumeAttributesClass (Retyping), has applied it (the Volume has its new type), or
    refused it (RetypeFailed). Sets status.volumeType to the type the claim has now."""
    wanted = (claim.get("spec") or {}).get("volumeAttributesClassName")
    status = claim.get("status") or {}
    applied = status.get("currentVolumeAttributesClassName")
    current = parse_status(VolumeStatus, body).volume_type or spec.volume_type
    if wanted == applied:
        fields["volumeType"] = spec.volume_type
        return None
    fields["volumeType"] = current
    modify = status.get("modifyVolumeStatus") or {}
    if modify.get("status") == "Infeasible":
        message = f"the storage driver refused VolumeAttributesClass {wanted}"
        phase = (body.get("status") or {}).get("phase") or VolumePhase.AVAILABLE
        return Outcome(phase, False, "RetypeFailed", message, fields, failed=True)
    message = f"retyping from {current} to {spec.volume_type} (VolumeAttributesClass {wanted})"
    return Outcome(VolumePhase.RETYPING, True, "Retyping", message, fields)


def attached_to(namespace: str, claim: str) -> str | None:
    """The Server the Volume is attached to (or being attached to or detached from); failing
    that, a VirtualMachine that uses its claim without Stratus."""
    for server in kube.list_objects(API_VERSION, "Server", namespace):
        status = server.get("status") or {}
        if any(v.get("name") == claim for v in status.get("volumes") or []):
            return str(server["metadata"]["name"])
    for machine in kube.list_objects("kubevirt.io/v1", "VirtualMachine", namespace):
        if claim in claims_of(machine):
            labels = machine["metadata"].get("labels") or {}
            if labels.get(LABEL_KIND) == "Server":
                return str(labels.get(LABEL_NAME))
            return str(machine["metadata"]["name"])
    return None


def claims_of(machine: Manifest) -> set[str]:
    volumes = (((machine.get("spec") or {}).get("template") or {}).get("spec") or {}).get(
        "volumes"
    ) or []
    claims = {(v.get("persistentVolumeClaim") or {}).get("claimName") for v in volumes}
    claims |= {(v.get("dataVolume") or {}).get("name") for v in volumes}
    return {c for c in claims if c}


def release_volume(body: kopf.Body) -> Outcome:
    """An attached Volume waits for its detachment, and one being copied for its copies; the
    claim then goes with the Volume. The check holds the attachment's key, so a Server that
    attaches the Volume at the same moment either is seen here or sees the Volume deleting."""
    name, namespace = body["metadata"]["name"], body["metadata"]["namespace"]
    with hold(attach_key(namespace, name)):
        holder = attached_to(namespace, name)
    if holder:
        raise WaitingForEvent(
            "VolumeInUse", f"Volume {name} is attached to {holder}; detach it first"
        )
    if copies := copies_of(namespace, name):
        raise WaitingForEvent(
            "VolumeInUse", f"Volume {name} is being copied to {', '.join(copies)}; wait for it"
        )
    refresh_usage(namespace)
    return Outcome(
        phase=VolumePhase.DELETING, ready=False, reason="Deleting", message="releasing the claim"
    )


PARENT = Parent(
    VOLUME,
    volumes_by_name,
    volume_children,
    ensure_volume,
    observe_volume,
    release_volume,
    volume_dependencies,
    volumes_by_dependency,
    waiting_phase=lambda _: VolumePhase.CREATING,
)
register(PARENT)


@kopf.on.event("kubevirt.io", "v1", "virtualmachines")
def machine_changed(body: kopf.Body, **_: Any) -> None:
    """Attachments changed: refresh the Volumes this machine uses now or used before."""
    _refresh_attachments(
        body["metadata"]["namespace"], body["metadata"]["name"], claims_of(dict(body))
    )


@kopf.on.event(GROUP, VERSION, "servers")
def server_attachments_changed(body: kopf.Body, **_: Any) -> None:
    """A Server's status.volumes changed: its Volumes turn InUse, or Available again."""
    volumes = {v.get("name") for v in (body.get("status") or {}).get("volumes") or []}
    _refresh_attachments(body["metadata"]["namespace"], body["metadata"]["name"], volumes)


def _refresh_attachments(namespace: str, holder: str, claims: set[Any]) -> None:
    """The Volumes a machine uses, and those last seen attached to it: a deleted one may be
    free to go now, the others report InUse or Available."""
    involved = [v for claim in claims for v in volumes_by_name.get(parent_key(namespace, claim))]
    involved += volumes_by_holder.get(parent_key(namespace, holder))
    # Whatever phase the index shows: it may not have the status the Volume's last pass
    # wrote yet (Creating while the Volume is Available), and a Volume skipped here would
    # not see the machine that took it until something else woke it.
    for volume in involved:
        wake(PARENT, volume, observe_volume)


@kopf.on.event(*DATAVOLUMES)
def volume_copy_changed(body: kopf.Body, **_: Any) -> None:
    """A copy from a Volume finished or went away: the Volume's deletion may wait for it."""
    source = source_claim(body)
    for volume in volumes_by_name.get(source) if source else []:
        finish_deletion(PARENT, volume)
