"""Live migration passes and the maintenance summary, over an in-memory API: a request starts
one migration however many passes see it, to the roomiest node placement allows; what cannot
move says why."""

from typing import Any

import kopf
import pytest

from stratus.api.server import ServerSpec
from stratus.builders.server import Placement
from stratus.core import indexes
from stratus.core.errors import InvalidInput
from stratus.handlers import maintenance, migration
from stratus.placement.filters import NoValidHost, Request
from tests.unit.fakekube import FakeKube

AT = "2026-12-04T10:00:00Z"
GiB = 2**30
FLAVOR = {"name": "small", "vcpus": 1, "memory": "1Gi", "dedicatedCpu": False}


def node_record(memory_gib: int, schedulable: bool = True) -> list[dict[str, Any]]:
    return [{"zone": None, "schedulable": schedulable, "cpu": 16000, "memory": memory_gib * GiB}]


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> FakeKube:
    fake = FakeKube().install(monkeypatch)
    monkeypatch.setattr(kopf, "event", lambda *_, **__: None)
    monkeypatch.setattr(
        indexes,
        "_bound",
        {
            "nodes_for_placement": {
                "node-1": node_record(64),
                "node-2": node_record(32),
                "node-3": node_record(64),
                "node-4": node_record(128, schedulable=False),
            },
            "pod_requests_by_node": {"node-3": [(1000, 40 * GiB)]},
            "server_group_hosts": {},
            "maintenances_by_node": {},
        },
    )
    fake.add(
        {
            "apiVersion": "kubevirt.io/v1",
            "kind": "VirtualMachineInstance",
            "metadata": {"name": "web", "namespace": "acme"},
            "status": {"phase": "Running", "nodeName": "node-1", "conditions": []},
        }
    )
    return fake


def server(api: FakeKube, **spec: Any) -> kopf.Body:
    api.add(
        {
            "apiVersion": "stratus.io/v1alpha1",
            "kind": "Server",
            "metadata": {"name": "web", "namespace": "acme"},
            "spec": {"flavor": "small", "image": "cirros", "migrateRequestedAt": AT, **spec},
            "status": {"phase": "Active", "host": "node-1", "flavor": FLAVOR},
        }
    )
    found = api.read("stratus.io/v1alpha1", "Server", "web", "acme")
    return kopf.Body(found)


def test_a_request_starts_one_migration_to_the_node_with_most_free_memory(
    api: FakeKube,
) -> None:
    body = server(api)
    fields = migration.migrate(body, ServerSpec.model_validate(body["spec"]), Placement())
    record = fields["migration"]
    # node-2 has 32Gi free, node-3 24Gi; node-4 is cordoned and node-1 is the source.
    assert (record["sourceHost"], record["targetHost"], record["phase"]) == (
        "node-1",
        "node-2",
        "Pending",
    )
    assert fields["migratedFor"] == AT
    made = api.read("kubevirt.io/v1", "VirtualMachineInstanceMigration", record["name"], "acme")
    assert made["spec"]["addedNodeSelector"] == {"kubernetes.io/hostname": "node-2"}
    # Another pass over the Server as it now is follows that migration, and starts none.
    again = kopf.Body(api.read("stratus.io/v1alpha1", "Server", "web", "acme"))
    assert migration.migrate(again, ServerSpec.model_validate(again["spec"]), Placement()) == {}
    assert api.calls["create"] == 1


def test_a_migration_recorded_but_not_made_before_a_crash_is_made_by_the_next_pass(
    api: FakeKube, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = server(api)

    def crash(_: Any) -> None:
        raise RuntimeError("the operator died here")

    monkeypatch.setattr(migration, "create_migration", crash)
    with pytest.raises(RuntimeError):
        migration.migrate(body, ServerSpec.model_validate(body["spec"]), Placement())
    monkeypatch.undo()
    FakeKube.install(api, monkeypatch)
    monkeypatch.setattr(kopf, "event", lambda *_, **__: None)
    after = kopf.Body(api.read("stratus.io/v1alpha1", "Server", "web", "acme"))
    recorded = after["status"]["migration"]
    assert migration.migrate(after, ServerSpec.model_validate(after["spec"]), Placement()) == {}
    made = api.read("kubevirt.io/v1", "VirtualMachineInstanceMigration", recorded["name"], "acme")
    assert made is not None
    assert made["spec"]["addedNodeSelector"] == {"kubernetes.io/hostname": recorded["targetHost"]}


def test_no_other_node_that_fits_is_no_valid_host(api: FakeKube) -> None:
    indexes._bound["nodes_for_placement"] = {"node-1": node_record(64), "node-2": node_record(1)}
    body = server(api)
    fields = migration.migrate(body, ServerSpec.model_validate(body["spec"]), Placement())
    record = fields["migration"]
    assert (record["phase"], record["reason"]) == ("Failed", "NoValidHost")
    assert "RamFilter eliminated 1" in record["message"]
    assert api.calls["create"] == 0


@pytest.mark.parametrize(
    ("spec", "status", "reason"),
    [
        ({"runtime": "kata"}, {"phase": "Running"}, "LiveMigrationUnsupported"),
        ({"powerState": "Stopped"}, {"phase": "Running"}, "NotRunning"),
        ({}, {"phase": "Scheduling"}, "NotRunning"),
        (
            {},
            {
                "phase": "Running",
                "conditions": [
                    {"type": "LiveMigratable", "status": "False", "message": "PVC x is not shared"}
                ],
            },
            "NotLiveMigratable",
        ),
    ],
)
def test_what_cannot_move_is_refused_with_a_reason(
    spec: dict[str, Any], status: dict[str, Any], reason: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        migration.movable(
            ServerSpec.model_validate({"flavor": "small", "image": "cirros", **spec}),
            {"status": {"nodeName": "node-1", **status}},
        )
    assert refused.value.reason == reason


def test_the_node_a_server_leaves_is_never_its_target(api: FakeKube) -> None:
    indexes._bound["nodes_for_placement"] = {"node-1": node_record(64)}
    with pytest.raises(NoValidHost):
        migration.choose_target(Request(cpu=100, memory=GiB), "node-1")


def moved_server(name: str, request: str, phase: str, reason: str | None = None) -> dict[str, Any]:
    record = {"requestedBy": request, "phase": phase, "sourceHost": "hv", "reason": reason}
    return {"metadata": {"namespace": "acme", "name": name}, "status": {"migration": record}}


def test_the_maintenance_summary_lists_what_moves_and_what_cannot() -> None:
    owner = {"metadata": {"name": "hm", "uid": "0123456789"}}
    request = maintenance.maintenance_request(owner)
    assert request == "HostMaintenance/hm/01234567"
    waiting = {"metadata": {"namespace": "acme", "name": "new"}, "status": {}}
    moving = moved_server("moving", request, "Running")
    stuck = moved_server("stuck", request, "Failed", "NoValidHost")
    earlier = moved_server("earlier", "migrateRequestedAt", "Failed", "NoValidHost")
    assert [maintenance.tried(s, owner, "hv") for s in (waiting, moving, stuck, earlier)] == [
        False,
        True,
        True,
        False,
    ]
    under_way = maintenance.summary(owner, "hv", [moving, stuck], True)
    assert (under_way.phase, under_way.ready, under_way.reason) == ("Migrating", False, "Migrating")
    assert under_way.fields["migrating"] == ["acme/moving"]
    blocked = maintenance.summary(owner, "hv", [stuck], True)
    assert (blocked.phase, blocked.reason, blocked.failed) == ("Blocked", "ServersNotMovable", True)
    assert blocked.fields["unmovable"] == [
        {"server": "acme/stuck", "reason": "NoValidHost", "message": ""}
    ]
    empty = maintenance.summary(owner, "hv", [], False)
    assert (empty.phase, empty.ready, empty.fields["cordoned"]) == ("InMaintenance", True, False)


def test_a_server_that_cannot_leave_a_node_in_maintenance_is_tried_once(api: FakeKube) -> None:
    owner = {"metadata": {"name": "hm", "uid": "0123456789"}}
    indexes._bound["maintenances_by_node"] = {"node-1": [owner]}
    body = server(api, runtime="kata", migrateRequestedAt=None)
    spec = ServerSpec.model_validate(body["spec"])
    record = migration.migrate(body, spec, Placement())["migration"]
    assert (record["requestedBy"], record["reason"], record["sourceHost"]) == (
        "HostMaintenance/hm/01234567",
        "LiveMigrationUnsupported",
        "node-1",
    )
    body["status"]["migration"] = record
    assert maintenance.tried(body, owner, "node-1")
    assert migration.migrate(body, spec, Placement()) == {}
