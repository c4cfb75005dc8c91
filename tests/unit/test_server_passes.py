"""Passes over one Server that race: a reboot is carried out exactly once, whichever pass
(the Server's own handler, its instance's event) runs first and whatever snapshot it had."""

import threading
from typing import Any

import kopf
import pytest

from stratus.api.server import SERVER
from stratus.core import workqueue
from stratus.core.reconcile import key_of, reconcile
from stratus.handlers.server import observe_server
from tests.unit.fakekube import FakeKube

AT = "2026-12-02T10:00:00Z"


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> FakeKube:
    fake = FakeKube().install(monkeypatch)
    monkeypatch.setattr(kopf, "event", lambda *_, **__: None)
    fake.add(
        {
            "apiVersion": "stratus.io/v1alpha1",
            "kind": "Server",
            "metadata": {"name": "web", "namespace": "acme"},
            "spec": {"flavor": "m1.small", "image": "cirros", "rebootRequestedAt": AT},
            "status": {"phase": "Active"},
        }
    )
    fake.add(
        {
            "apiVersion": "kubevirt.io/v1",
            "kind": "VirtualMachine",
            "metadata": {"name": "web", "namespace": "acme"},
            "spec": {"template": {"spec": {"volumes": []}}},
            "status": {"printableStatus": "Running", "ready": True},
        }
    )
    fake.on_delete["VirtualMachineInstance"] = lambda _: add_instance(fake)
    add_instance(fake)
    return fake


def add_instance(api: FakeKube) -> None:
    """What KubeVirt does when a running VM's instance is deleted: start a new one."""
    api.add(
        {
            "apiVersion": "kubevirt.io/v1",
            "kind": "VirtualMachineInstance",
            "metadata": {"name": "web", "namespace": "acme"},
            "status": {"nodeName": "node-1"},
        }
    )


def test_two_passes_racing_with_an_old_snapshot_reboot_exactly_once(api: FakeKube) -> None:
    stale = kopf.Body(api.read("stratus.io/v1alpha1", "Server", "web", "acme"))
    first = api.get("VirtualMachineInstance", "web", "acme")["metadata"]["uid"]  # type: ignore[index]
    passes = [threading.Thread(target=_pass, args=(stale,)) for _ in range(2)]
    with workqueue.hold(key_of(SERVER, stale)):
        for thread in passes:
            thread.start()
    for thread in passes:
        thread.join(10)
    _pass(stale)  # and once more, as the Server's own handler would after both
    assert [uid for kind, _, uid in api.deleted if kind == "VirtualMachineInstance"] == [first]
    status: dict[str, Any] = api.get("Server", "web", "acme")["status"]  # type: ignore[index]
    assert status["rebootedFor"] == AT
    assert "rebootOf" not in status


def _pass(snapshot: kopf.Body) -> None:
    reconcile(SERVER, snapshot, observe_server)
