"""The CSI snapshot-controller and csi-snapshotter, for the simulator's VolumeSnapshotClasses.

A VolumeSnapshot of a claim whose volume the simulator provisioned gets its bound
VolumeSnapshotContent, ready at once, with the claim's size as restoreSize, so that claims
restored from it can be provisioned (see `storage.source_ready`). The volume's bytes are
copied when the content is cut (`contents`), and go when the content does.
"""

from datetime import UTC, datetime
from typing import Any

import kopf

from devcluster.simulator import contents, kube, storage
from devcluster.simulator.kube import Manifest

GROUP, VERSION = "snapshot.storage.k8s.io", "v1"
ANN_DEFAULT_CLASS = "snapshot.storage.kubernetes.io/is-default-class"


def content_name(snapshot: Manifest) -> str:
    """The snapshot-controller's naming: snapcontent-<snapshot uid>."""
    return f"snapcontent-{snapshot['metadata']['uid']}"


def snapshot_class_for(snapshot: Manifest, classes: list[Manifest]) -> Manifest | None:
    """The named VolumeSnapshotClass, or the default one when none is named."""
    name = snapshot["spec"].get("volumeSnapshotClassName")
    for snapshot_class in classes:
        annotations = snapshot_class["metadata"].get("annotations") or {}
        if snapshot_class["metadata"]["name"] == name or (
            name is None and annotations.get(ANN_DEFAULT_CLASS) == "true"
        ):
            return snapshot_class
    return None


def build_content(snapshot: Manifest, snapshot_class: Manifest, volume: Manifest) -> Manifest:
    """The VolumeSnapshotContent bound to a snapshot of a simulated volume."""
    meta = snapshot["metadata"]
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "VolumeSnapshotContent",
        "metadata": {"name": content_name(snapshot)},
        "spec": {
            "deletionPolicy": snapshot_class.get("deletionPolicy", "Delete"),
            "driver": snapshot_class["driver"],
            "source": {"volumeHandle": volume["spec"]["csi"]["volumeHandle"]},
            "sourceVolumeMode": volume["spec"].get("volumeMode", "Filesystem"),
            "volumeSnapshotClassName": snapshot_class["metadata"]["name"],
            "volumeSnapshotRef": {
                "apiVersion": f"{GROUP}/{VERSION}",
                "kind": "VolumeSnapshot",
                "namespace": meta["namespace"],
                "name": meta["name"],
                "uid": meta["uid"],
            },
        },
    }


def ready_content_status(content: Manifest, size: str, at: datetime) -> Manifest:
    """What csi-snapshotter reports once the driver cut the snapshot."""
    return {
        "snapshotHandle": f"snapshot-{content['spec']['volumeSnapshotRef']['uid']}",
        "creationTime": int(at.timestamp() * 1e9),
        "readyToUse": True,
        "restoreSize": int(kube.quantity(size)),
    }


def ready_snapshot_status(content: Manifest, size: str) -> Manifest:
    """What the snapshot-controller copies onto the VolumeSnapshot from its ready content."""
    created = datetime.fromtimestamp(content["status"]["creationTime"] / 1e9, UTC)
    return {
        "boundVolumeSnapshotContentName": content["metadata"]["name"],
        "creationTime": created.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "readyToUse": True,
        "restoreSize": size,
    }


# --- handlers: read, decide with the functions above, write ---------------------------------


@kube.one_at_a_time
def reconcile(namespace: str, name: str, logger: kopf.Logger) -> None:
    """Cut the snapshot of a simulated volume and report it ready."""
    snapshot = kube.get(kube.VOLUME_SNAPSHOT, name, namespace)
    if snapshot is None or snapshot["metadata"].get("deletionTimestamp"):
        return
    snapshot_class = snapshot_class_for(snapshot, kube.list_(kube.VOLUME_SNAPSHOT_CLASS))
    claim_name = snapshot["spec"]["source"].get("persistentVolumeClaimName")
    if snapshot_class is None or snapshot_class["driver"] != storage.PROVISIONER or not claim_name:
        return
    claim = kube.get(kube.PVC, claim_name, namespace)
    volume_ref = (claim or {}).get("spec", {}).get("volumeName")
    volume = kube.get(kube.PV, volume_ref) if volume_ref else None
    if claim is None or volume is None or not storage.provisioned_here(volume):
        return  # the snapshot-controller waits for a bound claim of this driver
    size = claim.get("status", {}).get("capacity", {}).get("storage", "0")
    content = kube.get(kube.VOLUME_SNAPSHOT_CONTENT, content_name(snapshot))
    if content is None:
        content = kube.create(build_content(snapshot, snapshot_class, volume))
        if content is None:
            return
        logger.info(f"created {content_name(snapshot)}")
    if not (content.get("status") or {}).get("readyToUse"):
        contents.snapshot(volume["metadata"]["name"], content["metadata"]["name"])
        content["status"] = ready_content_status(content, size, datetime.now(UTC))
        kube.patch(
            kube.VOLUME_SNAPSHOT_CONTENT,
            content["metadata"]["name"],
            None,
            {"status": content["status"]},
            status=True,
        )
    if not (snapshot.get("status") or {}).get("readyToUse"):
        kube.patch(
            kube.VOLUME_SNAPSHOT,
            name,
            namespace,
            {"status": ready_snapshot_status(content, size)},
            status=True,
        )


@kopf.on.event(GROUP, VERSION, "volumesnapshots")
def snapshot_changed(type: str, body: kopf.Body, logger: kopf.Logger, **_: Any) -> None:
    namespace, name = kube.namespace_of(body), body.metadata.name
    if type == "DELETED":
        content = kube.get(kube.VOLUME_SNAPSHOT_CONTENT, content_name(dict(body)))
        if content and content["spec"].get("deletionPolicy") == "Delete":
            kube.delete(kube.VOLUME_SNAPSHOT_CONTENT, content["metadata"]["name"], None)
            contents.remove(contents.snapshot_path(content["metadata"]["name"]))
        return
    reconcile(namespace, name, logger)
    if body.get("status", {}).get("readyToUse"):
        storage.reconcile_claims_from(namespace, "VolumeSnapshot", name, logger)


@kopf.on.event("", "v1", "persistentvolumeclaims")
def claim_changed_for_snapshots(body: kopf.Body, logger: kopf.Logger, **_: Any) -> None:
    """A snapshot taken before its claim was bound can be cut once it is."""
    if body.get("status", {}).get("phase") != "Bound":
        return
    for snapshot in kube.list_(kube.VOLUME_SNAPSHOT, kube.namespace_of(body)):
        source = snapshot["spec"]["source"].get("persistentVolumeClaimName")
        if source == body.metadata.name and not (snapshot.get("status") or {}).get("readyToUse"):
            reconcile(kube.namespace_of(body), snapshot["metadata"]["name"], logger)
