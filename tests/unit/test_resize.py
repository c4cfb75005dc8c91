"""Resize verification over an in-memory API: a resize waits in VerifyResize for a
confirmation or a revert, a confirmation is acted on once, and a new instance that fails
reverts the Server to the Flavor it left."""

from typing import Any

import kopf
import pytest

from stratus.api.server import ServerSpec
from stratus.core.errors import InvalidInput
from stratus.handlers import server as handlers
from stratus.status.server import State
from tests.unit.fakekube import FakeKube

AT = "2026-12-04T10:00:00Z"
SMALL = {"name": "small", "vcpus": 1, "memory": "1Gi", "dedicatedCpu": False}
LARGE = {"name": "large", "vcpus": 4, "memory": "8Gi", "dedicatedCpu": False}
RUNNING = State("Active", True, "Running", "running on node-1")


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> FakeKube:
    fake = FakeKube().install(monkeypatch)
    events: list[str] = []
    monkeypatch.setattr(kopf, "event", lambda *_, reason, **__: events.append(reason))
    monkeypatch.setattr(handlers, "refresh_usage", lambda namespace: None)
    fake.events = events  # type: ignore[attr-defined]
    return fake


def resized(api: FakeKube, flavor: str = "large", **status: Any) -> kopf.Body:
    api.add(
        {
            "apiVersion": "stratus.io/v1alpha1",
            "kind": "Server",
            "metadata": {"name": "web", "namespace": "acme"},
            "spec": {"flavor": flavor, "image": "cirros"},
            "status": {"phase": "Active", "flavor": LARGE, "previousFlavor": SMALL, **status},
        }
    )
    return kopf.Body(api.read("stratus.io/v1alpha1", "Server", "web", "acme"))


def spec_of(body: kopf.Body, **changes: Any) -> ServerSpec:
    return ServerSpec.model_validate({**body["spec"], **changes})


def stored(api: FakeKube) -> dict[str, Any]:
    found: dict[str, Any] = api.read("stratus.io/v1alpha1", "Server", "web", "acme")["status"]
    return found


def test_a_resize_running_in_its_new_flavor_waits_for_verification(api: FakeKube) -> None:
    body = resized(api)
    state = handlers.resize_state(body, spec_of(body), RUNNING)
    assert state is not None
    assert (state.phase, state.ready, state.reason) == ("VerifyResize", True, "VerifyResize")
    assert "revert with spec.flavor: small" in state.message
    # Still replacing the old instance, or not running yet: nothing to verify.
    assert handlers.resize_state(resized(api, resizeOf="uid-1"), spec_of(body), RUNNING) is None
    starting = State("Building", False, "Starting", "starting")
    assert handlers.resize_state(resized(api), spec_of(body), starting) is None


def test_a_confirmation_lets_the_old_flavor_go_once(api: FakeKube) -> None:
    body = resized(api)
    assert handlers.resize_state(body, spec_of(body, resizeConfirmedAt=AT), RUNNING) is None
    assert "previousFlavor" not in stored(api)
    assert stored(api)["resizeConfirmedFor"] == AT
    assert api.events == ["ResizeConfirmed"]  # type: ignore[attr-defined]
    # The same value again confirms nothing: the next resize waits for a new one.
    body = resized(api, resizeConfirmedFor=AT)
    state = handlers.resize_state(body, spec_of(body, resizeConfirmedAt=AT), RUNNING)
    assert state is not None and state.reason == "VerifyResize"


def test_a_confirmation_given_early_waits_for_the_resize_it_came_with(api: FakeKube) -> None:
    body = resized(api, resizeOf="uid-1")
    assert handlers.resize_state(body, spec_of(body, resizeConfirmedAt=AT), RUNNING) is None
    assert "resizeConfirmedFor" not in stored(api)
    assert stored(api)["previousFlavor"] == SMALL


def test_a_confirmation_with_no_resize_is_recorded_and_does_nothing(api: FakeKube) -> None:
    body = resized(api, previousFlavor=None)
    assert handlers.resize_state(body, spec_of(body, resizeConfirmedAt=AT), RUNNING) is None
    assert stored(api)["resizeConfirmedFor"] == AT
    assert api.events == []  # type: ignore[attr-defined]


def test_a_confirmation_seen_before_its_resize_is_admitted_waits_for_it(api: FakeKube) -> None:
    """An instance's event may show the new spec before the pass that admits the resize."""
    body = resized(api, flavor="huge", previousFlavor=None)
    assert handlers.resize_state(body, spec_of(body, resizeConfirmedAt=AT), RUNNING) is None
    assert "resizeConfirmedFor" not in stored(api)


def test_naming_the_old_flavor_reverts_and_a_third_is_refused_until_then(api: FakeKube) -> None:
    body = resized(api, flavor="small")
    assert handlers.wanted_flavor(body, spec_of(body)).model_dump(by_alias=True) == {
        **SMALL, "disk": None,
    }  # fmt: skip
    body = resized(api, flavor="huge")
    with pytest.raises(InvalidInput) as refused:
        handlers.wanted_flavor(body, spec_of(body))
    assert refused.value.reason == "ResizeRefused"
    assert "the resize from small to large is not confirmed" in refused.value.message
    assert refused.value.phase == "Active"  # the Server runs on, as it was


def crash_looping(api: FakeKube) -> None:
    api.add(
        {
            "apiVersion": "kubevirt.io/v1",
            "kind": "VirtualMachine",
            "metadata": {"name": "web", "namespace": "acme"},
            "spec": {"runStrategy": "Always"},
            "status": {
                "printableStatus": "CrashLoopBackOff",
                "startFailure": {"consecutiveFailCount": 1, "retryAfterTimestamp": AT},
            },
        }
    )


def test_a_new_instance_that_fails_reverts_to_the_old_flavor_once(api: FakeKube) -> None:
    body = resized(api, resizeOf="uid-1")
    assert not handlers.revert_failed_resize(body, spec_of(body))  # no failure yet
    crash_looping(api)
    assert handlers.revert_failed_resize(body, spec_of(body))
    status = stored(api)
    assert status["flavor"]["name"] == "small" and "previousFlavor" not in status
    assert status["resizeFailed"]["flavor"] == "large"
    assert status["resizeFailed"]["reason"] == "CrashLoopBackOff"
    assert api.events == ["ResizeReverted"]  # type: ignore[attr-defined]
    body = kopf.Body(api.read("stratus.io/v1alpha1", "Server", "web", "acme"))
    assert not handlers.revert_failed_resize(body, spec_of(body))
    # The failed Flavor is not tried again, and the Server says why it is not Ready.
    assert handlers.wanted_flavor(body, spec_of(body)).name == "small"
    state = handlers.resize_state(body, spec_of(body), RUNNING)
    assert state is not None and (state.ready, state.reason) == (False, "ResizeFailed")
    assert "the resize to large failed (CrashLoopBackOff" in state.message


def test_naming_another_flavor_clears_the_failure(api: FakeKube) -> None:
    failure = {"flavor": "large", "reason": "CrashLoopBackOff", "message": "failed"}
    body = resized(api, flavor="small", previousFlavor=None, resizeFailed=failure)
    assert handlers.resize_state(body, spec_of(body), RUNNING) is None
    assert "resizeFailed" not in stored(api)


def test_shelving_confirms_a_resize_that_waits(api: FakeKube) -> None:
    body = resized(api)
    handlers.shelve(body)
    assert stored(api)["shelved"] is True and "previousFlavor" not in stored(api)
    shelved = State("Shelved", True, "Shelved", "shelved")
    assert handlers.resize_state(body, spec_of(body), shelved) is None
