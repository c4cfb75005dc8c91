"""The shared reconcile path: failures become conditions, Events and the right kind of retry."""

import threading
from typing import Any

import kopf
import pytest
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import MaxRetryError

from stratus.api.flavor import FLAVOR
from stratus.core import reconcile as reconciling
from stratus.core.errors import Conflict, DependencyNotReady
from stratus.core.reconcile import Outcome, commit_status, reconcile
from tests.unit.fakekube import FakeKube


class Recorder(FakeKube):
    """The API as a store, with the status writes and Events a pass made."""

    def __init__(self) -> None:
        super().__init__()
        self.statuses: list[dict[str, Any]] = []
        self.events: list[dict[str, Any]] = []

    def patch_status(
        self,
        api_version: str,
        kind: str,
        name: str,
        namespace: str | None,
        *,
        status: dict[str, Any],
    ) -> None:
        self.statuses.append(status)
        super().patch_status(api_version, kind, name, namespace, status=status)

    def event(self, body: Any, **event: Any) -> None:
        self.events.append(event)


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch) -> Recorder:
    recorder = Recorder()
    recorder.install(monkeypatch)
    monkeypatch.setattr(reconciling.kopf, "event", recorder.event)
    for name in ("m1", "m2"):
        recorder.add(raw(name=name))
    return recorder


def raw(status: dict[str, Any] | None = None, name: str = "m1") -> dict[str, Any]:
    found: dict[str, Any] = {
        "apiVersion": "stratus.io/v1alpha1",
        "kind": "Flavor",
        "metadata": {"name": name, "uid": "u", "generation": 3},
        "spec": {},
    }
    if status is not None:
        found["status"] = status
    return found


def body(status: dict[str, Any] | None = None, name: str = "m1") -> kopf.Body:
    """What Kopf or an index hands over: a snapshot, maybe older than the API's copy."""
    return kopf.Body(raw(status, name))


def test_success_sets_ready_phase_and_observed_generation(recorder: Recorder) -> None:
    reconcile(FLAVOR, body(), lambda _: Outcome(phase="Active", fields={"instancetype": "m1"}))
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
    reconcile(FLAVOR, body(), lambda _: Outcome(phase="Active"))
    reconcile(FLAVOR, body(), lambda _: Outcome(phase="Active"))
    assert len(recorder.statuses) == 1
    assert len(recorder.events) == 1


def test_an_api_server_that_does_not_answer_is_tried_again_soon_without_a_status(
    recorder: Recorder,
) -> None:
    def work(_: kopf.Body) -> Outcome:
        raise MaxRetryError(None, "/apis", ConnectionRefusedError("restarting"))  # type: ignore[arg-type]

    with pytest.raises(kopf.TemporaryError) as raised:
        reconcile(FLAVOR, body(), work)
    assert raised.value.delay == reconciling.API_UNREACHABLE_RETRY
    assert recorder.statuses == []


def test_a_failure_that_may_pass_is_retried_after_its_delay(recorder: Recorder) -> None:
    def work(_: kopf.Body) -> Outcome:
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
    def work(_: kopf.Body) -> Outcome:
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
    def work(_: kopf.Body) -> Outcome:
        raise ApiException(status=422, reason="Unprocessable Entity")

    with pytest.raises(kopf.TemporaryError):
        reconcile(FLAVOR, body(), work)
    assert recorder.statuses[0]["conditions"][0]["reason"] == "ApiError422"


def test_one_object_is_reconciled_by_one_thread_at_a_time(recorder: Recorder) -> None:
    """A pass that starts while another is at work on the same object waits for it; a pass
    over another object does not."""
    inside, release = threading.Event(), threading.Event()
    order: list[str] = []

    def slow(_: kopf.Body) -> Outcome:
        order.append("first in")
        inside.set()
        release.wait(5)
        order.append("first out")
        return Outcome(phase="Active")

    def passing(label: str, _: kopf.Body) -> Outcome:
        order.append(label)
        return Outcome(phase="Active")

    first = threading.Thread(target=reconcile, args=(FLAVOR, body(), slow))
    first.start()
    assert inside.wait(5)
    same = threading.Thread(target=reconcile, args=(FLAVOR, body(), lambda b: passing("same", b)))
    same.start()
    reconcile(FLAVOR, body(name="m2"), lambda b: passing("other", b))
    same.join(0.3)
    assert same.is_alive()
    release.set()
    first.join(5)
    same.join(5)
    assert order == ["first in", "other", "first out", "same"]


def test_a_pass_handed_an_old_snapshot_works_on_the_object_as_it_is_now(
    recorder: Recorder,
) -> None:
    """Another pass wrote status after Kopf took its snapshot: the work sees that write, and
    the outcome is compared with it, so the write is neither repeated nor undone."""
    stale = body()
    reconcile(FLAVOR, body(), lambda current: commit_and_report(current, {"instancetype": "m1"}))
    writes = len(recorder.statuses)
    seen: list[Any] = []

    def work(current: kopf.Body) -> Outcome:
        seen.append(current["status"].get("instancetype"))
        return Outcome(phase="Active", fields={"instancetype": "m1"})

    reconcile(FLAVOR, stale, work)
    assert seen == ["m1"]
    assert len(recorder.statuses) == writes


def commit_and_report(current: kopf.Body, fields: dict[str, Any]) -> Outcome:
    commit_status(current, fields)
    return Outcome(phase="Active", fields=fields)


def test_a_step_committed_during_the_pass_is_not_written_again(recorder: Recorder) -> None:
    reconcile(FLAVOR, body(), lambda current: commit_and_report(current, {"instancetype": "m1"}))
    assert recorder.statuses[0] == {"instancetype": "m1"}
    assert all("instancetype" not in status for status in recorder.statuses[1:])


def test_an_object_gone_or_being_deleted_is_left_alone(recorder: Recorder) -> None:
    calls: list[str] = []
    reconcile(FLAVOR, body(name="gone"), lambda _: calls.append("gone") or Outcome("Active"))
    recorder.get("Flavor", "m1")["metadata"]["deletionTimestamp"] = "2026-12-02T00:00:00Z"  # type: ignore[index]
    reconcile(FLAVOR, body(), lambda _: calls.append("m1") or Outcome("Active"))
    assert calls == []
    assert recorder.statuses == []
