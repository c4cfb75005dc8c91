"""VolumeBackup handlers: snapshot the Volume, read the snapshot through a claim with a mover
pod that exports it to the Bucket, record what was stored, and remove it on deletion."""

import datetime
from typing import Any

import kopf

from stratus.api.backup import VOLUME_BACKUP, BackupPhase, VolumeBackupSpec, VolumeBackupStatus
from stratus.api.volume import USABLE_PHASES
from stratus.builders.backup import (
    LABEL_STORE,
    VolumeMode,
    build_backup_claim,
    build_mover_pod,
    store_label,
    store_prefix,
)
from stratus.builders.meta import ChildRef, Children, Manifest, Owner
from stratus.builders.storage import SNAPSHOT_API_VERSION, build_volume_snapshot
from stratus.config import settings
from stratus.constants import API_VERSION, GROUP, VERSION
from stratus.core import kube
from stratus.core.conditions import is_ready
from stratus.core.errors import (
    BackendUnavailable,
    DependencyNotReady,
    InvalidInput,
    WaitingForEvent,
)
from stratus.core.indexes import index
from stratus.core.movers import start_mover
from stratus.core.parents import (
    Parent,
    dependency_key,
    own_pass,
    parent_key,
    register,
    run,
    wake,
)
from stratus.core.quota import refresh_usage
from stratus.core.reconcile import (
    Outcome,
    commit_status,
    parse_spec,
    parse_status,
    reconcile,
)
from stratus.core.resolve import bucket_credentials, ready_dependency
from stratus.core.units import amount, quantity
from stratus.core.workqueue import Strength
from stratus.handlers.volume import storage_class_of
from stratus.status.mover import mover_result


@kopf.on.resume(GROUP, VERSION, VOLUME_BACKUP.plural)
@kopf.on.create(GROUP, VERSION, VOLUME_BACKUP.plural)
@kopf.on.update(GROUP, VERSION, VOLUME_BACKUP.plural)
def backup_changed(body: kopf.Body, **_: Any) -> None:
    own_pass(VOLUME_BACKUP, body, ensure_backup)


@kopf.on.delete(GROUP, VERSION, VOLUME_BACKUP.plural)
def backup_deleted(body: kopf.Body, **_: Any) -> None:
    reconcile(VOLUME_BACKUP, body, release_backup, BackupPhase.DELETING, deletion=True)


@index(GROUP, VERSION, VOLUME_BACKUP.plural)
def backups_by_name(
    namespace: str | None, name: str, body: kopf.Body, **_: Any
) -> dict[str, kopf.Body]:
    return {parent_key(namespace, name): body}


@index(GROUP, VERSION, VOLUME_BACKUP.plural)
def backups_by_dependency(body: kopf.Body, **_: Any) -> dict[str, kopf.Body]:
    return dict.fromkeys(backup_dependencies(body), body)


@index(GROUP, VERSION, VOLUME_BACKUP.plural)
def backups_by_store(namespace: str | None, body: kopf.Body, **_: Any) -> dict[str, kopf.Body]:
    """Backups of one volume in one Bucket: the end of one mover may let another start."""
    spec = body.get("spec") or {}
    store = store_label(str(spec.get("bucket")), str(spec.get("volume")))
    return {parent_key(namespace, store): body}


def backup_dependencies(body: kopf.Body) -> list[str]:
    spec, namespace = body.get("spec") or {}, body["metadata"]["namespace"]
    keys = [
        dependency_key("Volume", namespace, str(spec.get("volume"))),
        dependency_key("Bucket", namespace, str(spec.get("bucket"))),
    ]
    if spec.get("snapshot"):
        keys.append(dependency_key("Snapshot", namespace, str(spec["snapshot"])))
    return keys


def _store(spec: VolumeBackupSpec) -> tuple[str, str]:
    return spec.bucket, spec.volume


def choose_parent(body: kopf.Body, spec: VolumeBackupSpec) -> str | None:
    """The latest Available backup of the same Volume in the same Bucket, which an incremental
    backup builds on; read from the API, not an index, so one just completed is seen."""
    namespace, name = body["metadata"]["namespace"], body["metadata"]["name"]
    candidates = [
        b
        for b in kube.list_objects(API_VERSION, VOLUME_BACKUP.kind, namespace)
        if b["metadata"]["name"] != name
        and not b["metadata"].get("deletionTimestamp")
        and (b.get("spec") or {}).get("volume") == spec.volume
        and (b.get("spec") or {}).get("bucket") == spec.bucket
        and (b.get("status") or {}).get("completedAt")
    ]
    if not candidates:
        raise DependencyNotReady(
            "NoParentBackup",
            f"an incremental backup needs an Available backup of Volume {spec.volume} in "
            f"Bucket {spec.bucket}; create a full one first",
        )
    latest = max(candidates, key=lambda b: str(b["status"]["completedAt"]))
    return str(latest["status"]["backupId"])


def source_of(body: kopf.Body, spec: VolumeBackupSpec) -> tuple[Manifest, str, str]:
    """The Volume, and what the backup reads: the VolumeSnapshot and the size it restores to."""
    namespace = body["metadata"]["namespace"]
    volume = ready_dependency("Volume", spec.volume, namespace, USABLE_PHASES, "VolumeNotReady")
    if spec.snapshot is None:
        return volume, body["metadata"]["name"], str(volume["spec"]["size"])
    snapshot = ready_dependency(
        "Snapshot", spec.snapshot, namespace, ("Available",), "SnapshotNotReady"
    )
    if snapshot["spec"]["volume"] != spec.volume:
        raise InvalidInput(
            "SnapshotOfAnotherVolume",
            f"Snapshot {spec.snapshot} is of Volume {snapshot['spec']['volume']}, "
            f"not {spec.volume}",
        )
    return volume, str(snapshot["status"]["volumeSnapshot"]), str(snapshot["status"]["size"])


def admit(body: kopf.Body, spec: VolumeBackupSpec) -> None:
    """Fix what the backup is before anything exists: its name in the store, its parent and
    its size, on record so every later pass builds the same pod."""
    _, _, size = source_of(body, spec)
    bucket_credentials(body["metadata"]["namespace"], spec.bucket)
    namespace = body["metadata"]["namespace"]
    commit_status(
        body,
        {
            "backupId": body["metadata"]["uid"],
            "prefix": store_prefix(spec.volume),
            "parent": choose_parent(body, spec) if spec.incremental else None,
            "size": size,
        },
    )
    refresh_usage(namespace)


def temporary_children(owner: Owner) -> list[ChildRef]:
    """What a backup holds while it runs: its snapshot, the claim restored from it, the pod."""
    return [
        ChildRef(SNAPSHOT_API_VERSION, "VolumeSnapshot", owner.name, owner.namespace),
        ChildRef("v1", "PersistentVolumeClaim", owner.name, owner.namespace),
        ChildRef("v1", "Pod", owner.name, owner.namespace),
    ]


def backup_children(body: kopf.Body) -> Children:
    """The snapshot (unless the backup reads a Snapshot), a claim restored from it and the
    mover pod, from admission until the backup is complete; nothing before or after."""
    spec = parse_spec(VolumeBackupSpec, body)
    status = parse_status(VolumeBackupStatus, body)
    owner = Owner.of(body)
    namespace = str(owner.namespace)
    refs = temporary_children(owner)
    children: Children = dict.fromkeys(refs)
    if status.completed_at or status.backup_id is None or status.prefix is None:
        return children
    existing = kube.read("v1", "PersistentVolumeClaim", owner.name, namespace)
    if existing is None:
        volume, snapshot, size = source_of(body, spec)
        mode: VolumeMode = volume["spec"].get("volumeMode") or "Filesystem"
        storage_class = storage_class_of(volume["spec"].get("volumeType") or "standard")
        source_claim = volume["status"]["claimName"]
    else:
        taken = kube.read(SNAPSHOT_API_VERSION, "VolumeSnapshot", owner.name, namespace)
        source_claim = (((taken or {}).get("spec") or {}).get("source") or {}).get(
            "persistentVolumeClaimName"
        )
        claim_spec = existing["spec"]
        snapshot = claim_spec["dataSource"]["name"]
        size = claim_spec["resources"]["requests"]["storage"]
        mode = claim_spec.get("volumeMode") or "Filesystem"
        storage_class = claim_spec.get("storageClassName")
    if spec.snapshot is None and source_claim:
        snapshot_class = settings().storage.snapshot_class
        children[refs[0]] = build_volume_snapshot(owner, source_claim, snapshot_class)
    elif spec.snapshot is None:
        del children[refs[0]]  # gone once the claim was restored from it: nothing to rebuild
    children[refs[1]] = build_backup_claim(owner, snapshot, size, mode, storage_class)
    children[refs[2]] = build_mover_pod(
        owner,
        owner.name,
        "backup",
        settings().mover_image,
        bucket_credentials(namespace, spec.bucket),
        _store(spec),
        status.prefix,
        status.backup_id,
        claim=owner.name,
        volume_mode=mode,
        parent=status.parent,
        blank_size=int(amount(size)),
    )
    return children


def ensure_backup(body: kopf.Body) -> Outcome:
    spec = parse_spec(VolumeBackupSpec, body)
    status = parse_status(VolumeBackupStatus, body)
    if status.backup_id is None:
        admit(body, spec)
    children = backup_children(body)
    pod = children.pop(temporary_children(Owner.of(body))[-1])
    kube.sync(children)
    if pod is not None:
        start_mover(pod)
    return observe_backup(body)


def _available(status: VolumeBackupStatus) -> Outcome:
    stored = quantity(amount(status.stored_bytes or 0))
    return Outcome(
        phase=BackupPhase.AVAILABLE,
        reason="Available",
        message=f"{status.size} backed up, {stored} stored in the Bucket",
    )


def observe_backup(body: kopf.Body) -> Outcome:
    """Where the mover pod stands. Its success completes the backup here: the summary is
    recorded first, then the snapshot, claim and pod go (a crash between the two leaves only
    that cleanup to the next pass), and backups waiting for this one are started."""
    status = parse_status(VolumeBackupStatus, body)
    if status.completed_at:
        return _available(status)
    name, namespace = body["metadata"]["name"], body["metadata"]["namespace"]
    pod = kube.read("v1", "Pod", name, namespace)
    result = mover_result(pod or {})
    if result.phase == "Succeeded":
        completed = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        fields = {
            "storedBytes": int(result.summary.get("storedBytes") or 0),
            "progress": "100%",
            "completedAt": completed,
        }
        commit_status(body, fields)
        kube.sync(backup_children(body))
        wake_store(namespace, store_label(*_store(parse_spec(VolumeBackupSpec, body))))
        return _available(parse_status(VolumeBackupStatus, body))
    if result.phase == "Failed":
        return Outcome(
            BackupPhase.ERROR, False, "BackupFailed", result.error, {"progress": None}, failed=True
        )
    if result.phase == "Running":
        message, progress = "copying the volume to the Bucket", "copying"
    else:
        message, progress = "taking the snapshot and starting the mover", "snapshotting"
    return Outcome(BackupPhase.CREATING, False, "BackingUp", message, {"progress": progress})


def release_backup(body: kopf.Body) -> Outcome:
    """The backup's own snapshot, claim and pod go first; then a mover pod removes the backup
    from the Bucket, keeping the chunks other backups of the Volume list. A Bucket that is
    gone took the backup with it."""
    spec = parse_spec(VolumeBackupSpec, body)
    status = parse_status(VolumeBackupStatus, body)
    owner = Owner.of(body)
    namespace = str(owner.namespace)
    kube.sync(dict.fromkeys(temporary_children(owner)))
    refresh_usage(namespace)
    if status.backup_id is None or status.prefix is None:
        return Outcome(BackupPhase.DELETING, False, "Deleting", "nothing was stored")
    bucket = kube.read(API_VERSION, "Bucket", spec.bucket, namespace)
    if bucket is None or bucket["metadata"].get("deletionTimestamp"):
        message = f"Bucket {spec.bucket} is gone, and the backup with it"
        return Outcome(BackupPhase.DELETING, False, "Deleting", message)
    pod = build_mover_pod(
        owner,
        f"{owner.name}-remove",
        "remove",
        settings().mover_image,
        bucket_credentials(namespace, spec.bucket),
        _store(spec),
        status.prefix,
        status.backup_id,
    )
    start_mover(pod)
    result = mover_result(kube.read("v1", "Pod", pod["metadata"]["name"], namespace) or {})
    if result.phase == "Succeeded":
        freed = result.summary.get("chunksRemoved", 0)
        message = f"removed from Bucket {spec.bucket}; {freed} chunks no other backup lists freed"
        return Outcome(BackupPhase.DELETING, False, "Deleting", message)
    if result.phase == "Failed":
        kube.delete("v1", "Pod", pod["metadata"]["name"], namespace)
        raise BackendUnavailable("RemoveFailed", f"removing the backup failed: {result.error}")
    raise WaitingForEvent("Removing", f"removing the backup from Bucket {spec.bucket}")


def waiting_phase(body: Any) -> str:
    return str((body.get("status") or {}).get("phase") or BackupPhase.CREATING)


PARENT = Parent(
    VOLUME_BACKUP,
    backups_by_name,
    backup_children,
    ensure_backup,
    observe_backup,
    release_backup,
    backup_dependencies,
    backups_by_dependency,
    waiting_phase=waiting_phase,
)
register(PARENT)


def wake_store(namespace: str, store: str) -> None:
    """A mover of these backups ended: start the backups and removals that waited for it."""
    for backup in backups_by_store.get(parent_key(namespace, store)):
        if backup["metadata"].get("deletionTimestamp"):
            wake(PARENT, backup, release_backup)
        elif not is_ready(backup):
            run(VOLUME_BACKUP, backup, ensure_backup, Strength.ENSURE)


@kopf.on.event("", "v1", "pods", labels={LABEL_STORE: kopf.PRESENT})
def mover_pod_changed(type: str | None, body: kopf.Body, labels: kopf.Labels, **_: Any) -> None:
    """A mover pod ended or went: the deletion it served may finish, and others may start."""
    namespace = body["metadata"]["namespace"]
    if type != "DELETED" and not mover_result(dict(body)).finished:
        return
    # The backup a removal pod serves is of that store too: this wakes its deletion.
    wake_store(namespace, str(labels[LABEL_STORE]))
