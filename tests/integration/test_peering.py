"""Two replicas are safe: by Kopf peering exactly one reconciles, and when it dies the other
takes over once its peering record expires."""

import json
from collections.abc import Iterator

import pytest

from devcluster.cluster import RELEASE
from tests.integration.conftest import Cluster, Operator, stratus_object

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"


def handled(replica: Operator, namespace: str, name: str) -> bool:
    """Whether this replica's log shows it ran a handler for that KeyPair."""
    for line in replica.session_log():
        entry = json.loads(line) if line.startswith("{") else {}
        about = entry.get("object") or {}
        if (about.get("namespace"), about.get("name")) == (namespace, name) and (
            "'keypair_changed' succeeded" in entry.get("message", "")
        ):
            return True
    return False


@pytest.fixture
def replicas(cluster: Cluster, operator: Operator) -> Iterator[tuple[Operator, Operator]]:
    """The suite's standalone operator steps aside for two peered replicas of the chart's kind."""
    operator.stop()
    logs = cluster.state.logs
    peered = ("--peering", RELEASE, "--priority")
    leader = Operator(cluster, logs / "replica-a.log", mode=(*peered, "200"))
    follower = Operator(cluster, logs / "replica-b.log", mode=(*peered, "100"))
    try:
        follower.start()
        leader.start()
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
    cluster.apply(stratus_object("KeyPair", "first", {"publicKey": KEY}, name))
    cluster.wait("keypair/first", "condition=Ready", name, timeout=60)
    assert handled(leader, name, "first")
    assert not handled(follower, name, "first")
    assert any("Pausing" in line for line in follower.session_log())

    leader.kill()
    cluster.apply(stratus_object("KeyPair", "second", {"publicKey": KEY}, name))
    cluster.wait("keypair/second", "condition=Ready", name, timeout=150)
    assert handled(follower, name, "second")
