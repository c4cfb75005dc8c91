"""What a Router becomes: its Pod's interfaces at the gateway addresses, and its NAT rules."""

import json

from stratus.builders.meta import Owner
from stratus.builders.router import Leg, Translation, build_router, nat_rules

OWNER = Owner(kind="Router", name="edge", uid="1", namespace="acme")
LAN = Leg("acme/lan", "10.0.0.0/24", "10.0.0.1", "gw0")
APP = Leg("acme/app", "10.1.0.0/24", "10.1.0.1", "gw1")
V6 = Leg("acme/v6", "fd00::/64", "fd00::1", "gw2")
OUTSIDE = Leg("public/ext", "203.0.113.0/24", "203.0.113.5", "ext0")


def test_the_networks_leave_behind_the_external_address_and_floating_ips_come_in() -> None:
    rules = nat_rules([LAN, APP, V6], OUTSIDE, True, [Translation("203.0.113.9", "10.0.0.7")])
    assert rules.splitlines() == [
        "*nat",
        ":PREROUTING ACCEPT [0:0]",
        ":POSTROUTING ACCEPT [0:0]",
        "-A PREROUTING -d 203.0.113.9/32 -j DNAT --to-destination 10.0.0.7",
        "-A POSTROUTING -s 10.0.0.7/32 -o ext0 -j SNAT --to-source 203.0.113.9",
        "-A POSTROUTING -s 10.0.0.0/24 -o ext0 -j SNAT --to-source 203.0.113.5",
        "-A POSTROUTING -s 10.1.0.0/24 -o ext0 -j SNAT --to-source 203.0.113.5",
        "COMMIT",
    ]


def test_without_snat_or_an_outside_nothing_is_translated() -> None:
    assert "SNAT" not in nat_rules([LAN], OUTSIDE, False, [])
    assert nat_rules([LAN], None, True, []).count("-A ") == 0


def test_the_pod_has_one_interface_per_network_at_its_gateway() -> None:
    config, pod = build_router(OWNER, [LAN, APP], OUTSIDE, "*nat\nCOMMIT\n", "router:1").values()
    assert config is not None and pod is not None
    assert config["data"] == {"rules.v4": "*nat\nCOMMIT\n"}
    selections = json.loads(pod["metadata"]["annotations"]["k8s.v1.cni.cncf.io/networks"])
    assert selections == [
        {"name": "lan", "namespace": "acme", "ips": ["10.0.0.1/24"], "interface": "gw0"},
        {"name": "app", "namespace": "acme", "ips": ["10.1.0.1/24"], "interface": "gw1"},
        {"name": "ext", "namespace": "public", "ips": ["203.0.113.5/24"], "interface": "ext0"},
    ]
    spec = pod["spec"]
    assert {"name": "net.ipv4.ip_forward", "value": "1"} in spec["securityContext"]["sysctls"]
    [container] = spec["containers"]
    assert container["securityContext"]["capabilities"] == {
        "drop": ["ALL"],
        "add": ["NET_ADMIN", "NET_RAW"],
    }
    assert spec["volumes"] == [{"name": "rules", "configMap": {"name": "router-edge"}}]
    assert pod["metadata"]["labels"]["stratus.io/router"] == "edge"
