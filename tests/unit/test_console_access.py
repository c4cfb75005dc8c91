"""What the console shows a person follows their RBAC rules as the API server reports them."""

from stratus.dashboard.access import Permissions
from stratus.dashboard.display import gauges, launch_needs, size

MEMBER_RULES = {
    "resourceRules": [
        {
            "verbs": ["get", "watch"],
            "apiGroups": ["stratus.io"],
            "resources": ["projects"],
            "resourceNames": ["acme"],
        },
        {
            "verbs": ["get", "watch"],
            "apiGroups": ["stratus.io"],
            "resources": ["projects"],
            "resourceNames": ["beta"],
        },
        {
            "verbs": ["get", "list", "watch", "create", "patch", "delete"],
            "apiGroups": ["stratus.io"],
            "resources": ["servers", "volumes"],
        },
        {"verbs": ["get", "list", "watch"], "apiGroups": ["stratus.io"], "resources": ["flavors"]},
        {
            "verbs": ["create"],
            "apiGroups": ["authorization.k8s.io"],
            "resources": ["selfsubjectrulesreviews"],
        },
    ],
    "incomplete": False,
}


def test_a_member_finds_the_projects_granted_by_name_and_may_list_none() -> None:
    permissions = Permissions.of(MEMBER_RULES)
    assert permissions.named("get", "projects") == {"acme", "beta"}
    assert not permissions.can("list", "projects")
    assert not permissions.can("get", "projects")


def test_actions_follow_the_verbs_granted() -> None:
    permissions = Permissions.of(MEMBER_RULES)
    assert permissions.can("patch", "servers")
    assert permissions.can("create", "volumes")
    assert not permissions.can("create", "flavors")
    assert not permissions.can("list", "nodes", group="")


def test_wildcards_grant_everything() -> None:
    admin = Permissions.of(
        {"resourceRules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}]}
    )
    assert admin.can("list", "projects")
    assert admin.can("list", "nodes", group="")


def test_an_incomplete_review_hides_nothing_and_leaves_refusals_to_the_api_server() -> None:
    assert Permissions.of({"resourceRules": [], "incomplete": True}).can("delete", "servers")


PROJECT = {
    "spec": {"quota": {"servers": 10, "cores": 4, "memory": "8Gi"}},
    "status": {"usage": {"servers": 2, "cores": 3, "memory": "6Gi", "volumes": 1}},
}


def test_gauges_read_quota_and_usage_in_the_units_people_use() -> None:
    found = {g.key: g for g in gauges(PROJECT)}
    assert (found["memory"].used, found["memory"].limit) == (6.0, 8.0)
    assert found["volumes"].limit is None
    assert found["volumes"].text(found["volumes"].limit) == "unlimited"
    assert found["memory"].text(found["memory"].used) == "6 GiB"


def test_the_quota_a_launch_would_leave_is_shown_before_submitting() -> None:
    flavor = {"spec": {"vcpus": 2, "memory": "2Gi"}}
    needs = {n.gauge.key: n for n in launch_needs(PROJECT, flavor)}
    assert needs["servers"].fits
    assert not needs["cores"].fits  # 3 + 2 > 4
    assert needs["memory"].fits  # 6 + 2 <= 8


def test_sizes_read_as_people_write_them() -> None:
    assert size("64Gi") == "64 GiB"
    assert size(2361393152) == "2.2 GiB"
    assert size(None) == "-"
