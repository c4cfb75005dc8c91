"""The simulated KubeVirt: instances, launcher pods and statuses, built without a cluster."""

import json
import threading
import time
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from devcluster.simulator import conditions, hotplug, kube, kubevirt, launcher
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


def test_a_guest_failing_its_readiness_leaves_the_instance_running_not_ready() -> None:
    vmi = instance(phase="Running")
    not_ready = {"type": "Ready", "status": "False", "lastTransitionTime": AT}
    pod = launcher_pod(vmi, "Running", "node-2", conditions=[not_ready])
    status = launcher.vmi_status(vmi, pod, AT)
    assert status["phase"] == "Running"
    ready = conditions.find(status["conditions"], "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "PodNotReady")


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


def node_with_limit(limit: str | None) -> Manifest:
    annotations = {launcher.GUEST_MEMORY_LIMIT: limit} if limit else {}
    return {"metadata": {"name": "node-1", "annotations": annotations}}


def test_a_guest_larger_than_the_nodes_limit_fails_to_start() -> None:
    vmi = instance()  # 2Gi of guest memory
    running_pod = launcher_pod(vmi, "Running", "node-1")
    failure = launcher.start_failure(vmi, node_with_limit("1Gi"))
    assert failure is not None and "cannot allocate 2Gi of guest memory" in failure
    assert launcher.start_failure(vmi, node_with_limit("2Gi")) is None
    assert launcher.start_failure(vmi, node_with_limit(None)) is None
    failed = launcher.vmi_status(vmi, running_pod, AT, failure=failure)
    assert failed["phase"] == "Failed"
    assert conditions.find(failed["conditions"], "Ready")["message"] == failure
    # A guest already running on the node is left alone.
    running = instance(phase="Running")
    assert launcher.vmi_status(running, running_pod, AT, failure=failure)["phase"] == "Running"


def failed_start(uid: str, ran: bool = False) -> Manifest:
    vmi = instance(phase="Failed")
    vmi["metadata"]["uid"] = uid
    history = [{"phase": p, "phaseTransitionTimestamp": AT} for p in ("Scheduling", "Failed")]
    if ran:
        history.insert(1, {"phase": "Running", "phaseTransitionTimestamp": AT})
    vmi["status"]["phaseTransitionTimestamps"] = history
    return vmi


def test_instances_failing_to_start_back_off_as_a_crash_loop() -> None:
    machine = vm()
    first = kubevirt.start_failure(machine, failed_start("a"), AT)
    assert first == {
        "consecutiveFailCount": 1,
        "lastFailedVMIUID": "a",
        "retryAfterTimestamp": "2026-01-01T00:00:10Z",
    }
    machine["status"] = {"startFailure": first}
    # The same instance seen again counts once; the next failure doubles the wait.
    assert kubevirt.start_failure(machine, failed_start("a"), AT) == first
    second = kubevirt.start_failure(machine, failed_start("b"), AT)
    assert second is not None and second["retryAfterTimestamp"] == "2026-01-01T00:00:20Z"
    assert kubevirt.backing_off(first, AT) and not kubevirt.backing_off(
        first, "2026-01-01T00:00:10Z"
    )
    assert kubevirt.printable_status(machine, None, 0, None, crash_looping=True) == (
        "CrashLoopBackOff"
    )
    assert kubevirt.vm_status(machine, None, 0, None, AT, first)["printableStatus"] == (
        "CrashLoopBackOff"
    )
    # An instance that ran before it failed is no start failure; one running ends the count.
    assert kubevirt.start_failure(machine, failed_start("c", ran=True), AT) == first
    assert kubevirt.start_failure(machine, instance(phase="Running"), AT) is None
    assert kubevirt.start_failure(vm("Halted") | {"status": machine["status"]}, None, AT) is None


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
    failure = kubevirt.start_failure(machine, failed_start("a"), AT)
    machine["status"] = present(kubevirt.vm_status(machine, None, 0, None, AT, failure))
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


# --- declarative volume hotplug ---------------------------------------------------------------

ROOT = (
    {"name": "root", "containerDisk": {"image": "quay.io/x:1"}},
    {"name": "root", "disk": {"bus": "virtio"}},
)


def data_disk(name: str = "data", hotpluggable: bool = True) -> tuple[Manifest, Manifest]:
    """A claim volume and its disk: scsi and hotpluggable, or virtio and fixed."""
    claim: Manifest = {"claimName": name}
    if hotpluggable:
        claim["hotpluggable"] = True
    bus = "scsi" if hotpluggable else "virtio"
    return {"name": name, "persistentVolumeClaim": claim}, {"name": name, "disk": {"bus": bus}}


def machine(*pairs: tuple[Manifest, Manifest]) -> Manifest:
    """A VirtualMachine booting a containerDisk, with further volumes and their disks."""
    found = vm(volumes=[volume for volume, _ in (ROOT, *pairs)])
    found["spec"]["template"]["spec"]["domain"]["devices"]["disks"] = [
        disk for _, disk in (ROOT, *pairs)
    ]
    return found


def template_spec(machine: Manifest) -> Manifest:
    spec: Manifest = machine["spec"]["template"]["spec"]
    return spec


def names(items: list[Manifest]) -> list[str]:
    return [item["name"] for item in items]


def claim(name: str, phase: str = "Bound") -> Manifest:
    return {
        "metadata": {"name": name},
        "spec": {
            "accessModes": ["ReadWriteOnce"],
            "volumeMode": "Filesystem",
            "resources": {"requests": {"storage": "1Gi"}},
        },
        "status": {"phase": phase, "capacity": {"storage": "1Gi"}},
    }


def test_a_hotpluggable_volume_added_to_the_template_reaches_the_running_instance() -> None:
    started = instance(machine(), "Running")
    wanted = template_spec(machine(data_disk()))
    synced = hotplug.live_volumes(wanted, started)
    assert synced is not None
    volumes, disks = synced
    assert names(volumes) == names(disks) == ["root", "data"]
    assert disks[1] == {"name": "data", "disk": {"bus": "scsi"}}
    started["spec"]["volumes"], started["spec"]["domain"]["devices"]["disks"] = volumes, disks
    assert hotplug.live_volumes(wanted, started) is None
    assert hotplug.live_volumes(wanted, instance(machine(), "Scheduling")) is None


def test_a_hotpluggable_volume_removed_from_the_template_leaves_the_instance() -> None:
    started = instance(machine(data_disk(), data_disk("keep", hotpluggable=False)), "Running")
    synced = hotplug.live_volumes(
        template_spec(machine(data_disk("keep", hotpluggable=False))), started
    )
    assert synced is not None
    assert [names(found) for found in synced] == [["root", "keep"], ["root", "keep"]]


def test_a_volume_still_reported_while_it_detaches_is_not_added_again() -> None:
    started = instance(machine(), "Running")
    started["status"]["volumeStatus"] = [{"name": "data", "target": "", "phase": "Detaching"}]
    assert hotplug.live_volumes(template_spec(machine(data_disk())), started) is None


def running_with_data_and_fixed() -> Manifest:
    return instance(machine(data_disk(), data_disk("fixed", hotpluggable=False)), "Running")


@pytest.mark.parametrize(
    ("template", "restart"),
    [
        pytest.param([("data", True), ("fixed", False), ("x", True)], False, id="plug-added"),
        pytest.param([("fixed", False)], False, id="plug-removed"),
        pytest.param([("data", True), ("fixed", False)], False, id="unchanged"),
        pytest.param([("data", True), ("fixed", False), ("x", False)], True, id="fixed-added"),
        pytest.param([("data", True)], True, id="fixed-removed"),
        pytest.param([("data", False), ("fixed", False)], True, id="plug-made-fixed"),
    ],
)
def test_only_hotpluggable_volume_changes_are_live(
    template: list[tuple[str, bool]], restart: bool
) -> None:
    changed = machine(*(data_disk(name, hotpluggable) for name, hotpluggable in template))
    spec = running_with_data_and_fixed()["spec"]
    assert hotplug.needs_restart(template_spec(changed), spec) is restart


def test_a_hotpluggable_volume_made_fixed_stays_as_it_is_until_the_restart() -> None:
    fixed = machine(data_disk("data", hotpluggable=False), data_disk("fixed", False))
    assert hotplug.live_volumes(template_spec(fixed), running_with_data_and_fixed()) is None


def test_an_explicit_false_is_no_change_but_a_new_bus_is() -> None:
    spec = running_with_data_and_fixed()["spec"]
    explicit = template_spec(machine(data_disk(), data_disk("fixed", False)))
    explicit["volumes"][2]["persistentVolumeClaim"]["hotpluggable"] = False
    assert not hotplug.needs_restart(explicit, spec)
    explicit["domain"]["devices"]["disks"][2]["disk"]["bus"] = "sata"
    assert hotplug.needs_restart(explicit, spec)


def test_hotpluggable_volumes_are_not_in_the_launcher_pod() -> None:
    pod = launcher_pod(instance(machine(data_disk(), data_disk("fixed", False))))
    assert pod["spec"]["volumes"] == [
        {"name": "fixed", "persistentVolumeClaim": {"claimName": "fixed"}}
    ]


def test_volume_status_lists_every_volume_and_hotplugged_ones_by_phase() -> None:
    vmi = instance(machine(data_disk("fixed", False)), "Running")
    pod = launcher_pod(vmi, "Running", "node-1")
    vmi["spec"]["volumes"].append(data_disk()[0])
    vmi["spec"]["domain"]["devices"]["disks"].append(data_disk()[1])
    claims = {"fixed": claim("fixed"), "data": claim("data", "Pending")}
    attaching = hotplug.volume_status(vmi, pod, claims, attachable={"fixed"})
    assert names(attaching) == ["data", "fixed", "root"]
    data, fixed, root = attaching
    assert (data["phase"], data["reason"], data["message"]) == (
        "Pending",
        "PVCNotReady",
        "PVC is in phase ClaimPending",
    )
    assert (data["hotplugVolume"], data["target"]) == ({}, "")
    assert fixed == {
        "name": "fixed",
        "target": "vdb",
        "persistentVolumeClaimInfo": {
            "claimName": "fixed",
            "accessModes": ["ReadWriteOnce"],
            "volumeMode": "Filesystem",
            "capacity": {"storage": "1Gi"},
            "requests": {"storage": "1Gi"},
            "filesystemOverhead": "0.055",
        },
    }
    assert root == {"name": "root", "target": "vda"}

    vmi["status"]["volumeStatus"] = attaching
    claims["data"] = claim("data")
    attached = hotplug.volume_status(vmi, pod, claims, attachable={"fixed", "data"})
    data = attached[0]
    assert (data["phase"], data["reason"], data["target"]) == ("Ready", "VolumeReady", "sda")
    assert data["message"] == "Successfully attach hotplugged volume data to VM"
    assert data["persistentVolumeClaimInfo"]["claimName"] == "data"
    vmi["status"]["volumeStatus"] = attached
    assert hotplug.volume_status(vmi, pod, claims, {"fixed", "data"}) == attached


def test_volume_status_keeps_targets_and_waits_for_a_running_guest() -> None:
    vmi = instance(machine(data_disk("a"), data_disk("b")), "Scheduling")
    pod = launcher_pod(vmi, "Pending")
    claims = {"a": claim("a"), "b": None}
    waiting = hotplug.volume_status(vmi, pod, claims, {"a"})
    assert [(s["name"], s["target"], s.get("phase")) for s in waiting] == [
        ("a", "", "Bound"),
        ("b", "", "Pending"),
        ("root", "", None),
    ]
    assert (waiting[1]["reason"], waiting[1]["message"]) == ("FailedPvcNotFound", "PVC b not found")
    assert "persistentVolumeClaimInfo" not in waiting[1]
    vmi["status"] = {"phase": "Running", "volumeStatus": [{"name": "b", "target": "sda"}]}
    pod = launcher_pod(vmi, "Running", "node-1")
    targets = {s["name"]: s["target"] for s in hotplug.volume_status(vmi, pod, claims, {"a", "b"})}
    assert targets == {"root": "vda", "a": "sdb", "b": "sda"}


def test_restart_required_stays_until_a_new_instance_starts() -> None:
    started = instance(machine(), "Running")
    started["metadata"]["creationTimestamp"] = "2026-01-01T00:00:00Z"
    assert not kubevirt.restart_required(machine(data_disk()), started)
    changed = machine(data_disk("fixed", hotpluggable=False))
    status = kubevirt.vm_status(changed, started, 1, None, "2026-01-01T00:05:00Z")
    assert conditions.find(status["conditions"], "RestartRequired") == {
        "type": "RestartRequired",
        "status": "True",
        "message": "a non-live-updatable field was changed in the template spec",
        "lastTransitionTime": "2026-01-01T00:05:00Z",
    }
    reverted = machine()
    reverted["status"] = status
    assert kubevirt.restart_required(reverted, started)  # undoing the change does not clear it

    changed["status"] = status
    restarted = instance(changed, "Running")
    restarted["metadata"]["creationTimestamp"] = "2026-01-01T00:10:00Z"
    later = kubevirt.vm_status(changed, restarted, 1, None, "2026-01-01T00:10:00Z")
    assert conditions.find(later["conditions"], "RestartRequired") is None
    stopping = instance(machine(), "Running")
    stopping["metadata"]["deletionTimestamp"] = AT
    assert not kubevirt.restart_required(changed, stopping)
    assert not kubevirt.restart_required(changed, None)


def test_hotplug_statuses_match_the_upstream_schemas(upstream_schemas: Path) -> None:
    def schema(name: str) -> Manifest:
        loaded: Manifest = json.loads((upstream_schemas / "kubevirt.io" / name).read_text())
        return loaded

    vmi = instance(machine(data_disk("fixed", False)), "Running")
    pod = launcher_pod(vmi, "Running", "node-1", podIP="10.0.0.7")
    vmi["spec"]["volumes"].append(data_disk()[0])
    vmi["spec"]["domain"]["devices"]["disks"].append(data_disk()[1])
    claims = {"fixed": claim("fixed"), "data": claim("data")}
    vmi["status"] = launcher.vmi_status(vmi, pod, AT, claims=claims, attachable={"data"})
    assert names(vmi["status"]["volumeStatus"]) == ["data", "fixed", "root"]
    jsonschema.validate(vmi, schema("virtualmachineinstance_v1.json"))
    changed = machine(data_disk("fixed", False), data_disk("more", False))
    status = kubevirt.vm_status(changed, vmi, 1, None, AT)
    changed["status"] = {k: v for k, v in status.items() if v is not None}
    assert conditions.find(changed["status"]["conditions"], "RestartRequired")
    jsonschema.validate(changed, schema("virtualmachine_v1.json"))


def test_a_new_size_waits_for_the_next_start() -> None:
    """KubeVirt's default rollout strategy: CPU and memory changes of a running machine are
    RestartRequired, and an instance started from the new template is not."""
    running = instance(vm(), "Running")
    assert not kubevirt.restart_required(vm(), running)
    bigger = vm()
    bigger["spec"]["template"]["spec"]["domain"]["cpu"] = {"cores": 4}
    assert kubevirt.restart_required(bigger, running)
    assert not kubevirt.restart_required(bigger, instance(bigger, "Running"))


def test_an_instances_launcher_pod_has_one_name_however_many_handlers_make_it() -> None:
    first, again = instance(), instance()
    other = instance()
    other["metadata"]["uid"] = "another-uid"
    assert launcher.launcher_suffix(first) == launcher.launcher_suffix(again)
    assert launcher.launcher_suffix(first) != launcher.launcher_suffix(other)
    assert len(launcher.launcher_suffix(first)) == 5


def test_one_object_is_reconciled_by_one_thread_at_a_time() -> None:
    """As a controller's work queue does: two events of one machine never overlap, while
    another machine's go on beside them."""
    inside = {"web": 0, "other": 0}
    overlaps: list[str] = []
    started = {name: threading.Event() for name in inside}
    met_the_other: list[bool] = []

    @kube.one_at_a_time
    def reconcile(namespace: str, name: str) -> None:
        inside[name] += 1
        if inside[name] > 1:
            overlaps.append(name)
        started[name].set()
        met_the_other.append(started["other" if name == "web" else "web"].wait(timeout=5))
        time.sleep(0.02)
        inside[name] -= 1

    threads = [
        threading.Thread(target=reconcile, args=("ns", name)) for name in ("web", "other") * 3
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert overlaps == []
    assert met_the_other == [True] * 6
