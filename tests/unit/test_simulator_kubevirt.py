"""The simulated KubeVirt: instances, launcher pods and statuses, built without a cluster."""

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from devcluster.simulator import conditions, kube, kubevirt, launcher
from devcluster.simulator.kubevirt import Blocker

Manifest = dict[str, Any]
AT = "2026-01-01T00:00:00Z"


def vm(run_strategy: str | None = "Always", **template_spec: Any) -> Manifest:
    spec: Manifest = {
        "template": {
            "metadata": {"labels": {"app": "web"}, "annotations": {"note": "x"}},
            "spec": {
                "domain": {
                    "cpu": {"cores": 2},
                    "memory": {"guest": "2Gi"},
                    "devices": {"interfaces": [{"name": "default", "masquerade": {}}]},
                },
                "networks": [{"name": "default", "pod": {}}],
                **template_spec,
            },
        }
    }
    if run_strategy:
        spec["runStrategy"] = run_strategy
    return {
        "apiVersion": "kubevirt.io/v1",
        "kind": "VirtualMachine",
        "metadata": {"name": "web-1", "namespace": "acme", "uid": "vm-uid", "generation": 3},
        "spec": spec,
    }


def instance(machine: Manifest | None = None, phase: str | None = None) -> Manifest:
    vmi = kubevirt.build_instance(machine or vm())
    vmi["metadata"]["uid"] = "vmi-uid"
    if phase:
        vmi["status"] = {"phase": phase}
    return vmi


def launcher_pod(
    vmi: Manifest, phase: str = "Pending", node: str | None = None, **status: Any
) -> Manifest:
    pod = launcher.build_launcher_pod(vmi, "abcde")
    pod["metadata"]["uid"] = "pod-uid"
    if node:
        pod["spec"]["nodeName"] = node
    pod["status"] = {"phase": phase, **status}
    return pod


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"runStrategy": "RerunOnFailure"}, "RerunOnFailure"),
        ({"running": True}, "Always"),
        ({"running": False}, "Halted"),
        ({}, "Halted"),
    ],
)
def test_run_strategy_maps_the_deprecated_running_field(spec: Manifest, expected: str) -> None:
    assert kubevirt.run_strategy({"spec": spec}) == expected


def test_the_run_strategy_decides_start_stop_and_restart() -> None:
    running, failed, done = (
        instance(phase="Running"),
        instance(phase="Failed"),
        instance(phase="Succeeded"),
    )
    assert kubevirt.next_action("Always", None, blocked=False) == "create"
    assert kubevirt.next_action("Always", None, blocked=True) is None
    assert kubevirt.next_action("Always", running, blocked=False) is None
    assert kubevirt.next_action("Always", done, blocked=False) == "delete"
    assert kubevirt.next_action("RerunOnFailure", failed, blocked=False) == "delete"
    assert kubevirt.next_action("RerunOnFailure", done, blocked=False) is None
    assert kubevirt.next_action("Halted", running, blocked=False) == "delete"
    assert kubevirt.next_action("Halted", None, blocked=False) is None
    assert kubevirt.next_action("Manual", None, blocked=False) is None
    running["metadata"]["deletionTimestamp"] = AT
    assert kubevirt.next_action("Halted", running, blocked=False) is None


def test_the_instance_is_the_template_owned_by_the_machine() -> None:
    vmi = kubevirt.build_instance(vm())
    assert vmi["metadata"]["name"] == "web-1"
    assert vmi["metadata"]["labels"] == {"app": "web"}
    assert vmi["metadata"]["annotations"]["note"] == "x"
    assert vmi["metadata"]["annotations"]["kubevirt.io/vm-generation"] == "3"
    owner = vmi["metadata"]["ownerReferences"][0]
    assert (owner["kind"], owner["uid"], owner["controller"]) == ("VirtualMachine", "vm-uid", True)
    assert vmi["spec"] == vm()["spec"]["template"]["spec"]


def test_an_instancetype_fills_cpu_and_memory() -> None:
    flavor = {
        "spec": {"cpu": {"guest": 4, "dedicatedCPUPlacement": True}, "memory": {"guest": "8Gi"}}
    }
    machine = vm()
    machine["spec"]["template"]["spec"]["domain"] = {"devices": {}}
    domain = kubevirt.build_instance(machine, flavor)["spec"]["domain"]
    assert domain["cpu"] == {"sockets": 4, "cores": 1, "threads": 1, "dedicatedCPUPlacement": True}
    assert domain["memory"] == {"guest": "8Gi"}


def test_the_launcher_pod_requests_guest_memory_plus_overhead_and_a_tenth_per_vcpu() -> None:
    pod = launcher_pod(instance())
    assert pod["metadata"]["name"] == "virt-launcher-web-1-abcde"
    compute = pod["spec"]["containers"][0]
    assert compute["name"] == "compute"
    assert compute["resources"]["requests"]["memory"] == "2248Mi"  # 2Gi + 200Mi
    assert compute["resources"]["requests"]["cpu"] == "200m"  # 2 vCPUs / 10
    assert "limits" not in compute["resources"]
    assert "runtimeClassName" not in pod["spec"]


def test_dedicated_cpus_make_requests_equal_limits() -> None:
    machine = vm()
    machine["spec"]["template"]["spec"]["domain"]["cpu"] = {
        "cores": 4,
        "dedicatedCPUPlacement": True,
    }
    resources = launcher_pod(instance(machine))["spec"]["containers"][0]["resources"]
    assert resources["requests"]["cpu"] == resources["limits"]["cpu"] == "4"
    assert resources["requests"]["memory"] == resources["limits"]["memory"] == "2248Mi"


def test_the_launcher_pod_carries_kubevirts_labels_and_the_instances_placement() -> None:
    placement = {
        "nodeSelector": {"topology.kubernetes.io/zone": "zone-b"},
        "tolerations": [{"key": "dedicated", "operator": "Exists"}],
        "affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": []}},
        "schedulerName": "default-scheduler",
        "priorityClassName": "high",
    }
    vmi = instance(vm(**placement))
    pod = launcher_pod(vmi)
    assert pod["metadata"]["labels"] == {
        "app": "web",
        "kubevirt.io": "virt-launcher",
        "kubevirt.io/created-by": "vmi-uid",
        "vm.kubevirt.io/name": "web-1",
    }
    assert pod["metadata"]["ownerReferences"][0]["kind"] == "VirtualMachineInstance"
    assert pod["spec"]["nodeSelector"] == {
        "topology.kubernetes.io/zone": "zone-b",
        launcher.LABEL_SCHEDULABLE: "true",
    }
    for key in ("tolerations", "affinity", "schedulerName", "priorityClassName"):
        assert pod["spec"][key] == placement[key]


def test_multus_networks_become_the_pod_annotation_with_static_ips() -> None:
    machine = vm(
        networks=[
            {"name": "default", "pod": {}},
            {"name": "net1", "multus": {"networkName": "net1"}},
            {"name": "shared", "multus": {"networkName": "infra/shared"}},
        ]
    )
    requested = [{"name": "net1", "namespace": "acme", "ips": ["10.10.0.50/24"]}]
    machine["spec"]["template"]["metadata"]["annotations"][launcher.MULTUS_NETWORKS] = json.dumps(
        requested
    )
    pod = launcher_pod(instance(machine))
    selection = json.loads(pod["metadata"]["annotations"][launcher.MULTUS_NETWORKS])
    assert selection == [
        {
            "name": "net1",
            "namespace": "acme",
            "interface": launcher.pod_interface_name("net1"),
            "ips": ["10.10.0.50/24"],
        },
        {
            "name": "shared",
            "namespace": "infra",
            "interface": launcher.pod_interface_name("shared"),
        },
    ]


def test_claims_of_the_instance_are_pod_volumes() -> None:
    volumes = [
        {"name": "root", "dataVolume": {"name": "web-1-root"}},
        {"name": "data", "persistentVolumeClaim": {"claimName": "data-1"}},
        {"name": "init", "cloudInitNoCloud": {"userData": "#cloud-config"}},
    ]
    pod = launcher_pod(instance(vm(volumes=volumes)))
    assert pod["spec"]["volumes"] == [
        {"name": "root", "persistentVolumeClaim": {"claimName": "web-1-root"}},
        {"name": "data", "persistentVolumeClaim": {"claimName": "data-1"}},
    ]


def test_a_running_launcher_makes_the_instance_running_on_its_node() -> None:
    vmi = instance(phase="Scheduling")
    pod = launcher_pod(vmi, "Running", "node-2", podIP="10.0.0.7", podIPs=[{"ip": "10.0.0.7"}])
    status = launcher.vmi_status(vmi, pod, AT)
    assert status["phase"] == "Running"
    assert status["nodeName"] == "node-2"
    assert status["activePods"] == {"pod-uid": "node-2"}
    assert conditions.find(status["conditions"], "Ready")["status"] == "True"
    interface = status["interfaces"][0]
    assert (interface["name"], interface["ipAddress"], interface["podInterfaceName"]) == (
        "default",
        "10.0.0.7",
        "eth0",
    )
    assert status["launcherContainerImageVersion"] == launcher.LAUNCHER_IMAGE


def test_an_unschedulable_launcher_keeps_the_instance_scheduling_with_the_reason() -> None:
    vmi = instance(phase="Scheduling")
    refused = {
        "type": "PodScheduled",
        "status": "False",
        "reason": "Unschedulable",
        "message": "0/3 nodes are available",
    }
    status = launcher.vmi_status(vmi, launcher_pod(vmi, conditions=[refused]), AT)
    assert status["phase"] == "Scheduling"
    scheduled = conditions.find(status["conditions"], "PodScheduled")
    assert (scheduled["reason"], scheduled["message"]) == (
        "Unschedulable",
        "0/3 nodes are available",
    )
    vmi["status"] = status
    assert kubevirt.printable_status(vm(), vmi, 1, None) == "ErrorUnschedulable"


def test_a_started_instance_whose_launcher_is_gone_has_failed() -> None:
    assert launcher.vmi_status(instance(phase="Running"), None, AT)["phase"] == "Failed"
    assert launcher.vmi_status(instance(), None, AT)["phase"] == "Pending"
    assert launcher.vmi_status(instance(phase="Failed"), None, AT) == {}


def test_printable_status_follows_the_instance_and_the_run_strategy() -> None:
    assert kubevirt.printable_status(vm("Halted"), None, 0, None) == "Stopped"
    assert kubevirt.printable_status(vm("Halted"), None, 1, None) == "Stopping"
    assert kubevirt.printable_status(vm("Halted"), instance(phase="Running"), 1, None) == "Stopping"
    assert kubevirt.printable_status(vm(), None, 0, None) == "Starting"
    assert kubevirt.printable_status(vm(), instance(phase="Running"), 1, None) == "Running"
    waiting = Blocker("WaitingForVolumeBinding", "PVC data-1 is not Bound")
    assert kubevirt.printable_status(vm(), None, 0, waiting) == "WaitingForVolumeBinding"


def test_volumes_that_are_not_ready_block_the_start() -> None:
    spec = {
        "volumes": [
            {"name": "root", "dataVolume": {"name": "root"}},
            {"name": "data", "persistentVolumeClaim": {"claimName": "data"}},
        ]
    }
    importing = {"status": {"phase": "ImportInProgress"}}
    done = {"status": {"phase": "Succeeded"}}
    failing = {
        "status": {
            "phase": "ImportInProgress",
            "conditions": [
                {
                    "type": "Running",
                    "status": "False",
                    "reason": "Error",
                    "message": "Unable to connect",
                }
            ],
        }
    }
    bound, pending = {"status": {"phase": "Bound"}}, {"status": {"phase": "Pending"}}
    assert (
        kubevirt.volume_blocker(spec, {"data": bound}, {"root": importing}).printable_status
        == "Provisioning"
    )
    assert (
        kubevirt.volume_blocker(spec, {"data": bound}, {"root": failing}).printable_status
        == "DataVolumeError"
    )
    assert kubevirt.volume_blocker(spec, {"data": pending}, {"root": done}).printable_status == (
        "WaitingForVolumeBinding"
    )
    assert (
        kubevirt.volume_blocker(spec, {"data": None}, {"root": done}).printable_status
        == "ErrorPvcNotFound"
    )
    assert kubevirt.volume_blocker(spec, {"data": bound}, {"root": done}) is None


def test_the_vm_status_is_idempotent() -> None:
    machine = vm()
    vmi = instance(phase="Running")
    vmi["status"]["conditions"] = [{"type": "Ready", "status": "True", "lastTransitionTime": AT}]
    machine["status"] = kubevirt.vm_status(machine, vmi, 1, None, AT)
    assert machine["status"]["ready"] is True
    assert machine["status"]["printableStatus"] == "Running"
    assert not kube.changed(machine["status"], kubevirt.vm_status(machine, vmi, 1, None, "later"))


def test_built_objects_match_the_upstream_schemas(upstream_schemas: Path) -> None:
    def schema(name: str) -> Manifest:
        loaded: Manifest = json.loads((upstream_schemas / "kubevirt.io" / name).read_text())
        return loaded

    def present(obj: Manifest) -> Manifest:
        return {k: v for k, v in obj.items() if v is not None}

    vmi = instance(vm(volumes=[{"name": "root", "containerDisk": {"image": "quay.io/x:1"}}]))
    vmi["status"] = launcher.vmi_status(
        vmi, launcher_pod(vmi, "Running", "node-1", podIP="10.0.0.7"), AT
    )
    jsonschema.validate(vmi, schema("virtualmachineinstance_v1.json"))
    machine = vm()
    machine["status"] = present(kubevirt.vm_status(machine, vmi, 1, None, AT))
    jsonschema.validate(machine, schema("virtualmachine_v1.json"))


def test_multus_interfaces_report_the_ips_set_on_the_launcher_pod() -> None:
    machine = vm(
        networks=[
            {"name": "default", "pod": {}},
            {"name": "net1", "multus": {"networkName": "net1"}},
        ]
    )
    vmi = instance(machine, "Scheduling")
    pod = launcher_pod(vmi, "Running", "node-1", podIP="10.0.0.9")
    selection = json.loads(pod["metadata"]["annotations"][launcher.MULTUS_NETWORKS])
    selection[0]["ips"] = ["10.10.0.50/24"]
    pod["metadata"]["annotations"][launcher.MULTUS_NETWORKS] = json.dumps(selection)
    interfaces = launcher.vmi_status(vmi, pod, AT)["interfaces"]
    assert [(i["name"], i.get("ipAddress")) for i in interfaces] == [
        ("default", "10.0.0.9"),
        ("net1", "10.10.0.50"),
    ]
    assert interfaces[1]["podInterfaceName"] == launcher.pod_interface_name("net1")
