"""Passes over one Server: a reboot is carried out exactly once, whichever pass (the Server's
own handler, its instance's event) runs first and whatever snapshot it had; and an address is
taken with one create however many the Network already holds."""

import threading
from typing import Any

import kopf
import pytest

from stratus.api.network import NetworkSpec
from stratus.api.server import SERVER, ServerFlavor, ServerSpec
from stratus.builders.meta import Owner
from stratus.builders.server import Boot, Placement
from stratus.core import indexes, parents, workqueue
from stratus.core.errors import DependencyNotReady
from stratus.core.reconcile import key_of, reconcile
from stratus.core.workqueue import Strength
from stratus.handlers.server import Inputs, interfaces_of, observe_server
from tests.unit.fakekube import FakeKube

AT = "2026-12-02T10:00:00Z"


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> FakeKube:
    fake = FakeKube().install(monkeypatch)
    monkeypatch.setattr(kopf, "event", lambda *_, **__: None)
    # Placement's view of the nodes, as the Kopf index has it: node-1 is in zone-a.
    monkeypatch.setattr(
        indexes, "_bound", {"nodes_for_placement": {"node-1": [{"zone": "zone-a"}]}}
    )
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
            "status": {
                "nodeName": "node-1",
                "phase": "Running",
                "conditions": [{"type": "Ready", "status": "True"}],
            },
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
    assert (status["host"], status["zone"]) == ("node-1", "zone-a")


def _pass(snapshot: kopf.Body) -> None:
    reconcile(SERVER, snapshot, observe_server)


def test_a_new_servers_address_costs_one_create_however_many_are_taken(
    api: FakeKube, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Allocation starts past the addresses the Port index has seen taken, instead of trying
    each from the bottom; the name-as-lock still decides."""
    taken = {("acme", "lan"): [f"10.0.0.{host}" for host in range(2, 202)]}
    monkeypatch.setitem(indexes._bound, "addresses_by_network", taken)
    network = NetworkSpec.model_validate(
        {"hostInterface": "br1", "subnet": {"cidr": "10.0.0.0/24", "gateway": "10.0.0.1"}}
    )
    for address in taken["acme", "lan"]:
        api.add(
            {
                "apiVersion": "stratus.io/v1alpha1",
                "kind": "Port",
                "metadata": {"name": "lan." + address.replace(".", "-"), "namespace": "acme"},
                "spec": {"network": "lan", "address": address, "holder": "Server/acme/other"},
            }
        )
    spec = ServerSpec.model_validate(
        {"flavor": "m1", "image": "cirros", "networks": [{"network": "lan"}]}
    )
    inputs = Inputs(
        flavor=ServerFlavor(name="m1", vcpus=1, memory="1Gi"),
        boot=Boot(),
        registry=None,
        networks=[("acme", "lan", network)],
        disks=[],
        placement=Placement(),
        public_key=None,
    )
    api.calls.clear()
    (interface,) = interfaces_of(Owner("Server", "web", "uid-web", "acme"), spec, inputs, True)
    assert interface.address == "10.0.0.202"
    assert api.calls["create"] == 1


def test_a_pass_started_by_an_event_that_waits_keeps_the_servers_phase(api: FakeKube) -> None:
    """A dependency not ready yet is Building (Reconciling), never Error (Stalled), whichever
    pass found it."""
    done = threading.Event()

    def waiting(_: kopf.Body) -> Any:
        done.set()
        raise DependencyNotReady("ImageNotReady", "Image acme/cirros is Importing")

    api.get("Server", "web", "acme")["status"] = {}  # type: ignore[index]
    owner = api.read("stratus.io/v1alpha1", "Server", "web", "acme")
    parents.run(SERVER, owner, waiting, Strength.ENSURE)
    assert done.wait(5)
    status: dict[str, Any] = api.get("Server", "web", "acme")["status"]  # type: ignore[index]
    assert status["phase"] == "Building"
    stalled = next(c for c in status["conditions"] if c["type"] == "Stalled")
    assert stalled["status"] == "False"
    workqueue.forget(key_of(SERVER, owner))
