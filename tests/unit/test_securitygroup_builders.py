"""What each security group rule becomes in a NetworkPolicy and a MultiNetworkPolicy."""

from stratus.api.securitygroup import SecurityGroupSpec
from stratus.builders.meta import Owner
from stratus.builders.securitygroup import (
    ICMP_UNENFORCED,
    build_network_default_deny,
    build_security_policies,
    translate,
)

OWNER = Owner(kind="SecurityGroup", name="web", uid="1234", namespace="acme")
MEMBERS = {"matchExpressions": [{"key": "stratus.io/server", "operator": "In", "values": ["db-1"]}]}


def spec(*rules: dict[str, object]) -> SecurityGroupSpec:
    return SecurityGroupSpec.model_validate({"rules": list(rules)})


def test_each_rule_becomes_a_peer_and_its_ports() -> None:
    translated = translate(
        spec(
            {"direction": "ingress", "protocol": "tcp", "portRangeMin": 5432, "remoteGroup": "app"},
            {
                "direction": "ingress",
                "protocol": "udp",
                "portRangeMin": 1000,
                "portRangeMax": 2000,
                "remoteIpPrefix": "10.0.0.0/8",
            },
            {"direction": "egress"},
            {"direction": "egress", "ethertype": "IPv6", "protocol": "tcp"},
        ),
        {"app": ["app-2", "app-1"]},
    )
    assert translated.ingress == [
        {
            "from": [
                {
                    "podSelector": {
                        "matchExpressions": [
                            {
                                "key": "stratus.io/server",
                                "operator": "In",
                                "values": ["app-2", "app-1"],
                            }
                        ]
                    }
                }
            ],
            "ports": [{"protocol": "TCP", "port": 5432}],
        },
        {
            "from": [{"ipBlock": {"cidr": "10.0.0.0/8"}}],
            "ports": [{"protocol": "UDP", "port": 1000, "endPort": 2000}],
        },
    ]
    assert translated.egress == [
        {"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}]},
        {"to": [{"ipBlock": {"cidr": "::/0"}}], "ports": [{"protocol": "TCP"}]},
    ]
    assert translated.unenforced == []


def test_icmp_is_reported_not_opened_and_an_empty_remote_group_matches_nobody() -> None:
    translated = translate(
        spec(
            {"direction": "ingress", "protocol": "icmp"},
            {"direction": "ingress", "remoteGroup": "nobody-yet"},
        ),
        {"nobody-yet": []},
    )
    assert translated.ingress == []
    assert translated.unenforced == [(0, ICMP_UNENFORCED)]


def test_a_group_selects_its_members_on_the_pod_network_and_on_their_networks() -> None:
    children = build_security_policies(
        OWNER, spec({"direction": "egress"}), ["db-1"], {}, ["acme/db", "shared/ext"], True
    )
    policy, multi = children.values()
    assert policy is not None and multi is not None
    assert policy["metadata"]["name"] == multi["metadata"]["name"] == "securitygroup-web"
    assert policy["spec"]["podSelector"] == MEMBERS
    assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"]
    assert "ingress" not in policy["spec"]  # nothing in: a group allows only what it says
    assert multi["apiVersion"] == "k8s.cni.cncf.io/v1beta1"
    assert multi["metadata"]["annotations"] == {
        "k8s.v1.cni.cncf.io/policy-for": "acme/db,shared/ext"
    }
    assert multi["spec"] == policy["spec"]


def test_nothing_is_built_without_members_or_networks_or_the_multi_policy_kind() -> None:
    assert list(build_security_policies(OWNER, spec(), [], {}, [], True).values()) == [None, None]
    only_pods = build_security_policies(OWNER, spec(), ["db-1"], {}, [], True)
    assert [m is not None for m in only_pods.values()] == [True, False]
    without_kind = build_security_policies(OWNER, spec(), ["db-1"], {}, ["acme/db"], False)
    assert [ref.kind for ref in without_kind] == ["NetworkPolicy"]


def test_a_network_leaves_its_servers_to_their_groups() -> None:
    deny = build_network_default_deny(Owner("Network", "db", "1", "acme"), "db")
    assert deny["metadata"]["annotations"] == {"k8s.v1.cni.cncf.io/policy-for": "acme/db"}
    assert deny["spec"] == {
        "podSelector": {"matchExpressions": [{"key": "stratus.io/server", "operator": "Exists"}]},
        "policyTypes": ["Ingress", "Egress"],
    }
