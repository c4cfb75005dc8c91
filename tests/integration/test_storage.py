"""Volume, Snapshot and Image against the local control plane, driven as a user drives them."""

import json
from typing import Any

import pytest

from devcluster.simulator import contents
from tests.integration.conftest import Cluster, Operator, stratus_object


@pytest.fixture
def project(cluster: Cluster, operator: Operator, name: str) -> str:
    """A Project with a storage quota; its namespace is the project's name."""
    cluster.apply(
        stratus_object(
            "Project",
            name,
            {"quota": {"storage": "40Gi", "volumes": 6}, "deletionPolicy": "Cascade"},
        )
    )
    cluster.wait(f"project/{name}", "condition=Ready", timeout=90)
    return name


def volume(name: str, namespace: str, size: str, **spec: Any) -> str:
    return stratus_object("Volume", name, {"size": size, **spec}, namespace)


def image(name: str, namespace: str, **spec: Any) -> str:
    return stratus_object("Image", name, spec, namespace)


def test_a_plain_volume_becomes_a_bound_claim_of_its_type(cluster: Cluster, project: str) -> None:
    cluster.apply(volume("data", project, "4Gi", accessMode="ReadWriteOnce", volumeMode="Block"))
    status = cluster.ready("volume", "data", project)["status"]
    assert (status["phase"], status["capacity"], status["claimName"]) == (
        "Available",
        "4Gi",
        "data",
    )
    claim = cluster.get("pvc", "data", project)
    assert claim["spec"]["storageClassName"] == "standard"
    assert claim["spec"]["volumeMode"] == "Block"
    assert claim["metadata"]["ownerReferences"][0]["kind"] == "Volume"
    assert cluster.get("project", project)["status"]["usage"]["storage"] == "4Gi"


def test_growing_a_volume_expands_its_claim_and_shrinking_is_refused(
    cluster: Cluster, project: str
) -> None:
    cluster.apply(volume("grow", project, "2Gi"))
    cluster.ready("volume", "grow", project)
    cluster.apply(volume("grow", project, "6Gi"))
    cluster.wait("volume/grow", "jsonpath={.status.capacity}=6Gi", project, timeout=60)
    assert cluster.get("pvc", "grow", project)["status"]["capacity"]["storage"] == "6Gi"
    shrunk = cluster.apply(volume("grow", project, "1Gi"), check=False)
    assert "size may grow, never shrink" in shrunk.stderr


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"size": "-1Gi"}, "size must be positive"),
        ({"size": "lots"}, "size must be a quantity"),
        (
            {"size": "1Gi", "accessMode": "ReadOnlyMany"},
            'supported values: "ReadWriteOnce", "ReadWriteMany"',
        ),
        (
            {"size": "1Gi", "source": {"image": "a", "volume": "b"}},
            "at most one of image, volume, snapshot and backup",
        ),
    ],
)
def test_invalid_volume_is_refused_by_the_api_server(
    cluster: Cluster, project: str, spec: dict[str, Any], message: str
) -> None:
    result = cluster.apply(stratus_object("Volume", "bad", spec, project), check=False)
    assert message in result.stderr, result.stderr


def test_unknown_volume_type_is_reported(cluster: Cluster, project: str) -> None:
    cluster.apply(volume("gold", project, "1Gi", volumeType="platinum"))
    condition = cluster.ready_condition("volume", "gold", project, "UnknownVolumeType")
    assert condition["message"] == (
        "volumeType platinum is not offered; offered: archive, fast, standard"
    )
    assert cluster.get("pvc", "gold", project) is None


def test_storage_quota_is_enforced_before_any_claim_exists(cluster: Cluster, project: str) -> None:
    cluster.apply(volume("big", project, "30Gi"))
    cluster.ready("volume", "big", project)
    cluster.apply(volume("too-much", project, "20Gi"))
    condition = cluster.ready_condition("volume", "too-much", project, "QuotaExceeded")
    assert condition["message"] == (
        f"storage quota of Project {project} exceeded: 30.0Gi used by other "
        "Volumes + 20.0Gi requested > 40.0Gi allowed"
    )
    assert cluster.get("pvc", "too-much", project) is None
    assert "QuotaExceeded" in cluster.event_reasons("too-much", project)
    cluster.kubectl("delete", "volume", "big", "-n", project)
    cluster.ready("volume", "too-much", project)


def test_concurrent_creates_never_overshoot_the_storage_quota(
    cluster: Cluster, project: str
) -> None:
    cluster.apply("\n---\n".join(volume(f"v{i}", project, "10Gi") for i in range(6)))
    cluster.wait_until(
        "all six volumes to settle",
        lambda: all(
            (cluster.get("volume", f"v{i}", project).get("status") or {}).get("phase")
            in ("Available", "Error")
            for i in range(6)
        ),
        timeout=120,
    )
    phases = [cluster.get("volume", f"v{i}", project)["status"]["phase"] for i in range(6)]
    assert phases.count("Available") == 4
    assert phases.count("Error") == 2
    assert cluster.get("project", project)["status"]["usage"]["storage"] == "40Gi"
    cluster.kubectl("delete", "volumes", "--all", "-n", project, "--wait=false")

    def emptied() -> bool:
        usage = cluster.get("project", project)["status"]["usage"]
        return bool(usage["storage"] == "0" and usage["volumes"] == 0)

    cluster.wait_until("usage to drop to nothing after concurrent deletes", emptied, timeout=90)


def test_volume_count_quota_is_refused_by_the_api_server(cluster: Cluster, project: str) -> None:
    cluster.apply("\n---\n".join(volume(f"c{i}", project, "1Gi") for i in range(6)))
    seventh = cluster.apply(volume("c6", project, "1Gi"), check=False)
    assert "exceeded quota: stratus-project" in seventh.stderr
    assert "count/volumes.stratus.io=6" in seventh.stderr


def test_image_import_then_volume_clone_and_min_disk(cluster: Cluster, project: str) -> None:
    cluster.apply(
        image(
            "noble",
            project,
            source={"url": "https://images.example.org/noble.qcow2"},
            minDisk="3Gi",
        )
    )
    cluster.apply(volume("root", project, "5Gi", source={"image": "noble"}))
    cluster.apply(volume("tiny", project, "1Gi", source={"image": "noble"}))
    status = cluster.ready("image", "noble", project)["status"]
    assert (status["phase"], status["progress"]) == ("Active", "100.0%")
    assert status["size"] == 3 * 2**30
    golden_namespace, golden = status["goldenVolume"].split("/")
    assert golden_namespace == "stratus-images"
    assert cluster.get("datavolume", golden, golden_namespace)["spec"]["source"]["http"][
        "url"
    ].endswith("noble.qcow2")
    cluster.ready("volume", "root", project)
    clone = cluster.get("datavolume", "root", project)
    assert clone["spec"]["source"] == {"pvc": {"namespace": "stratus-images", "name": golden}}
    condition = cluster.ready_condition("volume", "tiny", project, "VolumeTooSmall")
    assert condition["message"] == f"size 1Gi is smaller than the 3Gi Image {project}/noble needs"

    cluster.kubectl("delete", "image", "noble", "-n", project)
    cluster.wait_until(
        "the golden volume to go",
        lambda: cluster.get("datavolume", golden, golden_namespace) is None,
    )
    assert cluster.ready("volume", "root", project)["status"]["phase"] == "Available"


def test_image_import_failure_is_reported_with_the_importers_reason(
    cluster: Cluster, project: str
) -> None:
    cluster.apply(image("broken", project, source={"url": "https://mirror.invalid/disk.qcow2"}))
    condition = cluster.ready_condition("image", "broken", project, "ImportFailed")
    assert "Unable to connect to http data source" in condition["message"]
    assert cluster.get("image", "broken", project)["status"]["phase"] == "Error"


def test_image_visibility_across_projects(
    cluster: Cluster, project: str, operator: Operator
) -> None:
    other = f"{project}-b"
    cluster.apply(stratus_object("Project", other, {"deletionPolicy": "Cascade"}))
    cluster.wait(f"project/{other}", "condition=Ready", timeout=90)
    registry = {"registry": "docker://quay.io/containerdisks/ubuntu:24.04"}
    cluster.apply(image("private", project, source=registry))
    cluster.apply(
        image("shared", project, source=registry, visibility="shared", sharedWith=[other])
    )
    cluster.apply(image("public", project, source=registry, visibility="public"))
    for name in ("private", "shared", "public"):
        cluster.ready("image", name, project)
    cluster.apply(volume("from-private", other, "1Gi", source={"image": f"{project}/private"}))
    cluster.apply(volume("from-shared", other, "1Gi", source={"image": f"{project}/shared"}))
    cluster.apply(volume("from-public", other, "1Gi", source={"image": f"{project}/public"}))
    condition = cluster.ready_condition("volume", "from-private", other, "ImageNotVisible")
    assert (
        condition["message"]
        == f"Image {project}/private is private and not shared with this Project"
    )
    for name in ("from-shared", "from-public"):
        cluster.ready("volume", name, other)
    assert cluster.get("datavolume", "from-public", other)["spec"]["source"] == {
        "registry": {"url": "docker://quay.io/containerdisks/ubuntu:24.04"}
    }
    refused = cluster.apply(image("odd", project, source=registry, sharedWith=[other]), check=False)
    assert "sharedWith applies only to visibility: shared" in refused.stderr
    cluster.kubectl("delete", "project", other, "--wait=false")


def test_snapshot_and_restore_and_clone(cluster: Cluster, project: str) -> None:
    cluster.apply(volume("source", project, "3Gi"))
    cluster.apply(stratus_object("Snapshot", "nightly", {"volume": "source"}, project))
    cluster.apply(volume("restored", project, "3Gi", source={"snapshot": "nightly"}))
    cluster.apply(volume("copy", project, "3Gi", source={"volume": "source"}))
    snapshot = cluster.ready("snapshot", "nightly", project)["status"]
    assert (snapshot["phase"], snapshot["size"]) == ("Available", "3Gi")
    assert (
        cluster.get("volumesnapshot", "nightly", project)["spec"]["volumeSnapshotClassName"]
        == "standard"
    )
    cluster.ready("volume", "restored", project)
    assert cluster.get("pvc", "restored", project)["spec"]["dataSource"]["name"] == "nightly"
    cluster.ready("volume", "copy", project)
    assert cluster.get("datavolume", "copy", project)["spec"]["source"] == {
        "pvc": {"namespace": project, "name": "source"}
    }
    changed = cluster.apply(
        stratus_object("Snapshot", "nightly", {"volume": "copy"}, project), check=False
    )
    assert "volume is immutable" in changed.stderr


def test_a_snapshot_keeps_the_bytes_of_its_moment_for_restores_and_clones_copy_now(
    cluster: Cluster, project: str
) -> None:
    """Cinder's promise, shown on the bytes: a Volume restored from a Snapshot holds what the
    source held when the Snapshot was taken; a clone holds what it holds now."""
    cluster.apply(volume("ledger", project, "1Gi"))
    cluster.ready("volume", "ledger", project)
    source, middle = cluster.volume_disk("ledger", project), 512 * 1024 * 1024
    contents.write(source, 0, b"monday")
    contents.write(source, middle, b"monday")
    cluster.apply(stratus_object("Snapshot", "at-monday", {"volume": "ledger"}, project))
    cluster.ready("snapshot", "at-monday", project)
    contents.write(source, 0, b"friday")

    cluster.apply(volume("as-of-monday", project, "2Gi", source={"snapshot": "at-monday"}))
    cluster.apply(volume("as-of-now", project, "1Gi", source={"volume": "ledger"}))
    cluster.ready("volume", "as-of-monday", project)
    restored = cluster.volume_disk("as-of-monday", project)
    assert (contents.read(restored, 0, 6), contents.read(restored, middle, 6)) == (
        b"monday",
        b"monday",
    )
    assert restored.stat().st_size == 2 * 1024**3
    cluster.ready("volume", "as-of-now", project)
    cloned = cluster.volume_disk("as-of-now", project)
    assert (contents.read(cloned, 0, 6), contents.read(cloned, middle, 6)) == (b"friday", b"monday")

    cluster.apply(volume("ledger", project, "3Gi"))
    cluster.wait("volume/ledger", "jsonpath={.status.capacity}=3Gi", project, timeout=60)
    assert source.stat().st_size == 3 * 1024**3 and contents.read(source, 0, 6) == b"friday"
    cluster.kubectl("delete", "volume", "as-of-monday", "-n", project)
    cluster.wait_until("the restored disk to go", lambda: not restored.exists())


def halted_machine(name: str, namespace: str, claim: str) -> dict[str, Any]:
    """A stopped VirtualMachine of someone's own whose disk is the claim: it holds the Volume."""
    return {
        "apiVersion": "kubevirt.io/v1",
        "kind": "VirtualMachine",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "runStrategy": "Halted",
            "template": {
                "spec": {
                    "domain": {
                        "devices": {"disks": [{"name": "disk", "disk": {"bus": "virtio"}}]},
                        "memory": {"guest": "1Gi"},
                    },
                    "volumes": [{"name": "disk", "persistentVolumeClaim": {"claimName": claim}}],
                }
            },
        },
    }


def test_an_attached_volume_cannot_be_deleted_until_detached(
    cluster: Cluster, project: str
) -> None:
    cluster.apply(volume("disk", project, "1Gi"))
    cluster.ready("volume", "disk", project)
    cluster.apply(halted_machine("vm1", project, "disk"))
    cluster.wait("volume/disk", "jsonpath={.status.phase}=InUse", project)
    assert cluster.get("volume", "disk", project)["status"]["attachedTo"] == "vm1"
    cluster.kubectl("delete", "volume", "disk", "-n", project, "--wait=false")
    condition = cluster.ready_condition("volume", "disk", project, "VolumeInUse")
    assert condition["message"] == "Volume disk is attached to vm1; detach it first"
    assert cluster.get("pvc", "disk", project) is not None
    cluster.kubectl("delete", "virtualmachine", "vm1", "-n", project)
    cluster.wait("volume/disk", "delete", project, timeout=60)


def test_operator_restart_during_an_import_converges(
    cluster: Cluster, project: str, operator: Operator
) -> None:
    cluster.apply(image("slow", project, source={"url": "https://images.example.org/slow.qcow2"}))
    cluster.apply(volume("from-slow", project, "11Gi", source={"image": "slow"}))
    cluster.wait_until(
        "the import to start",
        lambda: (cluster.get("image", "slow", project).get("status") or {}).get("goldenVolume"),
    )
    operator.kill()
    operator.start()
    cluster.ready("image", "slow", project)
    cluster.ready("volume", "from-slow", project)
    golden = cluster.get("image", "slow", project)["status"]["goldenVolume"].split("/")[1]
    copies = json.loads(
        cluster.kubectl(
            "get", "datavolumes", "-A", "-l", "stratus.io/kind=Image", "-o", "json"
        ).stdout
    )
    assert [d["metadata"]["name"] for d in copies["items"]].count(golden) == 1


def retype(cluster: Cluster, name: str, namespace: str, volume_type: str) -> None:
    patch = json.dumps({"spec": {"volumeType": volume_type}})
    cluster.kubectl("patch", "volume", name, "-n", namespace, "--type", "merge", "-p", patch)


def test_a_retype_within_a_storage_class_is_done_in_place_attached_or_not(
    cluster: Cluster, project: str
) -> None:
    cluster.apply(volume("plain", project, "1Gi"))
    cluster.apply(image("noble", project, source={"url": "https://images.example.org/n.qcow2"}))
    cluster.apply(volume("copied", project, "10Gi", source={"image": "noble"}))
    cluster.apply(halted_machine("vm1", project, "plain"))
    cluster.wait("volume/plain", "jsonpath={.status.phase}=InUse", project)
    for name, phase in (("plain", "InUse"), ("copied", "Available")):
        status = cluster.ready("volume", name, project)["status"]
        assert status["volumeType"] == "standard"
        claim_uid = cluster.get("pvc", name, project)["metadata"]["uid"]

        retype(cluster, name, project, "fast")
        cluster.wait(f"volume/{name}", "jsonpath={.status.volumeType}=fast", project)
        status = cluster.ready("volume", name, project)["status"]
        assert status["phase"] == phase
        claim = cluster.get("pvc", name, project)
        # The same claim and volume, modified by the driver: nothing was copied.
        assert claim["metadata"]["uid"] == claim_uid
        assert claim["spec"]["volumeAttributesClassName"] == "fast"
        assert claim["status"]["currentVolumeAttributesClassName"] == "fast"
        assert claim["spec"]["storageClassName"] == "standard"
    table = cluster.kubectl("get", "volume", "plain", "-n", project).stdout
    assert "fast" in table


def test_a_retype_the_classes_do_not_allow_is_refused_and_changes_nothing(
    cluster: Cluster, project: str
) -> None:
    cluster.apply(volume("cold", project, "1Gi", volumeType="fast"))
    cluster.ready("volume", "cold", project)
    claim = cluster.get("pvc", "cold", project)

    retype(cluster, "cold", project, "archive")
    condition = cluster.ready_condition("volume", "cold", project, "RetypeRefused")
    assert condition["message"] == (
        "volume type fast is on StorageClass standard and archive on archive: a claim's "
        "StorageClass cannot change, so a Volume retypes only between types of one "
        "StorageClass; volumeType fast cancels the retype"
    )
    refused = cluster.get("volume", "cold", project)["status"]
    assert (refused["phase"], refused["volumeType"]) == ("Available", "fast")
    assert "RetypeRefused" in cluster.event_reasons("cold", project)
    retype(cluster, "cold", project, "standard")
    condition = cluster.ready_condition("volume", "cold", project, "RetypeRefused")
    assert "volume type standard has no VolumeAttributesClass" in condition["message"]
    after = cluster.get("pvc", "cold", project)
    assert after["metadata"]["resourceVersion"] == claim["metadata"]["resourceVersion"]

    retype(cluster, "cold", project, "fast")  # back: the refusal ends
    assert cluster.ready("volume", "cold", project)["status"]["phase"] == "Available"
