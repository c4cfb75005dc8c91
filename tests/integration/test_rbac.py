"""Least privilege, proven: the operator of the suite runs with the token of the chart's
ServiceAccount, installed by `helm install`, and no request it makes is ever forbidden."""

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from devcluster.cluster import OPERATOR_NAMESPACE, RELEASE
from devcluster.components import binary
from tests.integration.conftest import REPO, Cluster, Operator

SERVICE_ACCOUNT = f"system:serviceaccount:{OPERATOR_NAMESPACE}:{RELEASE}-operator"
# The operator's words for a refused Kubernetes request (its own reconciles, and Kopf's);
# MinIO's 403s in the HTTP debug log are the store answering a key check, not RBAC.
FORBIDDEN = re.compile(r"ApiError403|answered 403|APIForbiddenError")
NOT_RBAC = "because it is being terminated"  # a namespace being deleted refuses new objects


def rendered_rules() -> list[tuple[str, dict[str, Any]]]:
    rendered = subprocess.run(
        [
            str(binary("helm")),
            "template",
            RELEASE,
            str(REPO / "charts" / "stratus"),
            "--kube-version",
            "1.34.4",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [
        (document["metadata"]["name"], rule)
        for document in yaml.safe_load_all(rendered)
        if document and document["kind"] in ("ClusterRole", "Role")
        for rule in document.get("rules") or []
    ]


def test_no_rule_of_the_chart_grants_a_wildcard() -> None:
    rules = rendered_rules()
    assert len(rules) > 20
    for role, rule in rules:
        for field in ("verbs", "resources", "apiGroups", "resourceNames"):
            assert "*" not in rule.get(field, []), f"{role} grants * in {field}: {rule}"


def test_the_operator_runs_as_the_charts_service_account(
    cluster: Cluster, operator: Operator
) -> None:
    whoami = cluster.kubectl(
        f"--kubeconfig={cluster.state.operator_kubeconfig}", "auth", "whoami", "-o", "json"
    )
    assert json.loads(whoami.stdout)["status"]["userInfo"]["username"] == SERVICE_ACCOUNT
    assert operator.process is not None
    environ = Path(f"/proc/{operator.process.pid}/environ").read_bytes().split(b"\0")
    assert f"KUBECONFIG={cluster.state.operator_kubeconfig}".encode() in environ


@pytest.mark.parametrize(
    ("verb", "resource", "allowed"),
    [
        ("patch", "servers.stratus.io --subresource=status", "yes"),
        ("create", "virtualmachines.kubevirt.io", "yes"),
        ("update", "servers.stratus.io", "no"),  # never writes a user's spec
        # Only those named stratus:project:<name>, which an admission policy enforces (below).
        ("create", "clusterroles", "yes"),
        ("escalate", "clusterroles", "no"),
        ("delete", "nodes", "no"),
        ("create", "customresourcedefinitions", "no"),
        ("create", "pods --subresource=exec", "no"),
    ],
)
def test_the_service_account_may_do_what_the_operator_needs_and_no_more(
    cluster: Cluster, verb: str, resource: str, allowed: str
) -> None:
    answer = cluster.kubectl(
        "auth", "can-i", verb, *resource.split(), f"--as={SERVICE_ACCOUNT}", "-A", check=False
    )
    assert answer.stdout.strip() == allowed, (verb, resource, answer.stdout, answer.stderr)


def test_the_operator_writes_no_cluster_role_but_its_project_finders(cluster: Cluster) -> None:
    as_operator = f"--kubeconfig={cluster.state.operator_kubeconfig}"
    probe = ("--verb=get", "--resource=projects.stratus.io", "--dry-run=server")
    finder = cluster.kubectl(as_operator, "create", "clusterrole", "stratus:project:x", *probe)
    assert "created (server dry run)" in finder.stdout
    for attempt in (
        ("create", "clusterrole", "not-a-finder", *probe),
        ("delete", "clusterrole", "cluster-admin", "--dry-run=server"),
        ("delete", "clusterrolebinding", "cluster-admin", "--dry-run=server"),
    ):
        refused = cluster.kubectl(as_operator, *attempt, check=False)
        assert refused.returncode != 0, attempt
        assert "may write only the ClusterRoles and ClusterRoleBindings named" in refused.stderr


@pytest.mark.after_everything
def test_no_request_of_the_operator_was_forbidden(operator: Operator) -> None:
    """Runs last: every scenario before it drove this operator."""
    messages = [
        json.loads(line).get("message", "")
        for line in operator.session_log()
        if line.startswith("{")
    ]
    forbidden = [m for m in messages if FORBIDDEN.search(m) and NOT_RBAC not in m]
    assert forbidden == []
