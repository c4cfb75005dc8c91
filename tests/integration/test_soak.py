"""The chaos soak, short: a churn of every kind while the operator is SIGKILLed every 10
seconds, the kube-apiserver and etcd restart, the object store stops and a node goes and
comes back; then every invariant count is 0. `make soak` is the long one."""

import json
from collections.abc import Iterator

import pytest

from devcluster.operator import OperatorProcess
from soak.churn import CHURNED
from soak.invariants import STRATUS_RESOURCES, breached
from soak.run import Plan, soak
from tests.integration.conftest import Cluster, Operator

SHORT = Plan(objects=50, seconds=100, seed=3, store_outage=15, settle=240)


@pytest.fixture
def soak_operator(cluster: Cluster, operator: Operator) -> Iterator[OperatorProcess]:
    """The suite's operator steps aside for the soak's, which the faults kill and start."""
    operator.stop()
    soaked = OperatorProcess(
        log=cluster.state.logs / "soak-operator.log",
        state=cluster.state,
        config=cluster.state.operator_config,
        verbose=False,
    )
    soaked.start()
    try:
        yield soaked
    finally:
        soaked.stop()
        operator.start()
        # What the churn made goes, while the suite goes on; the foundation stays for the next.
        cluster.kubectl(
            "delete", STRATUS_RESOURCES, "-A", "-l", CHURNED, "--wait=false", check=False
        )


def test_every_invariant_holds_after_a_short_soak(
    cluster: Cluster, soak_operator: OperatorProcess
) -> None:
    results = soak(cluster.state, soak_operator, SHORT)
    print(json.dumps({k: results[k] for k in ("counts", "created", "faults")}, indent=1))
    counts = results["counts"]
    assert counts["objects"] >= 40
    assert len(results["created"]) == 14, "every kind"
    assert sum(1 for _, what in results["faults"] if what.startswith("operator")) >= 6
    assert counts["secretsWatched"] >= 5, "userData passwords and bucket keys to look for"
    assert breached(counts) == {}, results["breaches"]
