"""What a Server's workload says about it: phase, readiness and volume attachments, read off
the VirtualMachine and its instance (or the Kata Pod). Pure functions of those objects."""

from dataclasses import dataclass
from typing import Any

from stratus.builders.meta import Manifest
from stratus.core.conditions import is_ready
from stratus.placement.filters import NO_VALID_HOST

VM_BUILDING = ("Provisioning", "Starting", "WaitingForVolumeBinding", "Migrating", "Unknown")
VM_FAILED = (
    "ErrorUnschedulable",
    "ErrorPvcNotFound",
    "DataVolumeError",
    "ErrImagePull",
    "ImagePullBackOff",
    "CrashLoopBackOff",
)
"""printableStatus values of a machine that cannot start as it is."""


@dataclass(frozen=True)
class State:
    phase: str
    ready: bool
    reason: str
    message: str


def _condition(obj: Manifest | None, type_: str) -> Manifest:
    for condition in ((obj or {}).get("status") or {}).get("conditions") or []:
        if condition.get("type") == type_:
            return dict(condition)
    return {}


def deleting(obj: Manifest | None) -> bool:
    return bool((obj or {}).get("metadata", {}).get("deletionTimestamp"))


def vm_state(running: bool, vm: Manifest | None, vmi: Manifest | None) -> State:
    """Nova's view of a VirtualMachine: Building, Active, Shutoff or Error, and why."""
    status = (vm or {}).get("status") or {}
    printable = str(status.get("printableStatus") or "Provisioning")
    if vm is None:
        return State("Building", False, "Creating", "creating the VirtualMachine")
    if printable == "ErrorUnschedulable":
        scheduled = _condition(vmi, "PodScheduled") or _condition(vm, "PodScheduled")
        detail = scheduled.get("message") or "no node can hold the VirtualMachine"
        return State("Error", False, NO_VALID_HOST, f"kube-scheduler: {detail}")
    if printable == "CrashLoopBackOff":
        failed = status.get("startFailure") or {}
        count = int(failed.get("consecutiveFailCount", 1))
        message = (
            f"the instance failed to start ({count} time{'s' if count > 1 else ''} in a row); "
            f"KubeVirt starts another after {failed.get('retryAfterTimestamp', 'a backoff')}"
        )
        return State("Error", False, printable, message)
    failure = _condition(vm, "Failure")
    if printable in VM_FAILED or failure.get("status") == "True":
        detail = failure.get("message") or _condition(vm, "Ready").get("message") or printable
        return State("Error", False, printable, str(detail))
    if not running:
        if printable == "Stopped":
            return State("Shutoff", True, "Stopped", "stopped as requested")
        return State("Active", False, "Stopping", f"stopping ({printable})")
    if printable == "Running" and status.get("ready"):
        if not running_and_ready(vmi):
            # The VirtualMachine's status lags its instance's: a replaced instance's readiness
            # is still on it while the new one starts, which must not pass for the new one's.
            return State("Building", False, "Starting", "starting")
        node = ((vmi or {}).get("status") or {}).get("nodeName")
        return State("Active", True, "Running", f"running on {node}" if node else "running")
    return State("Building", False, printable, _building_message(printable, vm))


def running_and_ready(obj: Manifest | None) -> bool:
    """The instance (or Kata Pod) itself runs and is ready, as its node last reported it."""
    return (
        obj is not None
        and not deleting(obj)
        and (obj.get("status") or {}).get("phase") == "Running"
        and is_ready(obj)
    )


def _building_message(printable: str, vm: Manifest) -> str:
    ready = _condition(vm, "Ready")
    if ready.get("message") and ready.get("reason") not in ("VMINotExists", "PodNotExists"):
        return f"{printable}: {ready['message']}"
    return {
        "Provisioning": "copying the root disk",
        "WaitingForVolumeBinding": "waiting for its volumes to be bound",
        "Starting": "starting",
        "Stopped": "starting",
    }.get(printable, printable)


def pod_state(running: bool, pod: Manifest | None) -> State:
    """The same view of a Kata Pod."""
    if pod is None or deleting(pod):
        if not running:
            return State("Shutoff", True, "Stopped", "stopped as requested")
        return State("Building", False, "Creating", "creating the Pod")
    if not running:
        return State("Active", False, "Stopping", "stopping")
    status = pod.get("status") or {}
    scheduled = _condition(pod, "PodScheduled")
    if scheduled.get("status") == "False" and scheduled.get("reason") == "Unschedulable":
        return State("Error", False, NO_VALID_HOST, f"kube-scheduler: {scheduled.get('message')}")
    for container in status.get("containerStatuses") or []:
        waiting = (container.get("state") or {}).get("waiting") or {}
        if waiting.get("reason") in VM_FAILED:
            return State("Error", False, str(waiting["reason"]), str(waiting.get("message") or ""))
    if running_and_ready(pod):
        return State("Active", True, "Running", f"running on {pod['spec'].get('nodeName')}")
    return State("Building", False, "Starting", f"the Pod is {status.get('phase') or 'Pending'}")


def _claims(volumes: list[Manifest]) -> dict[str, tuple[str, bool]]:
    """Disk name -> (claim, hotpluggable) of the claim-backed volumes of a pod or VM spec."""
    found = {}
    for volume in volumes:
        claim = volume.get("persistentVolumeClaim") or volume.get("dataVolume") or {}
        name = claim.get("claimName") or claim.get("name")
        if name:
            found[volume["name"]] = (str(name), bool(claim.get("hotpluggable")))
    return found


def template_volumes(vm: Manifest | None) -> dict[str, tuple[str, bool]]:
    spec = (((vm or {}).get("spec") or {}).get("template") or {}).get("spec") or {}
    return _claims(spec.get("volumes") or [])


def live_volumes(instance: Manifest | None) -> dict[str, tuple[str, bool]]:
    """Volumes of a running instance (a VMI or a Pod): what is attached right now."""
    if instance is None or deleting(instance):
        return {}
    return _claims(((instance.get("spec") or {}).get("volumes")) or [])


def _hotplug_ready(vmi: Manifest | None, disk: str) -> bool:
    for entry in ((vmi or {}).get("status") or {}).get("volumeStatus") or []:
        if entry.get("name") == disk:
            return entry.get("hotplugVolume") is None or entry.get("phase") == "Ready"
    return False


def attachments(
    desired: dict[str, tuple[str, bool]],
    instance: Manifest | None,
    is_vmi: bool,
    not_volumes: frozenset[str] = frozenset(),
) -> list[dict[str, Any]]:
    """Each attached Volume (named by its claim) and where its attachment stands: `desired` is
    the workload's template, `instance` what runs now; claims in `not_volumes` (the root disk
    copied from an Image) are not Volumes."""
    live = live_volumes(instance)
    running = instance is not None and not deleting(instance)
    result = []
    for disk in set(desired) | set(live):
        claim, hotpluggable = desired.get(disk) or live[disk]
        if claim in not_volumes:
            continue
        if not running:
            state = "Attached"
        elif disk in live and disk in desired:
            state = "Attached" if not is_vmi or _hotplug_ready(instance, disk) else "Attaching"
        elif disk in desired:
            state = "Attaching" if hotpluggable and is_vmi else "AttachOnRestart"
        else:
            state = "Detaching" if live[disk][1] and is_vmi else "DetachOnRestart"
        result.append({"name": claim, "state": state})
    return sorted(result, key=lambda a: str(a["name"]))
