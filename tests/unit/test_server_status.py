"""Nova's view of a Server read off its VirtualMachine, instance or Kata Pod."""

from typing import Any

from stratus.status.server import attachments, pod_state, vm_state


def vm(printable: str, ready: bool = False, **status: Any) -> dict[str, Any]:
    return {"status": {"printableStatus": printable, "ready": ready, **status}}


def vmi(node: str = "node-1", **status: Any) -> dict[str, Any]:
    ready = {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}
    return {"metadata": {"uid": "i-1"}, "spec": {}, "status": {"nodeName": node, **ready, **status}}


def test_a_running_ready_vm_is_active_on_its_node() -> None:
    state = vm_state(True, vm("Running", ready=True), vmi("node-2"))
    assert (state.phase, state.ready, state.reason, state.message) == (
        "Active",
        True,
        "Running",
        "running on node-2",
    )


def test_a_new_instance_is_not_active_on_its_machines_lagging_readiness() -> None:
    """The machine still says Running and ready of the instance just replaced."""
    starting = vmi("node-2", phase="Scheduling", conditions=[])
    state = vm_state(True, vm("Running", ready=True), starting)
    assert (state.phase, state.ready, state.reason) == ("Building", False, "Starting")
    assert not vm_state(True, vm("Running", ready=True), None).ready


def test_a_vm_copying_its_root_disk_is_building() -> None:
    state = vm_state(True, vm("Provisioning"), None)
    assert (state.phase, state.ready, state.message) == ("Building", False, "copying the root disk")
    assert vm_state(True, None, None).reason == "Creating"


def test_a_stopped_vm_is_shutoff_and_ready_and_one_stopping_is_not_yet() -> None:
    assert vm_state(False, vm("Stopped"), None).phase == "Shutoff"
    assert vm_state(False, vm("Stopped"), None).ready
    stopping = vm_state(False, vm("Stopping"), vmi())
    assert (stopping.phase, stopping.ready, stopping.reason) == ("Active", False, "Stopping")


def test_an_unschedulable_vm_is_no_valid_host_with_the_schedulers_words() -> None:
    instance = vmi(
        conditions=[{"type": "PodScheduled", "status": "False", "message": "0/3 nodes fit"}]
    )
    state = vm_state(True, vm("ErrorUnschedulable"), instance)
    assert (state.phase, state.reason) == ("Error", "NoValidHost")
    assert state.message == "kube-scheduler: 0/3 nodes fit"


def test_a_failed_copy_is_an_error_that_carries_cdis_message() -> None:
    failing = vm(
        "DataVolumeError",
        conditions=[{"type": "Failure", "status": "True", "message": "import failed: 404"}],
    )
    state = vm_state(True, failing, None)
    assert (state.phase, state.reason, state.message) == (
        "Error",
        "DataVolumeError",
        "import failed: 404",
    )


def test_a_kata_pod_follows_the_same_contract() -> None:
    running = {
        "spec": {"nodeName": "node-3"},
        "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]},
    }
    assert pod_state(True, running).phase == "Active"
    assert pod_state(False, None).phase == "Shutoff"
    pulling = {
        "spec": {},
        "status": {
            "phase": "Pending",
            "containerStatuses": [
                {"state": {"waiting": {"reason": "ImagePullBackOff", "message": "not found"}}}
            ],
        },
    }
    assert (pod_state(True, pulling).phase, pod_state(True, pulling).reason) == (
        "Error",
        "ImagePullBackOff",
    )
    unschedulable = {
        "spec": {},
        "status": {
            "conditions": [
                {
                    "type": "PodScheduled",
                    "status": "False",
                    "reason": "Unschedulable",
                    "message": "x",
                }
            ]
        },
    }
    assert pod_state(True, unschedulable).reason == "NoValidHost"


def test_attachments_say_what_is_live_and_what_waits_for_a_restart() -> None:
    desired = {
        "vol-boot": ("boot", False),
        "vol-live": ("live", True),
        "vol-new": ("new", True),
        "vol-later": ("later", False),
        "root": ("srv-root", False),
    }
    instance = vmi(
        volumeStatus=[
            {"name": "vol-boot"},
            {"name": "vol-live", "hotplugVolume": {}, "phase": "Ready"},
            {"name": "vol-gone", "hotplugVolume": {}, "phase": "Ready"},
            {"name": "vol-old"},
        ]
    )
    instance["spec"]["volumes"] = [
        {"name": "vol-boot", "persistentVolumeClaim": {"claimName": "boot"}},
        {"name": "vol-live", "persistentVolumeClaim": {"claimName": "live", "hotpluggable": True}},
        {"name": "vol-gone", "persistentVolumeClaim": {"claimName": "gone", "hotpluggable": True}},
        {"name": "vol-old", "persistentVolumeClaim": {"claimName": "old"}},
        {"name": "root", "dataVolume": {"name": "srv-root"}},
    ]
    found = attachments(desired, instance, is_vmi=True, not_volumes=frozenset({"srv-root"}))
    assert found == [
        {"name": "boot", "state": "Attached"},
        {"name": "gone", "state": "Detaching"},
        {"name": "later", "state": "AttachOnRestart"},
        {"name": "live", "state": "Attached"},
        {"name": "new", "state": "Attaching"},
        {"name": "old", "state": "DetachOnRestart"},
    ]


def test_a_stopped_server_holds_its_volumes_attached_for_the_next_start() -> None:
    found = attachments({"vol-data": ("data", False)}, None, is_vmi=True)
    assert found == [{"name": "data", "state": "Attached"}]
