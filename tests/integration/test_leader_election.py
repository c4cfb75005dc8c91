"""Replicas elect their leader through a Lease, as controller-runtime's managers do: exactly
one reconciles; a leader stopped hands over at once, one killed is replaced once the Lease
runs out, and one whose renewals are refused stops before anyone may take over."""

import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest

from devcluster.cluster import OPERATOR_NAMESPACE, RELEASE
from stratus.core.leadership import Timings
from tests.integration.conftest import PUBLIC_KEY, Cluster, Operator, operator_of, stratus_object

TIMINGS = Timings()
ELECTION = ("--lease", RELEASE, "--lease-namespace", OPERATOR_NAMESPACE)


def handled(replica: Operator) -> set[tuple[str | None, str]]:
    """The objects (namespace, name) this replica ran a handler for, by its log."""
    found = set()
    for line in replica.session_log():
        entry = json.loads(line) if line.startswith("{") else {}
        about = entry.get("object") or {}
        if entry.get("message", "").startswith("Handler '") and "name" in about:
            found.add((about.get("namespace"), about["name"]))
    return found


def holder(cluster: Cluster) -> str:
    lease = cluster.get("lease", RELEASE, OPERATOR_NAMESPACE) or {}
    return str((lease.get("spec") or {}).get("holderIdentity") or "")


def identity(replica: Operator) -> str | None:
    """The name this replica last took the Lease under, by its log (a restart is a new one)."""
    taken = None
    for line in replica.session_log():
        entry = json.loads(line) if line.startswith("{") else {}
        if entry.get("message", "").startswith("leading: took the lease"):
            taken = str(entry["message"].rsplit(" as ", 1)[1])
    return taken


def leader_of(cluster: Cluster, replicas: list[Operator]) -> tuple[Operator, Operator]:
    """(leader, follower), once one of them holds the Lease."""
    cluster.wait_until("a leader", lambda: any(identity(r) == holder(cluster) for r in replicas))
    first, second = replicas
    return (first, second) if identity(first) == holder(cluster) else (second, first)


def takeover(cluster: Cluster, new: Operator, started: float) -> float:
    """Seconds from `started` until `new` holds the Lease."""
    cluster.wait_until(
        "the takeover", lambda: identity(new) and identity(new) == holder(cluster), timeout=60
    )
    return time.monotonic() - started


def reconciles(cluster: Cluster, replica: Operator, project: str, key_pair: str) -> None:
    cluster.apply(stratus_object("KeyPair", key_pair, {"publicKey": PUBLIC_KEY}, project))
    cluster.wait(f"keypair/{key_pair}", "condition=Ready", project, timeout=60)
    assert (project, key_pair) in handled(replica)


@pytest.fixture
def replicas(cluster: Cluster, operator: Operator) -> Iterator[list[Operator]]:
    """The suite's standalone operator steps aside for two replicas as the chart runs them,
    started at the same instant."""
    operator.stop()
    logs = cluster.state.logs
    pair = [operator_of(cluster, logs / f"replica-{x}.log", ELECTION) for x in "ab"]
    try:
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(lambda replica: replica.start(), pair))
        yield pair
    finally:
        for replica in pair:
            replica.stop()
        operator.start()


@pytest.fixture
def project(cluster: Cluster, name: str) -> Iterator[str]:
    yield name
    cluster.kubectl("delete", "project", name, "--wait=false", check=False)


def test_one_replica_reconciles_and_the_other_takes_over_when_it_stops_or_dies(
    cluster: Cluster, replicas: list[Operator], project: str
) -> None:
    leader, follower = leader_of(cluster, replicas)
    cluster.apply(stratus_object("Project", project, {"deletionPolicy": "Cascade"}))
    cluster.wait(f"project/{project}", "condition=Ready", timeout=90)
    reconciles(cluster, leader, project, "first")
    assert handled(follower) == set(), "the follower wrote nothing, not even at start"

    # Stopped (SIGTERM, as in a rolling update): the Lease is handed over at once.
    stopped = time.monotonic()
    leader.stop()
    handover = takeover(cluster, follower, stopped)
    print(f"handover after SIGTERM: {handover:.1f}s")
    assert handover < 2 * TIMINGS.retry_period + 1
    reconciles(cluster, follower, project, "second")

    # Killed (SIGKILL): the Lease runs out, then the other replica, back as a follower, takes
    # it: within the lease duration and one retry period from the last renewal it saw.
    leader.start()
    killed = time.monotonic()
    follower.kill()
    replaced = takeover(cluster, leader, killed)
    print(f"takeover after SIGKILL: {replaced:.1f}s")
    assert replaced < TIMINGS.lease_duration + 2 * TIMINGS.retry_period
    reconciles(cluster, leader, project, "third")
    assert (project, "third") not in handled(follower)


def test_a_leader_whose_renewals_are_refused_stops_before_its_lease_runs_out(
    cluster: Cluster, replicas: list[Operator], project: str
) -> None:
    leader, follower = leader_of(cluster, replicas)
    cluster.apply(stratus_object("Project", project, {"deletionPolicy": "Cascade"}))
    cluster.wait(f"project/{project}", "condition=Ready", timeout=90)
    # A partition as the leader sees it: the API server refuses its renewals, while it could
    # still write anything else.
    policy = refuse_renewals_of(identity(leader) or "")
    try:
        cluster.apply(policy)
        cluster.wait_until(
            "the leader to give up",
            lambda: leader.process is not None and leader.process.poll() == 1,
            timeout=60,
        )
        gave_up = datetime.now(UTC)
        lease = cluster.get("lease", RELEASE, OPERATOR_NAMESPACE)
        assert lease is not None
        renewed = datetime.fromisoformat(lease["spec"]["renewTime"])
        print(f"gave up {(gave_up - renewed).total_seconds():.1f}s after its last renewal")
        assert (gave_up - renewed).total_seconds() < TIMINGS.lease_duration
        assert any("lost the lease" in line for line in leader.session_log())
        takeover(cluster, follower, time.monotonic())
        reconciles(cluster, follower, project, "after")
        assert (project, "after") not in handled(leader)
    finally:
        cluster.kubectl("delete", "-f", "-", stdin=policy, check=False)


def refuse_renewals_of(holder_identity: str) -> str:
    name = "refuse-lease-renewals"
    return f"""
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: {{name: {name}}}
spec:
  failurePolicy: Fail
  matchConstraints:
    resourceRules:
      - apiGroups: [coordination.k8s.io]
        apiVersions: [v1]
        resources: [leases]
        operations: [UPDATE]
  validations:
    - expression: "object.spec.holderIdentity != '{holder_identity}'"
      message: partitioned
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata: {{name: {name}}}
spec:
  policyName: {name}
  validationActions: [Deny]
  matchResources:
    namespaceSelector:
      matchLabels: {{kubernetes.io/metadata.name: {OPERATOR_NAMESPACE}}}
"""
