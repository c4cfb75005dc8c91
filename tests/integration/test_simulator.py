"""The data-plane simulator against the real control plane: what KubeVirt, CDI and CSI would show.

Every object here is an upstream-shaped manifest that the API server validates against the real
upstream CRDs; binding is done by the real PV controller, placement by the real kube-scheduler,
and KWOK runs the pods.
"""

import contextlib
import copy
import json
import os
import re
import signal
import subprocess
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from devcluster.cluster import running, simulator_command
from tests.integration.conftest import REPO, Cluster

Manifest = dict[str, Any]
KWOK_NODES = {"node-1", "node-2", "node-3"}
PROVISIONER = "simulator.devcluster.stratus.io"


@pytest.fixture(scope="module")
def namespace(cluster: Cluster) -> Iterator[str]:
    name = f"sim-{uuid.uuid4().hex[:6]}"
    cluster.kubectl("create", "namespace", name)
    yield name
    cluster.kubectl("delete", "namespace", name, "--wait=false")


def virtual_machine(
    name: str, namespace: str, run_strategy: str = "Always", **spec: Any
) -> Manifest:
    """A small upstream-shaped VirtualMachine booting a containerDisk on the pod network."""
    template_spec: Manifest = {
        "domain": {
            "cpu": {"cores": 1},
            "memory": {"guest": "512Mi"},
            "devices": {
                "disks": [{"name": "root", "disk": {"bus": "virtio"}}],
                "interfaces": [{"name": "default", "masquerade": {}}],
            },
        },
        "networks": [{"name": "default", "pod": {}}],
        "volumes": [
            {"name": "root", "containerDisk": {"image": "quay.io/containerdisks/fedora:41"}}
        ],
        **spec,
    }
    return {
        "apiVersion": "kubevirt.io/v1",
        "kind": "VirtualMachine",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "runStrategy": run_strategy,
            "template": {"metadata": {"labels": {"app": name}}, "spec": template_spec},
        },
    }


def http_datavolume(name: str, namespace: str, url: str) -> Manifest:
    return {
        "apiVersion": "cdi.kubevirt.io/v1beta1",
        "kind": "DataVolume",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "source": {"http": {"url": url}},
            "storage": {"resources": {"requests": {"storage": "1Gi"}}},
        },
    }


def condition(obj: Manifest | None, type_: str) -> Manifest:
    found = [
        c for c in ((obj or {}).get("status") or {}).get("conditions") or [] if c["type"] == type_
    ]
    return found[0] if found else {}


def printable_status(cluster: Cluster, name: str, namespace: str) -> str | None:
    vm = cluster.get("virtualmachine", name, namespace) or {}
    status: str | None = (vm.get("status") or {}).get("printableStatus")
    return status


def launcher_pods(cluster: Cluster, name: str, namespace: str) -> list[Manifest]:
    found = cluster.kubectl(
        "get",
        "pods",
        "-n",
        namespace,
        "-l",
        f"kubevirt.io=virt-launcher,vm.kubevirt.io/name={name}",
        "-o",
        "json",
    )
    items: list[Manifest] = json.loads(found.stdout)["items"]
    return items


def running_instance(cluster: Cluster, name: str, namespace: str) -> Manifest:
    def is_running() -> Manifest | None:
        vmi = cluster.get("virtualmachineinstance", name, namespace)
        return vmi if vmi and (vmi.get("status") or {}).get("phase") == "Running" else None

    found: Manifest = cluster.wait_until(f"VMI {name} Running", is_running, timeout=60)
    return found


def test_claim_of_the_default_class_is_bound_to_a_provisioned_volume_and_expands(
    cluster: Cluster, namespace: str
) -> None:
    cluster.apply(
        {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {"name": "data", "namespace": namespace},
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": "1Gi"}},
            },
        }
    )
    cluster.wait("pvc/data", "jsonpath={.status.phase}=Bound", namespace)
    claim = cluster.get("pvc", "data", namespace)
    assert claim is not None
    assert claim["spec"]["storageClassName"] == "standard"
    volume = cluster.get("pv", claim["spec"]["volumeName"])
    assert volume is not None
    assert volume["metadata"]["annotations"]["pv.kubernetes.io/provisioned-by"] == PROVISIONER
    assert volume["spec"]["claimRef"]["uid"] == claim["metadata"]["uid"]
    assert volume["spec"]["capacity"]["storage"] == "1Gi"
    assert volume["spec"]["persistentVolumeReclaimPolicy"] == "Delete"

    cluster.kubectl(
        "patch",
        "pvc",
        "data",
        "-n",
        namespace,
        "--type=merge",
        "-p",
        '{"spec":{"resources":{"requests":{"storage":"3Gi"}}}}',
    )
    cluster.wait("pvc/data", "jsonpath={.status.capacity.storage}=3Gi", namespace)
    volume = cluster.get("pv", claim["spec"]["volumeName"])
    assert volume is not None
    assert volume["spec"]["capacity"]["storage"] == "3Gi"


def test_deleting_a_claim_deletes_its_released_volume(cluster: Cluster, namespace: str) -> None:
    cluster.apply(
        {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {"name": "scratch", "namespace": namespace},
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": "1Gi"}},
            },
        }
    )
    cluster.wait("pvc/scratch", "jsonpath={.status.phase}=Bound", namespace)
    claim = cluster.get("pvc", "scratch", namespace)
    assert claim is not None
    cluster.kubectl("delete", "pvc", "scratch", "-n", namespace)
    cluster.wait_until(
        "the released volume to be deleted",
        lambda: cluster.get("pv", claim["spec"]["volumeName"]) is None,
    )


def test_http_datavolume_reaches_succeeded_with_progress_and_its_claim_bound(
    cluster: Cluster, namespace: str
) -> None:
    cluster.apply(
        http_datavolume("image", namespace, "https://cloud-images.example.org/noble.qcow2")
    )
    progress_seen: set[str] = set()

    def succeeded() -> bool:
        dv = cluster.get("datavolume", "image", namespace) or {}
        status = dv.get("status") or {}
        progress_seen.add(status.get("progress", ""))
        return status.get("phase") == "Succeeded"

    cluster.wait_until("DataVolume image Succeeded", succeeded, timeout=60)
    dv = cluster.get("datavolume", "image", namespace)
    assert dv is not None
    assert dv["status"]["progress"] == "100.0%"
    assert condition(dv, "Ready")["status"] == "True"
    assert condition(dv, "Bound")["status"] == "True"
    assert condition(dv, "Running")["reason"] == "Completed"
    assert any(re.fullmatch(r"\d{1,2}\.\d\d%", p) for p in progress_seen), progress_seen
    claim = cluster.get("pvc", "image", namespace)
    assert claim is not None
    assert claim["status"]["phase"] == "Bound"
    owner = claim["metadata"]["ownerReferences"][0]
    assert (owner["kind"], owner["uid"], owner["controller"]) == (
        "DataVolume",
        dv["metadata"]["uid"],
        True,
    )


def test_datavolume_with_an_unresolvable_url_reports_the_import_error(
    cluster: Cluster, namespace: str
) -> None:
    cluster.apply(http_datavolume("broken", namespace, "https://images.example.invalid/disk.img"))

    def failing() -> Manifest | None:
        dv = cluster.get("datavolume", "broken", namespace)
        return dv if condition(dv, "Running").get("reason") == "Error" else None

    dv = cluster.wait_until("DataVolume broken to report its error", failing)
    assert dv["status"]["phase"] == "ImportInProgress"
    assert condition(dv, "Running")["status"] == "False"
    assert "Unable to connect to http data source" in condition(dv, "Running")["message"]
    assert condition(dv, "Ready")["status"] == "False"


def test_clone_waits_for_its_source_claim(cluster: Cluster, namespace: str) -> None:
    cluster.apply(
        {
            "apiVersion": "cdi.kubevirt.io/v1beta1",
            "kind": "DataVolume",
            "metadata": {"name": "copy", "namespace": namespace},
            "spec": {
                "source": {"pvc": {"name": "golden", "namespace": namespace}},
                "storage": {"resources": {"requests": {"storage": "1Gi"}}},
            },
        }
    )
    cluster.wait_until(
        "the clone to wait for its source",
        lambda: (
            condition(cluster.get("datavolume", "copy", namespace), "Bound").get("reason")
            == "CloneWithoutSource"
        ),
    )
    dv = cluster.get("datavolume", "copy", namespace)
    assert dv is not None
    assert dv["status"]["phase"] == "CloneScheduled"
    assert cluster.get("pvc", "copy", namespace) is None
    cluster.apply(
        {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {"name": "golden", "namespace": namespace},
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": "1Gi"}},
            },
        }
    )
    cluster.wait("datavolume/copy", "jsonpath={.status.phase}=Succeeded", namespace, timeout=60)


def test_vm_always_runs_on_the_kwok_node_the_scheduler_chose(
    cluster: Cluster, namespace: str
) -> None:
    cluster.apply(virtual_machine("web", namespace))
    vmi = running_instance(cluster, "web", namespace)
    pods = launcher_pods(cluster, "web", namespace)
    assert len(pods) == 1
    pod = pods[0]
    assert re.fullmatch(r"virt-launcher-web-[a-z]{5}", pod["metadata"]["name"])
    assert pod["metadata"]["labels"]["kubevirt.io/created-by"] == vmi["metadata"]["uid"]
    assert pod["spec"]["nodeName"] in KWOK_NODES
    assert vmi["status"]["nodeName"] == pod["spec"]["nodeName"]
    assert vmi["status"]["interfaces"][0]["ipAddress"] == pod["status"]["podIP"]
    assert condition(vmi, "Ready")["status"] == "True"
    owner = vmi["metadata"]["ownerReferences"][0]
    assert (owner["kind"], owner["name"], owner["controller"]) == ("VirtualMachine", "web", True)
    cluster.wait_until(
        "VM web Running", lambda: printable_status(cluster, "web", namespace) == "Running"
    )
    vm = cluster.get("virtualmachine", "web", namespace)
    assert vm is not None
    assert vm["status"]["ready"] is True
    assert condition(vm, "Ready")["status"] == "True"


def test_vm_pinned_to_a_zone_without_nodes_is_error_unschedulable(
    cluster: Cluster, namespace: str
) -> None:
    cluster.apply(
        virtual_machine(
            "nowhere", namespace, nodeSelector={"topology.kubernetes.io/zone": "zone-without-nodes"}
        )
    )
    cluster.wait_until(
        "VM nowhere ErrorUnschedulable",
        lambda: printable_status(cluster, "nowhere", namespace) == "ErrorUnschedulable",
    )
    vmi = cluster.get("virtualmachineinstance", "nowhere", namespace)
    assert vmi is not None
    assert vmi["status"]["phase"] in ("Scheduling", "Pending")
    scheduled = condition(vmi, "PodScheduled")
    assert (scheduled["status"], scheduled["reason"]) == ("False", "Unschedulable")
    assert "node affinity/selector" in scheduled["message"]


def test_halting_a_vm_removes_its_instance_and_launcher_and_shows_stopped(
    cluster: Cluster, namespace: str
) -> None:
    cluster.apply(virtual_machine("halt-me", namespace))
    running_instance(cluster, "halt-me", namespace)
    cluster.kubectl(
        "patch",
        "virtualmachine",
        "halt-me",
        "-n",
        namespace,
        "--type=merge",
        "-p",
        '{"spec":{"runStrategy":"Halted"}}',
    )
    cluster.wait_until(
        "VM halt-me Stopped", lambda: printable_status(cluster, "halt-me", namespace) == "Stopped"
    )
    assert cluster.get("virtualmachineinstance", "halt-me", namespace) is None
    assert launcher_pods(cluster, "halt-me", namespace) == []
    vm = cluster.get("virtualmachine", "halt-me", namespace)
    assert vm is not None
    assert not vm["status"].get("ready")
    assert condition(vm, "Ready")["reason"] == "VMINotExists"


def test_deleting_the_instance_of_an_always_vm_restarts_it_with_a_new_uid(
    cluster: Cluster, namespace: str
) -> None:
    cluster.apply(virtual_machine("reboot-me", namespace))
    first = running_instance(cluster, "reboot-me", namespace)["metadata"]["uid"]
    cluster.kubectl("delete", "virtualmachineinstance", "reboot-me", "-n", namespace)

    def restarted() -> Manifest | None:
        vmi = cluster.get("virtualmachineinstance", "reboot-me", namespace)
        fresh = vmi and vmi["metadata"]["uid"] != first
        return vmi if fresh and (vmi.get("status") or {}).get("phase") == "Running" else None

    def single_launcher() -> list[Manifest] | None:
        pods = launcher_pods(cluster, "reboot-me", namespace)
        return pods if len(pods) == 1 else None

    vmi = cluster.wait_until("a new VMI for reboot-me", restarted, timeout=60)
    pods = cluster.wait_until("only the new launcher pod", single_launcher)
    assert pods[0]["metadata"]["labels"]["kubevirt.io/created-by"] == vmi["metadata"]["uid"]


def test_vm_waits_for_its_datavolume_before_starting(cluster: Cluster, namespace: str) -> None:
    vm = virtual_machine(
        "from-image",
        namespace,
        volumes=[{"name": "root", "dataVolume": {"name": "from-image-root"}}],
    )
    vm["spec"]["dataVolumeTemplates"] = [
        {
            "metadata": {"name": "from-image-root"},
            "spec": {
                "source": {"http": {"url": "https://cloud-images.example.org/noble.qcow2"}},
                "storage": {"resources": {"requests": {"storage": "2Gi"}}},
            },
        }
    ]
    cluster.apply(vm)
    cluster.wait_until(
        "VM from-image Provisioning",
        lambda: printable_status(cluster, "from-image", namespace) == "Provisioning",
    )
    assert cluster.get("virtualmachineinstance", "from-image", namespace) is None
    vmi = running_instance(cluster, "from-image", namespace)
    dv = cluster.get("datavolume", "from-image-root", namespace)
    assert dv is not None
    assert dv["status"]["phase"] == "Succeeded"
    assert dv["metadata"]["ownerReferences"][0]["kind"] == "VirtualMachine"
    pod = launcher_pods(cluster, "from-image", namespace)[0]
    claims = [v["persistentVolumeClaim"]["claimName"] for v in pod["spec"].get("volumes", [])]
    assert claims == ["from-image-root"]
    assert vmi["status"]["nodeName"] == pod["spec"]["nodeName"]


def test_deleting_a_vm_takes_its_instance_and_launcher_with_it(
    cluster: Cluster, namespace: str
) -> None:
    cluster.apply(virtual_machine("short-lived", namespace))
    running_instance(cluster, "short-lived", namespace)
    cluster.kubectl("delete", "virtualmachine", "short-lived", "-n", namespace)
    cluster.wait_until(
        "the VMI and launcher pod of short-lived to be garbage-collected",
        lambda: (
            cluster.get("virtualmachineinstance", "short-lived", namespace) is None
            and not launcher_pods(cluster, "short-lived", namespace)
        ),
    )


def claim_volume(name: str, claim: str, hotpluggable: bool = False) -> tuple[Manifest, Manifest]:
    """A claim volume and its disk as a VM template holds them: hotpluggable ones on scsi."""
    source: Manifest = {"claimName": claim}
    if hotpluggable:
        source["hotpluggable"] = True
    bus = "scsi" if hotpluggable else "virtio"
    return {"name": name, "persistentVolumeClaim": source}, {"name": name, "disk": {"bus": bus}}


def with_volumes(vm: Manifest, *volumes: tuple[Manifest, Manifest]) -> Manifest:
    """The VM with these volumes (and their disks) after its containerDisk root."""
    changed = copy.deepcopy(vm)
    spec = changed["spec"]["template"]["spec"]
    spec["volumes"] = spec["volumes"][:1] + [volume for volume, _ in volumes]
    disks = spec["domain"]["devices"]["disks"]
    spec["domain"]["devices"]["disks"] = disks[:1] + [disk for _, disk in volumes]
    return changed


def volume_status(vmi: Manifest | None, name: str) -> Manifest:
    statuses = ((vmi or {}).get("status") or {}).get("volumeStatus") or []
    found = [s for s in statuses if s["name"] == name]
    return found[0] if found else {}


def volume_names(vmi: Manifest) -> tuple[list[str], list[str]]:
    spec = vmi["spec"]
    return [v["name"] for v in spec["volumes"]], [
        d["name"] for d in spec["domain"]["devices"]["disks"]
    ]


def test_hotpluggable_volumes_change_live_and_other_volume_changes_wait_for_a_restart(
    cluster: Cluster, namespace: str
) -> None:
    for claim in ("hp-data", "hp-extra", "hp-fixed"):
        cluster.apply(
            {
                "apiVersion": "v1",
                "kind": "PersistentVolumeClaim",
                "metadata": {"name": claim, "namespace": namespace},
                "spec": {
                    "accessModes": ["ReadWriteOnce"],
                    "resources": {"requests": {"storage": "1Gi"}},
                },
            }
        )
    data = claim_volume("data", "hp-data")
    base = with_volumes(virtual_machine("hotplug", namespace), data)
    cluster.apply(base)
    uid = running_instance(cluster, "hotplug", namespace)["metadata"]["uid"]

    def instance_when(volume: str, phase: str | None) -> Manifest | None:
        """The VMI once `volume` reports `phase`, or (phase None) once it is not reported."""
        vmi = cluster.get("virtualmachineinstance", "hotplug", namespace)
        reported = volume_status(vmi, volume)
        done = reported.get("phase") == phase if phase else not reported
        return vmi if vmi and done else None

    def restart_required() -> Manifest:
        return condition(cluster.get("virtualmachine", "hotplug", namespace), "RestartRequired")

    cluster.apply(with_volumes(base, data, claim_volume("extra", "hp-extra", hotpluggable=True)))
    vmi = cluster.wait_until("extra attached", lambda: instance_when("extra", "Ready"))
    assert vmi["metadata"]["uid"] == uid
    assert volume_names(vmi) == (["root", "data", "extra"], ["root", "data", "extra"])
    extra = volume_status(vmi, "extra")
    assert (extra["reason"], extra["target"], extra["hotplugVolume"]) == ("VolumeReady", "sda", {})
    assert extra["persistentVolumeClaimInfo"]["claimName"] == "hp-extra"
    assert volume_status(vmi, "data")["target"] == "vdb"
    assert "phase" not in volume_status(vmi, "data")
    assert restart_required() == {}

    cluster.apply(base)
    vmi = cluster.wait_until("extra detached", lambda: instance_when("extra", None))
    assert vmi["metadata"]["uid"] == uid
    assert volume_names(vmi) == (["root", "data"], ["root", "data"])

    cluster.apply(with_volumes(base, data, claim_volume("fixed", "hp-fixed")))
    required = cluster.wait_until(
        "RestartRequired", lambda: restart_required().get("status") == "True" and restart_required()
    )
    assert required["message"] == "a non-live-updatable field was changed in the template spec"
    vmi = cluster.get("virtualmachineinstance", "hotplug", namespace)
    assert vmi is not None
    assert vmi["metadata"]["uid"] == uid
    assert volume_names(vmi) == (["root", "data"], ["root", "data"])

    cluster.kubectl("delete", "virtualmachineinstance", "hotplug", "-n", namespace)

    def restarted() -> Manifest | None:
        vmi = cluster.get("virtualmachineinstance", "hotplug", namespace)
        if not vmi or vmi["metadata"]["uid"] == uid or not volume_status(vmi, "fixed"):
            return None
        return vmi if (vmi.get("status") or {}).get("phase") == "Running" else None

    vmi = cluster.wait_until("a new VMI for hotplug", restarted, timeout=60)
    assert volume_names(vmi) == (["root", "data", "fixed"], ["root", "data", "fixed"])
    assert volume_status(vmi, "fixed")["persistentVolumeClaimInfo"]["claimName"] == "hp-fixed"
    cluster.wait_until("RestartRequired cleared", lambda: restart_required() == {})


def test_snapshot_of_a_claim_becomes_ready_and_restores_into_a_new_claim(
    cluster: Cluster, namespace: str
) -> None:
    claim = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": "snap-source", "namespace": namespace},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "2Gi"}}},
    }
    cluster.apply(claim)
    cluster.apply(
        {
            "apiVersion": "snapshot.storage.k8s.io/v1",
            "kind": "VolumeSnapshot",
            "metadata": {"name": "nightly", "namespace": namespace},
            "spec": {"source": {"persistentVolumeClaimName": "snap-source"}},
        }
    )
    cluster.wait("volumesnapshot/nightly", "jsonpath={.status.readyToUse}=true", namespace)
    snapshot = cluster.get("volumesnapshot", "nightly", namespace)
    assert snapshot is not None
    assert snapshot["status"]["restoreSize"] == "2Gi"
    content = cluster.get(
        "volumesnapshotcontent", snapshot["status"]["boundVolumeSnapshotContentName"]
    )
    assert content is not None
    assert content["spec"]["volumeSnapshotRef"]["uid"] == snapshot["metadata"]["uid"]

    restored = {**claim, "metadata": {"name": "restored", "namespace": namespace}}
    restored["spec"] = {
        **claim["spec"],
        "dataSource": {
            "apiGroup": "snapshot.storage.k8s.io",
            "kind": "VolumeSnapshot",
            "name": "nightly",
        },
    }
    cluster.apply(restored)
    cluster.wait("pvc/restored", "jsonpath={.status.phase}=Bound", namespace)
    cluster.kubectl("delete", "volumesnapshot", "nightly", "-n", namespace)
    cluster.wait_until(
        "the snapshot's content to be deleted with it",
        lambda: cluster.get("volumesnapshotcontent", content["metadata"]["name"]) is None,
    )


def exited(pid: int) -> bool:
    """Whether the process is gone, reaping it if this process started it (the fixture may have)."""
    with contextlib.suppress(ChildProcessError):  # not a child of this process
        os.waitpid(pid, os.WNOHANG)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def stop_simulator(cluster: Cluster) -> None:
    pid = running(cluster.state)["simulator"]
    os.killpg(pid, signal.SIGTERM)
    cluster.wait_until("the simulator to stop", lambda: exited(pid))


def start_simulator(cluster: Cluster) -> None:
    """Start it as `devcluster up` does, recording its pid so that `down` stops it."""
    state = cluster.state
    with (state.logs / "simulator.log").open("ab") as log:
        process = subprocess.Popen(
            simulator_command(state),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )
    (state.run / "simulator.pid").write_text(str(process.pid))


def resource_versions(cluster: Cluster, name: str, namespace: str) -> dict[str, str]:
    objects = {
        "vm": cluster.get("virtualmachine", name, namespace),
        "vmi": cluster.get("virtualmachineinstance", name, namespace),
        "pod": launcher_pods(cluster, name, namespace)[0],
    }
    return {kind: obj["metadata"]["resourceVersion"] for kind, obj in objects.items() if obj}


def test_a_restarted_simulator_changes_nothing_settled_and_catches_up(
    cluster: Cluster, namespace: str
) -> None:
    cluster.apply(virtual_machine("steady", namespace))
    running_instance(cluster, "steady", namespace)
    cluster.wait_until(
        "VM steady Running", lambda: printable_status(cluster, "steady", namespace) == "Running"
    )
    settled = resource_versions(cluster, "steady", namespace)
    stop_simulator(cluster)
    try:
        cluster.apply(virtual_machine("while-down", namespace))
    finally:
        start_simulator(cluster)
    running_instance(cluster, "while-down", namespace)
    cluster.wait_until(
        "VM while-down Running",
        lambda: printable_status(cluster, "while-down", namespace) == "Running",
    )
    assert resource_versions(cluster, "steady", namespace) == settled
