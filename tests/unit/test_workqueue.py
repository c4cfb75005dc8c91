"""The work queue: one pass per object at a time, coalesced offers that never tie up the
thread pool, retries with backoff for passes that fail, and no state left for idle keys."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import kopf
import pytest

from stratus.api.flavor import FLAVOR
from stratus.core import parents, workqueue
from stratus.core.errors import BackendUnavailable
from stratus.core.reconcile import Outcome, key_of
from stratus.core.workqueue import Strength
from tests.unit.fakekube import FakeKube


def test_many_events_for_one_busy_object_hold_one_thread_while_others_progress() -> None:
    """Kopf's pool has few threads: a hundred events for an object whose pass is slow (it
    waits on the network) must not occupy them all, and each coalesces into one more pass."""
    release, started = threading.Event(), threading.Event()
    passes: list[str] = []

    def slow() -> None:
        passes.append("busy")
        started.set()
        release.wait(10)

    pool = ThreadPoolExecutor(max_workers=4)
    first = pool.submit(workqueue.offer, "Server/acme/busy", Strength.OBSERVE, slow)
    assert started.wait(5)
    offers = [
        pool.submit(workqueue.offer, "Server/acme/busy", Strength.OBSERVE, slow) for _ in range(100)
    ]
    other = pool.submit(workqueue.offer, "Server/acme/calm", Strength.OBSERVE, lambda: None)
    other.result(timeout=5)  # progresses while the busy object is still at work
    assert all(offer.result(timeout=5) is None for offer in offers)
    assert passes == ["busy"]
    release.set()
    first.result(timeout=10)
    assert passes == ["busy", "busy"]
    pool.shutdown()
    assert workqueue.busy_keys() == 0


def test_the_strongest_coalesced_pass_is_the_one_that_runs() -> None:
    release, started = threading.Event(), threading.Event()
    ran: list[str] = []

    def holding() -> None:
        started.set()
        release.wait(10)

    worker = threading.Thread(target=workqueue.offer, args=("k/strong", Strength.OBSERVE, holding))
    worker.start()
    assert started.wait(5)
    workqueue.offer("k/strong", Strength.ENSURE, lambda: ran.append("ensure"))
    workqueue.offer("k/strong", Strength.OBSERVE, lambda: ran.append("observe"))
    release.set()
    worker.join(10)
    assert ran == ["ensure"]


def test_a_blocked_holder_runs_before_the_coalesced_pass_and_then_runs_it() -> None:
    """A handler pass that waits for the key (Kopf's own) is not starved by offers."""
    release, started = threading.Event(), threading.Event()
    order: list[str] = []

    def holding() -> None:
        started.set()
        release.wait(10)

    def handler() -> None:
        with workqueue.hold("k/handler"):
            order.append("handler")

    first = threading.Thread(target=workqueue.offer, args=("k/handler", Strength.OBSERVE, holding))
    first.start()
    assert started.wait(5)
    waiting = threading.Thread(target=handler)
    waiting.start()
    time.sleep(0.1)
    workqueue.offer("k/handler", Strength.OBSERVE, lambda: order.append("offered"))
    release.set()
    first.join(10)
    waiting.join(10)
    assert order == ["handler", "offered"]
    assert workqueue.busy_keys() == 0


def test_keys_leave_no_state_once_idle() -> None:
    for index in range(1000):
        with workqueue.hold(f"k/{index}"):
            pass
        workqueue.offer(f"o/{index}", Strength.OBSERVE, lambda: None)
    assert workqueue.busy_keys() == 0


def test_hold_is_re_entrant_and_exclusive_between_threads() -> None:
    inside = threading.Event()
    with workqueue.hold("k/re"), workqueue.hold("k/re"):
        other = threading.Thread(target=_hold_then_set, args=("k/re", inside))
        other.start()
        assert not inside.wait(0.2)
    assert inside.wait(5)
    other.join(5)


def _hold_then_set(key: str, event: threading.Event) -> None:
    with workqueue.hold(key):
        event.set()


class Flaky:
    """A Flavor whose pass fails `failures` times with a short delay, then succeeds."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls = 0
        self.done = threading.Event()

    def __call__(self, body: kopf.Body) -> Outcome:
        self.calls += 1
        if self.calls <= self.failures:
            raise QuickRetry("ApiError500", "the API server had a moment")
        self.done.set()
        return Outcome(phase="Active")


class QuickRetry(BackendUnavailable):
    retry_after = 0.05
    backoff_limit = 0.2


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> FakeKube:
    fake = FakeKube().install(monkeypatch)
    monkeypatch.setattr(kopf, "event", lambda *_, **__: None)
    fake.add({"apiVersion": "stratus.io/v1alpha1", "kind": "Flavor", "metadata": {"name": "m1"}})
    return fake


def test_a_pass_started_by_an_event_that_fails_is_retried_until_it_succeeds(api: FakeKube) -> None:
    """Nothing else would retry it: the object's own handler had already succeeded."""
    work = Flaky(failures=3)
    owner: dict[str, Any] = api.read("stratus.io/v1alpha1", "Flavor", "m1")
    parents.run(FLAVOR, owner, work)
    assert work.done.wait(10)
    assert work.calls == 4
    assert api.get("Flavor", "m1")["status"]["phase"] == "Active"  # type: ignore[index]
    wait_for(lambda: workqueue.scheduled_retries() == 0)
    assert workqueue.failures(key_of(FLAVOR, owner)) == 0


def test_retries_back_off_as_failures_repeat(
    monkeypatch: pytest.MonkeyPatch, api: FakeKube
) -> None:
    delays: list[float] = []
    requeue = workqueue.requeue

    def recording(key: str, delay: float, strength: Strength, work: Any) -> None:
        delays.append(delay)
        requeue(key, delay, strength, work)

    monkeypatch.setattr(workqueue, "requeue", recording)
    work = Flaky(failures=4)
    parents.run(FLAVOR, api.read("stratus.io/v1alpha1", "Flavor", "m1"), work)
    assert work.done.wait(10)
    assert delays == [0.05, 0.1, 0.2, 0.2]


def wait_for(predicate: Any, timeout: float = 5) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)
