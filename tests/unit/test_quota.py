"""The usage a Project reports, counted from its objects."""

from typing import Any

from stratus.core.quota import tally
from stratus.core.units import amount

FLAVOR = {"name": "m1.large", "vcpus": 4, "memory": "8Gi"}


def server(**status: Any) -> dict[str, Any]:
    return {"metadata": {"name": "s"}, "spec": {}, "status": {"flavor": FLAVOR, **status}}


def test_a_shelved_server_counts_as_a_server_but_holds_no_vcpus_or_memory() -> None:
    usage = tally({"Server": [server(), server(shelved=True), {"metadata": {}, "spec": {}}]})
    assert (usage["servers"], usage["cores"], amount(usage["memory"])) == (3, 4, amount("8Gi"))


def test_a_server_being_deleted_counts_for_nothing() -> None:
    going = server()
    going["metadata"]["deletionTimestamp"] = "2026-12-04T10:00:00Z"
    usage = tally({"Server": [going]})
    assert (usage["servers"], usage["cores"]) == (0, 0)


def test_a_resize_waiting_for_confirmation_holds_the_larger_of_its_two_flavors() -> None:
    """A revert must always fit: the old Flavor's share is kept until the resize is confirmed."""
    small = {"name": "m1.small", "vcpus": 1, "memory": "16Gi"}
    usage = tally({"Server": [server(previousFlavor=small)]})
    assert (usage["cores"], amount(usage["memory"])) == (4, amount("16Gi"))
