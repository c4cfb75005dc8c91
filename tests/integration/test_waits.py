"""Waits that end on the event that ends them, never on a timer: a deletion waiting for a
workload, an attachment, a Network's holders or an Image's copies, and a quota refusal.
Each is also proven quiet while it waits: no pass runs over an object that has nothing new
to see, where the old code looked again every few seconds."""

import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.integration.conftest import Cluster, Operator, provision_tenant, stratus_object

POLL_WINDOW = 12.0
"""Longer than any poll period the waits had (5 s, 10 s), so a poll would be seen."""
HOLD = "stratus.test/hold"
"""A finalizer of the test's own, to keep a child from going for as long as it needs."""


@pytest.fixture
def project(cluster: Cluster, operator: Operator, name: str) -> str:
    """A tenant whose quota holds one vCPU: one Server of `<name>-one` at a time."""
    flavors = {f"{name}-one": {"vcpus": 1, "memory": "1Gi"}}
    provision_tenant(cluster, name, flavors, quota={"cores": 1}, cidr="10.40.0.0/24")
    return name


def server(cluster: Cluster, name: str, project: str, **spec: Any) -> None:
    flavor = f"{project}-one"
    networks = [{"network": "lan"}]
    cluster.apply(
        stratus_object(
            "Server",
            name,
            {"flavor": flavor, "image": "cirros", "networks": networks, **spec},
            project,
        )
    )


def quiet_while(operator: Operator, namespace: str, name: str, waiting: Callable[[], bool]) -> None:
    """For POLL_WINDOW seconds the wait goes on and nothing looks at the object: no pass of
    Stratus's (logged with the object) and no Kopf handler (a Kopf retry is a poll)."""

    def activity() -> list[str]:
        return operator.log_about(namespace, name, "Pass over") + operator.log_about(
            namespace, name, "Handler '"
        )

    assert operator.log_about(namespace, name, "Pass over"), "passes are not logged"
    before = activity()
    deadline = time.monotonic() + POLL_WINDOW
    while time.monotonic() < deadline:
        assert waiting(), "the wait ended by itself"
        time.sleep(0.5)
    after = activity()
    assert after == before, f"{name} was looked at again while it waited: {after[len(before) :]}"


def reason_of(cluster: Cluster, kind: str, name: str, namespace: str) -> str | None:
    found = cluster.get(kind, name, namespace) or {}
    ready = [c for c in (found.get("status") or {}).get("conditions") or [] if c["type"] == "Ready"]
    return ready[0]["reason"] if ready else None


def networks_counted(cluster: Cluster, project: str, count: int) -> None:
    cluster.wait_until(
        f"usage to count {count} Networks",
        lambda: cluster.get("project", project)["status"]["usage"]["networks"] == count,
    )


def hold(cluster: Cluster, resource: str, name: str, namespace: str, on: bool) -> None:
    finalizers = [HOLD] if on else []
    patch = '{"metadata":{"finalizers":' + str(finalizers).replace("'", '"') + "}}"
    cluster.kubectl("patch", resource, name, "-n", namespace, "--type", "merge", "-p", patch)


def test_a_deleted_server_goes_when_its_machine_goes_not_on_a_poll(
    cluster: Cluster, operator: Operator, project: str
) -> None:
    server(cluster, "web", project)
    cluster.wait("server/web", "condition=Ready", project, timeout=120)
    hold(cluster, "vm", "web", project, on=True)
    cluster.kubectl("delete", "server", "web", "-n", project, "--wait=false")
    cluster.wait_until(
        "the machine to be asked to go",
        lambda: (
            (cluster.get("vm", "web", project) or {}).get("metadata", {}).get("deletionTimestamp")
        ),
    )
    cluster.wait_until("the instance to go", lambda: cluster.get("vmi", "web", project) is None)
    cluster.wait_until("the launcher to go", lambda: not pods(cluster, project))
    quiet_while(operator, project, "web", lambda: cluster.get("server", "web", project) is not None)
    hold(cluster, "vm", "web", project, on=False)
    cluster.wait("server/web", "delete", project, timeout=30)
    ports = cluster.kubectl("get", "ports", "-n", project, "-o", "name").stdout
    assert ports.strip() == "", "the Server's address was not released"


def pods(cluster: Cluster, namespace: str) -> list[str]:
    return cluster.kubectl("get", "pods", "-n", namespace, "-o", "name").stdout.split()


def test_a_deleted_volume_goes_when_it_is_detached_not_on_a_poll(
    cluster: Cluster, operator: Operator, project: str
) -> None:
    cluster.apply(stratus_object("Volume", "data", {"size": "1Gi"}, project))
    cluster.wait("volume/data", "condition=Ready", project)
    server(cluster, "db", project, volumes=["data"])
    cluster.wait("volume/data", "jsonpath={.status.phase}=InUse", project, timeout=120)
    cluster.wait("server/db", "condition=Ready", project, timeout=120)
    cluster.settled("server", "db", project)
    cluster.kubectl("delete", "volume", "data", "-n", project, "--wait=false")
    cluster.wait_until(
        "VolumeInUse", lambda: reason_of(cluster, "volume", "data", project) == "VolumeInUse"
    )
    quiet_while(
        operator, project, "data", lambda: cluster.get("volume", "data", project) is not None
    )
    # A disk present at boot detaches on the next restart: stop the Server to detach it.
    server(cluster, "db", project, volumes=[], powerState="Stopped")
    cluster.wait("volume/data", "delete", project, timeout=60)


def test_a_network_with_servers_on_it_waits_for_them_and_then_goes(
    cluster: Cluster, operator: Operator, project: str
) -> None:
    server(cluster, "app", project)
    cluster.wait("server/app", "condition=Ready", project, timeout=120)
    cluster.settled("server", "app", project)
    cluster.kubectl("delete", "network", "lan", "-n", project, "--wait=false")
    cluster.wait_until(
        "NetworkInUse", lambda: reason_of(cluster, "network", "lan", project) == "NetworkInUse"
    )
    found = cluster.get("network", "lan", project)
    assert found is not None
    message = next(c for c in found["status"]["conditions"] if c["type"] == "Ready")["message"]
    assert f"Server/{project}/app" in message
    assert cluster.get("network-attachment-definitions", "lan", project) is not None
    quiet_while(
        operator, project, "lan", lambda: cluster.get("network", "lan", project) is not None
    )
    cluster.kubectl("delete", "server", "app", "-n", project, "--wait=false")
    cluster.wait("network/lan", "delete", project, timeout=60)
    networks_counted(cluster, project, 0)


def test_a_network_deleted_while_the_operator_is_down_is_released_when_it_is_back(
    cluster: Cluster, operator: Operator, project: str
) -> None:
    spare = {"hostInterface": "br1", "subnet": {"cidr": "10.41.0.0/24"}}
    cluster.apply(stratus_object("Network", "spare", spare, project))
    cluster.wait("network/spare", "condition=Ready", project)
    networks_counted(cluster, project, 2)
    operator.kill()
    try:
        # Without a finalizer the API server would remove it at once, with nobody to count it.
        cluster.kubectl("delete", "network", "spare", "-n", project, "--wait=false")
        assert cluster.get("network", "spare", project) is not None, "nothing held it back"
    finally:
        operator.start()
    cluster.wait("network/spare", "delete", project, timeout=60)
    networks_counted(cluster, project, 1)


def test_an_image_being_copied_keeps_its_golden_volume_until_the_copy_is_done(
    cluster: Cluster, operator: Operator, project: str
) -> None:
    cluster.apply(
        stratus_object(
            "Image", "noble", {"source": {"url": "https://images.example.org/noble.qcow2"}}, project
        )
    )
    cluster.wait("image/noble", "condition=Ready", project, timeout=90)
    golden_namespace, golden = cluster.get("image", "noble", project)["status"][
        "goldenVolume"
    ].split("/")
    # A copy that cannot finish yet: its claim waits for a storage class that is not there.
    cluster.apply(
        {
            "apiVersion": "cdi.kubevirt.io/v1beta1",
            "kind": "DataVolume",
            "metadata": {"name": "copy", "namespace": project},
            "spec": {
                "source": {"pvc": {"namespace": golden_namespace, "name": golden}},
                "storage": {
                    "resources": {"requests": {"storage": "1Gi"}},
                    "storageClassName": "not-there-yet",
                },
            },
        }
    )
    cluster.settled("datavolume", "copy", project)
    cluster.kubectl("delete", "image", "noble", "-n", project, "--wait=false")
    cluster.wait_until(
        "ImageInUse", lambda: reason_of(cluster, "image", "noble", project) == "ImageInUse"
    )
    assert cluster.get("datavolume", golden, golden_namespace) is not None
    quiet_while(
        operator, project, "noble", lambda: cluster.get("image", "noble", project) is not None
    )
    assert cluster.get("datavolume", golden, golden_namespace) is not None
    cluster.kubectl("delete", "datavolume", "copy", "-n", project)
    cluster.wait("image/noble", "delete", project, timeout=60)
    cluster.wait_until(
        "the golden volume to go",
        lambda: cluster.get("datavolume", golden, golden_namespace) is None,
    )


def test_a_server_refused_by_quota_is_admitted_as_soon_as_another_goes(
    cluster: Cluster, operator: Operator, project: str
) -> None:
    server(cluster, "first", project)
    cluster.wait("server/first", "condition=Ready", project, timeout=120)
    server(cluster, "second", project)
    cluster.wait_until(
        "QuotaExceeded", lambda: reason_of(cluster, "server", "second", project) == "QuotaExceeded"
    )
    found = cluster.get("server", "second", project)
    assert found is not None
    admitted = next(c for c in found["status"]["conditions"] if c["type"] == "QuotaAdmitted")
    assert (admitted["status"], admitted["reason"]) == ("False", "QuotaExceeded")
    cluster.kubectl("delete", "server", "first", "-n", project, "--wait=false")
    # The refusal's own retry is minutes away: only the deletion's event can admit it this soon.
    cluster.wait("server/second", "condition=QuotaAdmitted", project, timeout=30)
    cluster.wait("server/second", "condition=Ready", project, timeout=120)
