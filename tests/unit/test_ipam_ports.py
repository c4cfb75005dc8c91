"""Ports as allocation records: their names and manifests, and allocation against a fake API."""

import re
from collections import Counter
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from kubernetes.client.exceptions import ApiException

from stratus.api.common import DNS_SUBDOMAIN_PATTERN
from stratus.api.network import AllocationPool, Subnet
from stratus.core import kube
from stratus.core.errors import Conflict
from stratus.ipam import ports
from stratus.ipam.errors import AddressInUse, InvalidFixedIp, InvalidSubnet, NetworkFull
from stratus.ipam.ports import (
    Allocation,
    Holder,
    allocate,
    build_port,
    holder_addresses,
    label_value,
    port_index_key,
    port_name,
    release,
)

WEB = Holder("Server", "acme", "web-1")
DB = Holder("Server", "acme", "db-1")
LABEL = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")

# Names and manifests


def test_a_port_is_named_after_its_network_and_address() -> None:
    assert port_name("lan", "10.0.0.5") == "lan.10-0-0-5"
    assert port_name("lan", "2001:db8::5") == "lan.2001-db8--5"


def test_every_spelling_of_an_address_gives_the_same_name() -> None:
    assert port_name("lan", "2001:DB8:0::5") == port_name("lan", "2001:db8::5")


def test_an_ipv6_address_ending_in_double_colon_still_gives_a_valid_name() -> None:
    name = port_name("lan", "2001:db8:0:1::")
    assert re.match(DNS_SUBDOMAIN_PATTERN, name), name


def test_a_name_that_would_be_too_long_keeps_a_readable_prefix_and_the_address() -> None:
    network = "n" * 250
    name = port_name(network, "2001:db8::5")
    assert len(name) <= 253
    assert name.startswith("nnnn")
    assert name.endswith(".2001-db8--5")
    assert name == port_name(network, "2001:db8::5")
    assert name != port_name("n" * 249 + "m", "2001:db8::5")


NETWORK_NAMES = st.from_regex(r"[a-z0-9]([-a-z0-9.]{0,250}[a-z0-9])?", fullmatch=True).filter(
    lambda name: re.match(DNS_SUBDOMAIN_PATTERN, name) is not None
)
ADDRESSES = st.ip_addresses().map(str)


@given(NETWORK_NAMES, ADDRESSES, ADDRESSES)
def test_port_names_are_valid_subdomains_one_per_address(network: str, a: str, b: str) -> None:
    name = port_name(network, a)
    assert len(name) <= 253
    assert re.match(DNS_SUBDOMAIN_PATTERN, name), name
    assert (name == port_name(network, b)) == (a == b)


@given(st.text(max_size=300))
def test_label_values_are_valid_and_unchanged_when_they_already_are(text: str) -> None:
    value = label_value(text)
    assert len(value) <= 63
    assert LABEL.match(value), value
    if len(text) <= 63 and LABEL.match(text):
        assert value == text


def test_a_long_name_becomes_a_label_with_a_readable_prefix_and_a_hash() -> None:
    long_name = "web-" + "x" * 100
    assert label_value(long_name).startswith("web-xxx")
    assert label_value(long_name) != label_value(long_name + "y")


def test_a_port_records_network_address_holder_and_interface_in_spec_and_labels() -> None:
    port = build_port("acme", "lan", "10.0.0.5", WEB, interface=1)
    assert port["metadata"]["name"] == "lan.10-0-0-5"
    assert port["spec"] == {
        "network": "lan",
        "address": "10.0.0.5",
        "holder": "Server/acme/web-1",
        "interface": 1,
    }
    assert port["metadata"]["labels"] == {
        "app.kubernetes.io/managed-by": "stratus",
        "stratus.io/network": "lan",
        "stratus.io/holder-kind": "Server",
        "stratus.io/holder-namespace": "acme",
        "stratus.io/holder-name": "web-1",
        "stratus.io/interface": "1",
    }
    assert "ownerReferences" not in port["metadata"]


def test_a_holder_in_the_networks_namespace_owns_its_port_when_its_uid_is_known() -> None:
    port = build_port("acme", "lan", "10.0.0.5", WEB, holder_uid="uid-1")
    (reference,) = port["metadata"]["ownerReferences"]
    assert (reference["kind"], reference["name"], reference["uid"]) == ("Server", "web-1", "uid-1")


def test_a_holder_in_another_namespace_never_owns_its_port_on_a_shared_network() -> None:
    port = build_port("shared", "public", "10.0.0.5", WEB, holder_uid="uid-1")
    assert "ownerReferences" not in port["metadata"]


def test_the_index_key_of_a_port_is_its_namespace_and_network() -> None:
    assert port_index_key(build_port("acme", "lan", "10.0.0.5", WEB)) == ("acme", "lan")


def test_a_holder_is_written_as_kind_namespace_name() -> None:
    body = {"kind": "Server", "metadata": {"namespace": "acme", "name": "web-1"}}
    assert str(Holder.of(body)) == "Server/acme/web-1"


# Allocation against an in-memory API server


class FakeApi:
    """Ports by name, refusing a second object of the same name with 409 as the API server does."""

    def __init__(self) -> None:
        self.ports: dict[tuple[str, str], dict[str, Any]] = {}
        self.vanish_once: set[str] = set()
        """Names whose first 409 is followed by the Port going away before it is read."""
        self.calls: Counter[str] = Counter()
        """Requests by verb: what an allocation costs."""

    def create(self, manifest: dict[str, Any]) -> dict[str, Any]:
        self.calls["create"] += 1
        key = (manifest["metadata"]["namespace"], manifest["metadata"]["name"])
        if key in self.ports:
            if key[1] in self.vanish_once:
                self.vanish_once.discard(key[1])
                del self.ports[key]
            raise ApiException(status=409, reason="AlreadyExists")
        self.ports[key] = manifest
        return manifest

    def read(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> Any:
        self.calls["get"] += 1
        return self.ports.get((namespace or "", name))

    def list_objects(
        self, api_version: str, kind: str, namespace: str, label_selector: str = ""
    ) -> list[dict[str, Any]]:
        self.calls["list"] += 1
        wanted = dict(term.split("=") for term in label_selector.split(",") if term)
        return [
            port
            for (ns, _), port in self.ports.items()
            if ns == namespace and wanted.items() <= port["metadata"]["labels"].items()
        ]

    def delete(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> None:
        self.ports.pop((namespace or "", name), None)

    def addresses(self) -> set[str]:
        return {port["spec"]["address"] for port in self.ports.values()}


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> FakeApi:
    fake = FakeApi()
    for name in ("create", "read", "list_objects", "delete"):
        monkeypatch.setattr(kube, name, getattr(fake, name))
    monkeypatch.setattr(ports, "_recent", {})
    return fake


SMALL = Subnet(
    cidr="10.0.0.0/24",
    gateway="10.0.0.1",
    allocation_pools=[AllocationPool(start="10.0.0.10", end="10.0.0.12")],
)


def test_the_lowest_free_address_is_taken_and_recorded(api: FakeApi) -> None:
    assert allocate("acme", "lan", SMALL, WEB) == "10.0.0.10"
    assert api.ports["acme", "lan.10-0-0-10"]["spec"]["holder"] == "Server/acme/web-1"


def test_asking_again_returns_the_same_address_without_a_second_port(api: FakeApi) -> None:
    assert allocate("acme", "lan", SMALL, WEB) == allocate("acme", "lan", SMALL, WEB)
    assert len(api.ports) == 1


def test_each_interface_of_a_holder_gets_its_own_address(api: FakeApi) -> None:
    assert allocate("acme", "lan", SMALL, WEB, interface=0) == "10.0.0.10"
    assert allocate("acme", "lan", SMALL, WEB, interface=1) == "10.0.0.11"
    assert holder_addresses("acme", WEB) == [
        Allocation("lan", 0, "10.0.0.10"),
        Allocation("lan", 1, "10.0.0.11"),
    ]


def test_addresses_held_by_others_are_skipped_even_when_not_known_beforehand(
    api: FakeApi,
) -> None:
    allocate("acme", "lan", SMALL, DB)
    assert allocate("acme", "lan", SMALL, WEB) == "10.0.0.11"


def test_stale_known_taken_addresses_are_still_handed_out_rather_than_network_full(
    api: FakeApi,
) -> None:
    stale = {"10.0.0.10", "10.0.0.11", "10.0.0.12"}
    assert allocate("acme", "lan", SMALL, WEB, known_taken=stale) == "10.0.0.10"


def test_a_port_deleted_between_the_conflict_and_the_read_is_created_again(api: FakeApi) -> None:
    allocate("acme", "lan", SMALL, DB)
    api.vanish_once.add("lan.10-0-0-10")
    assert allocate("acme", "lan", SMALL, WEB) == "10.0.0.10"


def test_a_full_network_says_how_many_addresses_it_has(api: FakeApi) -> None:
    for index in range(3):
        allocate("acme", "lan", SMALL, Holder("Server", "acme", f"s{index}"))
    with pytest.raises(NetworkFull) as full:
        allocate("acme", "lan", SMALL, WEB)
    assert full.value.reason == "NetworkFull"
    assert "all 3 addresses of pools 10.0.0.10-10.0.0.12 are held" in full.value.message


def test_a_fixed_ip_held_by_another_names_that_holder(api: FakeApi) -> None:
    allocate("acme", "lan", SMALL, DB, fixed_ip="10.0.0.50")
    with pytest.raises(AddressInUse) as in_use:
        allocate("acme", "lan", SMALL, WEB, fixed_ip="10.0.0.50")
    assert in_use.value.reason == "FixedIpInUse"
    assert "Server/acme/db-1" in in_use.value.message


def test_a_fixed_ip_the_subnet_cannot_give_is_refused_before_any_port_exists(
    api: FakeApi,
) -> None:
    with pytest.raises(InvalidFixedIp):
        allocate("acme", "lan", SMALL, WEB, fixed_ip="10.0.0.1")
    assert api.ports == {}


def test_asking_for_another_fixed_ip_while_holding_one_is_a_conflict(api: FakeApi) -> None:
    allocate("acme", "lan", SMALL, WEB, fixed_ip="10.0.0.50")
    assert allocate("acme", "lan", SMALL, WEB, fixed_ip="10.0.0.50") == "10.0.0.50"
    with pytest.raises(Conflict) as changed:
        allocate("acme", "lan", SMALL, WEB, fixed_ip="10.0.0.51")
    assert changed.value.reason == "FixedIpChanged"


def test_a_subnet_with_problems_allocates_nothing(api: FakeApi) -> None:
    broken = SMALL.model_copy(
        update={"allocation_pools": [AllocationPool(start="10.0.0.12", end="10.0.0.10")]}
    )
    with pytest.raises(InvalidSubnet) as invalid:
        allocate("acme", "lan", broken, WEB)
    assert "starts after it ends" in invalid.value.message


def test_release_frees_all_of_a_holders_ports_and_nobody_elses(api: FakeApi) -> None:
    allocate("acme", "lan", SMALL, WEB, interface=0)
    allocate("acme", "dmz", SMALL, WEB, interface=1)
    allocate("acme", "lan", SMALL, DB)
    assert release("acme", WEB) == 2
    assert api.addresses() == {"10.0.0.11"}
    assert release("acme", WEB) == 0


def test_other_api_errors_are_not_mistaken_for_a_taken_address(
    api: FakeApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    def forbidden(manifest: dict[str, Any]) -> dict[str, Any]:
        raise ApiException(status=403, reason="Forbidden")

    monkeypatch.setattr(ports.kube, "create", forbidden)
    with pytest.raises(ApiException):
        allocate("acme", "lan", SMALL, WEB)


def test_names_of_different_networks_and_addresses_never_collide() -> None:
    assert port_name("x", "1:2:3:4:5:6:7:8") != port_name("x-1-2-3-4", "5.6.7.8")
    assert port_name("a", "::1") == "a.0--1"


def test_a_holders_ports_are_found_in_one_list_without_reading_each_again(api: FakeApi) -> None:
    for interface in range(3):
        allocate("acme", "lan", SMALL, WEB, interface=interface)
    api.calls.clear()
    assert [a.address for a in holder_addresses("acme", WEB)] == [
        "10.0.0.10",
        "10.0.0.11",
        "10.0.0.12",
    ]
    assert api.calls == Counter(list=1)


def test_with_the_taken_addresses_known_an_allocation_is_one_create(api: FakeApi) -> None:
    wide = Subnet(cidr="10.1.0.0/24", gateway="10.1.0.1")
    for index in range(50):
        allocate("acme", "wide", wide, Holder("Server", "acme", f"s{index}"))
    api.calls.clear()
    taken = frozenset(api.addresses())
    assert allocate("acme", "wide", wide, DB, known_taken=taken) == "10.1.0.52"
    assert api.calls["create"] == 1


class LaggingIndex:
    """The Port index as Kopf's watch keeps it under a boot storm: seconds behind, so far
    showing none of the Ports just made."""

    def get(self, key: object) -> list[str]:
        return []


def test_while_the_index_lags_each_allocation_is_still_one_create(
    api: FakeApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ports, "addresses_by_network", LaggingIndex())
    wide = Subnet(cidr="10.1.0.0/24", gateway="10.1.0.1")
    for index in range(30):
        holder = Holder("Server", "acme", f"s{index}")
        allocate("acme", "wide", wide, holder, known_taken=ports.taken_addresses("acme", "wide"))
    assert api.calls["create"] == 30
    assert len(api.addresses()) == 30


def test_an_address_released_here_is_offered_again_at_once(
    api: FakeApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ports, "addresses_by_network", LaggingIndex())
    first = allocate("acme", "lan", SMALL, WEB, known_taken=ports.taken_addresses("acme", "lan"))
    release("acme", WEB)
    again = allocate("acme", "lan", SMALL, DB, known_taken=ports.taken_addresses("acme", "lan"))
    assert again == first
