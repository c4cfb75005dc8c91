"""A CSI driver's external-provisioner and external-resizer, for the simulator's StorageClasses.

The real PV controller in kube-controller-manager does the binding: this module only creates
the PersistentVolume a provisioner would (pre-bound to the claim through claimRef), deletes it
once it is Released under reclaimPolicy Delete, grows it when its claim asks for more, and
modifies it when its claim names another VolumeAttributesClass (ModifyVolume). What each volume
holds is an image file (`contents`): a claim restored from a snapshot or cloned from a claim
starts with its source's bytes.
"""

from pathlib import Path
from typing import Any

import kopf

from devcluster.simulator import contents, kube
from devcluster.simulator.kube import Manifest

PROVISIONER = "simulator.devcluster.stratus.io"
ANN_PROVISIONED_BY = "pv.kubernetes.io/provisioned-by"
ANN_STORAGE_PROVISIONER = "volume.kubernetes.io/storage-provisioner"
ANN_SELECTED_NODE = "volume.kubernetes.io/selected-node"
ANN_DEFAULT_CLASS = "storageclass.kubernetes.io/is-default-class"
ANN_LEGACY_CLASS = "volume.beta.kubernetes.io/storage-class"
# Conditions the resizer and kubelet set while an expansion is under way.
RESIZE_CONDITIONS = {"Resizing", "FileSystemResizePending", "ControllerResizeError"}


def class_name(claim: Manifest) -> str | None:
    """The claim's StorageClass name, including the pre-1.6 annotation form."""
    spec_name: str | None = claim.get("spec", {}).get("storageClassName")
    legacy: str | None = claim["metadata"].get("annotations", {}).get(ANN_LEGACY_CLASS)
    return spec_name if spec_name is not None else legacy


def is_default(storage_class: Manifest) -> bool:
    annotations = storage_class["metadata"].get("annotations") or {}
    return annotations.get(ANN_DEFAULT_CLASS) == "true"


def data_source(claim: Manifest) -> Manifest | None:
    """The claim's dataSourceRef (or dataSource): what the new volume starts from."""
    spec = claim.get("spec") or {}
    ref: Manifest | None = spec.get("dataSourceRef") or spec.get("dataSource")
    return ref


def source_ready(claim: Manifest, source: Manifest | None) -> bool:
    """Whether the claim's data source can be copied now (a bound claim, a ready snapshot).

    Any other kind belongs to a volume populator, which fills the claim instead.
    """
    ref = data_source(claim)
    if not ref:
        return True
    status = (source or {}).get("status") or {}
    if ref.get("kind") == "PersistentVolumeClaim":
        return status.get("phase") == "Bound"
    if ref.get("kind") == "VolumeSnapshot":
        return status.get("readyToUse") is True
    return False


def needs_volume(claim: Manifest, storage_class: Manifest, source_ok: bool = True) -> bool:
    """Whether the external-provisioner would provision a volume for this claim now."""
    if storage_class.get("provisioner") != PROVISIONER or not source_ok:
        return False
    if claim["metadata"].get("deletionTimestamp") or claim.get("spec", {}).get("volumeName"):
        return False
    if claim.get("status", {}).get("phase", "Pending") != "Pending":
        return False
    if storage_class.get("volumeBindingMode") == "WaitForFirstConsumer":
        return ANN_SELECTED_NODE in (claim["metadata"].get("annotations") or {})
    return True


def volume_name(claim: Manifest) -> str:
    """The external-provisioner's naming: pvc-<claim uid>."""
    return f"pvc-{claim['metadata']['uid']}"


def build_persistent_volume(claim: Manifest, storage_class: Manifest) -> Manifest:
    """The PersistentVolume for a claim, pre-bound to it as an external-provisioner makes it."""
    spec = claim["spec"]
    name = volume_name(claim)
    volume_mode = spec.get("volumeMode", "Filesystem")
    csi: Manifest = {
        "driver": PROVISIONER,
        "volumeHandle": name,
        "volumeAttributes": {"storage.kubernetes.io/csiProvisionerIdentity": PROVISIONER},
    }
    if volume_mode == "Filesystem":
        csi["fsType"] = storage_class.get("parameters", {}).get("csi.storage.k8s.io/fstype", "ext4")
    pv_spec: Manifest = {
        "capacity": {"storage": spec["resources"]["requests"]["storage"]},
        "accessModes": spec.get("accessModes") or ["ReadWriteOnce"],
        "volumeMode": volume_mode,
        "storageClassName": storage_class["metadata"]["name"],
        "persistentVolumeReclaimPolicy": storage_class.get("reclaimPolicy", "Delete"),
        "claimRef": {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "namespace": claim["metadata"]["namespace"],
            "name": claim["metadata"]["name"],
            "uid": claim["metadata"]["uid"],
        },
        "csi": csi,
    }
    if storage_class.get("mountOptions"):
        pv_spec["mountOptions"] = storage_class["mountOptions"]
    if spec.get("volumeAttributesClassName"):  # provisioned with it: the binder matches on it
        pv_spec["volumeAttributesClassName"] = spec["volumeAttributesClassName"]
    node = (claim["metadata"].get("annotations") or {}).get(ANN_SELECTED_NODE)
    if node:  # WaitForFirstConsumer: the volume lives where the scheduler put its first pod
        pv_spec["nodeAffinity"] = {
            "required": {
                "nodeSelectorTerms": [
                    {
                        "matchExpressions": [
                            {"key": "kubernetes.io/hostname", "operator": "In", "values": [node]}
                        ]
                    }
                ]
            }
        }
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {"name": name, "annotations": {ANN_PROVISIONED_BY: PROVISIONER}},
        "spec": pv_spec,
    }


def provisioned_here(volume: Manifest | None) -> bool:
    annotations = (volume or {}).get("metadata", {}).get("annotations") or {}
    return annotations.get(ANN_PROVISIONED_BY) == PROVISIONER


def should_reclaim(volume: Manifest) -> bool:
    """A Released volume of ours whose policy is Delete: the provisioner deletes it."""
    return (
        provisioned_here(volume)
        and volume.get("status", {}).get("phase") == "Released"
        and volume["spec"].get("persistentVolumeReclaimPolicy") == "Delete"
        and not volume["metadata"].get("deletionTimestamp")
    )


def requested_expansion(claim: Manifest, volume: Manifest | None) -> str | None:
    """The size a bound claim of ours asks for beyond what it has, or None."""
    if not provisioned_here(volume) or claim.get("status", {}).get("phase") != "Bound":
        return None
    requested: str = claim["spec"]["resources"]["requests"]["storage"]
    current = claim.get("status", {}).get("capacity", {}).get("storage")
    if current is not None and kube.quantity(requested) <= kube.quantity(current):
        return None
    return requested


def expanded_claim_status(claim: Manifest, size: str) -> Manifest:
    """The claim's status once the resizer and kubelet are done (no node step is simulated)."""
    conditions = [
        c
        for c in claim.get("status", {}).get("conditions") or []
        if c["type"] not in RESIZE_CONDITIONS
    ]
    return {
        "capacity": {"storage": size},
        "allocatedResources": {"storage": size},
        "allocatedResourceStatuses": None,
        "conditions": conditions or None,
    }


def modified_claim_status(
    claim: Manifest, attributes_class: Manifest | None, storage_class: Manifest | None
) -> Manifest | None:
    """The external-resizer's ModifyVolume on a bound claim whose VolumeAttributesClass
    changed: the claim's status once the driver applied it, or why it has not (Pending: no
    such class; Infeasible: a class of another driver). None: nothing to do."""
    wanted = claim.get("spec", {}).get("volumeAttributesClassName")
    status = claim.get("status") or {}
    if status.get("phase") != "Bound" or wanted in (
        None,
        status.get("currentVolumeAttributesClassName"),
    ):
        return None
    if attributes_class is None:
        state = "Pending"
    elif attributes_class.get("driverName") != (storage_class or {}).get("provisioner"):
        state = "Infeasible"
    else:
        return {"currentVolumeAttributesClassName": wanted, "modifyVolumeStatus": None}
    return {"modifyVolumeStatus": {"targetVolumeAttributesClassName": wanted, "status": state}}


# --- handlers: read, decide with the functions above, write ---------------------------------


def _storage_class(claim: Manifest) -> Manifest | None:
    name = class_name(claim)
    if name:
        return kube.get(kube.STORAGE_CLASS, name)
    return None


def _source_of(claim: Manifest) -> Manifest | None:
    ref = data_source(claim)
    if not ref or ref.get("kind") not in ("PersistentVolumeClaim", "VolumeSnapshot"):
        return None
    kind = kube.PVC if ref["kind"] == "PersistentVolumeClaim" else kube.VOLUME_SNAPSHOT
    return kube.get(kind, ref["name"], ref.get("namespace", claim["metadata"]["namespace"]))


def source_image(source: Manifest | None) -> Path | None:
    """The image file a new volume starts from: its source claim's volume, or its snapshot's
    content."""
    if source is None:
        return None
    if source.get("kind") == "VolumeSnapshot":
        content = (source.get("status") or {}).get("boundVolumeSnapshotContentName")
        return contents.snapshot_path(content) if content else None
    volume = (source.get("spec") or {}).get("volumeName")
    return contents.volume_path(volume) if volume else None


@kube.one_at_a_time
def reconcile_claim(namespace: str, name: str, logger: kopf.Logger) -> None:
    """Provision a volume for a new claim, or grow the volume of a claim that asks for more."""
    claim = kube.get(kube.PVC, name, namespace)
    if claim is None:
        return
    storage_class = _storage_class(claim)
    source = _source_of(claim)
    if storage_class is not None and needs_volume(
        claim, storage_class, source_ready(claim, source)
    ):
        size = claim["spec"]["resources"]["requests"]["storage"]
        contents.provision(volume_name(claim), size, source_image(source))
        if kube.create(build_persistent_volume(claim, storage_class)):
            logger.info(f"provisioned {volume_name(claim)}")
        return
    volume_ref = claim.get("spec", {}).get("volumeName")
    volume = kube.get(kube.PV, volume_ref) if volume_ref else None
    if provisioned_here(volume):
        _modify(claim, volume, storage_class, logger)
    size = requested_expansion(claim, volume)
    if volume is not None and size is not None:
        capacity = {"spec": {"capacity": {"storage": size}}}
        kube.patch(kube.PV, volume["metadata"]["name"], None, capacity)
        contents.grow(volume["metadata"]["name"], size)
        status = {"status": expanded_claim_status(claim, size)}
        kube.patch(kube.PVC, name, namespace, status, status=True)
        logger.info(f"expanded {volume['metadata']['name']} to {size}")


def _modify(
    claim: Manifest, volume: Manifest | None, storage_class: Manifest | None, logger: kopf.Logger
) -> None:
    wanted = claim.get("spec", {}).get("volumeAttributesClassName")
    found = kube.get(kube.VOLUME_ATTRIBUTES_CLASS, wanted) if wanted else None
    status = modified_claim_status(claim, found, storage_class)
    if status is None or volume is None:
        return
    name, namespace = claim["metadata"]["name"], claim["metadata"]["namespace"]
    if "currentVolumeAttributesClassName" in status:
        attributes = {"spec": {"volumeAttributesClassName": wanted}}
        kube.patch(kube.PV, volume["metadata"]["name"], None, attributes)
        logger.info(f"modified {volume['metadata']['name']} to VolumeAttributesClass {wanted}")
    kube.patch(kube.PVC, name, namespace, {"status": status}, status=True)


def reconcile_claims_from(namespace: str, kind: str, name: str, logger: kopf.Logger) -> None:
    """Claims waiting to be copied from this claim or snapshot may be provisioned now."""
    for claim in kube.list_(kube.PVC, namespace):
        ref = data_source(claim) or {}
        if (ref.get("kind"), ref.get("name")) == (kind, name) and not claim["spec"].get(
            "volumeName"
        ):
            reconcile_claim(namespace, claim["metadata"]["name"], logger)


@kopf.on.event("", "v1", "persistentvolumeclaims")
def claim_changed(type: str, body: kopf.Body, logger: kopf.Logger, **_: Any) -> None:
    if type == "DELETED":
        return
    reconcile_claim(kube.namespace_of(body), body.metadata.name, logger)
    if body.get("status", {}).get("phase") == "Bound":
        reconcile_claims_from(
            kube.namespace_of(body), "PersistentVolumeClaim", body.metadata.name, logger
        )


@kopf.on.event("", "v1", "persistentvolumes")
def volume_changed(type: str, body: kopf.Body, logger: kopf.Logger, **_: Any) -> None:
    """Delete a Released volume of ours under reclaimPolicy Delete, as the provisioner does."""
    if type != "DELETED" and should_reclaim(dict(body)):
        kube.delete(kube.PV, body.metadata.name, None, uid=body.metadata.uid)
        contents.remove(contents.volume_path(body.metadata.name))
        logger.info(f"deleted released volume {body.metadata.name}")


@kopf.on.startup()
def register_driver(logger: kopf.Logger, **_: Any) -> None:
    """The CSIDriver object a driver ships: no attach step, so no VolumeAttachments to serve."""
    driver = {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "CSIDriver",
        "metadata": {"name": PROVISIONER},
        "spec": {
            "attachRequired": False,
            "podInfoOnMount": False,
            "volumeLifecycleModes": ["Persistent"],
            "fsGroupPolicy": "File",
        },
    }
    if kube.create(driver):
        logger.info(f"registered CSIDriver {PROVISIONER}")
