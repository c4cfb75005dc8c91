"""KubeVirt's virt-launcher pod for an instance, and the instance's status read off that pod.

virt-controller renders the pod (resources, placement, Multus selection); virt-handler reports
the running domain. Here the pod's scheduling and KWOK's Running stand in for the domain.
"""

import copy
import hashlib
import json
import string
from collections.abc import Mapping
from decimal import Decimal

from devcluster.simulator import conditions, hotplug, kube
from devcluster.simulator.conditions import condition
from devcluster.simulator.kube import Manifest

LAUNCHER_IMAGE = "quay.io/kubevirt/virt-launcher:v1.6.1"
MEMORY_OVERHEAD = kube.quantity("200Mi")  # roughly KubeVirt's per-VM overhead for a small guest
CPU_ALLOCATION_RATIO = 10  # KubeVirt's default: a vCPU requests 1/10 of a CPU
LAUNCHER_USER = 107  # virt-launcher runs as qemu (non-root) since KubeVirt 1.0
MULTUS_NETWORKS = "k8s.v1.cni.cncf.io/networks"
LABEL_APP = "kubevirt.io"
LABEL_CREATED_BY = "kubevirt.io/created-by"
LABEL_VM_NAME = "vm.kubevirt.io/name"
LABEL_NODE_NAME = "kubevirt.io/nodeName"
LABEL_SCHEDULABLE = "kubevirt.io/schedulable"
FINAL_PHASES = ("Succeeded", "Failed")
MIGRATION_TARGET_LABEL = "kubevirt.io/migrationJobUID"
ACTIVE_PHASES = ("Scheduling", "Scheduled", "Running")
GUEST_MEMORY_LIMIT = "simulator.devcluster.stratus.io/guest-memory-limit"
"""On a Node: a guest with more memory than this fails to start there, as when QEMU cannot
back the guest's memory (a simulated fault; guests already running are left alone)."""
SKIPPED_POD_ANNOTATIONS = (
    "kubectl.kubernetes.io",
    "kubevirt.io/storage-observed-api-version",
    "kubevirt.io/latest-observed-api-version",
)


def instance_phase(vmi: Manifest | None) -> str:
    return str(((vmi or {}).get("status") or {}).get("phase") or "Pending")


def deleting(obj: Manifest | None) -> bool:
    return bool((obj or {}).get("metadata", {}).get("deletionTimestamp"))


def claim_names(template_spec: Manifest) -> dict[str, str]:
    """Volume name -> the claim it mounts (a DataVolume's claim has the DataVolume's name)."""
    claims = {}
    for volume in template_spec.get("volumes") or []:
        if "persistentVolumeClaim" in volume:
            claims[volume["name"]] = volume["persistentVolumeClaim"]["claimName"]
        elif "dataVolume" in volume:
            claims[volume["name"]] = volume["dataVolume"]["name"]
    return claims


def vcpus(spec: Manifest) -> int:
    cpu = spec.get("domain", {}).get("cpu") or {}
    return int(cpu.get("sockets", 1)) * int(cpu.get("cores", 1)) * int(cpu.get("threads", 1))


def dedicated_cpu(spec: Manifest) -> bool:
    return bool((spec.get("domain", {}).get("cpu") or {}).get("dedicatedCPUPlacement"))


def _bytes(value: Decimal) -> str:
    mebibytes, rest = divmod(int(value), 1024 * 1024)
    return f"{mebibytes}Mi" if rest == 0 else str(int(value))


def launcher_resources(spec: Manifest) -> Manifest:
    """The compute container's resources: guest memory plus overhead; vCPUs over the ratio."""
    domain = spec.get("domain", {})
    requests = dict((domain.get("resources") or {}).get("requests") or {})
    limits = dict((domain.get("resources") or {}).get("limits") or {})
    guest = (domain.get("memory") or {}).get("guest") or requests.get("memory") or "0"
    requests["memory"] = _bytes(kube.quantity(requests.get("memory", guest)) + MEMORY_OVERHEAD)
    if "memory" in limits:
        limits["memory"] = _bytes(kube.quantity(limits["memory"]) + MEMORY_OVERHEAD)
    if dedicated_cpu(spec):  # Guaranteed QoS: requests equal limits, whole CPUs
        requests["cpu"] = limits["cpu"] = str(vcpus(spec))
        limits["memory"] = requests["memory"]
    else:
        requests.setdefault("cpu", f"{vcpus(spec) * 1000 // CPU_ALLOCATION_RATIO}m")
    requests["ephemeral-storage"] = "50M"
    return {"requests": requests, **({"limits": limits} if limits else {})}


def pod_interface_name(network: str) -> str:
    """KubeVirt's hashed name of a secondary interface inside the pod."""
    return "pod" + hashlib.sha256(network.encode()).hexdigest()[:11]


def _requested_networks(annotations: dict[str, str]) -> dict[tuple[str, str], Manifest]:
    """Multus selections already in the template's annotation (for their static `ips`)."""
    try:
        elements = json.loads(annotations.get(MULTUS_NETWORKS, "[]"))
    except json.JSONDecodeError:
        return {}
    if not isinstance(elements, list):
        return {}
    return {
        (e.get("namespace", ""), e["name"]): e
        for e in elements
        if isinstance(e, dict) and "name" in e
    }


def multus_networks(vmi: Manifest) -> list[Manifest]:
    """The Multus selection for the pod: one element per spec.networks[].multus."""
    namespace = vmi["metadata"]["namespace"]
    spec = vmi["spec"]
    interfaces = {
        i["name"]: i for i in spec.get("domain", {}).get("devices", {}).get("interfaces") or []
    }
    requested = _requested_networks(vmi["metadata"].get("annotations") or {})
    elements = []
    for network in spec.get("networks") or []:
        multus = network.get("multus")
        if not multus or multus.get("default"):
            continue
        net_namespace, _, net_name = multus["networkName"].rpartition("/")
        net_namespace = net_namespace or namespace
        element: Manifest = {
            "name": net_name,
            "namespace": net_namespace,
            "interface": pod_interface_name(network["name"]),
        }
        mac = interfaces.get(network["name"], {}).get("macAddress")
        if mac:
            element["mac"] = mac
        given = requested.get((net_namespace, net_name)) or requested.get(("", net_name)) or {}
        if given.get("ips"):
            element["ips"] = given["ips"]
        elements.append(element)
    return elements


def launcher_suffix(vmi: Manifest) -> str:
    """The launcher pod's name suffix, from the instance's uid: two handlers that both see an
    instance without its pod (an event of the instance it replaced, read by name, and its own)
    make the same pod, and the second create is refused rather than a second pod made."""
    digest = hashlib.sha256(vmi["metadata"]["uid"].encode()).digest()
    return "".join(string.ascii_lowercase[byte % 26] for byte in digest[:5])


def build_launcher_pod(vmi: Manifest, suffix: str) -> Manifest:
    """The virt-launcher Pod of an instance, constrained like KubeVirt's for the scheduler."""
    meta, spec = vmi["metadata"], vmi["spec"]
    name = meta["name"]
    annotations = {
        k: v
        for k, v in (meta.get("annotations") or {}).items()
        if not k.startswith(SKIPPED_POD_ANNOTATIONS)
    }
    annotations.update(
        {
            "kubevirt.io/domain": name,
            "kubectl.kubernetes.io/default-container": "compute",
            "kubevirt.io/migrationTransportUnix": "true",
        }
    )
    networks = multus_networks(vmi)
    if networks:
        annotations[MULTUS_NETWORKS] = json.dumps(networks)
    grace = int(spec.get("terminationGracePeriodSeconds", 180)) + 30
    pod_spec: Manifest = {
        "hostname": spec.get("hostname", name)[:63],
        "restartPolicy": "Never",
        "terminationGracePeriodSeconds": grace,
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "securityContext": {
            "runAsUser": LAUNCHER_USER,
            "runAsGroup": LAUNCHER_USER,
            "runAsNonRoot": True,
            "fsGroup": LAUNCHER_USER,
        },
        "containers": [
            {
                "name": "compute",
                "image": LAUNCHER_IMAGE,
                "command": ["/usr/bin/virt-launcher-monitor"],
                "args": ["--name", name, "--uid", meta["uid"], "--namespace", meta["namespace"]],
                "env": [
                    {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}
                ],
                "resources": launcher_resources(spec),
            }
        ],
        "nodeSelector": {**(spec.get("nodeSelector") or {}), LABEL_SCHEDULABLE: "true"},
    }
    for key in (
        "affinity",
        "tolerations",
        "schedulerName",
        "priorityClassName",
        "topologySpreadConstraints",
        "dnsConfig",
        "dnsPolicy",
        "subdomain",
    ):
        if spec.get(key):
            pod_spec[key] = copy.deepcopy(spec[key])
    hotplugged = hotplug.hotpluggable_names(spec)  # attached by a pod of their own
    claims = {v: c for v, c in claim_names(spec).items() if v not in hotplugged}
    if claims:
        pod_spec["volumes"] = [
            {"name": volume, "persistentVolumeClaim": {"claimName": claim}}
            for volume, claim in claims.items()
        ]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": f"virt-launcher-{name}-{suffix}",
            "namespace": meta["namespace"],
            "labels": {
                **(meta.get("labels") or {}),
                LABEL_APP: "virt-launcher",
                LABEL_CREATED_BY: meta["uid"],
                LABEL_VM_NAME: name,
            },
            "annotations": annotations,
            "ownerReferences": [kube.owner_reference(vmi)],
        },
        "spec": pod_spec,
    }


def current_pod(vmi: Manifest, pods: list[Manifest]) -> Manifest | None:
    """The pod the guest runs in: on the instance's node once it has one; never the target
    pod of a live migration still under way (it carries the migration's label)."""
    node = (vmi.get("status") or {}).get("nodeName")
    on_node = [p for p in pods if node and p["spec"].get("nodeName") == node and not deleting(p)]
    ordinary = [p for p in pods if MIGRATION_TARGET_LABEL not in p["metadata"].get("labels", {})]
    found = on_node or ordinary
    return found[0] if found else None


def live_migratable(spec: Manifest, claims: Mapping[str, Manifest | None]) -> Manifest:
    """KubeVirt's LiveMigratable condition: every disk on a claim must be shared (RWX)."""
    for claim_name in claim_names(spec).values():
        claim = claims.get(claim_name)
        modes = ((claim or {}).get("spec") or {}).get("accessModes") or []
        if claim is not None and "ReadWriteMany" not in modes:
            return condition(
                "LiveMigratable",
                False,
                "DisksNotLiveMigratable",
                f"cannot migrate VMI: PVC {claim_name} is not shared, live migration requires "
                "that all PVCs must be shared (using ReadWriteMany access mode)",
            )
    return condition("LiveMigratable", True)


def mac_address(vmi: Manifest, network: str) -> str:
    """A stable, locally administered MAC for an interface that does not set one."""
    digest = hashlib.sha256(f"{vmi['metadata'].get('uid', '')}/{network}".encode()).hexdigest()
    return "02:" + ":".join(digest[i : i + 2] for i in range(0, 10, 2))


def _pod_networks(pod: Manifest) -> list[Manifest]:
    """The Multus selection on the pod as it is now (someone may have set `ips` on it)."""
    annotations = pod.get("metadata", {}).get("annotations") or {}
    return [e for e in _requested_networks(annotations).values() if "interface" in e]


def interfaces_status(vmi: Manifest, pod: Manifest) -> list[Manifest]:
    """status.interfaces: the pod network with the pod's IPs, Multus networks with their `ips`."""
    spec = vmi["spec"]
    devices = {
        i["name"]: i for i in spec.get("domain", {}).get("devices", {}).get("interfaces") or []
    }
    selected = {e["interface"]: e for e in _pod_networks(pod) or multus_networks(vmi)}
    pod_ips = [p["ip"] for p in (pod.get("status") or {}).get("podIPs") or []]
    if not pod_ips and (pod.get("status") or {}).get("podIP"):
        pod_ips = [pod["status"]["podIP"]]
    result = []
    for index, network in enumerate(spec.get("networks") or []):
        name = network["name"]
        entry: Manifest = {
            "name": name,
            "interfaceName": f"eth{index}",
            "mac": devices.get(name, {}).get("macAddress") or mac_address(vmi, name),
            "infoSource": "domain, guest-agent",
            "queueCount": 1,
        }
        if "pod" in network:
            entry["podInterfaceName"] = "eth0"
            ips = pod_ips
        else:
            entry["podInterfaceName"] = pod_interface_name(name)
            entry["infoSource"] = "domain, guest-agent, multus-status"
            ips = [
                ip.split("/")[0]
                for ip in selected.get(entry["podInterfaceName"], {}).get("ips", [])
            ]
        if ips:
            entry["ipAddress"], entry["ipAddresses"] = ips[0], ips
        result.append(entry)
    return result


def start_failure(vmi: Manifest, node: Manifest | None) -> str | None:
    """Why the guest cannot start on `node`, as virt-handler reports a failed domain start."""
    limit = ((node or {}).get("metadata", {}).get("annotations") or {}).get(GUEST_MEMORY_LIMIT)
    domain = vmi["spec"].get("domain") or {}
    guest = (domain.get("memory") or {}).get("guest") or (
        (domain.get("resources") or {}).get("requests") or {}
    ).get("memory")
    if limit is None or guest is None or kube.quantity(guest) <= kube.quantity(limit):
        return None
    return (
        f"server error. command SyncVMI failed: LibvirtError: internal error: qemu unexpectedly "
        f"closed the monitor: cannot allocate {guest} of guest memory on this host"
    )


def _pod_condition(pod: Manifest, type_: str) -> Manifest | None:
    return conditions.find((pod.get("status") or {}).get("conditions"), type_)


def phase_history(obj: Manifest, phase: str, at: str) -> list[Manifest]:
    """status.phaseTransitionTimestamps with `phase` added if it is new (KubeVirt keeps one
    on instances and on migrations)."""
    history = list((obj.get("status") or {}).get("phaseTransitionTimestamps") or [])
    if not history or history[-1].get("phase") != phase:
        history.append({"phase": phase, "phaseTransitionTimestamp": at})
    return history


def vmi_status(
    vmi: Manifest,
    pod: Manifest | None,
    at: str,
    *,
    claims: Mapping[str, Manifest | None] | None = None,
    attachable: set[str] | None = None,
    failure: str | None = None,
) -> Manifest:
    """The instance's status, read off its launcher pod as virt-controller and virt-handler do.

    `claims` and `attachable` feed status.volumeStatus (see hotplug.volume_status); `failure`
    is why the guest cannot start on the pod's node, which fails an instance not yet running.
    """
    current = vmi.get("status") or {}
    phase = instance_phase(vmi)
    pod_phase = ((pod or {}).get("status") or {}).get("phase")
    if phase in FINAL_PHASES:
        return {}
    if pod is None or deleting(pod) or pod_phase in FINAL_PHASES:
        if pod is None and phase not in ACTIVE_PHASES:
            wanted = [
                condition(
                    "Ready", False, "PodNotExists", "virt-launcher pod has not yet been scheduled"
                )
            ]
            new_phase = "Pending"
        else:  # the launcher went away under a started instance: it is over
            new_phase = "Succeeded" if pod_phase == "Succeeded" else "Failed"
            wanted = [
                condition("Ready", False, "PodTerminating", "virt-launcher pod is terminating")
            ]
        return {
            "phase": new_phase,
            "phaseTransitionTimestamps": phase_history(vmi, new_phase, at),
            "conditions": conditions.merge(current.get("conditions"), wanted, at),
        }
    node = pod["spec"].get("nodeName")
    if failure and pod_phase == "Running" and node and phase != "Running":
        wanted = [condition("Ready", False, "Failed", failure)]
        return {
            "phase": "Failed",
            "nodeName": node,
            "phaseTransitionTimestamps": phase_history(vmi, "Failed", at),
            "conditions": conditions.merge(current.get("conditions"), wanted, at),
        }
    status: Manifest = {"activePods": {pod["metadata"]["uid"]: node or ""}}
    if pod_phase == "Running" and node:
        # virt-controller's Ready follows the launcher's readiness, which the guest's own
        # readiness probe decides: a guest failing it leaves the instance Running, not Ready.
        launcher_ready = _pod_condition(pod, "Ready")
        if launcher_ready is None or launcher_ready["status"] == "True":
            wanted = [condition("Ready", True)]
        else:
            wanted = [condition("Ready", False, "PodNotReady", "the guest is not ready")]
        wanted.append(live_migratable(vmi["spec"], claims or {}))
        status.update(
            {
                "phase": "Running",
                "nodeName": node,
                "interfaces": interfaces_status(vmi, pod),
                "launcherContainerImageVersion": pod["spec"]["containers"][0]["image"],
                "guestOSInfo": {},
                "migrationMethod": "BlockMigration",
                "migrationTransport": "Unix",
                "runtimeUser": LAUNCHER_USER,
                "selinuxContext": "none",
            }
        )
        if (pod.get("status") or {}).get("qosClass"):
            status["qosClass"] = pod["status"]["qosClass"]
    else:
        wanted = [
            condition("Ready", False, "GuestNotRunning", "Guest VM is not reported as running")
        ]
        scheduled = _pod_condition(pod, "PodScheduled")
        if scheduled and scheduled["status"] == "False":
            wanted.append(
                condition(
                    "PodScheduled", False, scheduled.get("reason", ""), scheduled.get("message", "")
                )
            )
        status["phase"] = "Scheduling"
    status["phaseTransitionTimestamps"] = phase_history(vmi, status["phase"], at)
    status["conditions"] = conditions.merge(current.get("conditions"), wanted, at)
    status["volumeStatus"] = hotplug.volume_status(vmi, pod, claims or {}, attachable or set())
    return status
