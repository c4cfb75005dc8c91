"""Which addresses of a subnet may be handed out, and which one comes next. Pure: no I/O.

Everything is computed on integer ranges, never address by address, so a /64 costs no more
than a /24. The network address (IPv6: the subnet-router anycast address) and the IPv4
broadcast address lie at the edges of the CIDR and the gateway inside it; none is allocated.
"""

import itertools
from collections.abc import Iterable, Iterator, Set
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network

from stratus.api.network import Subnet
from stratus.ipam.errors import InvalidFixedIp

IPAddress = IPv4Address | IPv6Address
IPNetwork = IPv4Network | IPv6Network
Pool = tuple[IPAddress, IPAddress]
"""An inclusive range of addresses."""

Range = tuple[int, int]


def canonical(address: str) -> str:
    """The one spelling of an address (`2001:DB8::01` -> `2001:db8::1`); ValueError if none."""
    parsed = _address(address)
    if parsed is None:
        raise ValueError(f"{address!r} is not an IP address")
    return str(parsed)


def network_of(subnet: Subnet) -> IPNetwork:
    """The subnet's CIDR; the API server has already refused one with host bits set."""
    return ip_network(subnet.cidr)


def pools(subnet: Subnet) -> list[Pool]:
    """The ranges addresses are really handed out from, in pool order.

    The declared allocation pools (default: the whole CIDR), cut to the CIDR's host addresses
    and split around the gateway; malformed pools, which `subnet_problems` reports, are left out.
    """
    network = network_of(subnet)
    return [(_at(network, start), _at(network, end)) for start, end in _ranges(subnet, network)]


def capacity(subnet: Subnet) -> int:
    """How many addresses can be allocated at all, counting overlapping pools once."""
    total, reach = 0, 0
    for start, end in sorted(_ranges(subnet, network_of(subnet))):
        total += max(0, end - max(start, reach + 1) + 1)
        reach = max(reach, end)
    return total


def first_free(subnet: Subnet, taken: Set[str]) -> str | None:
    """The lowest address not in `taken`, pool by pool; None when the pools are exhausted."""
    return next(free_addresses(subnet, taken), None)


def free_addresses(subnet: Subnet, taken: Set[str]) -> Iterator[str]:
    """The addresses not in `taken`, lowest first, pool by pool, produced lazily.

    Each step past a free address skips only taken ones, so reaching the n-th free address
    costs O(pools + taken + n) however large the pools are; `taken` is read once, at the start.
    Overlapping pools, which `subnet_problems` reports, produce their common addresses twice.
    """
    network = network_of(subnet)
    held = _integers(taken, network)
    for start, end in _ranges(subnet, network):
        candidate = start
        while candidate <= end:
            if candidate not in held:
                yield str(_at(network, candidate))
            candidate += 1


def check_fixed_address(subnet: Subnet, address: str, gateway_allowed: bool = False) -> None:
    """Refuse a fixed IP no interface may have. Outside the pools is fine, as in Neutron; the
    gateway address is for the subnet's Router alone (`gateway_allowed`)."""
    network = network_of(subnet)
    parsed = _address(address)
    if parsed is None:
        raise InvalidFixedIp("FixedIpNotAnAddress", f"fixed IP {address!r} is not an IP address")
    if not _same_family(parsed, network) or parsed not in network:
        raise InvalidFixedIp(
            "FixedIpOutsideSubnet", f"fixed IP {address} lies outside subnet {network}"
        )
    reserved = _reserved_name(network, parsed)
    if reserved:
        raise InvalidFixedIp(
            "FixedIpReserved", f"fixed IP {address} is the {reserved} of subnet {network}"
        )
    if not gateway_allowed and subnet.gateway is not None and parsed == _address(subnet.gateway):
        raise InvalidFixedIp("FixedIpReserved", f"fixed IP {address} is the subnet's gateway")


def subnet_problems(subnet: Subnet) -> list[str]:
    """What the API server's CEL rules cannot see; empty when the subnet is usable."""
    try:
        network = network_of(subnet)
    except ValueError:
        return [f"cidr {subnet.cidr} is not a network address with a prefix length"]
    problems = _gateway_problems(subnet.gateway, network)
    declared: list[tuple[str, Range]] = []
    for pool in subnet.allocation_pools:
        label = f"{pool.start}-{pool.end}"
        found, extent = _pool_problems(label, _address(pool.start), _address(pool.end), network)
        problems += found
        if extent is not None:
            declared.append((label, extent))
    for (a, (a_start, a_end)), (b, (b_start, b_end)) in itertools.combinations(declared, 2):
        if a_start <= b_end and b_start <= a_end:
            problems.append(f"allocation pools {a} and {b} overlap")
    return problems


def _pool_problems(
    label: str, start: IPAddress | None, end: IPAddress | None, network: IPNetwork
) -> tuple[list[str], Range | None]:
    """A pool's own problems, and its range if it has one to compare with the other pools."""
    if start is None or end is None:
        return [f"allocation pool {label} does not consist of two IP addresses"], None
    if not start.version == end.version == network.version:
        return [f"allocation pool {label} is not IPv{network.version} like cidr {network}"], None
    low, high = int(start), int(end)
    if low > high:
        return [f"allocation pool {label} starts after it ends"], None
    problems = [
        f"allocation pool {label} contains the {_reserved_name(network, edge)} {edge}"
        for edge in _reserved(network)
        if low <= int(edge) <= high
    ]
    if start not in network or end not in network:
        problems.append(f"allocation pool {label} does not lie inside cidr {network}")
    return problems, (low, high)


def _gateway_problems(gateway: str | None, network: IPNetwork) -> list[str]:
    if gateway is None:
        return []
    parsed = _address(gateway)
    if parsed is None:
        return [f"gateway {gateway} is not an IP address"]
    if not _same_family(parsed, network) or parsed not in network:
        return [f"gateway {gateway} does not lie inside cidr {network}"]
    reserved = _reserved_name(network, parsed)
    return [f"gateway {gateway} is the {reserved} of {network}"] if reserved else []


def _ranges(subnet: Subnet, network: IPNetwork) -> list[Range]:
    """The allocatable ranges as integers, in pool order."""
    first, last = _host_range(network)
    gateway = next(iter(_integers([subnet.gateway] if subnet.gateway else [], network)), None)
    declared = _declared(subnet, network) if subnet.allocation_pools else [(first, last)]
    ranges: list[Range] = []
    for start, end in declared:
        low, high = max(start, first), min(end, last)
        if gateway is not None and low <= gateway <= high:
            ranges += [(low, gateway - 1), (gateway + 1, high)]
        else:
            ranges.append((low, high))
    return [(low, high) for low, high in ranges if low <= high]


def _declared(subnet: Subnet, network: IPNetwork) -> list[Range]:
    """The allocation pools as integers, leaving out those not of the network's family."""
    parsed = ((_address(pool.start), _address(pool.end)) for pool in subnet.allocation_pools)
    return [
        (int(start), int(end))
        for start, end in parsed
        if start is not None and end is not None and start.version == end.version == network.version
    ]


def _host_range(network: IPNetwork) -> Range:
    """The CIDR less its network address and, for IPv4, its broadcast address."""
    last = int(network.broadcast_address) - (1 if network.version == 4 else 0)
    return int(network.network_address) + 1, last


def _reserved(network: IPNetwork) -> list[IPAddress]:
    if network.version == 4 and network.broadcast_address != network.network_address:
        return [network.network_address, network.broadcast_address]
    return [network.network_address]


def _reserved_name(network: IPNetwork, address: IPAddress) -> str | None:
    if address == network.network_address:
        return "network address" if network.version == 4 else "subnet-router anycast address"
    if network.version == 4 and address == network.broadcast_address:
        return "broadcast address"
    return None


def _address(text: str | None) -> IPAddress | None:
    """The parsed address, or None; a scoped IPv6 address (`fe80::1%eth0`) is no address here."""
    if text is None:
        return None
    try:
        parsed = ip_address(text)
    except ValueError:
        return None
    if isinstance(parsed, IPv6Address) and parsed.scope_id is not None:
        return None
    return parsed


def _integers(addresses: Iterable[str], network: IPNetwork) -> set[int]:
    """The integer values of those addresses that are of the network's family."""
    parsed = (_address(text) for text in addresses)
    return {
        int(address)
        for address in parsed
        if address is not None and address.version == network.version
    }


def _same_family(address: IPAddress | None, network: IPNetwork) -> bool:
    return address is not None and address.version == network.version


def _at(network: IPNetwork, value: int) -> IPAddress:
    """The address with this integer value in the network's family (5 is not 0.0.0.5 in v6)."""
    return IPv4Address(value) if network.version == 4 else IPv6Address(value)
