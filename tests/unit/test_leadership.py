"""The Lease protocol, round by round, against an in-memory Lease with the API server's
optimistic concurrency and a clock the test moves; the real API server is in the integration
test."""

import copy
import threading
from typing import Any

import pytest

from stratus.core import kube
from stratus.core.leadership import LeaseElection, Renewal, Timings


class Conflict(Exception):
    """The API server's 409."""


class Leases:
    """One Lease, kept as the API server keeps it: a replace with a stale resourceVersion is
    refused, and `refuse` makes every request fail, as a partition does."""

    def __init__(self) -> None:
        self.lease: dict[str, Any] | None = None
        self.version = 0
        self.refuse = False

    def read(self, *_: Any, **__: Any) -> dict[str, Any] | None:
        self._answer()
        return copy.deepcopy(self.lease)

    def create(self, manifest: dict[str, Any], **_: Any) -> dict[str, Any]:
        self._answer()
        if self.lease is not None:
            raise Conflict("already exists")
        return self._store(manifest)

    def replace(self, manifest: dict[str, Any], **_: Any) -> dict[str, Any]:
        self._answer()
        assert self.lease is not None
        if manifest["metadata"]["resourceVersion"] != self.lease["metadata"]["resourceVersion"]:
            raise Conflict("the object has been modified")
        return self._store(manifest)

    def _answer(self) -> None:
        if self.refuse:
            raise ConnectionRefusedError("partitioned")

    def _store(self, manifest: dict[str, Any]) -> dict[str, Any]:
        self.version += 1
        self.lease = copy.deepcopy(manifest)
        self.lease["metadata"]["resourceVersion"] = str(self.version)
        return self.lease

    @property
    def holder(self) -> str | None:
        holder = (self.lease or {}).get("spec", {}).get("holderIdentity")
        return str(holder) if holder is not None else None


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Ticking(threading.Event):
    """Waiting moves the clock instead of the test's time."""

    def __init__(self, clock: Clock) -> None:
        super().__init__()
        self.clock = clock

    def wait(self, timeout: float | None = None) -> bool:
        self.clock.now += timeout or 0
        return False


@pytest.fixture
def leases(monkeypatch: pytest.MonkeyPatch) -> Leases:
    store = Leases()
    monkeypatch.setattr(kube, "read", store.read)
    monkeypatch.setattr(kube, "create", store.create)
    monkeypatch.setattr(kube, "replace", store.replace)
    return store


def candidate(name: str, clock: Clock) -> LeaseElection:
    return LeaseElection("stratus-system", "stratus", holder=name, clock=clock)


def test_the_first_candidate_takes_a_missing_lease_and_the_second_waits(leases: Leases) -> None:
    clock = Clock()
    a, b = candidate("a", clock), candidate("b", clock)
    assert a.try_acquire_or_renew()
    assert not b.try_acquire_or_renew()
    assert leases.holder == "a"
    spec = leases.lease["spec"] if leases.lease else {}
    assert spec["leaseDurationSeconds"] == 15
    assert spec["renewTime"].endswith("Z") and len(spec["renewTime"].split(".")[1]) == 7


def test_a_renewed_lease_is_never_taken_and_an_unrenewed_one_is_after_its_duration(
    leases: Leases,
) -> None:
    clock = Clock()
    a, b = candidate("a", clock), candidate("b", clock)
    a.try_acquire_or_renew()
    for _ in range(20):  # a renews every 2 s for 40 s: b never gets it
        clock.now += 2
        assert a.try_acquire_or_renew()
        assert not b.try_acquire_or_renew()
    # a dies: b waits a whole lease duration from the last renewal it saw.
    clock.now += 14.9
    assert not b.try_acquire_or_renew()
    clock.now += 0.1
    assert b.try_acquire_or_renew()
    assert leases.holder == "b"
    assert leases.lease and leases.lease["spec"]["leaseTransitions"] == 1
    assert not a.try_acquire_or_renew(), "the old leader sees b's fresh renewal"


def test_two_candidates_racing_for_one_free_lease_get_one_leader(leases: Leases) -> None:
    clock = Clock()
    a, b = candidate("a", clock), candidate("b", clock)
    a.try_acquire_or_renew()
    a.release()
    # Both read the released Lease, then both write: the second write is stale and refused.
    stale = kube.read("coordination.k8s.io/v1", "Lease", "stratus", "stratus-system")
    assert b.try_acquire_or_renew()
    assert stale is not None
    with pytest.raises(Conflict):
        kube.replace(a._lease(stale))
    assert leases.holder == "b"


def test_a_released_lease_is_taken_at_once(leases: Leases) -> None:
    clock = Clock()
    a, b = candidate("a", clock), candidate("b", clock)
    a.try_acquire_or_renew()
    assert not b.try_acquire_or_renew()
    a.release()
    assert leases.holder == ""
    assert b.try_acquire_or_renew()


def test_a_partitioned_leader_gives_up_at_the_renew_deadline_before_the_lease_expires(
    leases: Leases,
) -> None:
    clock = Clock()
    timings = Timings()
    a = LeaseElection("stratus-system", "stratus", holder="a", timings=timings, clock=clock)
    a.try_acquire_or_renew()
    lost: list[float] = []
    renewal = Renewal(a, lambda: lost.append(clock.now))
    renewal.stopped = Ticking(clock)
    leases.refuse = True
    renewal.run()
    assert lost, "the leader noticed"
    assert timings.renew_deadline <= lost[0] - 1000.0 < timings.lease_duration


def test_a_leader_that_finds_another_holder_gives_up_at_once(leases: Leases) -> None:
    clock = Clock()
    a, b = candidate("a", clock), candidate("b", clock)
    a.try_acquire_or_renew()
    assert not b.try_acquire_or_renew()
    clock.now += 15
    assert b.try_acquire_or_renew()
    lost: list[float] = []
    renewal = Renewal(a, lambda: lost.append(clock.now))
    renewal.stopped = Ticking(clock)
    renewal.run()
    assert lost == [1017.0]
