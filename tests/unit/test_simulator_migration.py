"""The simulated live migration: target pods, refusals and phases, built without a cluster."""

from typing import Any

import pytest

from devcluster.simulator import conditions, launcher, migration
from tests.unit.test_simulator_kubevirt import instance, launcher_pod

Manifest = dict[str, Any]


def vmim(**status: Any) -> Manifest:
    return {
        "apiVersion": "kubevirt.io/v1",
        "kind": "VirtualMachineInstanceMigration",
        "metadata": {"name": "web-1-migration", "namespace": "acme", "uid": "mig-uid"},
        "spec": {"vmiName": "web-1", "addedNodeSelector": {"kubernetes.io/hostname": "node-2"}},
        **({"status": status} if status else {}),
    }


def running_instance(node: str = "node-1", migratable: bool = True) -> Manifest:
    vmi = instance(phase="Running")
    vmi["status"]["nodeName"] = node
    vmi["status"]["conditions"] = [
        conditions.condition(
            "LiveMigratable", migratable, "" if migratable else "DisksNotLiveMigratable", "RWO"
        )
    ]
    return vmi


def test_the_target_pod_is_the_instances_pod_kept_off_the_source_and_on_the_chosen_node() -> None:
    pod = migration.build_target_pod(running_instance(), vmim(), "node-1", "xyzab")
    spec = pod["spec"]
    assert spec["nodeSelector"] == {
        "kubernetes.io/hostname": "node-2",
        "kubevirt.io/schedulable": "true",
    }
    terms = spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert terms["nodeSelectorTerms"] == [
        {
            "matchExpressions": [
                {"key": "kubernetes.io/hostname", "operator": "NotIn", "values": ["node-1"]}
            ]
        }
    ]
    assert pod["metadata"]["labels"][launcher.MIGRATION_TARGET_LABEL] == "mig-uid"
    assert pod["metadata"]["annotations"][migration.MIGRATION_NAME] == "web-1-migration"
    assert pod["metadata"]["name"] == "virt-launcher-web-1-xyzab"


@pytest.mark.parametrize(
    ("vmi", "others", "words"),
    [
        (None, [], "does not exist"),
        (instance(phase="Scheduling"), [], "VMI is not running"),
        (running_instance(migratable=False), [], "DisksNotLiveMigratable"),
        (running_instance(), [vmim(phase="Running")], "in-flight migration"),
    ],
)
def test_kubevirt_refuses_to_migrate_what_cannot_move(
    vmi: Manifest | None, others: list[Manifest], words: str
) -> None:
    refused = migration.refusal(vmi, others)
    assert refused is not None and words in refused


def test_a_movable_instance_is_not_refused_even_after_earlier_migrations() -> None:
    assert migration.refusal(running_instance(), [vmim(phase="Succeeded")]) is None


def test_phases_follow_the_target_pod_and_end_only_after_running() -> None:
    vmi = running_instance()
    target = launcher_pod(vmi)
    assert migration.next_phase("", None, False) == ("Scheduling", None)
    assert migration.next_phase("Scheduling", target, False) == ("Scheduling", None)
    placed = launcher_pod(vmi, node="node-2")
    assert migration.next_phase("Scheduling", placed, False) == ("Scheduled", None)
    up = launcher_pod(vmi, phase="Running", node="node-2")
    assert migration.next_phase("Scheduled", up, False) == ("Running", None)
    assert migration.next_phase("Running", up, False) == ("Succeeded", None)
    failed, why = migration.next_phase("Running", up, True)
    assert failed == "Failed" and why is not None and "node-2" in why


def test_an_unschedulable_target_fails_the_migration_with_the_schedulers_words() -> None:
    stuck = launcher_pod(
        running_instance(),
        conditions=[
            {
                "type": "PodScheduled",
                "status": "False",
                "reason": "Unschedulable",
                "message": "0/3 nodes are available",
            }
        ],
    )
    phase, why = migration.next_phase("Scheduling", stuck, False)
    assert phase == "Failed" and why is not None and "0/3 nodes are available" in why


def test_the_guest_runs_in_the_pod_on_its_node_never_in_a_target_still_migrating() -> None:
    vmi = running_instance("node-1")
    source = launcher_pod(vmi, phase="Running", node="node-1")
    target = launcher_pod(vmi, phase="Running", node="node-2")
    target["metadata"]["labels"][launcher.MIGRATION_TARGET_LABEL] = "mig-uid"
    assert launcher.current_pod(vmi, [target, source]) is source
    vmi["status"]["nodeName"] = "node-2"  # the migration completed
    assert launcher.current_pod(vmi, [source, target]) is target
    assert launcher.current_pod(instance(), []) is None


def test_only_shared_claims_are_live_migratable() -> None:
    spec = {"volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "data"}}]}
    rwo = {"spec": {"accessModes": ["ReadWriteOnce"]}}
    rwx = {"spec": {"accessModes": ["ReadWriteMany"]}}
    refused = launcher.live_migratable(spec, {"data": rwo})
    assert (refused["status"], refused["reason"]) == ("False", "DisksNotLiveMigratable")
    assert "PVC data is not shared" in refused["message"]
    assert launcher.live_migratable(spec, {"data": rwx})["status"] == "True"
