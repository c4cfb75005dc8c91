"""Live migration and host maintenance, as a cloud's users and administrators drive them with
kubectl: Nova's `server migrate --live` and host evacuation, on KubeVirt's
VirtualMachineInstanceMigration (played by the simulator) and the placement filters."""

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import jsonschema
import pytest

from devcluster.simulator.migration import FAIL_MIGRATIONS
from tests.integration.conftest import (
    Cluster,
    Operator,
    kwok_node,
    provision_tenant,
    stratus_object,
)

NODES = ("node-1", "node-2", "node-3")


@pytest.fixture
def tenant(cluster: Cluster, operator: Operator, name: str) -> str:
    """A Project whose administrator is alice: she runs its Servers, the cloud's
    administrators move them."""
    flavors = {f"{name}-s": {"vcpus": 1, "memory": "1Gi", "disk": "2Gi"}}
    provision_tenant(cluster, name, flavors, members=[{"name": "alice", "role": "admin"}])
    return name


def server(name: str, ns: str, **spec: Any) -> str:
    return stratus_object("Server", name, {"flavor": f"{ns}-s", "image": "cirros", **spec}, ns)


def running(cluster: Cluster, name: str, ns: str) -> dict[str, Any]:
    cluster.wait(f"server/{name}", "jsonpath={.status.phase}=Active", ns, timeout=120)
    cluster.wait(f"server/{name}", "condition=Ready", ns, timeout=60)
    found = cluster.get("server", name, ns)
    assert found is not None
    return found


def request_migration(cluster: Cluster, name: str, ns: str) -> str:
    at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    patch = json.dumps({"spec": {"migrateRequestedAt": at}})
    cluster.kubectl("patch", "server", name, "-n", ns, "--type", "merge", "-p", patch)
    return at


def migration_ends(cluster: Cluster, name: str, ns: str, phase: str) -> dict[str, Any]:
    cluster.wait(f"server/{name}", f"jsonpath={{.status.migration.phase}}={phase}", ns, 120)
    found = cluster.get("server", name, ns)
    assert found is not None
    migration: dict[str, Any] = found["status"]["migration"]
    return migration


def launcher_nodes(cluster: Cluster, name: str, ns: str) -> list[str]:
    pods = cluster.kubectl(
        "get", "pods", "-n", ns, "-l", f"vm.kubevirt.io/name={name}", "-o", "json"
    )
    return [
        p["spec"].get("nodeName")
        for p in json.loads(pods.stdout)["items"]
        if not p["metadata"].get("deletionTimestamp")
    ]


def test_a_live_migration_moves_a_running_server_without_restarting_it(
    cluster: Cluster, tenant: str
) -> None:
    ns = tenant
    cluster.apply(server("mover", ns))
    before = running(cluster, "mover", ns)
    source = before["status"]["host"]
    instance = cluster.get("vmi", "mover", ns)
    assert instance is not None

    at = request_migration(cluster, "mover", ns)
    migration = migration_ends(cluster, "mover", ns, "Succeeded")
    after = running(cluster, "mover", ns)
    assert after["status"]["migratedFor"] == at
    assert migration["sourceHost"] == source
    assert migration["targetHost"] == after["status"]["host"] != source
    assert migration["requestedBy"] == "migrateRequestedAt"
    moved = cluster.get("vmi", "mover", ns)
    assert moved is not None
    # Live: the same instance, now on the new node, in one launcher pod there.
    assert moved["metadata"]["uid"] == instance["metadata"]["uid"]
    assert moved["status"]["nodeName"] == after["status"]["host"]
    cluster.wait_until(
        "the source launcher pod to go",
        lambda: launcher_nodes(cluster, "mover", ns) == [after["status"]["host"]],
    )
    assert after["status"]["addresses"] == before["status"]["addresses"]
    reasons = cluster.event_reasons("mover", ns)
    assert "Migrating" in reasons and "Migrated" in reasons
    table = cluster.kubectl("get", "servers", "mover", "-n", ns).stdout
    assert "MIGRATION" in table.splitlines()[0] and "Succeeded" in table

    vmim = cluster.get("vmim", migration["name"], ns)
    assert vmim is not None
    assert vmim["spec"]["addedNodeSelector"] == {"kubernetes.io/hostname": migration["targetHost"]}
    # ../shared has no schema of this kind: the one KubeVirt's module installed checks it.
    jsonschema.validate(
        vmim, cluster.installed_schema("virtualmachineinstancemigrations.kubevirt.io", "v1")
    )
    # The request is carried out once: passes that see it again start nothing more.
    cluster.apply(server("mover", ns, migrateRequestedAt=at))
    cluster.settled("server", "mover", ns)
    vmims = cluster.kubectl("get", "vmim", "-n", ns, "-o", "name").stdout.split()
    assert vmims == [f"virtualmachineinstancemigration.kubevirt.io/{migration['name']}"]


def test_only_cloud_administrators_may_live_migrate(cluster: Cluster, tenant: str) -> None:
    """Nova's policy: a tenant choosing where its Servers run could hunt for a neighbour's
    node. The API server's admission policy refuses a tenant's migrateRequestedAt."""
    ns = tenant
    as_alice = cluster.kubectl(
        "apply", "--as=alice", "-f", "-", stdin=server("own", ns), check=False
    )
    assert as_alice.returncode == 0, as_alice.stderr
    asked = server("own", ns, migrateRequestedAt="2026-12-04T10:00:00Z")
    refused = cluster.kubectl("apply", "--as=alice", "-f", "-", stdin=asked, check=False)
    assert "only cluster administrators may live-migrate a Server" in refused.stderr
    assert "migrateRequestedAt" not in cluster.get("server", "own", ns)["spec"]
    # Her other changes still go through, the administrator's request included.
    cluster.apply(asked)
    stopped = server("own", ns, migrateRequestedAt="2026-12-04T10:00:00Z", powerState="Stopped")
    as_alice = cluster.kubectl("apply", "--as=alice", "-f", "-", stdin=stopped, check=False)
    assert as_alice.returncode == 0, as_alice.stderr


def test_a_migration_that_anti_affinity_forbids_is_refused_with_no_valid_host(
    cluster: Cluster, tenant: str
) -> None:
    ns = tenant
    cluster.apply(stratus_object("ServerGroup", "spread", {"policy": "anti-affinity"}, ns))
    cluster.wait("servergroup/spread", "condition=Ready", ns)
    members = ["a1", "a2", "a3"]
    cluster.apply("\n---\n".join(server(m, ns, serverGroup="spread") for m in members))
    hosts = [running(cluster, m, ns)["status"]["host"] for m in members]
    assert sorted(hosts) == list(NODES)

    request_migration(cluster, "a1", ns)
    migration = migration_ends(cluster, "a1", ns, "Failed")
    assert migration["reason"] == "NoValidHost"
    assert "among 2 nodes" in migration["message"]
    assert "ServerGroupAntiAffinityFilter eliminated 2" in migration["message"]
    assert migration["sourceHost"] == hosts[0]
    assert "NoValidHost" in cluster.event_reasons("a1", ns)
    # Nothing was started, and the Server runs on where it was, Ready.
    assert cluster.kubectl("get", "vmim", "-n", ns, "-o", "name").stdout == ""
    assert running(cluster, "a1", ns)["status"]["host"] == hosts[0]


@pytest.fixture
def failing_nodes(cluster: Cluster) -> Iterator[None]:
    """Every node refuses incoming migrations (the simulator's fault), until the test ends."""
    with cluster.nodes_annotated(FAIL_MIGRATIONS, "true"):
        yield


def test_a_failed_migration_leaves_the_server_running_where_it_was(
    cluster: Cluster, tenant: str, failing_nodes: None
) -> None:
    ns = tenant
    cluster.apply(server("stay", ns))
    source = running(cluster, "stay", ns)["status"]["host"]
    instance = cluster.get("vmi", "stay", ns)
    assert instance is not None

    request_migration(cluster, "stay", ns)
    migration = migration_ends(cluster, "stay", ns, "Failed")
    assert migration["reason"] == "MigrationFailed"
    assert "the target refused the domain" in migration["message"]
    assert migration["targetHost"] != source
    after = running(cluster, "stay", ns)
    assert after["status"]["host"] == source
    kept = cluster.get("vmi", "stay", ns)
    assert kept is not None and kept["metadata"]["uid"] == instance["metadata"]["uid"]
    cluster.wait_until(
        "the target pod to go", lambda: launcher_nodes(cluster, "stay", ns) == [source]
    )
    assert "MigrationFailed" in cluster.event_reasons("stay", ns)


def test_servers_that_cannot_live_migrate_say_why(cluster: Cluster, tenant: str) -> None:
    ns = tenant
    cluster.apply(stratus_object("Volume", "local", {"size": "1Gi"}, ns))
    cluster.wait("volume/local", "condition=Ready", ns, timeout=60)
    cluster.apply(
        "\n---\n".join(
            [
                server("kata", ns, runtime="kata"),
                server("stopped", ns, powerState="Stopped"),
                server("pinned", ns, volumes=["local"]),
            ]
        )
    )
    running(cluster, "kata", ns)
    running(cluster, "pinned", ns)
    cluster.wait("server/stopped", "jsonpath={.status.phase}=Shutoff", ns, timeout=120)
    cluster.wait_until(
        "the ReadWriteOnce volume to be attached",
        lambda: (
            cluster.get("server", "pinned", ns)["status"]["volumes"]
            == [{"name": "local", "state": "Attached"}]
        ),
    )
    expected = {
        "kata": ("LiveMigrationUnsupported", "cannot be live-migrated"),
        "stopped": ("NotRunning", "only a running Server can be live-migrated"),
        "pinned": ("NotLiveMigratable", "is not shared, live migration requires"),
    }
    for name in expected:
        request_migration(cluster, name, ns)
    for name, (reason, words) in expected.items():
        migration = migration_ends(cluster, name, ns, "Failed")
        assert (migration["reason"], words in migration["message"]) == (reason, True), migration
        assert reason in cluster.event_reasons(name, ns)
    assert cluster.kubectl("get", "vmim", "-n", ns, "-o", "name").stdout == ""


@pytest.fixture
def maintenance_node(cluster: Cluster, name: str) -> Iterator[str]:
    """A node of the test's own, holding only what the test puts there (the other nodes
    are cordoned meanwhile); at the end it is gone and every node is in service again."""
    node = f"hv-{name}"[:63].rstrip("-")
    cluster.apply(kwok_node(node))
    cluster.wait(f"node/{node}", "condition=Ready", timeout=60)
    yield node
    cluster.kubectl("delete", "hostmaintenance", "--all", "--timeout=60s")
    for other in NODES:
        cluster.kubectl("uncordon", other)
    cluster.kubectl("delete", "node", node, "--timeout=60s")


def test_host_maintenance_moves_every_server_off_the_node_and_ends_in_service(
    cluster: Cluster, tenant: str, maintenance_node: str
) -> None:
    ns, node = tenant, maintenance_node
    for other in NODES:
        cluster.kubectl("cordon", other)
    names = ["m1", "m2", "m3"]
    cluster.apply(
        "\n---\n".join([*(server(n, ns) for n in names), server("box", ns, runtime="kata")])
    )
    for name in [*names, "box"]:
        assert running(cluster, name, ns)["status"]["host"] == node
    for other in NODES:
        cluster.kubectl("uncordon", other)

    hm = f"hm-{ns}"
    cluster.apply(stratus_object("HostMaintenance", hm, {"node": node, "reason": "BIOS update"}))
    cluster.wait(f"hostmaintenance/{hm}", "jsonpath={.status.phase}=Blocked", timeout=180)
    found = cluster.get("hostmaintenance", hm)
    assert found is not None
    status = found["status"]
    assert status["cordoned"] is True
    assert status["servers"] == [f"{ns}/box"]
    assert status["unmovable"] == [
        {
            "server": f"{ns}/box",
            "reason": "LiveMigrationUnsupported",
            "message": "live migration refused: a kata Server runs in a Pod, which cannot be "
            "live-migrated: stop it and start it again to move it",
        }
    ]
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "ServersNotMovable")
    assert "ServersNotMovable" in cluster.event_reasons(hm, "default")
    assert cluster.get("node", node)["spec"]["unschedulable"] is True
    for name in names:
        moved = running(cluster, name, ns)["status"]
        assert moved["host"] in NODES
        assert moved["migration"]["requestedBy"].startswith(f"HostMaintenance/{hm}/")
        assert moved["migration"]["phase"] == "Succeeded"

    # The one that could not move is stopped by its owner: the node is empty.
    cluster.apply(server("box", ns, runtime="kata", powerState="Stopped"))
    cluster.wait(f"hostmaintenance/{hm}", "condition=Ready", timeout=90)
    found = cluster.get("hostmaintenance", hm)
    assert found is not None
    assert (found["status"]["phase"], found["status"]["servers"]) == ("InMaintenance", [])
    table = cluster.kubectl("get", "hostmaintenances", hm).stdout
    assert node in table and "InMaintenance" in table

    cluster.kubectl("delete", f"hostmaintenance/{hm}", "--timeout=60s")
    back = cluster.get("node", node)
    assert back is not None and not back["spec"].get("unschedulable")
    assert "stratus.io/cordoned-by" not in (back["metadata"].get("annotations") or {})


def test_maintenance_of_a_missing_node_says_so(cluster: Cluster, operator: Operator) -> None:
    cluster.apply(stratus_object("HostMaintenance", "hm-nowhere", {"node": "node-404"}))
    try:
        cluster.wait(
            "hostmaintenance/hm-nowhere",
            "jsonpath={.status.conditions[?(@.type=='Ready')].reason}=NodeNotFound",
        )
    finally:
        cluster.kubectl("delete", "hostmaintenance", "hm-nowhere", "--timeout=60s")
