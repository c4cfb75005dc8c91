"""Address allocation against the local control plane: the API server's name uniqueness is the
only lock, so racing allocations must still never share an address."""

import functools
import json
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest

from stratus.api.network import AllocationPool, Subnet
from stratus.ipam.errors import AddressInUse, NetworkFull
from stratus.ipam.ports import Holder, allocate, holder_addresses, release
from tests.integration.conftest import Cluster, stratus_object

RACE_BOUND_SECONDS = 60.0
"""Generous: the 50-way race takes a few seconds against the local control plane."""


@pytest.fixture(autouse=True)
def client(operator_client: None) -> None:
    """Every test here allocates as the operator does."""


@pytest.fixture
def namespace(cluster: Cluster, name: str) -> str:
    cluster.kubectl("create", "namespace", name)
    return name


def subnet(cidr: str, gateway: str, start: str, end: str) -> Subnet:
    return Subnet(
        cidr=cidr, gateway=gateway, allocation_pools=[AllocationPool(start=start, end=end)]
    )


def holders(namespace: str, count: int) -> list[Holder]:
    return [Holder("Test", namespace, f"holder-{index}") for index in range(count)]


def race(calls: list[Callable[[], str]]) -> tuple[list[str], list[Exception], float]:
    """Run the calls at once, released together by a barrier; addresses, failures, seconds."""
    barrier = threading.Barrier(len(calls))

    def run(call: Callable[[], str]) -> str:
        barrier.wait()
        return call()

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        futures = [pool.submit(run, call) for call in calls]
        outcomes = [future.exception() or future.result() for future in futures]
    elapsed = time.monotonic() - started
    addresses = [o for o in outcomes if isinstance(o, str)]
    return addresses, [o for o in outcomes if isinstance(o, Exception)], elapsed


def ports_in(cluster: Cluster, namespace: str) -> list[dict[str, str]]:
    listed = json.loads(cluster.kubectl("get", "ports", "-n", namespace, "-o", "json").stdout)
    return [item["spec"] for item in listed["items"]]


def allocations(namespace: str, chosen: Subnet, count: int) -> list[Callable[[], str]]:
    return [
        functools.partial(allocate, namespace, "lan", chosen, holder)
        for holder in holders(namespace, count)
    ]


def test_fifty_racing_allocations_get_fifty_distinct_addresses(
    cluster: Cluster, namespace: str
) -> None:
    sixty = subnet("10.20.0.0/24", "10.20.0.1", "10.20.0.10", "10.20.0.69")
    addresses, failures, elapsed = race(allocations(namespace, sixty, 50))
    print(f"\n50-way race over 60 addresses: {elapsed:.2f}s")
    assert failures == []
    assert len(set(addresses)) == 50
    ports = ports_in(cluster, namespace)
    assert sorted(port["address"] for port in ports) == sorted(addresses)
    assert elapsed < RACE_BOUND_SECONDS


def test_fifty_racing_for_forty_addresses_forty_win_and_ten_find_the_network_full(
    cluster: Cluster, namespace: str
) -> None:
    forty = subnet("10.20.0.0/24", "10.20.0.1", "10.20.0.10", "10.20.0.49")
    addresses, failures, elapsed = race(allocations(namespace, forty, 50))
    print(f"\n50-way race over 40 addresses: {elapsed:.2f}s")
    assert len(addresses) == len(set(addresses)) == 40
    assert len(failures) == 10
    assert all(isinstance(failure, NetworkFull) for failure in failures), failures
    assert "all 40 addresses" in str(failures[0])
    assert len(ports_in(cluster, namespace)) == 40
    assert elapsed < RACE_BOUND_SECONDS


def test_one_holder_asking_many_times_at_once_gets_one_address_and_one_port(
    cluster: Cluster, namespace: str
) -> None:
    chosen = subnet("10.20.0.0/24", "10.20.0.1", "10.20.0.10", "10.20.0.69")
    web = Holder("Test", namespace, "web")
    addresses, failures, _ = race([lambda: allocate(namespace, "lan", chosen, web)] * 10)
    assert failures == []
    assert set(addresses) == {"10.20.0.10"}
    assert allocate(namespace, "lan", chosen, web) == "10.20.0.10"
    assert [port["holder"] for port in ports_in(cluster, namespace)] == [str(web)]


def test_a_fixed_ip_taken_by_another_holder_is_refused_naming_that_holder(
    namespace: str,
) -> None:
    chosen = subnet("10.20.0.0/24", "10.20.0.1", "10.20.0.10", "10.20.0.69")
    db, web = Holder("Test", namespace, "db"), Holder("Test", namespace, "web")
    assert allocate(namespace, "lan", chosen, db, fixed_ip="10.20.0.200") == "10.20.0.200"
    with pytest.raises(AddressInUse) as in_use:
        allocate(namespace, "lan", chosen, web, fixed_ip="10.20.0.200")
    assert in_use.value.reason == "FixedIpInUse"
    assert f"held by {db}" in in_use.value.message


def test_released_addresses_go_to_the_next_holder(cluster: Cluster, namespace: str) -> None:
    three = subnet("10.20.0.0/24", "10.20.0.1", "10.20.0.10", "10.20.0.12")
    first, second, third, late = holders(namespace, 4)
    for holder in (first, second, third):
        allocate(namespace, "lan", three, holder)
    with pytest.raises(NetworkFull):
        allocate(namespace, "lan", three, late)
    assert release(namespace, second) == 1
    assert holder_addresses(namespace, second) == []
    assert allocate(namespace, "lan", three, late) == "10.20.0.11"
    assert len(ports_in(cluster, namespace)) == 3


def test_ipv6_addresses_come_quickly_from_a_slash_64(cluster: Cluster, namespace: str) -> None:
    huge = Subnet(cidr="2001:db8:1::/64", gateway="2001:db8:1::1")
    addresses, failures, elapsed = race(allocations(namespace, huge, 20))
    print(f"\n20-way race over a /64: {elapsed:.2f}s")
    assert failures == []
    assert sorted(addresses) == sorted(f"2001:db8:1::{n:x}" for n in range(2, 22))
    deep = allocate(
        namespace, "lan", huge, Holder("Test", namespace, "deep"), fixed_ip="2001:db8:1::ffff:0:5"
    )
    assert deep == "2001:db8:1::ffff:0:5"
    assert len(ports_in(cluster, namespace)) == 21
    assert elapsed < 30


def test_a_holder_in_the_networks_namespace_owns_its_port_so_deleting_it_frees_the_address(
    cluster: Cluster, namespace: str
) -> None:
    # Any Stratus object can stand in for the Server that will hold ports.
    cluster.apply(
        stratus_object(
            "Network",
            "owner",
            {"hostInterface": "br0", "subnet": {"cidr": "10.9.0.0/24"}},
            namespace,
        )
    )
    owner = cluster.get("network", "owner", namespace)
    assert owner is not None
    holder = Holder("Network", namespace, "owner")
    chosen = subnet("10.20.0.0/24", "10.20.0.1", "10.20.0.10", "10.20.0.69")
    allocate(namespace, "lan", chosen, holder, holder_uid=owner["metadata"]["uid"])
    cluster.kubectl("delete", "network", "owner", "-n", namespace, "--wait=false")
    cluster.wait_until(
        "the garbage collector to delete the Port", lambda: not ports_in(cluster, namespace)
    )
