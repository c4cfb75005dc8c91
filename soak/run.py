"""The soak itself: the foundation, then the churn paced over its length while the faults
play, then the wait for everything to settle and the count of what must hold."""

import json
import random
import time
from dataclasses import dataclass
from typing import Any

import yaml

from devcluster.cluster import State, run_kubectl
from devcluster.operator import OperatorProcess
from soak.churn import CHURNED, LABEL, Churn, Manifest, foundation, password_of
from soak.faults import Faults
from soak.invariants import STRATUS_RESOURCES, Deleted, breached, count

STUCK_AFTER = 60.0
"""A deleted object still there this many seconds after the churn ends is stuck."""
RETRY_FOR = 300.0
"""How long one user request is retried while the API server is down."""


@dataclass(frozen=True)
class Plan:
    objects: int = 500
    seconds: float = 600.0
    seed: int = 1
    kill_every: float = 10.0
    store_outage: float = 60.0
    settle: float = 600.0
    """How long everything may take to converge once the faults stop."""


def kubectl_retried(state: State, *args: str, stdin: str | None = None) -> str:
    """A user's kubectl, tried again while the control plane is down (and only then)."""
    deadline = time.monotonic() + RETRY_FOR
    while True:
        result = run_kubectl(state, *args, stdin=stdin)
        if result.returncode == 0:
            return result.stdout
        if time.monotonic() > deadline:
            raise RuntimeError(f"kubectl {' '.join(args)}: {result.stderr.strip()}")
        time.sleep(1)


def target(manifest: Manifest) -> list[str]:
    metadata = manifest["metadata"]
    where = ["-n", metadata["namespace"]] if "namespace" in metadata else []
    return [f"{manifest['kind'].lower()}/{metadata['name']}", *where]


def forget_bucket(state: State, manifest: Manifest, deleted: Deleted) -> None:
    """Before a Bucket is deleted, what the store knows it by, to look for it afterwards."""
    from stratus.builders.bucket import access_key  # noqa: PLC0415

    body = json.loads(kubectl_retried(state, "get", *target(manifest), "-o", "json"))
    deleted.access_keys.add(access_key(body["metadata"]["uid"]))
    if bucket := (body.get("status") or {}).get("bucket"):
        deleted.buckets.add(bucket)


def soak(state: State, operator: OperatorProcess, plan: Plan) -> dict[str, Any]:
    # What an earlier run's churn left is not this run's: it goes first.
    kinds = STRATUS_RESOURCES
    kubectl_retried(state, "delete", kinds, "-A", "-l", CHURNED, "--wait=true", "--timeout=240s")
    going = json.loads(kubectl_retried(state, "get", kinds, "-A", "-l", LABEL, "-o", "json"))
    for body in going["items"]:
        if body["metadata"].get("deletionTimestamp"):
            kubectl_retried(state, "wait", "--for=delete", *target(body), "--timeout=240s")
    base = foundation()
    kubectl_retried(state, "apply", "-f", "-", stdin=yaml.safe_dump_all(base))
    for kind in ("projects", "networks", "images", "keypairs", "volumes"):
        kubectl_retried(
            state, "wait", "--for=condition=Ready", kind, "-A", "-l", LABEL, "--timeout=240s"
        )
    log_start = operator.log.stat().st_size if operator.log.exists() else 0

    churn = Churn(random.Random(plan.seed))
    steps = list(churn.steps(plan.objects))
    deleted = Deleted()
    faults = Faults(state, operator, plan.seconds, plan.kill_every, plan.store_outage)
    began = time.monotonic()
    faults.start()
    try:
        for index, (verb, manifest) in enumerate(steps):
            time.sleep(max(0.0, began + index * plan.seconds / len(steps) - time.monotonic()))
            if verb == "apply":
                kubectl_retried(state, "apply", "-f", "-", stdin=yaml.safe_dump(manifest))
                continue
            if manifest["kind"] == "Bucket" and _exists(state, manifest):
                forget_bucket(state, manifest, deleted)
            kubectl_retried(
                state, "delete", *target(manifest), "--wait=false", "--ignore-not-found"
            )
    finally:
        faults.finish()
    churned = time.monotonic() - began

    wanted = {**{_key(m): m for m in base}, **churn.live}
    secrets = {p for _, manifest in steps if (p := password_of(manifest))}
    ended = time.monotonic()
    stuck_at_60s: int | None = None
    while True:
        with operator.log.open("rb") as handle:
            handle.seek(log_start)
            log = handle.read().decode(errors="replace")
        counts, breaches = count(state, wanted, deleted, log, secrets)
        waited = time.monotonic() - ended
        if stuck_at_60s is None and waited >= STUCK_AFTER:
            stuck_at_60s = counts["stuckFinalizers"]
        if not breached(counts) or waited > plan.settle:
            break
        time.sleep(10)
    counts["stuckFinalizers"] = max(counts["stuckFinalizers"], stuck_at_60s or 0)
    return {
        "plan": plan.__dict__,
        "created": churn.counts,
        "operations": len(steps),
        "churnSeconds": round(churned, 1),
        "settledAfterSeconds": round(waited, 1),
        "faults": faults.log,
        "counts": counts,
        "breaches": breaches[:50],
    }


def _key(manifest: Manifest) -> tuple[str, str, str]:
    metadata = manifest["metadata"]
    return manifest["kind"], metadata.get("namespace", ""), metadata["name"]


def _exists(state: State, manifest: Manifest) -> bool:
    return run_kubectl(state, "get", *target(manifest)).returncode == 0
