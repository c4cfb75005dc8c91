"""What Volumes, Snapshots and Images become: claims, CDI DataVolumes and CSI snapshots."""

import hashlib

from stratus.api.image import ImageSpec
from stratus.api.volume import VolumeSpec
from stratus.builders.meta import Manifest, Owner, child

DATAVOLUME_API_VERSION = "cdi.kubevirt.io/v1beta1"
SNAPSHOT_API_VERSION = "snapshot.storage.k8s.io/v1"
# Import and clone right away even where the class waits for a first consumer.
BIND_IMMEDIATELY = {"cdi.kubevirt.io/storage.bind.immediate.requested": "true"}


def claim_spec(
    size: str, access_mode: str, volume_mode: str, storage_class: str | None
) -> Manifest:
    spec: Manifest = {
        "accessModes": [access_mode],
        "volumeMode": volume_mode,
        "resources": {"requests": {"storage": size}},
    }
    if storage_class:
        spec["storageClassName"] = storage_class
    return spec


def build_volume_claim(
    owner: Owner,
    spec: VolumeSpec,
    storage_class: str,
    snapshot: str | None = None,
    attributes_class: str | None = None,
) -> Manifest:
    """A Volume without a source, or restored from a CSI VolumeSnapshot, as a PVC."""
    claim = child("v1", "PersistentVolumeClaim", owner.name, owner, owner.namespace)
    claim["spec"] = claim_spec(spec.size, spec.access_mode, spec.volume_mode, storage_class)
    if attributes_class:
        claim["spec"]["volumeAttributesClassName"] = attributes_class
    if snapshot:
        claim["spec"]["dataSource"] = snapshot_data_source(snapshot)
    return claim


def snapshot_data_source(snapshot: str) -> Manifest:
    """A claim's dataSource that restores it from a CSI VolumeSnapshot."""
    return {"apiGroup": "snapshot.storage.k8s.io", "kind": "VolumeSnapshot", "name": snapshot}


def build_volume_datavolume(
    owner: Owner, spec: VolumeSpec, storage_class: str, source: Manifest
) -> Manifest:
    """A Volume cloned from a claim (a golden Image, another Volume) or a registry image."""
    datavolume = child(DATAVOLUME_API_VERSION, "DataVolume", owner.name, owner, owner.namespace)
    datavolume["metadata"]["annotations"] = dict(BIND_IMMEDIATELY)
    datavolume["spec"] = {
        "source": source,
        "storage": claim_spec(spec.size, spec.access_mode, spec.volume_mode, storage_class),
    }
    return datavolume


def cdi_claim(
    owner: Owner, name: str, size: str | None, attributes_class: str | None = None
) -> Manifest:
    """The part of a claim CDI made that Stratus owns: its labels, the size it grows to and
    its VolumeAttributesClass (a DataVolume cannot carry one)."""
    claim = child("v1", "PersistentVolumeClaim", name, owner, owner.namespace)
    del claim["metadata"]["ownerReferences"]
    claim["spec"] = {"resources": {"requests": {"storage": size}}} if size else {}
    if attributes_class:
        claim["spec"]["volumeAttributesClassName"] = attributes_class
    return claim


def golden_volume_name(namespace: str, image: str) -> str:
    """A DNS label unique per Image, short enough for CDI's importer pod name."""
    readable = f"{namespace}-{image}"[:40].rstrip("-.")
    digest = hashlib.sha256(f"{namespace}/{image}".encode()).hexdigest()[:8]
    return f"{readable}-{digest}"


def build_golden_datavolume(
    owner: Owner, spec: ImageSpec, namespace: str, size: str, storage_class: str | None
) -> Manifest:
    """The Image imported once over HTTP into the images namespace, where only Stratus clones it."""
    name = golden_volume_name(owner.namespace or "", owner.name)
    datavolume = child(DATAVOLUME_API_VERSION, "DataVolume", name, owner, namespace)
    datavolume["metadata"]["annotations"] = dict(BIND_IMMEDIATELY)
    datavolume["spec"] = {
        "source": {"http": {"url": spec.source.url}},
        "storage": claim_spec(size, "ReadWriteOnce", "Filesystem", storage_class),
    }
    return datavolume


def build_volume_snapshot(owner: Owner, claim: str, snapshot_class: str) -> Manifest:
    snapshot = child(SNAPSHOT_API_VERSION, "VolumeSnapshot", owner.name, owner, owner.namespace)
    snapshot["spec"] = {
        "volumeSnapshotClassName": snapshot_class,
        "source": {"persistentVolumeClaimName": claim},
    }
    return snapshot
