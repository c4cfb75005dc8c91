"""What a Project becomes, built without any API server."""

from stratus.api.project import ProjectMember, ProjectQuota
from stratus.builders.meta import Owner
from stratus.builders.project import (
    build_default_security_group,
    build_namespace,
    build_network_policy,
    build_project_finder,
    build_resource_quota,
    build_role_bindings,
    build_servers_default_deny,
    released_namespace_patch,
)

OWNER = Owner(kind="Project", name="acme", uid="1234")


def test_namespace_has_no_owner_reference_so_foreground_deletion_cannot_empty_it() -> None:
    namespace = build_namespace("acme", "acme-prod", adopted=False)
    assert "ownerReferences" not in namespace["metadata"]
    assert namespace["metadata"]["labels"]["stratus.io/project"] == "acme"
    assert "annotations" not in namespace["metadata"]


def test_an_adopted_namespace_is_marked_so_deletion_hands_it_back() -> None:
    namespace = build_namespace("acme", "legacy", adopted=True)
    assert namespace["metadata"]["annotations"] == {"stratus.io/adopted": "true"}
    patch = released_namespace_patch()
    assert patch["metadata"]["labels"]["stratus.io/project"] is None
    assert patch["metadata"]["annotations"]["stratus.io/adopted"] is None


def test_quota_counts_become_object_count_limits_the_api_server_enforces() -> None:
    quota = build_resource_quota(
        OWNER, "acme", ProjectQuota(servers=10, volumes=0, networks=5, cores=20, memory="64Gi")
    )
    assert quota is not None
    assert quota["spec"]["hard"] == {
        "count/servers.stratus.io": "10",
        "count/volumes.stratus.io": "0",
        "count/networks.stratus.io": "5",
    }
    assert quota["metadata"]["ownerReferences"][0]["uid"] == "1234"
    assert quota["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "stratus"


def test_no_counted_limit_means_no_resource_quota() -> None:
    assert build_resource_quota(OWNER, "acme", ProjectQuota(cores=4)) is None


def test_one_role_binding_per_role_with_every_member_holding_it() -> None:
    members = [
        ProjectMember(kind="User", name="alice", role="admin"),
        ProjectMember(kind="Group", name="ops", role="admin"),
        ProjectMember(kind="User", name="carol", role="reader"),
    ]
    bindings = build_role_bindings(OWNER, "acme", members)
    admin = bindings["admin"]
    assert admin is not None
    assert admin["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": "stratus:admin",
    }
    assert [s["name"] for s in admin["subjects"]] == ["alice", "ops"]
    assert [s["kind"] for s in admin["subjects"]] == ["User", "Group"]
    assert bindings["member"] is None
    assert bindings["reader"] is not None


def test_members_may_read_their_project_and_no_other() -> None:
    members = [
        ProjectMember(kind="User", name="alice", role="admin"),
        ProjectMember(kind="User", name="alice", role="reader"),
        ProjectMember(kind="Group", name="ops", role="member"),
    ]
    role, binding = build_project_finder(OWNER, members).values()
    assert role is not None and binding is not None
    assert role["metadata"]["name"] == binding["metadata"]["name"] == "stratus:project:acme"
    assert "namespace" not in role["metadata"]
    assert role["rules"] == [
        {
            "apiGroups": ["stratus.io"],
            "resources": ["projects"],
            "resourceNames": ["acme"],
            "verbs": ["get", "watch"],
        }
    ]
    assert [(s["kind"], s["name"]) for s in binding["subjects"]] == [
        ("User", "alice"),
        ("Group", "ops"),
    ]


def test_a_project_without_members_has_no_finder() -> None:
    assert list(build_project_finder(OWNER, []).values()) == [None, None]


def test_isolation_policy_admits_only_the_projects_own_namespace_to_pods_not_servers() -> None:
    policy = build_network_policy(OWNER, "acme")
    assert policy["spec"]["podSelector"] == {
        "matchExpressions": [{"key": "stratus.io/server", "operator": "DoesNotExist"}]
    }
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    (rule,) = policy["spec"]["ingress"]
    assert rule["from"] == [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "acme"}}}
    ]


def test_servers_are_denied_everything_their_security_groups_do_not_allow() -> None:
    policy = build_servers_default_deny(OWNER, "acme")
    assert policy["spec"] == {
        "podSelector": {"matchExpressions": [{"key": "stratus.io/server", "operator": "Exists"}]},
        "policyTypes": ["Ingress", "Egress"],
    }
    assert "ingress" not in policy["spec"] and "egress" not in policy["spec"]


def test_the_default_security_group_is_neutrons() -> None:
    group = build_default_security_group(OWNER, "acme")
    assert (group["kind"], group["metadata"]["name"], group["metadata"]["namespace"]) == (
        "SecurityGroup",
        "default",
        "acme",
    )
    rules = {(r["direction"], r["ethertype"], r.get("remoteGroup")) for r in group["spec"]["rules"]}
    assert rules == {
        ("egress", "IPv4", None),
        ("egress", "IPv6", None),
        ("ingress", "IPv4", "default"),
        ("ingress", "IPv6", "default"),
    }
