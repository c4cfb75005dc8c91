"""The simulated snapshot controllers, and claims restored or cloned from a data source."""

from datetime import UTC, datetime
from typing import Any

from devcluster.simulator import snapshots, storage

Manifest = dict[str, Any]


def snapshot(class_name: str | None = None) -> Manifest:
    spec: Manifest = {"source": {"persistentVolumeClaimName": "data"}}
    if class_name:
        spec["volumeSnapshotClassName"] = class_name
    return {"metadata": {"name": "nightly", "namespace": "acme", "uid": "snap-uid"}, "spec": spec}


def snapshot_class(name: str, default: bool = False) -> Manifest:
    annotations = {snapshots.ANN_DEFAULT_CLASS: "true"} if default else {}
    return {
        "metadata": {"name": name, "annotations": annotations},
        "driver": storage.PROVISIONER,
        "deletionPolicy": "Delete",
    }


def volume() -> Manifest:
    return {"spec": {"csi": {"volumeHandle": "pvc-1"}, "volumeMode": "Filesystem"}}


def test_the_named_class_or_else_the_default_one_is_used() -> None:
    classes = [snapshot_class("fast"), snapshot_class("standard", default=True)]
    assert snapshots.snapshot_class_for(snapshot(), classes) == classes[1]
    assert snapshots.snapshot_class_for(snapshot("fast"), classes) == classes[0]
    assert snapshots.snapshot_class_for(snapshot("missing"), classes) is None


def test_the_content_is_bound_to_the_snapshot_and_its_volume() -> None:
    content = snapshots.build_content(snapshot(), snapshot_class("standard"), volume())
    assert content["metadata"]["name"] == "snapcontent-snap-uid"
    assert content["spec"]["source"] == {"volumeHandle": "pvc-1"}
    assert content["spec"]["volumeSnapshotRef"]["uid"] == "snap-uid"
    assert content["spec"]["deletionPolicy"] == "Delete"


def test_a_ready_snapshot_reports_its_content_and_restore_size() -> None:
    content = snapshots.build_content(snapshot(), snapshot_class("standard"), volume())
    content["status"] = snapshots.ready_content_status(
        content, "2Gi", datetime(2026, 1, 1, tzinfo=UTC)
    )
    assert content["status"]["restoreSize"] == 2 * 1024**3
    status = snapshots.ready_snapshot_status(content, "2Gi")
    assert status == {
        "boundVolumeSnapshotContentName": "snapcontent-snap-uid",
        "creationTime": "2026-01-01T00:00:00Z",
        "readyToUse": True,
        "restoreSize": "2Gi",
    }


def test_a_claim_from_a_source_waits_until_the_source_can_be_copied() -> None:
    restore: Manifest = {
        "spec": {
            "dataSource": {
                "apiGroup": "snapshot.storage.k8s.io",
                "kind": "VolumeSnapshot",
                "name": "nightly",
            }
        }
    }
    assert not storage.source_ready(restore, None)
    assert not storage.source_ready(restore, {"status": {"readyToUse": False}})
    assert storage.source_ready(restore, {"status": {"readyToUse": True}})
    clone: Manifest = {"spec": {"dataSource": {"kind": "PersistentVolumeClaim", "name": "data"}}}
    assert not storage.source_ready(clone, {"status": {"phase": "Pending"}})
    assert storage.source_ready(clone, {"status": {"phase": "Bound"}})
    populated: Manifest = {"spec": {"dataSourceRef": {"kind": "VolumeImportSource", "name": "x"}}}
    assert not storage.source_ready(populated, {})
    assert storage.source_ready({"spec": {}}, None)
