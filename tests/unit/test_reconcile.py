"""The shared reconcile path: failures become conditions, Events and the right kind of retry."""

import threading
from typing import Any

import kopf
import pytest
from kubernetes.client.exceptions import ApiException

from stratus.api.flavor import FLAVOR
from stratus.core import reconcile as reconciling
from stratus.core.errors import Conflict, DependencyNotReady
from stratus.core.reconcile import Outcome, reconcile


class Recorder:
    def __init__(self) -> None:
        self.statuses: list[dict[str, Any]] = []
        self.events: list[dict[str, Any]] = []

    def patch_status(
        self, api_version: str, kind: str, name: str, namespace: str | None, status: dict[str, Any]
    ) -> None:
        self.statuses.append(status)

    def event(self, body: Any, **event: Any) -> None:
        self.events.append(event)


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch) -> Recorder:
    recorder = Recorder()
    monkeypatch.setattr(reconciling.kube, "patch_status", recorder.patch_status)
    monkeypatch.setattr(reconciling.kopf, "event", recorder.event)
    return recorder


def body(status: dict[str, Any] | None = None, name: str = "m1") -> kopf.Body:
    raw = {
        "apiVersion": "stratus.io/v1alpha1",
        "kind": "Flavor",
        "metadata": {"name": name, "uid": "u", "generation": 3},
        "spec": {},
    }
    if status is not None:
        raw["status"] = status
    return kopf.Body(raw)


def test_success_sets_ready_phase_and_observed_generation(recorder: Recorder) -> None:
    reconcile(FLAVOR, body(), lambda: Outcome(phase="Active", fields={"instancetype": "m1"}))
    (status,) = recorder.statuses
    assert status["phase"] == "Active"
    assert status["observedGeneration"] == 3
    assert status["instancetype"] == "m1"
    assert status["conditions"][0]["status"] == "True"
    assert states(status) == {"Ready": "True", "Reconciling": "False", "Stalled": "False"}
    assert recorder.events[0]["type"] == "Normal"


def states(status: dict[str, Any]) -> dict[str, str]:
    """kstatus's view: each condition's status by type."""
    return {c["type"]: c["status"] for c in status["conditions"]}


def test_nothing_is_written_when_nothing_changed(recorder: Recorder) -> None:
    reconcile(FLAVOR, body(), lambda: Outcome(phase="Active"))
    settled = body(recorder.statuses[0])
    reconcile(FLAVOR, settled, lambda: Outcome(phase="Active"))
    assert len(recorder.statuses) == 1
    assert len(recorder.events) == 1


def test_a_failure_that_may_pass_is_retried_after_its_delay(recorder: Recorder) -> None:
    def work() -> Outcome:
        raise DependencyNotReady("ImageNotReady", "image ubuntu is still importing")

    with pytest.raises(kopf.TemporaryError) as raised:
        reconcile(FLAVOR, body(), work, error_phase="Pending")
    assert raised.value.delay == DependencyNotReady.retry_after
    condition = recorder.statuses[0]["conditions"][0]
    assert (condition["status"], condition["reason"]) == ("False", "ImageNotReady")
    assert condition["message"] == "image ubuntu is still importing"
    assert states(recorder.statuses[0]) == {
        "Ready": "False",
        "Reconciling": "True",
        "Stalled": "False",
    }
    assert recorder.statuses[0]["phase"] == "Pending"
    assert recorder.events[0]["type"] == "Warning"
    assert recorder.events[0]["message"] == "image ubuntu is still importing"


def test_a_conflict_waits_for_the_user_instead_of_retrying(recorder: Recorder) -> None:
    def work() -> Outcome:
        raise Conflict("NamespaceOwnedByAnotherProject", "namespace acme belongs to Project other")

    with pytest.raises(kopf.PermanentError):
        reconcile(FLAVOR, body(), work)
    assert recorder.statuses[0]["phase"] == "Error"
    assert states(recorder.statuses[0]) == {
        "Ready": "False",
        "Reconciling": "False",
        "Stalled": "True",
    }
    stalled = recorder.statuses[0]["conditions"][2]
    assert (stalled["reason"], stalled["message"]) == (
        "NamespaceOwnedByAnotherProject",
        "namespace acme belongs to Project other",
    )


def test_an_api_error_becomes_a_reason_with_its_code(recorder: Recorder) -> None:
    def work() -> Outcome:
        raise ApiException(status=422, reason="Unprocessable Entity")

    with pytest.raises(kopf.TemporaryError):
        reconcile(FLAVOR, body(), work)
    assert recorder.statuses[0]["conditions"][0]["reason"] == "ApiError422"


def test_one_object_is_reconciled_by_one_thread_at_a_time(recorder: Recorder) -> None:
    """A pass that starts while another is at work on the same object waits for it; a pass
    over another object does not."""
    inside, release = threading.Event(), threading.Event()
    order: list[str] = []

    def slow() -> Outcome:
        order.append("first in")
        inside.set()
        release.wait(5)
        order.append("first out")
        return Outcome(phase="Active")

    def passing(label: str) -> Outcome:
        order.append(label)
        return Outcome(phase="Active")

    first = threading.Thread(target=reconcile, args=(FLAVOR, body(), slow))
    first.start()
    assert inside.wait(5)
    same = threading.Thread(target=reconcile, args=(FLAVOR, body(), lambda: passing("same")))
    same.start()
    reconcile(FLAVOR, body(name="m2"), lambda: passing("other"))
    same.join(0.3)
    assert same.is_alive()
    release.set()
    first.join(5)
    same.join(5)
    assert order == ["first in", "other", "first out", "same"]
