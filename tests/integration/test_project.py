"""Project against the local control plane, driven as a user drives it."""

import json
from typing import Any

import pytest

from tests.integration.conftest import Cluster, Operator, stratus_object

RECONCILES = "controller_runtime_reconcile_total"
APPLIES = "stratus_apply_requests_total"


def project(name: str, **spec: Any) -> str:
    return stratus_object("Project", name, spec)


def volume_claim(name: str, namespace: str) -> dict[str, Any]:
    """Tenant data that Stratus did not create."""
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
    }


def ready_condition(obj: dict[str, Any]) -> dict[str, Any]:
    return next(c for c in obj["status"]["conditions"] if c["type"] == "Ready")


def names(cluster: Cluster, kind: str, namespace: str) -> list[str]:
    listed = json.loads(cluster.kubectl("get", kind, "-n", namespace, "-o", "json").stdout)
    return sorted(item["metadata"]["name"] for item in listed["items"])


def test_project_becomes_a_namespace_with_quota_roles_and_isolation(
    cluster: Cluster, operator: Operator, name: str
) -> None:
    cluster.apply(
        project(
            name,
            quota={"servers": 3, "networks": 2, "cores": 8},
            members=[
                {"kind": "User", "name": "alice", "role": "admin"},
                {"kind": "Group", "name": "auditors", "role": "reader"},
            ],
        )
    )
    cluster.wait(f"project/{name}", "condition=Ready")

    status = cluster.get("project", name)["status"]
    assert status["namespace"] == name
    assert status["phase"] == "Active"
    assert status["observedGeneration"] == 1
    namespace = cluster.get("namespace", name)
    assert namespace["metadata"]["labels"]["stratus.io/project"] == name
    assert "ownerReferences" not in namespace["metadata"]

    quota = cluster.get("resourcequota", "stratus-project", name)
    assert quota["spec"]["hard"] == {
        "count/servers.stratus.io": "3",
        "count/networks.stratus.io": "2",
    }
    assert quota["metadata"]["ownerReferences"][0]["name"] == name
    assert names(cluster, "rolebindings", name) == ["stratus-admin", "stratus-reader"]
    admin = cluster.get("rolebinding", "stratus-admin", name)
    assert admin["roleRef"]["name"] == "stratus:admin"
    assert admin["subjects"] == [
        {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "alice"}
    ]
    policy = cluster.get("networkpolicy", "stratus-project-isolation", name)
    assert policy["spec"]["ingress"][0]["from"][0]["namespaceSelector"]["matchLabels"] == {
        "kubernetes.io/metadata.name": name
    }


def test_member_role_grants_what_the_role_says(
    cluster: Cluster, operator: Operator, name: str
) -> None:
    cluster.apply(project(name, members=[{"name": "bob", "role": "reader"}]))
    cluster.wait(f"project/{name}", "condition=Ready")

    def can(verb: str, what: str) -> str:
        return cluster.kubectl(
            "auth", "can-i", verb, what, "-n", name, "--as=bob", check=False
        ).stdout.strip()

    def rules() -> str:
        return cluster.kubectl("auth", "can-i", "--list", "-n", name, "--as=bob").stdout

    assert can("list", "resourcequotas") == "yes"
    assert can("get", "secrets") == "no"
    assert can("list", "flavors.stratus.io") == "yes"
    assert "servers.stratus.io  " in rules()
    assert "[get list watch]" in next(
        r for r in rules().splitlines() if r.startswith("servers.stratus.io")
    )

    cluster.apply(project(name, members=[{"name": "bob", "role": "member"}]))
    cluster.wait_until("bob to become a member", lambda: can("get", "secrets") == "yes")
    servers = next(r for r in rules().splitlines() if r.startswith("servers.stratus.io"))
    assert "create" in servers and "delete" in servers
    assert can("create", "configmaps") == "no"
    assert names(cluster, "rolebindings", name) == ["stratus-member"]

    cluster.apply(project(name, members=[{"name": "bob", "role": "admin"}]))
    cluster.wait_until("bob to become an admin", lambda: can("create", "configmaps") == "yes")


def test_quota_change_propagates_and_clearing_it_removes_the_quota(
    cluster: Cluster, operator: Operator, name: str
) -> None:
    cluster.apply(project(name, quota={"servers": 2}))
    cluster.wait(f"project/{name}", "condition=Ready")
    cluster.apply(project(name, quota={"servers": 5, "buckets": 1}))
    cluster.wait_until(
        "the new quota",
        lambda: (
            cluster.get("resourcequota", "stratus-project", name)["spec"]["hard"]
            == {"count/servers.stratus.io": "5", "count/buckets.stratus.io": "1"}
        ),
    )
    cluster.wait(f"project/{name}", "jsonpath={.status.observedGeneration}=2")
    cluster.apply(project(name, quota={}))
    cluster.wait_until(
        "the quota to go", lambda: cluster.get("resourcequota", "stratus-project", name) is None
    )


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"quota": {"servers": -1}}, "should be greater than or equal to 0"),
        ({"quota": {"memory": "-4Gi"}}, "must not be negative"),
        ({"quota": {"storage": "lots"}}, "must be a Kubernetes quantity"),
        (
            {"members": [{"name": "eve", "role": "owner"}]},
            'supported values: "admin", "member", "reader"',
        ),
        (
            {"members": [{"kind": "Robot", "name": "r2", "role": "member"}]},
            'supported values: "User", "Group"',
        ),
        (
            {"members": [{"name": "a", "role": "admin"}, {"name": "a", "role": "admin"}]},
            "Duplicate value",
        ),
        ({"namespace": "kube-system"}, "default and kube-* namespaces are reserved"),
        ({"namespace": "Not_A_Label"}, "should match"),
        ({"deletionPolicy": "Orphan"}, 'supported values: "Retain", "Cascade"'),
    ],
)
def test_invalid_project_is_refused_by_the_api_server(
    cluster: Cluster, name: str, spec: dict[str, Any], message: str
) -> None:
    result = cluster.apply(project(name, **spec), check=False)
    assert result.returncode != 0
    assert message in result.stderr, result.stderr
    assert cluster.get("project", name) is None


def test_a_name_that_is_no_namespace_needs_spec_namespace(cluster: Cluster) -> None:
    result = cluster.apply(project("acme.example.com"), check=False)
    assert "not a usable namespace name" in result.stderr
    assert (
        cluster.apply(project("acme.example.com", namespace="acme-example"), check=False).returncode
        == 0
    )
    cluster.kubectl("delete", "project", "acme.example.com", "--wait=false")


def test_namespace_is_immutable(cluster: Cluster, operator: Operator, name: str) -> None:
    cluster.apply(project(name, namespace=f"{name}-a"))
    changed = cluster.apply(project(name, namespace=f"{name}-b"), check=False)
    assert "namespace is immutable" in changed.stderr
    removed = cluster.apply(project(name), check=False)
    assert "namespace is immutable" in removed.stderr


def test_namespace_of_another_project_is_refused_with_a_reason_and_an_event(
    cluster: Cluster, operator: Operator, name: str
) -> None:
    cluster.apply(project(name))
    cluster.wait(f"project/{name}", "condition=Ready")
    intruder = f"{name}-x"
    cluster.apply(project(intruder, namespace=name))
    cluster.wait(
        f"project/{intruder}",
        "jsonpath={.status.conditions[?(@.type=='Ready')].reason}=NamespaceOwnedByAnotherProject",
    )
    condition = ready_condition(cluster.get("project", intruder))
    assert condition["status"] == "False"
    assert (
        condition["message"]
        == f"namespace {name} belongs to Project {name}; choose another spec.namespace"
    )
    events = json.loads(
        cluster.kubectl(
            "get", "events", "-A", "-o", "json", f"--field-selector=involvedObject.name={intruder}"
        ).stdout
    )["items"]
    assert any(
        e["reason"] == "NamespaceOwnedByAnotherProject" and e["type"] == "Warning" for e in events
    )
    assert cluster.get("namespace", name)["metadata"]["labels"]["stratus.io/project"] == name
    cluster.kubectl("delete", "project", intruder, "--timeout=60s")
    assert cluster.get("namespace", name)["status"]["phase"] == "Active"


def test_existing_unowned_namespace_is_adopted_and_handed_back(
    cluster: Cluster, operator: Operator, name: str
) -> None:
    cluster.kubectl("create", "namespace", name)
    cluster.kubectl("create", "configmap", "keep-me", "-n", name)
    cluster.apply(project(name))
    cluster.wait(f"project/{name}", "condition=Ready")
    annotations = cluster.get("namespace", name)["metadata"]["annotations"]
    assert annotations["stratus.io/adopted"] == "true"
    cluster.kubectl("delete", "project", name, "--timeout=60s")
    namespace = cluster.get("namespace", name)
    assert namespace["status"]["phase"] == "Active"
    assert "stratus.io/project" not in namespace["metadata"].get("labels", {})
    assert cluster.get("configmap", "keep-me", name) is not None
    cluster.wait_until(
        "the project's own children to go",
        lambda: cluster.get("networkpolicy", "stratus-project-isolation", name) is None,
    )


def test_namespace_with_another_owner_is_not_adopted(
    cluster: Cluster, operator: Operator, name: str
) -> None:
    owner = cluster.get("namespace", "stratus-system")
    cluster.apply(
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {
                "name": name,
                "ownerReferences": [
                    {
                        "apiVersion": "v1",
                        "kind": "Namespace",
                        "name": "stratus-system",
                        "uid": owner["metadata"]["uid"],
                    }
                ],
            },
        }
    )
    cluster.apply(project(name))
    cluster.wait(
        f"project/{name}",
        "jsonpath={.status.conditions[?(@.type=='Ready')].reason}=NamespaceHasOtherOwner",
    )
    assert "stratus.io/project" not in (
        cluster.get("namespace", name)["metadata"].get("labels") or {}
    )


def test_retain_deletion_waits_for_the_tenants_data_then_completes(
    cluster: Cluster, operator: Operator, name: str
) -> None:
    cluster.apply(project(name, deletionPolicy="Retain"))
    cluster.wait(f"project/{name}", "condition=Ready")
    cluster.apply(volume_claim("data", name))
    cluster.kubectl("delete", "project", name, "--wait=false")
    cluster.wait(
        f"project/{name}",
        "jsonpath={.status.conditions[?(@.type=='Ready')].reason}=DeletionBlocked",
    )
    condition = ready_condition(cluster.get("project", name))
    assert "still holds 1 PersistentVolumeClaim" in condition["message"]
    assert cluster.get("project", name)["status"]["phase"] == "Terminating"
    assert cluster.get("namespace", name)["status"]["phase"] == "Active"

    cluster.kubectl("delete", "pvc", "data", "-n", name)
    cluster.wait(f"project/{name}", "delete", timeout=90)
    cluster.wait_until(
        "the namespace to be gone", lambda: cluster.get("namespace", name) is None, timeout=90
    )


def test_cascade_deletion_removes_everything_inside(
    cluster: Cluster, operator: Operator, name: str
) -> None:
    cluster.apply(project(name, deletionPolicy="Cascade"))
    cluster.wait(f"project/{name}", "condition=Ready")
    cluster.kubectl("create", "configmap", "settings", "-n", name)
    cluster.apply(volume_claim("data", name))
    cluster.kubectl("delete", "project", name, "--wait=false")
    cluster.wait(f"project/{name}", "delete", timeout=120)
    assert cluster.get("namespace", name) is None


def test_operator_killed_mid_reconcile_converges_without_duplicates(
    cluster: Cluster, operator: Operator, name: str
) -> None:
    batch = [f"{name}-{i}" for i in range(12)]
    cluster.apply(
        "\n---\n".join(
            project(p, quota={"servers": 4}, members=[{"name": "ann", "role": "member"}])
            for p in batch
        )
    )
    cluster.wait_until(
        "the first namespace", lambda: cluster.get("namespace", batch[0]) is not None
    )
    operator.kill()
    operator.start()
    for p in batch:
        cluster.wait(f"project/{p}", "condition=Ready", timeout=120)
    for p in batch:
        assert names(cluster, "resourcequotas", p) == ["stratus-project"]
        assert names(cluster, "rolebindings", p) == ["stratus-member"]
        assert names(cluster, "networkpolicies", p) == [
            "stratus-project-isolation",
            "stratus-servers-default-deny",
        ]
        owned = json.loads(
            cluster.kubectl(
                "get", "namespaces", "-l", f"stratus.io/project={p}", "-o", "json"
            ).stdout
        )
        assert [n["metadata"]["name"] for n in owned["items"]] == [p]


def test_restart_resumes_every_project_and_writes_nothing_unchanged(
    cluster: Cluster, operator: Operator, name: str
) -> None:
    cluster.apply(project(name, quota={"servers": 1}, members=[{"name": "ann", "role": "admin"}]))
    cluster.wait(f"project/{name}", "condition=Ready")
    cluster.settled("project", name)
    watched = [
        ("project", name, None),
        ("namespace", name, None),
        ("resourcequota", "stratus-project", name),
        ("rolebinding", "stratus-admin", name),
        ("networkpolicy", "stratus-project-isolation", name),
    ]
    before = {
        kind: cluster.get(kind, obj, ns)["metadata"]["resourceVersion"] for kind, obj, ns in watched
    }
    operator.stop()
    operator.start()
    # Resuming is one pass over every Project: wait until it has covered all of them.
    projects = len(json.loads(cluster.kubectl("get", "projects", "-o", "json").stdout)["items"])
    cluster.wait_until(
        "the resume pass",
        lambda: operator.counter(RECONCILES, controller="Project") >= projects,
        timeout=120,
    )
    after = {
        kind: cluster.get(kind, obj, ns)["metadata"]["resourceVersion"] for kind, obj, ns in watched
    }
    assert after == before


def test_metrics_count_reconciles_per_kind(cluster: Cluster, operator: Operator, name: str) -> None:
    cluster.apply(project(name))
    cluster.wait(f"project/{name}", "condition=Ready")
    metrics = operator.metrics()
    assert 'controller_runtime_reconcile_total{controller="Project",result="success"}' in metrics
    assert 'controller_runtime_reconcile_time_seconds_bucket{controller="Project"' in metrics


def test_children_deleted_or_edited_behind_the_operators_back_are_restored(
    cluster: Cluster, operator: Operator, name: str
) -> None:
    cluster.apply(project(name, quota={"servers": 2}, members=[{"name": "ann", "role": "reader"}]))
    cluster.wait(f"project/{name}", "condition=Ready")

    cluster.kubectl("delete", "networkpolicy", "stratus-project-isolation", "-n", name)
    cluster.wait_until(
        "the isolation policy to come back",
        lambda: cluster.get("networkpolicy", "stratus-project-isolation", name),
    )
    cluster.kubectl(
        "patch",
        "resourcequota",
        "stratus-project",
        "-n",
        name,
        "--type=merge",
        "-p",
        '{"spec":{"hard":{"count/servers.stratus.io":"1000"}}}',
    )
    cluster.wait_until(
        "the quota to be put back",
        lambda: (
            cluster.get("resourcequota", "stratus-project", name)["spec"]["hard"]
            == {"count/servers.stratus.io": "2"}
        ),
    )
    cluster.kubectl("label", "namespace", name, "stratus.io/project-")
    cluster.wait_until(
        "the namespace label to come back",
        lambda: (
            cluster.get("namespace", name)["metadata"]["labels"].get("stratus.io/project") == name
        ),
    )
    cluster.kubectl(
        "create",
        "rolebinding",
        "stratus-admin",
        "-n",
        name,
        "--clusterrole=stratus:admin",
        "--user=mallory",
    )
    cluster.kubectl(
        "label",
        "rolebinding",
        "stratus-admin",
        "-n",
        name,
        "app.kubernetes.io/managed-by=stratus",
        "stratus.io/kind=Project",
        f"stratus.io/name={name}",
    )
    cluster.wait_until(
        "the unwanted binding to go",
        lambda: cluster.get("rolebinding", "stratus-admin", name) is None,
    )


def test_a_child_event_without_drift_writes_nothing(
    cluster: Cluster, operator: Operator, name: str
) -> None:
    cluster.apply(project(name))
    cluster.wait(f"project/{name}", "condition=Ready")
    before = operator.counter(APPLIES, kind="NetworkPolicy")
    cluster.kubectl(
        "annotate", "networkpolicy", "stratus-project-isolation", "-n", name, "note=harmless"
    )
    # Kopf handles one object's events in order: once the deletion below has been
    # repaired, the annotation event before it has been handled too.
    cluster.kubectl("delete", "networkpolicy", "stratus-project-isolation", "-n", name)
    cluster.wait_until(
        "the isolation policy to come back",
        lambda: cluster.get("networkpolicy", "stratus-project-isolation", name),
    )
    assert operator.counter(APPLIES, kind="NetworkPolicy") - before == 1
