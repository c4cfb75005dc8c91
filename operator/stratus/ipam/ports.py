"""Allocated addresses as Port objects: creating a Port is taking its address.

A Port is named after its network and address, and the API server refuses a second object
with the same name (409 AlreadyExists), so two allocations can never get the same address,
whichever process or thread makes them. Nothing is locked in the process; what it
remembers (addresses it took that the index has not shown yet) only saves attempts.
"""

import hashlib
import re
import threading
import time
from collections.abc import Collection, Iterable, Mapping, Set
from dataclasses import dataclass
from typing import Any

import kopf
from kubernetes.client.exceptions import ApiException

from stratus.api.network import Subnet
from stratus.api.port import PORT
from stratus.builders.meta import Owner
from stratus.constants import API_VERSION, GROUP, LABEL_MANAGED_BY, MANAGED_BY, VERSION
from stratus.core import kube
from stratus.core.errors import BackendUnavailable, Conflict
from stratus.core.indexes import index
from stratus.ipam.allocator import (
    canonical,
    capacity,
    check_fixed_address,
    free_addresses,
    network_of,
    subnet_problems,
)
from stratus.ipam.errors import AddressInUse, InvalidSubnet, NetworkFull

Manifest = dict[str, Any]

LABEL_NETWORK = f"{GROUP}/network"
LABEL_HOLDER_KIND = f"{GROUP}/holder-kind"
LABEL_HOLDER_NAMESPACE = f"{GROUP}/holder-namespace"
LABEL_HOLDER_NAME = f"{GROUP}/holder-name"
LABEL_INTERFACE = f"{GROUP}/interface"

MAX_NAME_LENGTH = 253
MAX_LABEL_VALUE_LENGTH = 63
_LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")
_DASHES = str.maketrans(".:", "--")
_CREATE_ATTEMPTS = 5
"""Creates of one name that may each meet a Port that is gone by the time it is read."""


@dataclass(frozen=True)
class Holder:
    """Who holds an address: a Server (or, in tests, anything) by kind, namespace and name."""

    kind: str
    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.kind}/{self.namespace}/{self.name}"

    @classmethod
    def of(cls, body: Mapping[str, Any]) -> "Holder":
        metadata = body["metadata"]
        return cls(body["kind"], metadata["namespace"], metadata["name"])

    def labels(self) -> dict[str, str]:
        return {
            LABEL_HOLDER_KIND: label_value(self.kind),
            LABEL_HOLDER_NAMESPACE: label_value(self.namespace),
            LABEL_HOLDER_NAME: label_value(self.name),
        }


@dataclass(frozen=True)
class Allocation:
    """An address a holder has: which network, which of its interfaces."""

    network: str
    interface: int
    address: str


def port_name(network: str, address: str) -> str:
    """The Port's name: `<network>.<address>`, the address with `.` and `:` as `-`, hashed when
    too long. The address part never holds a dot, so no two (network, address) pairs share a name.

    Only the canonical spelling of the address is used, so `2001:DB8::1` and `2001:db8::1`
    compete for one name.
    """
    address = canonical(address)
    # Name parts may not start or end with `-`: spell a leading or trailing `::` with a 0.
    spelled = ("0" if address.startswith("::") else "") + address
    spelled += "0" if address.endswith("::") else ""
    encoded = spelled.translate(_DASHES)
    name = f"{network}.{encoded}"
    if len(name) <= MAX_NAME_LENGTH:
        return name
    tail = f".{_digest(f'{network}/{address}')}.{encoded}"
    return network[: MAX_NAME_LENGTH - len(tail)].rstrip("-.") + tail


def label_value(text: str) -> str:
    """`text` as a label value: itself when it is one, else a readable prefix and a hash."""
    if len(text) <= MAX_LABEL_VALUE_LENGTH and _LABEL_VALUE.match(text):
        return text
    digest = _digest(text)
    prefix = re.sub(r"[^-A-Za-z0-9_.]", "-", text)
    prefix = prefix[: MAX_LABEL_VALUE_LENGTH - len(digest) - 1].strip("-_.")
    return f"{prefix}-{digest}" if prefix else digest


def build_port(
    namespace: str,
    network: str,
    address: str,
    holder: Holder,
    interface: int = 0,
    holder_uid: str | None = None,
) -> Manifest:
    """The Port recording that `holder`'s interface has `address` on `network`.

    An ownerReference cannot cross namespaces, so only a holder in the network's namespace
    whose uid is known gets one: the garbage collector then releases what `release` missed.
    """
    address = canonical(address)
    metadata: Manifest = {
        "name": port_name(network, address),
        "namespace": namespace,
        "labels": {
            LABEL_MANAGED_BY: MANAGED_BY,
            LABEL_NETWORK: label_value(network),
            **holder.labels(),
            LABEL_INTERFACE: str(interface),
        },
    }
    if holder_uid and holder.namespace == namespace:
        metadata["ownerReferences"] = [Owner(holder.kind, holder.name, holder_uid).reference()]
    return {
        "apiVersion": API_VERSION,
        "kind": PORT.kind,
        "metadata": metadata,
        "spec": {
            "network": network,
            "address": address,
            "holder": str(holder),
            "interface": interface,
        },
    }


def port_index_key(body: Mapping[str, Any]) -> tuple[str, str]:
    """The key a Kopf index of Ports groups by, (namespace, network), to count and skip them."""
    return body["metadata"]["namespace"], body["spec"]["network"]


def allocate(
    namespace: str,
    network_name: str,
    subnet: Subnet,
    holder: Holder,
    interface: int = 0,
    fixed_ip: str | None = None,
    known_taken: Set[str] = frozenset(),
    holder_uid: str | None = None,
    gateway_allowed: bool = False,
) -> str:
    """The address of `holder`'s `interface` on the network, taking one if it has none yet.

    Idempotent: asking again returns the same address. `known_taken` (from an index) only
    saves attempts; an address in it that is free after all is still handed out before
    NetworkFull is raised.
    """
    problems = subnet_problems(subnet)
    if problems:
        raise InvalidSubnet(f"{namespace}/{network_name}", problems)
    held = _holder_ports(namespace, holder, network_name, interface)
    if held:
        return _already_held(held[0], holder, fixed_ip)
    claim = _Claim(namespace, network_name, holder, interface, holder_uid)
    if fixed_ip is not None:
        check_fixed_address(subnet, fixed_ip, gateway_allowed)
        port = claim.take(fixed_ip)
        if not claim.is_mine(port):
            raise AddressInUse(canonical(fixed_ip), network_name, port["spec"]["holder"])
        return str(port["spec"]["address"])
    held_by_others: set[str] = set()
    address = claim.first(free_addresses(subnet, known_taken), held_by_others)
    if address is None and known_taken:
        # `known_taken` may be stale: try what the API server has not shown to be held.
        address = claim.first(free_addresses(subnet, frozenset(held_by_others)), held_by_others)
    _remember(
        namespace, network_name, held_by_others if address is None else {address, *held_by_others}
    )
    if address is None:
        pools = ", ".join(f"{p.start}-{p.end}" for p in subnet.allocation_pools)
        where = f"pools {pools}" if pools else f"subnet {network_of(subnet)}"
        raise NetworkFull(f"{namespace}/{network_name}", capacity(subnet), where)
    return address


def release(namespace: str, holder: Holder, keeping: Collection[tuple[str, int]] = ()) -> int:
    """Free the addresses `holder` has on the networks of `namespace`, but those of the
    (network, interface) pairs it is `keeping`; how many were freed."""
    held = [
        port
        for port in _holder_ports(namespace, holder)
        if (port["spec"]["network"], port["spec"].get("interface", 0)) not in keeping
    ]
    for port in held:
        kube.delete(API_VERSION, PORT.kind, port["metadata"]["name"], namespace)
        _forget(namespace, port["spec"]["network"], port["spec"]["address"])
    return len(held)


def holder_addresses(
    namespace: str, holder: Holder, network: str | None = None
) -> list[Allocation]:
    """The addresses `holder` has in `namespace` (on one network if given), by interface."""
    allocations = [
        Allocation(
            port["spec"]["network"], port["spec"].get("interface", 0), port["spec"]["address"]
        )
        for port in _holder_ports(namespace, holder, network)
    ]
    return sorted(allocations, key=lambda a: (a.interface, a.network))


def _already_held(port: Manifest, holder: Holder, fixed_ip: str | None) -> str:
    spec = port["spec"]
    if fixed_ip is not None and canonical(fixed_ip) != spec["address"]:
        raise Conflict(
            "FixedIpChanged",
            f"interface {spec['interface']} of {holder} already has {spec['address']} on "
            f"network {spec['network']}; detach it before asking for {fixed_ip}",
        )
    return str(spec["address"])


@dataclass(frozen=True)
class _Claim:
    """One holder's interface asking for an address on one network."""

    namespace: str
    network: str
    holder: Holder
    interface: int
    holder_uid: str | None

    def first(self, candidates: Iterable[str], held_by_others: set[str]) -> str | None:
        """The first candidate taken for this claim; those others hold are added to the set."""
        for address in candidates:
            if self.is_mine(self.take(address)):
                return address
            held_by_others.add(address)
        return None

    def take(self, address: str) -> Manifest:
        """Create the Port for `address`, or return the one that already has its name."""
        port = build_port(
            self.namespace, self.network, address, self.holder, self.interface, self.holder_uid
        )
        name = port["metadata"]["name"]
        for _ in range(_CREATE_ATTEMPTS):
            try:
                return kube.create(port)
            except ApiException as error:
                if error.status != 409:
                    raise
            existing = kube.read(API_VERSION, PORT.kind, name, self.namespace)
            if existing is not None:
                return existing
        raise BackendUnavailable(
            "PortChurn", f"Port {name} keeps being created and deleted by others"
        )

    def is_mine(self, port: Manifest) -> bool:
        spec = port["spec"]
        mine = (self.network, str(self.holder), self.interface)
        return (spec["network"], spec["holder"], spec.get("interface", 0)) == mine


def _holder_ports(
    namespace: str, holder: Holder, network: str | None = None, interface: int | None = None
) -> list[Manifest]:
    """The holder's Ports, checked by their spec: label values of long names may be shared."""
    labels = holder.labels()
    if network is not None:
        labels[LABEL_NETWORK] = label_value(network)
    if interface is not None:
        labels[LABEL_INTERFACE] = str(interface)
    selector = ",".join(f"{key}={value}" for key, value in labels.items())
    return [
        port
        for port in kube.list_objects(API_VERSION, PORT.kind, namespace, selector)
        if port["spec"]["holder"] == str(holder) and network in (None, port["spec"]["network"])
    ]


@index(GROUP, VERSION, PORT.plural)
def addresses_by_network(body: kopf.Body, **_: Any) -> dict[tuple[str, str], str]:
    """Taken addresses by (namespace, network), so an allocation starts past them."""
    return {port_index_key(body): str(body["spec"]["address"])}


RECENT_SECONDS = 60.0
"""How long this process remembers an address it saw taken, in case the index lags."""
_recent: dict[tuple[str, str], dict[str, float]] = {}
_recent_guard = threading.Lock()


def _remember(namespace: str, network: str, addresses: Iterable[str]) -> None:
    with _recent_guard:
        seen = _recent.setdefault((namespace, network), {})
        seen.update(dict.fromkeys(addresses, time.monotonic()))


def _forget(namespace: str, network: str, address: str) -> None:
    with _recent_guard:
        _recent.get((namespace, network), {}).pop(address, None)


def taken_addresses(namespace: str, network: str) -> frozenset[str]:
    """The addresses seen taken on a network: by the index, and by this process's own
    allocations the index has not shown yet. Under a boot storm Kopf's watch runs seconds
    behind, and every address it has not shown would otherwise cost a refused create."""
    indexed = frozenset(addresses_by_network.get((namespace, network)))
    with _recent_guard:
        recent = _recent.get((namespace, network))
        if not recent:
            return indexed
        stale = time.monotonic() - RECENT_SECONDS
        for address in [a for a, at in recent.items() if a in indexed or at < stale]:
            del recent[address]
        if not recent:
            del _recent[(namespace, network)]
        return indexed | frozenset(recent)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:10]
