"""The pure allocator: which addresses a subnet hands out and which comes next, IPv4 and IPv6."""

import itertools
from collections.abc import Iterator
from ipaddress import IPv4Network, IPv6Network, ip_address, ip_network

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stratus.api.network import AllocationPool, Subnet
from stratus.ipam.allocator import (
    IPNetwork,
    canonical,
    capacity,
    check_fixed_address,
    first_free,
    free_addresses,
    pools,
    subnet_problems,
)
from stratus.ipam.errors import InvalidFixedIp

# Brute force


def network(subnet: Subnet) -> IPNetwork:
    return ip_network(subnet.cidr)


def reserved(subnet: Subnet) -> set[int]:
    """Network address, IPv4 broadcast and gateway, as the Neutron docs describe them."""
    net = network(subnet)
    found = {int(net.network_address)}
    if net.version == 4:
        found.add(int(net.broadcast_address))
    if subnet.gateway:
        found.add(int(ip_address(subnet.gateway)))
    return found


def allocatable(subnet: Subnet) -> Iterator[int]:
    """Every allocatable address one by one, in pool order (lazily: fine for any size)."""
    net = network(subnet)
    declared = [(p.start, p.end) for p in subnet.allocation_pools] or [
        (str(net.network_address), str(net.broadcast_address))
    ]
    skip = reserved(subnet)
    for start, end in declared:
        for value in range(int(ip_address(start)), int(ip_address(end)) + 1):
            if value not in skip:
                yield value


def address(subnet: Subnet, value: int) -> str:
    return str(network(subnet).network_address.__class__(value))


def expected_first_free(subnet: Subnet, taken: set[str]) -> str | None:
    held = {int(ip_address(a)) for a in taken}
    return next((address(subnet, v) for v in allocatable(subnet) if v not in held), None)


# Strategies


@st.composite
def subnets(
    draw: st.DrawFn, version: int, prefixes: tuple[int, int], max_pool_span: int | None = None
) -> Subnet:
    """A subnet with random pools inside its CIDR (possibly overlapping) and a random gateway."""
    bits = 32 if version == 4 else 128
    prefix = draw(st.integers(*prefixes))
    base = draw(st.integers(0, 2**bits - 1))
    net = (IPv4Network if version == 4 else IPv6Network)((base, prefix), strict=False)
    size, first = net.num_addresses, int(net.network_address)
    span = size - 1 if max_pool_span is None else min(size - 1, max_pool_span)
    declared = []
    for _ in range(draw(st.integers(0, 4))):
        offset = draw(st.integers(0, size - 1))
        length = draw(st.integers(0, min(span, size - 1 - offset)))
        declared.append((first + offset, first + offset + length))
    if max_pool_span is not None and not declared:
        declared = [(first, first + span)]  # default pools of a big subnet cannot be brute-forced
    gateway = draw(st.none() | st.integers(first, first + size - 1))
    at = net.network_address.__class__
    return Subnet(
        cidr=str(net),
        gateway=None if gateway is None else str(at(gateway)),
        allocation_pools=[AllocationPool(start=str(at(s)), end=str(at(e))) for s, e in declared],
    )


SMALL = st.one_of(subnets(4, (23, 32)), subnets(6, (119, 128)))
"""Subnets of at most 512 addresses: everything can be checked by brute force."""
LARGE = st.one_of(subnets(4, (0, 32), 300), subnets(6, (0, 128), 300))
"""Subnets up to the whole address space, with pools small enough to brute-force."""


@st.composite
def small_with_taken(draw: st.DrawFn) -> tuple[Subnet, set[str]]:
    """A small subnet and a taken set: random, or every allocatable address less a few."""
    subnet = draw(SMALL)
    net = network(subnet)
    first, last = int(net.network_address), int(net.broadcast_address)
    taken = set(draw(st.lists(st.integers(first, last), max_size=64)))
    if draw(st.booleans()):
        everything = set(allocatable(subnet))
        taken |= everything - set(draw(st.lists(st.sampled_from(sorted(everything | {first})))))
    return subnet, {address(subnet, v) for v in taken}


@st.composite
def large_with_taken(draw: st.DrawFn) -> tuple[Subnet, set[str]]:
    """A large subnet, with runs of taken addresses from the start of each pool."""
    subnet = draw(LARGE)
    taken: set[int] = set()
    for pool in subnet.allocation_pools:
        start = int(ip_address(pool.start))
        taken |= set(range(start, start + draw(st.integers(0, 320))))
    last = int(network(subnet).broadcast_address)
    return subnet, {address(subnet, v) for v in taken if v <= last}


# Properties


@given(small_with_taken())
def test_first_free_is_the_lowest_free_address_in_pool_order_in_small_subnets(
    case: tuple[Subnet, set[str]],
) -> None:
    subnet, taken = case
    assert first_free(subnet, taken) == expected_first_free(subnet, taken)


@given(large_with_taken())
def test_first_free_is_the_lowest_free_address_in_pool_order_in_large_subnets(
    case: tuple[Subnet, set[str]],
) -> None:
    subnet, taken = case
    assert first_free(subnet, taken) == expected_first_free(subnet, taken)


@given(small_with_taken())
def test_free_addresses_are_every_allocatable_address_not_taken_in_pool_order(
    case: tuple[Subnet, set[str]],
) -> None:
    subnet, taken = case
    held = {int(ip_address(a)) for a in taken}
    expected = [address(subnet, v) for v in allocatable(subnet) if v not in held]
    assert list(free_addresses(subnet, taken)) == expected


@given(st.one_of(small_with_taken(), large_with_taken()))
def test_first_free_never_hands_out_a_taken_or_reserved_address_or_one_outside_the_pools(
    case: tuple[Subnet, set[str]],
) -> None:
    subnet, taken = case
    found = first_free(subnet, taken)
    if found is None:
        assert set(allocatable(subnet)) <= {int(ip_address(a)) for a in taken}
        return
    value = int(ip_address(found))
    assert found not in taken
    assert value not in reserved(subnet)
    assert ip_address(found) in network(subnet)
    declared = [(p.start, p.end) for p in subnet.allocation_pools]
    if declared:
        assert any(int(ip_address(s)) <= value <= int(ip_address(e)) for s, e in declared)


@given(st.one_of(SMALL, LARGE))
def test_capacity_counts_each_allocatable_address_once(subnet: Subnet) -> None:
    assert capacity(subnet) == len(set(allocatable(subnet)))


@given(st.one_of(SMALL, LARGE))
def test_effective_pools_cover_exactly_the_allocatable_addresses(subnet: Subnet) -> None:
    covered = {value for start, end in pools(subnet) for value in range(int(start), int(end) + 1)}
    assert covered == set(allocatable(subnet))
    assert all(start.version == network(subnet).version for start, _ in pools(subnet))


@given(SMALL)
def test_every_overlapping_pair_of_pools_is_reported_and_no_other(subnet: Subnet) -> None:
    expected = [
        f"allocation pools {a.start}-{a.end} and {b.start}-{b.end} overlap"
        for a, b in itertools.combinations(subnet.allocation_pools, 2)
        if set(range(int(ip_address(a.start)), int(ip_address(a.end)) + 1))
        & set(range(int(ip_address(b.start)), int(ip_address(b.end)) + 1))
    ]
    reported = [p for p in subnet_problems(subnet) if p.endswith(" overlap")]
    assert sorted(reported) == sorted(expected)


@given(SMALL, st.data())
def test_a_fixed_ip_is_refused_exactly_when_outside_the_cidr_or_reserved(
    subnet: Subnet, data: st.DataObject
) -> None:
    net = network(subnet)
    first, last = int(net.network_address), int(net.broadcast_address)
    top = 2**net.max_prefixlen - 1
    value = data.draw(st.integers(max(0, first - 4), min(top, last + 4)))
    candidate = address(subnet, value)
    if net.network_address.__class__(value) not in net or value in reserved(subnet):
        with pytest.raises(InvalidFixedIp):
            check_fixed_address(subnet, candidate)
    else:
        check_fixed_address(subnet, candidate)


@given(SMALL, st.text(max_size=20))
def test_text_that_is_no_ip_address_is_refused_as_a_fixed_ip(subnet: Subnet, text: str) -> None:
    try:
        ip_address(text)
    except ValueError:
        with pytest.raises(InvalidFixedIp) as refused:
            check_fixed_address(subnet, text)
        assert refused.value.reason == "FixedIpNotAnAddress"


# Examples


def subnet(cidr: str, gateway: str | None = None, *ranges: str) -> Subnet:
    declared = [AllocationPool(start=r.split("-")[0], end=r.split("-")[1]) for r in ranges]
    return Subnet(cidr=cidr, gateway=gateway, allocation_pools=declared)


def spans(subnet: Subnet) -> list[str]:
    return [f"{start}-{end}" for start, end in pools(subnet)]


def test_default_pool_is_the_subnet_less_network_broadcast_and_gateway() -> None:
    assert spans(subnet("10.0.0.0/24", "10.0.0.1")) == ["10.0.0.2-10.0.0.254"]
    assert spans(subnet("10.0.0.0/24", "10.0.0.100")) == [
        "10.0.0.1-10.0.0.99",
        "10.0.0.101-10.0.0.254",
    ]
    assert capacity(subnet("10.0.0.0/24", "10.0.0.1")) == 253


def test_ipv6_default_pool_leaves_out_only_the_subnet_router_anycast_address() -> None:
    assert spans(subnet("2001:db8::/64")) == ["2001:db8::1-2001:db8::ffff:ffff:ffff:ffff"]
    assert capacity(subnet("2001:db8::/64", "2001:db8::1")) == 2**64 - 2


def test_slash_31_and_32_have_nothing_to_allocate_and_slash_127_has_one_address() -> None:
    assert capacity(subnet("10.0.0.0/31")) == capacity(subnet("10.0.0.7/32")) == 0
    assert first_free(subnet("2001:db8::/127"), set()) == "2001:db8::1"


def test_given_pools_are_used_in_their_order_not_sorted() -> None:
    chosen = subnet("10.0.0.0/24", None, "10.0.0.200-10.0.0.201", "10.0.0.10-10.0.0.20")
    assert first_free(chosen, set()) == "10.0.0.200"
    assert first_free(chosen, {"10.0.0.200", "10.0.0.201"}) == "10.0.0.10"


def test_a_gateway_inside_a_pool_is_allowed_but_never_allocated() -> None:
    chosen = subnet("10.0.0.0/24", "10.0.0.10", "10.0.0.10-10.0.0.12")
    assert subnet_problems(chosen) == []
    assert capacity(chosen) == 2
    assert first_free(chosen, set()) == "10.0.0.11"
    assert first_free(chosen, {"10.0.0.11", "10.0.0.12"}) is None


def test_first_free_skips_a_hundred_thousand_taken_addresses_of_a_slash_64() -> None:
    big = subnet("2001:db8::/64", "2001:db8::1")
    taken = {str(ip_address("2001:db8::2") + i) for i in range(100_000)}
    assert first_free(big, taken) == str(ip_address("2001:db8::2") + 100_000)


def test_taken_addresses_of_the_other_family_or_no_address_at_all_are_ignored() -> None:
    chosen = subnet("10.0.0.0/30")
    assert first_free(chosen, {"::1", "garbage", "10.0.0.1"}) == "10.0.0.2"


def test_overlapping_pools_are_reported_with_both_ranges() -> None:
    chosen = subnet("10.0.0.0/24", None, "10.0.0.10-10.0.0.50", "10.0.0.40-10.0.0.60")
    assert subnet_problems(chosen) == [
        "allocation pools 10.0.0.10-10.0.0.50 and 10.0.0.40-10.0.0.60 overlap"
    ]


def test_a_pool_that_starts_after_it_ends_is_reported() -> None:
    assert subnet_problems(subnet("10.0.0.0/24", None, "10.0.0.50-10.0.0.10")) == [
        "allocation pool 10.0.0.50-10.0.0.10 starts after it ends"
    ]


def test_a_pool_or_gateway_of_the_other_family_is_reported() -> None:
    assert subnet_problems(subnet("10.0.0.0/24", "2001:db8::1", "2001:db8::5-2001:db8::9")) == [
        "gateway 2001:db8::1 does not lie inside cidr 10.0.0.0/24",
        "allocation pool 2001:db8::5-2001:db8::9 is not IPv4 like cidr 10.0.0.0/24",
    ]


def test_a_pool_holding_the_network_or_broadcast_address_is_reported() -> None:
    assert subnet_problems(subnet("10.0.0.0/24", None, "10.0.0.0-10.0.0.255")) == [
        "allocation pool 10.0.0.0-10.0.0.255 contains the network address 10.0.0.0",
        "allocation pool 10.0.0.0-10.0.0.255 contains the broadcast address 10.0.0.255",
    ]
    assert subnet_problems(subnet("2001:db8::/64", None, "2001:db8::-2001:db8::9")) == [
        "allocation pool 2001:db8::-2001:db8::9 contains the subnet-router anycast address"
        " 2001:db8::"
    ]


def test_a_gateway_on_the_network_address_is_reported() -> None:
    assert subnet_problems(subnet("10.0.0.0/24", "10.0.0.0")) == [
        "gateway 10.0.0.0 is the network address of 10.0.0.0/24"
    ]


def test_a_well_formed_subnet_has_no_problems() -> None:
    chosen = subnet("10.0.0.0/24", "10.0.0.1", "10.0.0.10-10.0.0.19", "10.0.0.20-10.0.0.29")
    assert subnet_problems(chosen) == []


@pytest.mark.parametrize(
    ("fixed_ip", "reason"),
    [
        ("10.0.0.300", "FixedIpNotAnAddress"),
        ("fe80::1%eth0", "FixedIpNotAnAddress"),
        ("10.0.1.5", "FixedIpOutsideSubnet"),
        ("2001:db8::5", "FixedIpOutsideSubnet"),
        ("10.0.0.0", "FixedIpReserved"),
        ("10.0.0.255", "FixedIpReserved"),
        ("10.0.0.1", "FixedIpReserved"),
    ],
)
def test_fixed_ips_no_interface_may_have_are_refused_with_their_reason(
    fixed_ip: str, reason: str
) -> None:
    with pytest.raises(InvalidFixedIp) as refused:
        check_fixed_address(subnet("10.0.0.0/24", "10.0.0.1", "10.0.0.10-10.0.0.20"), fixed_ip)
    assert refused.value.reason == reason
    assert fixed_ip in refused.value.message


def test_a_fixed_ip_outside_the_pools_but_inside_the_cidr_is_allowed_as_in_neutron() -> None:
    check_fixed_address(subnet("10.0.0.0/24", "10.0.0.1", "10.0.0.10-10.0.0.20"), "10.0.0.99")


def test_an_address_has_one_canonical_spelling() -> None:
    assert canonical("2001:DB8:0:0::01") == "2001:db8::1"
    with pytest.raises(ValueError, match="not an IP address"):
        canonical("10.0.0")


@settings(max_examples=25)
@given(subnets(6, (0, 64)))
def test_capacity_of_huge_default_pools_is_computed_without_enumerating(chosen: Subnet) -> None:
    default = chosen.model_copy(update={"allocation_pools": []})
    net = network(default)
    gateway_counts = default.gateway is not None and int(ip_address(default.gateway)) != int(
        net.network_address
    )
    assert capacity(default) == net.num_addresses - 1 - gateway_counts
