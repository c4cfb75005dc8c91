"""The examples a new user applies first all become Ready, as `make run` shows them."""

import json

from tests.integration.conftest import REPO, Cluster, Operator


def test_examples_become_ready_and_are_listed_by_get_stratus(
    cluster: Cluster, operator: Operator
) -> None:
    examples = REPO / "examples"
    cluster.kubectl(
        "apply", "-f", str(examples / "flavors.yaml"), "-f", str(examples / "project.yaml")
    )
    cluster.wait("project/acme", "condition=Ready", timeout=120)
    cluster.kubectl("apply", "-k", str(examples))
    applied = cluster.kubectl("get", "-k", str(examples), "-o", "name").stdout.split()
    assert len(applied) >= 18
    rendered = cluster.kubectl("kustomize", str(examples)).stdout
    cluster.kubectl("wait", "--for=condition=Ready", "--timeout=120s", "-f", "-", stdin=rendered)
    listed = cluster.kubectl("get", "stratus", "-A").stdout
    for name in (
        "m1.small",
        "acme",
        "alice",
        "web",
        "ubuntu-24.04",
        "db-root",
        "db-data-nightly",
        "backups",
        "db-data-weekly",
    ):
        assert name in listed
    # The two-tier application: web Servers on different nodes, the database on its Volumes.
    web = [cluster.get("server", s, "acme")["status"]["host"] for s in ("web-1", "web-2")]
    assert len(set(web)) == 2
    database = cluster.get("server", "db-1", "acme")["status"]
    assert database["phase"] == "Active"
    assert database["addresses"] == {"db": ["10.20.0.50"]}
    assert {v["name"] for v in database["volumes"]} == {"db-root", "db-data"}
    # Only the web Servers reach the database, and only on PostgreSQL's port.
    policy = cluster.get("networkpolicy", "securitygroup-database", "acme")["spec"]
    assert policy["podSelector"]["matchExpressions"][0]["values"] == ["db-1"]
    [ingress] = policy["ingress"]
    assert ingress["ports"] == [{"protocol": "TCP", "port": 5432}]
    assert ingress["from"][0]["podSelector"]["matchExpressions"][0]["values"] == ["web-1", "web-2"]
    # web-1 is reached from outside through the Router, at an address of the public pool.
    floating = cluster.get("floatingip", "web-1", "acme")["status"]
    web_1 = cluster.get("server", "web-1", "acme")["status"]["addresses"]["web"][0]
    assert (floating["router"], floating["fixedAddress"]) == ("edge", web_1)
    assert floating["address"].startswith("203.0.113.")
    # The web tier behind one VIP, both members serving.
    assert cluster.get("loadbalancer", "web", "acme")["status"]["vipAddress"] == "10.10.0.250"
    cluster.wait("loadbalancer/web", "jsonpath={.status.operatingStatus}=ONLINE", "acme")


def test_operator_logs_are_structured(cluster: Cluster, operator: Operator) -> None:
    lines = [line for line in operator.log.read_text().splitlines() if line.strip()]
    assert lines, "the operator wrote no log lines"
    records = [json.loads(line) for line in lines]
    assert all("message" in r and "severity" in r for r in records)
