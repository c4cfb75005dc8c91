"""Two replicas are safe: by Kopf peering exactly one reconciles, the one that started first;
a replica that starts later pauses before it handles anything, and takes over once the
leader's peering record expires after the leader dies."""

import json
import time
from collections.abc import Iterator

import pytest

from devcluster.cluster import RELEASE
from stratus.handlers.settings import PEERING_LIFETIME_SECONDS
from tests.integration.conftest import PUBLIC_KEY, Cluster, Operator, operator_of, stratus_object


def handled(replica: Operator) -> set[tuple[str | None, str]]:
    """The objects (namespace, name) this replica ran a handler for, by its log."""
    found = set()
    for line in replica.session_log():
        entry = json.loads(line) if line.startswith("{") else {}
        about = entry.get("object") or {}
        if entry.get("message", "").startswith("Handler '") and "name" in about:
            found.add((about.get("namespace"), about["name"]))
    return found


def peers(cluster: Cluster) -> list[dict[str, int | str]]:
    """The replicas' keep-alives in the peering record, as `kubectl get` shows them."""
    record = cluster.get("clusterkopfpeering", RELEASE) or {}
    return list((record.get("status") or {}).values())


@pytest.fixture
def replicas(cluster: Cluster, operator: Operator) -> Iterator[tuple[Operator, Operator]]:
    """The suite's standalone operator steps aside for two replicas as the chart runs them:
    same peering, priorities left to the operator."""
    operator.stop()
    logs = cluster.state.logs
    leader = operator_of(cluster, logs / "replica-a.log", ("--peering", RELEASE))
    follower = operator_of(cluster, logs / "replica-b.log", ("--peering", RELEASE))
    try:
        leader.start()
        follower.start()
        cluster.wait_until("both replicas to peer", lambda: len(peers(cluster)) == 2)
        yield leader, follower
    finally:
        leader.stop()
        follower.stop()
        operator.start()


def test_one_replica_reconciles_and_the_other_takes_over_when_it_dies(
    cluster: Cluster, replicas: tuple[Operator, Operator], name: str
) -> None:
    leader, follower = replicas
    cluster.apply(stratus_object("Project", name, {"deletionPolicy": "Cascade"}))
    cluster.wait(f"project/{name}", "condition=Ready", timeout=90)
    cluster.apply(stratus_object("KeyPair", "first", {"publicKey": PUBLIC_KEY}, name))
    cluster.wait("keypair/first", "condition=Ready", name, timeout=60)
    assert {(None, name), (name, "first")} <= handled(leader)
    assert handled(follower) == set(), "the later replica paused before handling anything"

    leader.kill()
    killed = time.monotonic()
    cluster.apply(stratus_object("KeyPair", "second", {"publicKey": PUBLIC_KEY}, name))
    cluster.wait("keypair/second", "condition=Ready", name, timeout=PEERING_LIFETIME_SECONDS * 4)
    print(f"the follower took over in {time.monotonic() - killed:.1f}s")
    assert (name, "second") in handled(follower)
    assert (name, "second") not in handled(leader)
