"""The simulated CSI provisioner and resizer decide from the claim and class alone."""

from typing import Any

from devcluster.simulator import conditions, storage

Manifest = dict[str, Any]


def storage_class(**overrides: Any) -> Manifest:
    return {
        "metadata": {"name": "standard"},
        "provisioner": storage.PROVISIONER,
        "reclaimPolicy": "Delete",
        "volumeBindingMode": "Immediate",
        **overrides,
    }


def claim(phase: str = "Pending", **spec: Any) -> Manifest:
    return {
        "metadata": {"name": "data", "namespace": "acme", "uid": "1234", "annotations": {}},
        "spec": {
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": "10Gi"}},
            "storageClassName": "standard",
            **spec,
        },
        "status": {"phase": phase},
    }


def test_a_pending_claim_of_a_simulated_class_needs_a_volume() -> None:
    assert storage.needs_volume(claim(), storage_class())


def test_claims_of_other_provisioners_or_already_bound_are_left_alone() -> None:
    assert not storage.needs_volume(claim(), storage_class(provisioner="ebs.csi.aws.com"))
    assert not storage.needs_volume(claim(volumeName="pvc-x"), storage_class())
    assert not storage.needs_volume(claim("Bound"), storage_class())


def test_wait_for_first_consumer_waits_for_the_selected_node() -> None:
    late = storage_class(volumeBindingMode="WaitForFirstConsumer")
    pending = claim()
    assert not storage.needs_volume(pending, late)
    pending["metadata"]["annotations"][storage.ANN_SELECTED_NODE] = "node-2"
    assert storage.needs_volume(pending, late)
    terms = storage.build_persistent_volume(pending, late)["spec"]["nodeAffinity"]["required"]
    assert terms["nodeSelectorTerms"][0]["matchExpressions"][0]["values"] == ["node-2"]


def test_the_volume_is_pre_bound_to_the_claim_as_an_external_provisioner_makes_it() -> None:
    volume = storage.build_persistent_volume(claim(volumeMode="Block"), storage_class())
    assert volume["metadata"]["name"] == "pvc-1234"
    assert volume["metadata"]["annotations"] == {storage.ANN_PROVISIONED_BY: storage.PROVISIONER}
    spec = volume["spec"]
    assert spec["capacity"] == {"storage": "10Gi"}
    assert spec["accessModes"] == ["ReadWriteOnce"]
    assert spec["volumeMode"] == "Block"
    assert spec["storageClassName"] == "standard"
    assert spec["persistentVolumeReclaimPolicy"] == "Delete"
    assert spec["claimRef"] == {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "namespace": "acme",
        "name": "data",
        "uid": "1234",
    }
    assert spec["csi"]["driver"] == storage.PROVISIONER
    assert "fsType" not in spec["csi"]  # a block volume has no filesystem


def test_only_released_volumes_of_ours_with_delete_policy_are_reclaimed() -> None:
    volume = storage.build_persistent_volume(claim(), storage_class())
    volume["status"] = {"phase": "Released"}
    assert storage.should_reclaim(volume)
    volume["spec"]["persistentVolumeReclaimPolicy"] = "Retain"
    assert not storage.should_reclaim(volume)
    volume["spec"]["persistentVolumeReclaimPolicy"] = "Delete"
    volume["metadata"]["annotations"] = {storage.ANN_PROVISIONED_BY: "other.csi"}
    assert not storage.should_reclaim(volume)


def test_a_bound_claim_asking_for_more_is_expanded_and_never_shrunk() -> None:
    volume = storage.build_persistent_volume(claim(), storage_class())
    bound = claim("Bound")
    bound["status"]["capacity"] = {"storage": "10Gi"}
    assert storage.requested_expansion(bound, volume) is None
    bound["spec"]["resources"]["requests"]["storage"] = "20Gi"
    assert storage.requested_expansion(bound, volume) == "20Gi"
    bound["status"]["capacity"] = {"storage": "20480Mi"}  # same size, other unit
    assert storage.requested_expansion(bound, volume) is None


def test_an_expanded_claim_reports_its_capacity_and_drops_resize_conditions() -> None:
    bound = claim("Bound")
    bound["status"]["conditions"] = [
        conditions.condition("Resizing", True),
        conditions.condition("Other", True),
    ]
    status = storage.expanded_claim_status(bound, "20Gi")
    assert status["capacity"] == status["allocatedResources"] == {"storage": "20Gi"}
    assert [c["type"] for c in status["conditions"]] == ["Other"]
