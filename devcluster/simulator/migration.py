"""KubeVirt's live migration (VirtualMachineInstanceMigration), played through the API.

virt-controller gives the migration a target virt-launcher pod: the instance's pod again, kept
off the source node and narrowed by the migration's addedNodeSelector. Once the real scheduler
has placed it and KWOK runs it, virt-handler copies the guest across; here that copy succeeds
at once, the instance moves to the target node and the source pod goes. A migration fails, and
the instance stays where it was, when the instance cannot move (not running, disks not
shared, another migration under way), when the target pod cannot be scheduled (KubeVirt waits
out a timeout first; the simulator fails at once), or when the target node carries the
simulator's FAIL_MIGRATIONS annotation, a fault injected for tests.
"""

import random
import string
from typing import Any

import kopf

from devcluster.simulator import conditions, kube, launcher
from devcluster.simulator.kube import Manifest

FINAL_PHASES = ("Succeeded", "Failed")
FAIL_MIGRATIONS = "simulator.devcluster.stratus.io/fail-incoming-migrations"
"""On a Node: every live migration to it fails once its target pod runs (a simulated fault)."""
LABEL_MIGRATION_UID = launcher.MIGRATION_TARGET_LABEL
MIGRATION_NAME = "kubevirt.io/migrationJobName"
HOSTNAME_LABEL = "kubernetes.io/hostname"


def refusal(vmi: Manifest | None, others: list[Manifest]) -> str | None:
    """Why KubeVirt's admission would refuse to migrate this instance, in its words."""
    if vmi is None:
        return "the VMI does not exist"
    if launcher.instance_phase(vmi) != "Running" or launcher.deleting(vmi):
        return (
            f"Cannot migrate VMI, Reason: VMI is not running (phase {launcher.instance_phase(vmi)})"
        )
    migratable = conditions.find((vmi.get("status") or {}).get("conditions"), "LiveMigratable")
    if migratable and migratable["status"] != "True":
        return f"Cannot migrate VMI, Reason: {migratable.get('reason')}, Message: " + str(
            migratable.get("message")
        )
    if any(phase(other) not in FINAL_PHASES for other in others):
        return "in-flight migration detected: the VMI is already migrating"
    return None


def phase(migration: Manifest) -> str:
    return str((migration.get("status") or {}).get("phase") or "")


def build_target_pod(vmi: Manifest, migration: Manifest, source_node: str, suffix: str) -> Manifest:
    """The target virt-launcher pod: the instance's pod, never on the source node, and on a
    node the migration's addedNodeSelector allows (the instance's own selector wins a clash)."""
    pod = launcher.build_launcher_pod(vmi, suffix)
    spec = pod["spec"]
    added = migration["spec"].get("addedNodeSelector") or {}
    spec["nodeSelector"] = {**added, **spec["nodeSelector"]}
    away = {"key": HOSTNAME_LABEL, "operator": "NotIn", "values": [source_node]}
    node_affinity = spec.setdefault("affinity", {}).setdefault("nodeAffinity", {})
    required = node_affinity.setdefault(
        "requiredDuringSchedulingIgnoredDuringExecution", {"nodeSelectorTerms": [{}]}
    )
    for term in required["nodeSelectorTerms"]:
        term.setdefault("matchExpressions", []).append(away)
    pod["metadata"]["labels"][LABEL_MIGRATION_UID] = migration["metadata"]["uid"]
    pod["metadata"]["annotations"][MIGRATION_NAME] = migration["metadata"]["name"]
    return pod


def migration_state(
    migration: Manifest, source_node: str, target: Manifest | None, at: str, **outcome: Any
) -> Manifest:
    """status.migrationState, the same on the migration and on its instance."""
    state: Manifest = {
        "migrationUid": migration["metadata"]["uid"],
        "mode": "PreCopy",
        "sourceNode": source_node,
        "startTimestamp": ((migration.get("status") or {}).get("migrationState") or {}).get(
            "startTimestamp", at
        ),
    }
    if target is not None:
        state["targetPod"] = target["metadata"]["name"]
        if target["spec"].get("nodeName"):
            state["targetNode"] = target["spec"]["nodeName"]
    if outcome:
        state.update(outcome, endTimestamp=at)
    return state


def unschedulable_reason(pod: Manifest) -> str | None:
    scheduled = conditions.find((pod.get("status") or {}).get("conditions"), "PodScheduled")
    if scheduled and scheduled["status"] == "False" and scheduled.get("reason") == "Unschedulable":
        return str(scheduled.get("message") or "the target pod cannot be scheduled")
    return None


def next_phase(
    current: str, target: Manifest | None, fail_on_target: bool
) -> tuple[str, str | None]:
    """The migration's next phase from its target pod, and why it failed if it did: Running
    (the copy under way) once the target runs, and only then an outcome."""
    if target is None:
        return "Scheduling", None
    blocked = unschedulable_reason(target)
    if blocked:
        return "Failed", f"target pod could not be scheduled: {blocked}"
    if (target.get("status") or {}).get("phase") != "Running":
        return ("Scheduled" if target["spec"].get("nodeName") else "Scheduling"), None
    if current != "Running":
        return "Running", None
    if fail_on_target:
        node = target["spec"]["nodeName"]
        return "Failed", f"live migration to {node} failed: the target refused the domain"
    return "Succeeded", None


# --- the handler: read, decide with the functions above, write -----------------------------


def _finish(
    migration: Manifest, vmi: Manifest, target: Manifest | None, failure: str | None, at: str
) -> None:
    """Move the instance to the target (or leave it, on failure), then close the migration."""
    namespace, name = migration["metadata"]["namespace"], vmi["metadata"]["name"]
    source = (vmi.get("status") or {}).get("nodeName", "")
    if failure:
        state = migration_state(migration, source, target, at, completed=False, failed=True)
        state["failureReason"] = failure
        if target is not None:
            kube.delete(kube.POD, target["metadata"]["name"], namespace)
        kube.patch(kube.VMI, name, namespace, {"status": {"migrationState": state}}, status=True)
    else:
        assert target is not None
        state = migration_state(migration, source, target, at, completed=True, failed=False)
        node = target["spec"]["nodeName"]
        moved = {
            "metadata": {"labels": {launcher.LABEL_NODE_NAME: node}},
            "status": {"nodeName": node, "migrationState": state},
        }
        kube.patch(kube.VMI, name, namespace, moved, status=True)
        for pod in kube.list_(
            kube.POD, namespace, f"{launcher.LABEL_CREATED_BY}={vmi['metadata']['uid']}"
        ):
            if pod["metadata"]["uid"] != target["metadata"]["uid"]:
                kube.delete(
                    kube.POD, pod["metadata"]["name"], namespace, uid=pod["metadata"]["uid"]
                )
    final = "Failed" if failure else "Succeeded"
    status = {
        "phase": final,
        "phaseTransitionTimestamps": launcher.phase_history(migration, final, at),
        "migrationState": state,
    }
    kube.patch(
        kube.MIGRATION, migration["metadata"]["name"], namespace, {"status": status}, status=True
    )


@kube.one_at_a_time
def reconcile_migration(namespace: str, name: str, logger: kopf.Logger) -> None:
    migration = kube.get(kube.MIGRATION, name, namespace)
    if migration is None or phase(migration) in FINAL_PHASES or launcher.deleting(migration):
        return
    at = conditions.now()
    vmi_name = migration["spec"]["vmiName"]
    vmi = kube.get(kube.VMI, vmi_name, namespace)
    uid = migration["metadata"]["uid"]
    targets = kube.list_(kube.POD, namespace, f"{LABEL_MIGRATION_UID}={uid}")
    target = targets[0] if targets else None
    if not phase(migration):
        others = [
            m
            for m in kube.list_(kube.MIGRATION, namespace)
            if m["spec"].get("vmiName") == vmi_name and m["metadata"]["uid"] != uid
        ]
        refused = refusal(vmi, others)
        if refused:
            status: Manifest = {
                "phase": "Failed",
                "phaseTransitionTimestamps": launcher.phase_history(migration, "Failed", at),
            }
            status["migrationState"] = {
                "failed": True,
                "failureReason": refused,
                "endTimestamp": at,
            }
            kube.patch(kube.MIGRATION, name, namespace, {"status": status}, status=True)
            logger.info(f"migration {namespace}/{name} refused: {refused}")
            return
    if vmi is None or launcher.instance_phase(vmi) != "Running" or launcher.deleting(vmi):
        _finish(migration, vmi or {"metadata": {"name": vmi_name}}, target, "the VMI stopped", at)
        return
    source = (vmi.get("status") or {}).get("nodeName", "")
    if target is None:
        suffix = "".join(random.choices(string.ascii_lowercase, k=5))
        target = kube.create(build_target_pod(vmi, migration, source, suffix))
        if target:
            logger.info(f"created target pod {target['metadata']['name']} for {namespace}/{name}")
    node = (target or {}).get("spec", {}).get("nodeName")
    fault = bool(
        node
        and FAIL_MIGRATIONS
        in (kube.get(kube.NODE, node) or {}).get("metadata", {}).get("annotations", {})
    )
    new_phase, failure = next_phase(phase(migration), target, fault)
    if new_phase in FINAL_PHASES:
        _finish(migration, vmi, target, failure, at)
        logger.info(f"migration {namespace}/{name} {new_phase.lower()}: {failure or node}")
        return
    status = {
        "phase": new_phase,
        "phaseTransitionTimestamps": launcher.phase_history(migration, new_phase, at),
        "migrationState": migration_state(migration, source, target, at),
    }
    if kube.changed(migration.get("status"), status):
        kube.patch(kube.MIGRATION, name, namespace, {"status": status}, status=True)
        kube.patch(
            kube.VMI,
            vmi_name,
            namespace,
            {"status": {"migrationState": status["migrationState"]}},
            status=True,
        )


@kopf.on.event("kubevirt.io", "v1", "virtualmachineinstancemigrations")
def migration_changed(type: str, body: kopf.Body, logger: kopf.Logger, **_: Any) -> None:
    if type != "DELETED":
        reconcile_migration(kube.namespace_of(body), body.metadata.name, logger)


@kopf.on.event("", "v1", "pods", labels={LABEL_MIGRATION_UID: kopf.PRESENT})
def target_pod_changed(body: kopf.Body, logger: kopf.Logger, **_: Any) -> None:
    """The target pod's scheduling and KWOK's Running move its migration on."""
    name = (body.metadata.annotations or {}).get(MIGRATION_NAME)
    if name:
        reconcile_migration(kube.namespace_of(body), name, logger)
