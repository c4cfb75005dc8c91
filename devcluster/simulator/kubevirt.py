"""KubeVirt's VirtualMachine and VirtualMachineInstance controllers, as seen through the API.

A VirtualMachine that should run gets a VirtualMachineInstance of its name (once the volumes it
uses are ready); each VirtualMachineInstance gets a virt-launcher Pod sized and constrained like
KubeVirt's. The real kube-scheduler places that pod on a KWOK node and KWOK marks it Running;
the instance's status follows the pod (Running on its node with its IP, or Scheduling with the
scheduler's reason), and the machine's printableStatus follows both. Stopping deletes the
instance and the garbage collector takes the pod with it; deleting a running instance under
runStrategy Always starts a new one (a new uid), which is how a restart shows. Volume changes
of a running machine follow KubeVirt's declarative hotplug (`hotplug`): hotpluggable volumes
are added to and removed from the live instance, anything else waits for a restart.
"""

import copy
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import kopf

from devcluster.simulator import conditions, hotplug, kube, launcher
from devcluster.simulator.conditions import condition
from devcluster.simulator.kube import Manifest

GROUP, VERSION = "kubevirt.io", "v1"
FIRST_RETRY_SECONDS, LAST_RETRY_SECONDS = 10, 300
"""virt-controller's crash-loop backoff: it doubles from the first delay up to the last."""


class Blocker(NamedTuple):
    """Why a VirtualMachine that should run has no instance yet, in KubeVirt's words."""

    printable_status: str
    message: str
    failure: bool = False  # also a Failure condition (a create that cannot succeed as is)


# --- the VirtualMachine controller ----------------------------------------------------------


def run_strategy(vm: Manifest) -> str:
    """spec.runStrategy, or the deprecated spec.running mapped onto it."""
    spec = vm["spec"]
    if spec.get("runStrategy"):
        strategy: str = spec["runStrategy"]
        return strategy
    return "Always" if spec.get("running") else "Halted"


def next_action(strategy: str, vmi: Manifest | None, blocked: bool) -> str | None:
    """The run strategy's next step: 'create', 'delete' (stop, or restart when finished), None."""
    if launcher.deleting(vmi) or strategy in ("Manual", "WaitAsReceiver"):
        return None
    if strategy == "Halted":
        return "delete" if vmi else None
    if vmi is None:
        return None if blocked else "create"
    phase = launcher.instance_phase(vmi)
    if phase == "Failed" and strategy in ("Always", "RerunOnFailure"):
        return "delete"
    if phase == "Succeeded" and strategy == "Always":
        return "delete"
    return None


def start_failure(vm: Manifest, vmi: Manifest | None, at: str) -> Manifest | None:
    """status.startFailure: instances that failed before they ever ran, in a row, and when the
    next may be made. A running instance, or a machine stopped, ends the count."""
    previous = (vm.get("status") or {}).get("startFailure")
    if run_strategy(vm) == "Halted" or launcher.instance_phase(vmi) == "Running":
        return None
    if vmi is None or launcher.instance_phase(vmi) != "Failed":
        return previous
    history = (vmi.get("status") or {}).get("phaseTransitionTimestamps") or []
    uid = vmi["metadata"]["uid"]
    if any(entry.get("phase") == "Running" for entry in history) or (
        previous and previous.get("lastFailedVMIUID") == uid
    ):
        return previous
    count = int((previous or {}).get("consecutiveFailCount", 0)) + 1
    delay = min(LAST_RETRY_SECONDS, FIRST_RETRY_SECONDS * 2 ** (count - 1))
    retry = datetime.strptime(at, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC) + timedelta(
        seconds=delay
    )
    return {
        "consecutiveFailCount": count,
        "lastFailedVMIUID": uid,
        "retryAfterTimestamp": retry.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def backing_off(failure: Manifest | None, at: str) -> bool:
    return bool(failure and str(failure.get("retryAfterTimestamp", "")) > at)


def volume_blocker(
    template_spec: Manifest,
    claims: dict[str, Manifest | None],
    datavolumes: dict[str, Manifest | None],
) -> Blocker | None:
    """The first volume that is not ready to be used, as KubeVirt reports it."""
    for volume in template_spec.get("volumes") or []:
        blocker = _blocker_of(volume, claims, datavolumes)
        if blocker:
            return blocker
    return None


def attachable_volumes(
    spec: Manifest,
    claims: dict[str, Manifest | None],
    datavolumes: dict[str, Manifest | None],
) -> set[str]:
    """The claim-backed volumes whose claim could be attached now (Bound, DataVolume done)."""
    return {
        volume["name"]
        for volume in spec.get("volumes") or []
        if hotplug.claim_of(volume) and _blocker_of(volume, claims, datavolumes) is None
    }


def _blocker_of(
    volume: Manifest,
    claims: dict[str, Manifest | None],
    datavolumes: dict[str, Manifest | None],
) -> Blocker | None:
    if "dataVolume" in volume:
        name = volume["dataVolume"]["name"]
        dv = datavolumes.get(name)
        if dv is None:
            return Blocker("Provisioning", f"DataVolume {name} does not exist yet")
        status = dv.get("status") or {}
        if status.get("phase") == "Succeeded":
            return None
        running = conditions.find(status.get("conditions"), "Running") or {}
        if status.get("phase") == "Failed" or running.get("reason") == "Error":
            return Blocker("DataVolumeError", running.get("message") or f"DataVolume {name} failed")
        return Blocker("Provisioning", f"DataVolume {name} is {status.get('phase') or 'Pending'}")
    if "persistentVolumeClaim" in volume:
        name = volume["persistentVolumeClaim"]["claimName"]
        claim = claims.get(name)
        if claim is None:
            return Blocker("ErrorPvcNotFound", f"PVC {name} does not exist")
        if (claim.get("status") or {}).get("phase") != "Bound":
            return Blocker("WaitingForVolumeBinding", f"PVC {name} is not Bound")
    return None


def apply_instancetype(spec: Manifest, instancetype: Manifest) -> Manifest:
    """The instance spec with an instancetype's CPU, memory and placement filled in."""
    spec = copy.deepcopy(spec)
    domain = spec.setdefault("domain", {})
    it_spec = instancetype.get("spec") or {}
    cpu = it_spec.get("cpu") or {}
    if "guest" in cpu:  # KubeVirt's default preferred topology spreads vCPUs as sockets
        domain["cpu"] = {
            **(domain.get("cpu") or {}),
            "sockets": cpu["guest"],
            "cores": 1,
            "threads": 1,
        }
        for key in ("dedicatedCPUPlacement", "isolateEmulatorThread", "model", "realtime", "numa"):
            if key in cpu:
                domain["cpu"][key] = cpu[key]
    memory = it_spec.get("memory") or {}
    if "guest" in memory:
        domain.setdefault("memory", {})["guest"] = memory["guest"]
    if it_spec.get("nodeSelector"):
        spec["nodeSelector"] = {**(spec.get("nodeSelector") or {}), **it_spec["nodeSelector"]}
    if it_spec.get("schedulerName"):
        spec["schedulerName"] = it_spec["schedulerName"]
    return spec


def build_instance(vm: Manifest, instancetype: Manifest | None = None) -> Manifest:
    """The VirtualMachineInstance of a VirtualMachine: its template, owned by it."""
    template = vm["spec"]["template"]
    meta = template.get("metadata") or {}
    spec = copy.deepcopy(template["spec"])
    if instancetype:
        spec = apply_instancetype(spec, instancetype)
    annotations = {
        **(meta.get("annotations") or {}),
        "kubevirt.io/vm-generation": str(vm["metadata"].get("generation", 1)),
    }
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "VirtualMachineInstance",
        "metadata": {
            "name": vm["metadata"]["name"],
            "namespace": vm["metadata"]["namespace"],
            "labels": dict(meta.get("labels") or {}),
            "annotations": annotations,
            "ownerReferences": [kube.owner_reference(vm)],
        },
        "spec": spec,
    }


def build_template_datavolumes(vm: Manifest) -> list[Manifest]:
    """The DataVolumes of spec.dataVolumeTemplates, owned by the VirtualMachine."""
    volumes = []
    for template in vm["spec"].get("dataVolumeTemplates") or []:
        meta = template.get("metadata") or {}
        volumes.append(
            {
                "apiVersion": "cdi.kubevirt.io/v1beta1",
                "kind": "DataVolume",
                "metadata": {
                    "name": meta["name"],
                    "namespace": vm["metadata"]["namespace"],
                    "labels": dict(meta.get("labels") or {}),
                    "annotations": dict(meta.get("annotations") or {}),
                    "ownerReferences": [kube.owner_reference(vm)],
                },
                "spec": copy.deepcopy(template["spec"]),
            }
        )
    return volumes


def unschedulable(vmi: Manifest | None) -> bool:
    scheduled = conditions.find(((vmi or {}).get("status") or {}).get("conditions"), "PodScheduled")
    return bool(
        scheduled and scheduled["status"] == "False" and scheduled.get("reason") == "Unschedulable"
    )


def printable_status(
    vm: Manifest,
    vmi: Manifest | None,
    launcher_pods: int,
    blocker: Blocker | None,
    crash_looping: bool = False,
) -> str:
    """KubeVirt's one-word VirtualMachine status (the STATUS column of `kubectl get vm`)."""
    strategy = run_strategy(vm)
    if launcher.deleting(vm):
        return "Terminating"
    if vmi is None:
        if launcher_pods:
            return "Stopping"
        if strategy in ("Halted", "Manual", "WaitAsReceiver"):
            return "Stopped"
        if crash_looping:
            return "CrashLoopBackOff"
        return blocker.printable_status if blocker else "Starting"
    if launcher.deleting(vmi) or strategy == "Halted":
        return "Stopping"
    return _instance_printable_status(vmi)


def _instance_printable_status(vmi: Manifest) -> str:
    if unschedulable(vmi):
        return "ErrorUnschedulable"
    phase = launcher.instance_phase(vmi)
    if phase in launcher.FINAL_PHASES:
        return "Stopped"
    return "Running" if phase == "Running" else "Starting"


def restart_required(vm: Manifest, vmi: Manifest | None) -> bool:
    """KubeVirt 1.6's RestartRequired: the live instance cannot take the template's volume
    or size changes. Once set it stays until that instance ends (undoing the change does not
    clear it); a condition older than the instance belongs to an earlier one, and a new
    instance starts from the template, so it starts without."""
    if vmi is None or launcher.deleting(vmi):
        return False
    previous = conditions.find((vm.get("status") or {}).get("conditions"), "RestartRequired")
    sticky = bool(
        previous
        and previous["status"] == "True"
        and previous.get("lastTransitionTime", "") > vmi["metadata"].get("creationTimestamp", "")
    )
    template = vm["spec"]["template"]["spec"]
    # An instancetype's sizes are applied to the instance, not the template: not compared.
    changed_size = not vm["spec"].get("instancetype") and resized(template, vmi["spec"])
    return sticky or changed_size or hotplug.needs_restart(template, vmi["spec"])


def resized(template_spec: Manifest, instance_spec: Manifest) -> bool:
    """CPU or memory changed: with the default rollout strategy (Stage) neither reaches a
    running guest; they wait for the next start."""
    sizes = [
        {key: (spec.get("domain") or {}).get(key) for key in ("cpu", "memory", "resources")}
        for spec in (template_spec, instance_spec)
    ]
    return sizes[0] != sizes[1]


def vm_status(
    vm: Manifest,
    vmi: Manifest | None,
    launcher_pods: int,
    blocker: Blocker | None,
    at: str,
    failure: Manifest | None = None,
) -> Manifest:
    """The VirtualMachine's status: printableStatus, created/ready, its instance's conditions,
    and `failure` (start_failure) as startFailure."""
    vmi_conditions = ((vmi or {}).get("status") or {}).get("conditions") or []
    ready_condition = conditions.find(vmi_conditions, "Ready")
    ready = bool(
        vmi
        and not launcher.deleting(vmi)
        and launcher.instance_phase(vmi) == "Running"
        and ready_condition
        and ready_condition["status"] == "True"
    )
    if vmi is None:
        wanted = [condition("Ready", False, "VMINotExists", "VMI does not exist")]
    else:
        ready_condition = ready_condition or condition("Ready", False, "PodNotExists")
        wanted = [
            condition(
                "Ready",
                ready_condition["status"],
                ready_condition.get("reason", ""),
                ready_condition.get("message", ""),
            )
        ]
        wanted += [
            condition(c["type"], c["status"], c.get("reason", ""), c.get("message", ""))
            for c in vmi_conditions
            if c["type"] == "PodScheduled" and c["status"] != "True"
        ]
    if blocker and blocker.failure:
        wanted.append(condition("Failure", True, "FailedCreate", blocker.message))
    if restart_required(vm, vmi):  # KubeVirt sets no reason on it
        wanted.append(condition("RestartRequired", True, "", hotplug.RESTART_REQUIRED_MESSAGE))
    generation = vm["metadata"].get("generation")
    previous = (vm.get("status") or {}).get("conditions")
    return {
        "printableStatus": printable_status(
            vm, vmi, launcher_pods, blocker, backing_off(failure, at)
        ),
        "created": True if vmi else None,
        "ready": True if ready else None,
        "runStrategy": run_strategy(vm),
        "observedGeneration": generation,
        "desiredGeneration": generation,
        "conditions": conditions.merge(previous, wanted, at),
        "startFailure": failure,
    }


# --- handlers: read, decide with the functions above, write ---------------------------------


def _instancetype(vm: Manifest) -> tuple[Manifest | None, Blocker | None]:
    matcher = vm["spec"].get("instancetype")
    if not matcher:
        return None, None
    kind = matcher.get("kind", "VirtualMachineClusterInstancetype")
    if kind.lower() in ("virtualmachineinstancetype", "virtualmachineinstancetypes"):
        found = kube.get(kube.INSTANCETYPE, matcher["name"], vm["metadata"]["namespace"])
    else:
        found = kube.get(kube.CLUSTER_INSTANCETYPE, matcher["name"])
    if found is None:
        return None, Blocker("Stopped", f"failed to find {kind} {matcher['name']}", failure=True)
    return found, None


def _claims_of(
    spec: Manifest, namespace: str
) -> tuple[dict[str, Manifest | None], dict[str, Manifest | None]]:
    """The claims and DataVolumes a spec's volumes use, as they are now (None: missing)."""
    names = set(launcher.claim_names(spec).values())
    claims = {name: kube.get(kube.PVC, name, namespace) for name in names}
    dvs = {name: kube.get(kube.DATA_VOLUME, name, namespace) for name in names}
    return claims, dvs


def _volume_blocker(vm: Manifest) -> Blocker | None:
    spec = vm["spec"]["template"]["spec"]
    return volume_blocker(spec, *_claims_of(spec, vm["metadata"]["namespace"]))


def _hotplug(vm: Manifest, vmi: Manifest, logger: kopf.Logger) -> Manifest:
    """Bring the template's hotpluggable volumes to the running instance; the instance now."""
    synced = hotplug.live_volumes(vm["spec"]["template"]["spec"], vmi)
    if synced is None:
        return vmi
    volumes, disks = synced
    namespace, name = vm["metadata"]["namespace"], vm["metadata"]["name"]
    patch = {"spec": {"volumes": volumes, "domain": {"devices": {"disks": disks}}}}
    kube.patch(kube.VMI, name, namespace, patch)
    plugged = sorted(hotplug.hotpluggable_names(patch["spec"]))
    logger.info(f"hotplugged volumes of {namespace}/{name} are now {plugged}")
    return kube.get(kube.VMI, name, namespace) or vmi


@kube.one_at_a_time
def reconcile_vm(namespace: str, name: str, logger: kopf.Logger) -> None:
    """Start, stop or restart the VirtualMachine's instance as its run strategy says; report it."""
    vm = kube.get(kube.VM, name, namespace)
    if vm is None or launcher.deleting(vm):
        return  # the garbage collector removes the instance and its pod
    for dv in build_template_datavolumes(vm):
        if kube.get(kube.DATA_VOLUME, dv["metadata"]["name"], namespace) is None:
            kube.create(dv)
    vmi = kube.get(kube.VMI, name, namespace)
    instancetype, blocker = _instancetype(vm)
    blocker = blocker or _volume_blocker(vm)
    at = conditions.now()
    failure = start_failure(vm, vmi, at)
    blocked = blocker is not None or backing_off(failure, at)
    action = next_action(run_strategy(vm), vmi, blocked=blocked)
    if action == "create":
        created = kube.create(build_instance(vm, instancetype))
        if created:
            logger.info(f"created VirtualMachineInstance {namespace}/{name}")
        vmi = created or kube.get(kube.VMI, name, namespace)
    elif action == "delete" and vmi is not None:
        kube.delete(kube.VMI, name, namespace, uid=vmi["metadata"]["uid"], foreground=True)
        vmi = kube.get(kube.VMI, name, namespace)
        logger.info(f"deleted VirtualMachineInstance {namespace}/{name}")
    elif vmi is not None:
        vmi = _hotplug(vm, vmi, logger)
    pods = kube.list_(
        kube.POD, namespace, f"{launcher.LABEL_APP}=virt-launcher,{launcher.LABEL_VM_NAME}={name}"
    )
    wanted = vm_status(vm, vmi, len(pods), blocker, at, failure)
    if kube.changed(vm.get("status"), wanted):
        kube.patch(kube.VM, name, namespace, {"status": wanted}, status=True)


@kube.one_at_a_time
def reconcile_vmi(namespace: str, name: str, logger: kopf.Logger, *, create_pod: bool) -> None:
    """Ensure the instance's launcher pod (only from the instance's own handler) and its status."""
    vmi = kube.get(kube.VMI, name, namespace)
    if vmi is None or launcher.deleting(vmi):
        return
    uid = vmi["metadata"]["uid"]
    pods = kube.list_(kube.POD, namespace, f"{launcher.LABEL_CREATED_BY}={uid}")
    pod = launcher.current_pod(vmi, pods)
    if pod is None and create_pod and launcher.instance_phase(vmi) == "Pending":
        pod = kube.create(launcher.build_launcher_pod(vmi, launcher.launcher_suffix(vmi)))
        if pod:
            logger.info(f"created {pod['metadata']['name']} for {namespace}/{name}")
    claims, dvs = _claims_of(vmi["spec"], namespace)
    attachable = attachable_volumes(vmi["spec"], claims, dvs)
    node_name = str(((pod or {}).get("spec") or {}).get("nodeName") or "")
    starting = node_name and launcher.instance_phase(vmi) != "Running"
    failure = launcher.start_failure(vmi, kube.get(kube.NODE, node_name)) if starting else None
    wanted = launcher.vmi_status(
        vmi, pod, conditions.now(), claims=claims, attachable=attachable, failure=failure
    )
    if not kube.changed(vmi.get("status"), wanted):
        return
    patch: Manifest = {"status": wanted}
    if wanted.get("nodeName"):
        patch["metadata"] = {"labels": {launcher.LABEL_NODE_NAME: wanted["nodeName"]}}
    kube.patch(kube.VMI, name, namespace, patch, status=True)


def _reconcile_vms_using(namespace: str, claim: str, logger: kopf.Logger) -> None:
    """Machines whose template mounts the claim, and instances that mount it (hotplugged)."""
    for vmi in kube.list_(kube.VMI, namespace):
        if claim in launcher.claim_names(vmi["spec"]).values():
            reconcile_vmi(namespace, vmi["metadata"]["name"], logger, create_pod=False)
    for vm in kube.list_(kube.VM, namespace):
        template_spec = vm["spec"].get("template", {}).get("spec", {})
        if claim in launcher.claim_names(template_spec).values():
            reconcile_vm(namespace, vm["metadata"]["name"], logger)


@kopf.on.event(GROUP, VERSION, "virtualmachines")
def vm_changed(type: str, body: kopf.Body, logger: kopf.Logger, **_: Any) -> None:
    if type != "DELETED":
        reconcile_vm(kube.namespace_of(body), body.metadata.name, logger)


@kopf.timer(
    GROUP,
    VERSION,
    "virtualmachines",
    interval=2.0,
    when=lambda body, **_: bool((body.get("status") or {}).get("startFailure")),
)
def crash_loop_retry(body: kopf.Body, logger: kopf.Logger, **_: Any) -> None:
    """Make the next instance once the backoff is over; stops matching when one runs."""
    reconcile_vm(kube.namespace_of(body), body.metadata.name, logger)


@kopf.on.event(GROUP, VERSION, "virtualmachineinstances")
def vmi_changed(type: str, body: kopf.Body, logger: kopf.Logger, **_: Any) -> None:
    """An instance's change (or deletion) moves its pod, its status and its machine's status."""
    if type != "DELETED":
        reconcile_vmi(kube.namespace_of(body), body.metadata.name, logger, create_pod=True)
    owner = kube.controller_of(dict(body))
    if owner and owner.get("kind") == "VirtualMachine":
        reconcile_vm(kube.namespace_of(body), owner["name"], logger)


@kopf.on.event("", "v1", "pods", labels={launcher.LABEL_APP: "virt-launcher"})
def launcher_pod_changed(body: kopf.Body, logger: kopf.Logger, **_: Any) -> None:
    """A launcher pod's scheduling, KWOK's Running, or its deletion shows on instance and VM."""
    owner = kube.controller_of(dict(body))
    namespace = kube.namespace_of(body)
    if owner and owner.get("kind") == "VirtualMachineInstance":
        reconcile_vmi(namespace, owner["name"], logger, create_pod=False)
    vm_name = body.metadata.labels.get(launcher.LABEL_VM_NAME)
    if vm_name:
        reconcile_vm(namespace, vm_name, logger)


@kopf.on.event("", "v1", "persistentvolumeclaims")
def claim_changed_for_vms(body: kopf.Body, logger: kopf.Logger, **_: Any) -> None:
    """A claim that becomes Bound may let a waiting VirtualMachine start, or a volume attach."""
    _reconcile_vms_using(kube.namespace_of(body), body.metadata.name, logger)


@kopf.on.event("cdi.kubevirt.io", "v1beta1", "datavolumes")
def datavolume_changed_for_vms(body: kopf.Body, logger: kopf.Logger, **_: Any) -> None:
    """A DataVolume that Succeeds may let a waiting VirtualMachine start, or a volume attach."""
    _reconcile_vms_using(kube.namespace_of(body), body.metadata.name, logger)
