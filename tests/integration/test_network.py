"""Network against the local control plane: attachment, validation, port counts, sharing."""

import json
from typing import Any

import pytest

from stratus.api.network import Subnet
from stratus.ipam.ports import Holder, allocate, release
from tests.integration.conftest import Cluster, Operator, stratus_object


@pytest.fixture
def project(cluster: Cluster, operator: Operator, name: str) -> str:
    cluster.apply(
        stratus_object(
            "Project",
            name,
            {
                "members": [{"name": "alice", "role": "admin"}],
                "quota": {"networks": 3},
                "deletionPolicy": "Cascade",
            },
        )
    )
    cluster.wait(f"project/{name}", "condition=Ready", timeout=90)
    return name


def network(name: str, namespace: str, subnet: dict[str, Any], **spec: Any) -> str:
    return stratus_object(
        "Network", name, {"hostInterface": "br1", "subnet": subnet, **spec}, namespace
    )


def test_network_becomes_a_multus_attachment_and_counts_its_ports(
    cluster: Cluster, project: str, operator_client: None
) -> None:
    subnet = {
        "cidr": "10.10.0.0/24",
        "gateway": "10.10.0.1",
        "allocationPools": [{"start": "10.10.0.10", "end": "10.10.0.19"}],
    }
    cluster.apply(network("lan", project, subnet, vlan=100, mtu=1450))
    cluster.wait("network/lan", "condition=Ready", project)
    status = cluster.get("network", "lan", project)["status"]
    assert status["ports"] == {"allocated": 0, "available": 10}
    attachment = cluster.get("network-attachment-definitions", "lan", project)
    config = json.loads(attachment["spec"]["config"])
    assert (config["type"], config["bridge"], config["vlan"], config["mtu"]) == (
        "bridge",
        "br1",
        100,
        1450,
    )
    assert cluster.get("project", project)["status"]["usage"]["networks"] == 1

    model = Subnet.model_validate(subnet)
    web = [Holder("Server", project, f"web-{i}") for i in range(3)]
    addresses = [allocate(project, "lan", model, holder) for holder in web]
    assert addresses == ["10.10.0.10", "10.10.0.11", "10.10.0.12"]
    cluster.wait("network/lan", "jsonpath={.status.ports.allocated}=3", project)
    assert cluster.get("network", "lan", project)["status"]["ports"]["available"] == 7

    moved = cluster.apply(
        network(
            "lan",
            project,
            {**subnet, "cidr": "10.20.0.0/24", "gateway": "10.20.0.1", "allocationPools": []},
        ),
        check=False,
    )
    assert "subnet.cidr cannot change while ports are allocated" in moved.stderr
    for holder in web:
        release(project, holder)
    cluster.wait("network/lan", "jsonpath={.status.ports.allocated}=0", project)


@pytest.mark.parametrize(
    ("subnet", "spec", "message"),
    [
        ({"cidr": "10.0.0.1/24"}, {}, "cidr has host bits set"),
        ({"cidr": "10.0.0.0/24", "gateway": "10.0.1.1"}, {}, "gateway must lie inside cidr"),
        (
            {"cidr": "10.0.0.0/24", "allocationPools": [{"start": "10.0.0.10", "end": "10.0.1.5"}]},
            {},
            "every allocation pool must lie inside cidr",
        ),
        ({"cidr": "10.0.0.0/24"}, {"vlan": 5000}, "should be less than or equal to 4094"),
        ({"cidr": "fd00::/64"}, {"mtu": 1200}, "an IPv6 network needs an mtu of at least 1280"),
        (
            {"cidr": "10.0.0.0/24"},
            {"type": "vxlan"},
            'supported values: "bridge", "macvlan", "ipvlan"',
        ),
    ],
)
def test_invalid_subnet_is_refused_by_the_api_server(
    cluster: Cluster, project: str, subnet: dict[str, Any], spec: dict[str, Any], message: str
) -> None:
    result = cluster.apply(network("bad", project, subnet, **spec), check=False)
    assert message in result.stderr, result.stderr


def test_overlapping_pools_are_reported(cluster: Cluster, project: str) -> None:
    pools = [{"start": "10.0.0.10", "end": "10.0.0.50"}, {"start": "10.0.0.40", "end": "10.0.0.60"}]
    cluster.apply(network("overlap", project, {"cidr": "10.0.0.0/24", "allocationPools": pools}))
    cluster.wait(
        "network/overlap",
        "jsonpath={.status.conditions[?(@.type=='Ready')].reason}=InvalidSubnet",
        project,
    )
    condition = cluster.get("network", "overlap", project)["status"]["conditions"][0]
    assert (
        condition["message"]
        == "allocation pools 10.0.0.10-10.0.0.50 and 10.0.0.40-10.0.0.60 overlap"
    )
    assert cluster.get("network-attachment-definitions", "overlap", project) is None


def test_only_administrators_may_share_a_network(cluster: Cluster, project: str) -> None:
    subnet = {"cidr": "192.168.5.0/24"}
    as_tenant = cluster.kubectl(
        "apply", "--as=alice", "-f", "-", stdin=network("mine", project, subnet), check=False
    )
    assert as_tenant.returncode == 0, as_tenant.stderr
    refused = cluster.kubectl(
        "apply",
        "--as=alice",
        "-f",
        "-",
        check=False,
        stdin=network("mine", project, subnet, shared=True),
    )
    assert "only cluster administrators may share a Network" in refused.stderr
    cluster.apply(network("mine", project, subnet, shared=True))
    cluster.wait("network/mine", "condition=Ready", project)
    assert cluster.get("network", "mine", project)["spec"]["shared"] is True


def test_ipv6_network_counts_a_whole_64(cluster: Cluster, project: str) -> None:
    cluster.apply(network("v6", project, {"cidr": "fd00:10::/64", "gateway": "fd00:10::1"}))
    cluster.wait("network/v6", "condition=Ready", project)
    assert cluster.get("network", "v6", project)["status"]["ports"]["available"] == 2**63 - 1


def test_changing_mtu_updates_the_attachment_and_deletion_removes_it(
    cluster: Cluster, project: str
) -> None:
    subnet = {"cidr": "172.30.0.0/24"}
    cluster.apply(network("edit", project, subnet, mtu=1500))
    cluster.wait("network/edit", "condition=Ready", project)
    cluster.apply(network("edit", project, subnet, mtu=9000, vlan=7))

    def config() -> dict[str, Any]:
        found = cluster.get("network-attachment-definitions", "edit", project)
        return json.loads(found["spec"]["config"]) if found else {}

    cluster.wait_until(
        "the new mtu", lambda: config().get("mtu") == 9000 and config().get("vlan") == 7
    )
    cluster.kubectl("delete", "network", "edit", "-n", project)
    cluster.wait_until(
        "the attachment to go",
        lambda: cluster.get("network-attachment-definitions", "edit", project) is None,
    )
    cluster.wait_until(
        "usage to count no Network",
        lambda: cluster.get("project", project)["status"]["usage"]["networks"] == 0,
    )
