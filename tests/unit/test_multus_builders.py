"""What a Network becomes in Multus, checked against the upstream schema."""

import json

import jsonschema
import pytest

from stratus.api.network import NetworkSpec
from stratus.builders.meta import Owner
from stratus.builders.multus import build_network_attachment, cni_config
from tests.conftest import UpstreamSchema

OWNER = Owner("Network", "lan", "uid-1", "acme")


def network(**spec: object) -> NetworkSpec:
    return NetworkSpec.model_validate(
        {"hostInterface": "br1", "subnet": {"cidr": "10.0.0.0/24"}, **spec}
    )


def test_bridge_network_carries_vlan_mtu_and_static_ipam_for_stratus_addresses() -> None:
    config = cni_config("acme-lan", network(vlan=100, mtu=9000))
    assert config == {
        "cniVersion": "1.0.0",
        "name": "acme-lan",
        "type": "bridge",
        "bridge": "br1",
        "vlan": 100,
        "mtu": 9000,
        "capabilities": {"ips": True},
        "ipam": {"type": "static"},
    }


@pytest.mark.parametrize(("kind", "mode"), [("macvlan", "bridge"), ("ipvlan", "l2")])
def test_macvlan_and_ipvlan_tag_vlans_through_a_sub_interface(kind: str, mode: str) -> None:
    config = cni_config("acme-lan", network(type=kind, hostInterface="eth1", vlan=42))
    assert (config["type"], config["master"], config["mode"]) == (kind, "eth1.42", mode)
    assert "vlan" not in config


def test_attachment_passes_the_upstream_schema_and_holds_valid_json(
    upstream_schema: UpstreamSchema,
) -> None:
    attachment = build_network_attachment(OWNER, network())
    jsonschema.validate(
        attachment, upstream_schema("k8s.cni.cncf.io", "networkattachmentdefinition_v1")
    )
    assert json.loads(attachment["spec"]["config"])["name"] == "acme-lan"
    assert attachment["metadata"]["ownerReferences"][0]["kind"] == "Network"
