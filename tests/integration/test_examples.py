"""The examples a new user applies first all become Ready, as `make run` shows them."""

import json

from tests.integration.conftest import REPO, Cluster, Operator


def test_examples_become_ready_and_are_listed_by_get_stratus(
    cluster: Cluster, operator: Operator
) -> None:
    cluster.kubectl("apply", "-k", str(REPO / "examples"))
    applied = cluster.kubectl("get", "-k", str(REPO / "examples"), "-o", "name").stdout.split()
    assert len(applied) >= 4
    cluster.kubectl("wait", "--for=condition=Ready", "--timeout=120s", *applied)
    listed = cluster.kubectl("get", "stratus").stdout
    for name in ("m1.small", "m1.medium", "acme"):
        assert name in listed


def test_operator_logs_are_structured(cluster: Cluster, operator: Operator) -> None:
    lines = [line for line in operator.log.read_text().splitlines() if line.strip()]
    assert lines, "the operator wrote no log lines"
    records = [json.loads(line) for line in lines]
    assert all("message" in r and "severity" in r for r in records)
