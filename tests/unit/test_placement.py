"""The NoValidHost filter step on snapshots of nodes, and the records it reads them from."""

from dataclasses import replace
from typing import Any

import pytest

from stratus.placement.filters import Node, NoValidHost, Request, hosts_for
from stratus.placement.inventory import node_record, nodes_of, pod_record

GI = 2**30


def node(name: str, zone: str, **changes: Any) -> Node:
    """A KWOK node of the local cluster: 16 CPUs and 64 GiB, schedulable."""
    return replace(Node(name, zone, schedulable=True, cpu=16000, memory=64 * GI), **changes)


NODES = [node("node-1", "zone-a"), node("node-2", "zone-b"), node("node-3", "zone-c")]


def refusal(nodes: list[Node], request: Request) -> str:
    with pytest.raises(NoValidHost) as refused:
        hosts_for(nodes, request)
    return refused.value.message


def test_every_node_that_fits_is_a_host() -> None:
    assert hosts_for(NODES, Request(cpu=1000, memory=GI)) == ["node-1", "node-2", "node-3"]


def test_a_zone_keeps_only_its_nodes_and_a_zone_without_nodes_is_no_valid_host() -> None:
    assert hosts_for(NODES, Request(1000, GI, zone="zone-b")) == ["node-2"]
    message = refusal(NODES, Request(1000, GI, zone="zone-x"))
    assert message == (
        "No valid host was found among 3 nodes: "
        "AvailabilityZoneFilter eliminated 3 (not in zone zone-x)"
    )


def test_a_flavor_larger_than_any_node_is_eliminated_by_ram_or_cores() -> None:
    assert "RamFilter eliminated 3 (less than 102400Mi memory free)" in refusal(
        NODES, Request(1000, 100 * GI)
    )
    assert "CoreFilter eliminated 3 (less than 32000m CPU free)" in refusal(
        NODES, Request(32000, GI)
    )


def test_what_pods_already_request_counts_against_a_node() -> None:
    busy = [node("node-1", "zone-a", requested_memory=60 * GI), *NODES[1:]]
    assert hosts_for(busy, Request(1000, 8 * GI)) == ["node-2", "node-3"]


def test_hard_anti_affinity_avoids_members_hosts_and_says_so_when_all_are_taken() -> None:
    taken = frozenset({"node-1", "node-2"})
    assert hosts_for(NODES, Request(1000, GI, policy="anti-affinity", group_hosts=taken)) == [
        "node-3"
    ]
    everywhere = frozenset({"node-1", "node-2", "node-3"})
    message = refusal(NODES, Request(1000, GI, policy="anti-affinity", group_hosts=everywhere))
    assert "ServerGroupAntiAffinityFilter eliminated 3" in message


def test_hard_affinity_follows_the_first_member_and_soft_policies_filter_nothing() -> None:
    first = frozenset({"node-2"})
    assert hosts_for(NODES, Request(1000, GI, policy="affinity", group_hosts=first)) == ["node-2"]
    assert len(hosts_for(NODES, Request(1000, GI, policy="affinity"))) == 3
    for soft in ("soft-affinity", "soft-anti-affinity"):
        assert len(hosts_for(NODES, Request(1000, GI, policy=soft, group_hosts=first))) == 3


def test_each_filter_sees_only_what_the_ones_before_it_kept() -> None:
    nodes = [node("node-1", "zone-a", schedulable=False), *NODES[1:]]
    message = refusal(nodes, Request(1000, 100 * GI, zone="zone-b"))
    assert message == (
        "No valid host was found among 3 nodes: ComputeFilter eliminated 1 (not schedulable); "
        "AvailabilityZoneFilter eliminated 1 (not in zone zone-b); "
        "RamFilter eliminated 1 (less than 102400Mi memory free)"
    )


def test_an_empty_cluster_is_no_valid_host() -> None:
    assert refusal([], Request(1000, GI)).endswith("the cluster has no nodes")


def test_a_node_is_schedulable_only_when_ready_untainted_and_not_cordoned() -> None:
    body = {
        "metadata": {"name": "node-1", "labels": {"topology.kubernetes.io/zone": "zone-a"}},
        "spec": {},
        "status": {
            "allocatable": {"cpu": "15500m", "memory": "64Gi"},
            "conditions": [{"type": "Ready", "status": "True"}],
        },
    }
    assert node_record(body) == {
        "zone": "zone-a",
        "schedulable": True,
        "cpu": 15500,
        "memory": 64 * GI,
    }
    assert not node_record({**body, "spec": {"unschedulable": True}})["schedulable"]
    for effect in ("NoSchedule", "NoExecute"):
        tainted = {"taints": [{"key": "x", "effect": effect}]}
        assert not node_record({**body, "spec": tainted})["schedulable"], effect
    preferred = {"taints": [{"key": "x", "effect": "PreferNoSchedule"}]}
    assert node_record({**body, "spec": preferred})["schedulable"]
    not_ready = {**body["status"], "conditions": [{"type": "Ready", "status": "False"}]}
    assert not node_record({**body, "status": not_ready})["schedulable"]


def test_a_pod_counts_its_requests_and_overhead_only_while_placed_and_unfinished() -> None:
    pod = {
        "spec": {
            "nodeName": "node-2",
            "containers": [
                {"resources": {"requests": {"cpu": "500m", "memory": "1Gi"}}},
                {"resources": {"requests": {"cpu": "1"}}},
            ],
            "overhead": {"cpu": "100m", "memory": "160Mi"},
        },
        "status": {"phase": "Running"},
    }
    assert pod_record(pod) == ("node-2", 1600, GI + 160 * 2**20)
    assert pod_record({**pod, "status": {"phase": "Succeeded"}}) is None
    assert pod_record({"spec": {"containers": []}, "status": {}}) is None


def test_nodes_carry_the_sum_of_what_their_pods_request() -> None:
    records = {"node-1": [{"zone": "zone-a", "schedulable": True, "cpu": 4000, "memory": GI}]}
    nodes = nodes_of(records, {"node-1": [(1000, 100), (500, 50)]})
    assert nodes == [
        Node("node-1", "zone-a", True, 4000, GI, requested_cpu=1500, requested_memory=150)
    ]
