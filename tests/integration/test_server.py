"""Server and ServerGroup against the local control plane with the simulated KubeVirt: what a
user of `openstack server create` relies on, driven with kubectl."""

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import jsonschema
import pytest

from devcluster.simulator.launcher import GUEST_MEMORY_LIMIT
from tests.conftest import UpstreamSchema
from tests.integration.conftest import (
    PUBLIC_KEY,
    Cluster,
    Operator,
    provision_tenant,
    stratus_object,
)


@dataclass(frozen=True)
class Tenant:
    """A Project with a Network, a bootable Image and Flavors, all Ready."""

    namespace: str
    small: str
    large: str
    huge: str


def server(name: str, namespace: str, flavor: str, **spec: Any) -> str:
    return stratus_object("Server", name, {"flavor": flavor, **spec}, namespace)


@pytest.fixture
def tenant(cluster: Cluster, operator: Operator, name: str) -> Tenant:
    flavors = {
        f"{name}-s": {"vcpus": 1, "memory": "1Gi", "disk": "2Gi"},
        f"{name}-l": {"vcpus": 4, "memory": "8Gi"},
        f"{name}-h": {"vcpus": 8, "memory": "100Gi"},
    }
    provision_tenant(cluster, name, flavors)
    return Tenant(name, *flavors)


def active(cluster: Cluster, name: str, namespace: str, timeout: int = 120) -> dict[str, Any]:
    cluster.wait(f"server/{name}", "jsonpath={.status.phase}=Active", namespace, timeout=timeout)
    cluster.wait(f"server/{name}", "condition=Ready", namespace, timeout=timeout)
    found = cluster.get("server", name, namespace)
    assert found is not None
    return found


def ready_condition(cluster: Cluster, name: str, namespace: str, reason: str) -> dict[str, Any]:
    cluster.wait(
        f"server/{name}",
        f"jsonpath={{.status.conditions[?(@.type=='Ready')].reason}}={reason}",
        namespace,
        timeout=90,
    )
    found = cluster.get("server", name, namespace)
    assert found is not None
    return next(c for c in found["status"]["conditions"] if c["type"] == "Ready")


def secret_data(cluster: Cluster, name: str, namespace: str) -> dict[str, str]:
    found = cluster.get("secret", name, namespace)
    assert found is not None, f"Secret {name} is missing"
    return {k: base64.b64decode(v).decode() for k, v in found["data"].items()}


def instance_uid(cluster: Cluster, name: str, namespace: str) -> str | None:
    found = cluster.get("vmi", name, namespace)
    if found is None or found["metadata"].get("deletionTimestamp"):
        return None
    return str(found["metadata"]["uid"])


def test_a_server_boots_from_an_image_as_a_virtual_machine_on_a_node(
    cluster: Cluster, tenant: Tenant
) -> None:
    ns = tenant.namespace
    cluster.apply(stratus_object("KeyPair", "me", {"publicKey": PUBLIC_KEY}, ns))
    cluster.wait("keypair/me", "condition=Ready", ns)
    cluster.apply(
        server(
            "web",
            ns,
            tenant.small,
            image="cirros",
            networks=[{"network": "lan", "fixedIp": "10.30.0.50"}],
            userData="#cloud-config\npackages: [nginx]\n",
            keyPair="me",
        )
    )
    status = active(cluster, "web", ns)["status"]
    assert status["host"] in ("node-1", "node-2", "node-3")
    assert (
        status["zone"]
        == {"node-1": "zone-a", "node-2": "zone-b", "node-3": "zone-c"}[status["host"]]
    )
    assert status["addresses"] == {"lan": ["10.30.0.50"]}
    assert (status["virtualMachine"], status["flavor"]["vcpus"]) == ("web", 1)
    machine = cluster.get("vm", "web", ns)
    assert cluster.get("vmi", "web", ns)["status"]["nodeName"] == status["host"]
    template = machine["spec"]["template"]["spec"]
    assert template["domain"]["cpu"]["sockets"] == 1
    assert template["domain"]["memory"]["guest"] == "1Gi"
    assert [n["multus"]["networkName"] for n in template["networks"] if "multus" in n] == [
        f"{ns}/lan"
    ]
    root = cluster.get("datavolume", "web-root", ns)
    assert root["spec"]["storage"]["resources"]["requests"]["storage"] == "2Gi"
    assert root["spec"]["source"] == {
        "registry": {"url": "docker://quay.io/kubevirt/cirros-container-disk-demo"}
    }
    selection = json.loads(
        machine["spec"]["template"]["metadata"]["annotations"]["k8s.v1.cni.cncf.io/networks"]
    )
    assert selection[0]["ips"] == ["10.30.0.50/24"]
    # What the guest reads: user data and its address through NoCloud, the key beside it.
    guest = secret_data(cluster, "web-cloud-init", ns)
    assert guest["userdata"] == "#cloud-config\npackages: [nginx]\n"
    assert "10.30.0.50/24" in guest["networkdata"]
    [credential] = template["accessCredentials"]
    key_secret = credential["sshPublicKey"]["source"]["secret"]["secretName"]
    assert secret_data(cluster, key_secret, ns) == {"me": PUBLIC_KEY}
    assert "noCloud" in credential["sshPublicKey"]["propagationMethod"]
    usage = cluster.get("project", ns)["status"]["usage"]
    assert (usage["servers"], usage["cores"], usage["memory"]) == (1, 1, "1Gi")


def test_what_a_server_produces_passes_the_upstream_schemas(
    cluster: Cluster, tenant: Tenant, upstream_schema: UpstreamSchema
) -> None:
    ns = tenant.namespace
    cluster.apply(
        server("checked", ns, tenant.small, image="cirros", networks=[{"network": "lan"}])
    )
    active(cluster, "checked", ns)
    checks = (
        ("vm", "checked", "kubevirt.io", "virtualmachine_v1"),
        ("vmi", "checked", "kubevirt.io", "virtualmachineinstance_v1"),
        ("datavolume", "checked-root", "cdi.kubevirt.io", "datavolume_v1beta1"),
    )
    for kind, name, group, file in checks:
        jsonschema.validate(cluster.get(kind, name, ns), upstream_schema(group, file))


def test_a_server_boots_from_a_volume_and_holds_it_in_use(cluster: Cluster, tenant: Tenant) -> None:
    ns = tenant.namespace
    cluster.apply(
        stratus_object("Volume", "root", {"size": "3Gi", "source": {"image": "cirros"}}, ns)
    )
    cluster.wait("volume/root", "condition=Ready", ns, timeout=90)
    cluster.apply(server("db", ns, tenant.small, bootVolume="root"))
    status = active(cluster, "db", ns)["status"]
    assert status["volumes"] == [{"name": "root", "state": "Attached"}]
    volumes = cluster.get("vm", "db", ns)["spec"]["template"]["spec"]["volumes"]
    assert {"name": "root", "persistentVolumeClaim": {"claimName": "root"}} in volumes
    assert cluster.get("datavolume", "db-root", ns) is None
    cluster.wait("volume/root", "jsonpath={.status.attachedTo}=db", ns, timeout=30)
    assert cluster.get("volume", "root", ns)["status"]["phase"] == "InUse"


def test_stopping_and_starting_a_server(cluster: Cluster, tenant: Tenant) -> None:
    ns = tenant.namespace
    cluster.apply(server("app", ns, tenant.small, image="cirros"))
    active(cluster, "app", ns)
    cluster.apply(server("app", ns, tenant.small, image="cirros", powerState="Stopped"))
    cluster.wait("server/app", "jsonpath={.status.phase}=Shutoff", ns, timeout=60)
    cluster.wait("server/app", "condition=Ready", ns, timeout=10)
    assert cluster.get("vm", "app", ns)["spec"]["runStrategy"] == "Halted"
    assert cluster.get("vmi", "app", ns) is None
    assert "host" not in cluster.get("server", "app", ns)["status"]
    cluster.apply(server("app", ns, tenant.small, image="cirros", powerState="Running"))
    assert active(cluster, "app", ns)["status"]["host"]


def restart_and_watch_quietly(cluster: Cluster, operator: Operator, name: str, ns: str) -> None:
    """The operator killed and started: once it has resumed the Server, it leaves the Server
    and its instance alone."""
    operator.kill()
    resumed = len(operator.log_about(ns, name, "Resuming is processed"))
    operator.start()
    cluster.wait_until(
        "the restarted operator to resume the Server",
        lambda: len(operator.log_about(ns, name, "Resuming is processed")) > resumed,
    )
    operator.assert_quiet("server", name, ns, kinds=("VirtualMachineInstance",))


def test_a_reboot_request_restarts_the_instance_exactly_once(
    cluster: Cluster, tenant: Tenant, operator: Operator
) -> None:
    ns = tenant.namespace
    cluster.apply(server("rb", ns, tenant.small, image="cirros"))
    active(cluster, "rb", ns)
    first = instance_uid(cluster, "rb", ns)
    at = "2026-11-24T10:00:00Z"
    cluster.apply(server("rb", ns, tenant.small, image="cirros", rebootRequestedAt=at))
    cluster.wait("server/rb", f"jsonpath={{.status.rebootedFor}}={at}", ns, timeout=90)
    second = active(cluster, "rb", ns) and instance_uid(cluster, "rb", ns)
    assert second and second != first
    # A restarted operator sees the same request again, and must not reboot a second time:
    # resuming the Server and for a while after, it deletes no instance (it has no other
    # reason to write one) and leaves the Server as it is.
    restart_and_watch_quietly(cluster, operator, "rb", ns)
    assert operator.writes("VirtualMachineInstance") == 0
    assert instance_uid(cluster, "rb", ns) == second
    assert "rebootOf" not in cluster.get("server", "rb", ns)["status"]


def test_volumes_attach_and_detach_and_say_how(cluster: Cluster, tenant: Tenant) -> None:
    ns = tenant.namespace
    cluster.apply(
        "\n---\n".join(
            stratus_object("Volume", v, {"size": "1Gi"}, ns) for v in ("boot-time", "live")
        )
    )
    cluster.kubectl("wait", "--for=condition=Ready", "volumes", "--all", "-n", ns)
    cluster.apply(server("vm", ns, tenant.small, image="cirros", volumes=["boot-time"]))
    active(cluster, "vm", ns)
    cluster.wait("volume/boot-time", "jsonpath={.status.phase}=InUse", ns, timeout=30)
    uid = instance_uid(cluster, "vm", ns)

    # Added to a running Server: hot-plugged, no restart.
    cluster.apply(server("vm", ns, tenant.small, image="cirros", volumes=["boot-time", "live"]))
    cluster.wait_until(
        "the hot-plugged volume to be attached",
        lambda: (
            {"name": "live", "state": "Attached"}
            in cluster.get("server", "vm", ns)["status"]["volumes"]
        ),
    )
    cluster.wait("volume/live", "jsonpath={.status.attachedTo}=vm", ns, timeout=30)
    assert instance_uid(cluster, "vm", ns) == uid
    disks = cluster.get("vmi", "vm", ns)["spec"]["domain"]["devices"]["disks"]
    assert any(d["name"] == "vol-live" for d in disks)

    # Detached: the hot-plugged one goes live; the one there at boot waits for the restart.
    cluster.apply(server("vm", ns, tenant.small, image="cirros", volumes=[]))
    cluster.wait("volume/live", "jsonpath={.status.phase}=Available", ns, timeout=60)
    cluster.wait_until(
        "the boot-time volume to wait for a restart",
        lambda: (
            cluster.get("server", "vm", ns)["status"]["volumes"]
            == [{"name": "boot-time", "state": "DetachOnRestart"}]
        ),
    )
    assert cluster.get("volume", "boot-time", ns)["status"]["phase"] == "InUse"
    cluster.apply(
        server(
            "vm",
            ns,
            tenant.small,
            image="cirros",
            volumes=[],
            rebootRequestedAt="2026-11-25T00:00:00Z",
        )
    )
    cluster.wait("volume/boot-time", "jsonpath={.status.phase}=Available", ns, timeout=90)
    assert active(cluster, "vm", ns)["status"]["volumes"] == []


def test_a_kata_server_is_a_pod_in_the_kata_runtime(cluster: Cluster, tenant: Tenant) -> None:
    ns = tenant.namespace
    cluster.apply(stratus_object("Volume", "scratch", {"size": "1Gi"}, ns))
    cluster.wait("volume/scratch", "condition=Ready", ns, timeout=60)
    cluster.apply(
        server(
            "box",
            ns,
            tenant.small,
            image="cirros",
            runtime="kata",
            networks=[{"network": "lan"}],
            volumes=["scratch"],
        )
    )
    status = active(cluster, "box", ns)["status"]
    pod = cluster.get("pod", "box", ns)
    assert pod["spec"]["runtimeClassName"] == "kata"
    assert pod["spec"]["nodeName"] == status["host"]
    container = pod["spec"]["containers"][0]
    assert container["image"] == "quay.io/kubevirt/cirros-container-disk-demo"
    assert container["resources"]["limits"] == {"cpu": "1", "memory": "1Gi"}
    assert container["volumeMounts"][0]["mountPath"] == "/volumes/scratch"
    selection = json.loads(pod["metadata"]["annotations"]["k8s.v1.cni.cncf.io/networks"])
    assert selection[0]["ips"] == [f"{status['addresses']['lan'][0]}/24"]
    assert status["volumes"] == [{"name": "scratch", "state": "Attached"}]


def test_a_kata_server_needs_an_image_from_a_registry(cluster: Cluster, tenant: Tenant) -> None:
    ns = tenant.namespace
    cluster.apply(
        stratus_object(
            "Image", "disk", {"source": {"url": "https://images.example.org/d.qcow2"}}, ns
        )
    )
    cluster.wait("image/disk", "condition=Ready", ns, timeout=90)
    cluster.apply(server("box", ns, tenant.small, image="disk", runtime="kata"))
    condition = ready_condition(cluster, "box", ns, "ImageNotBootable")
    assert "no registry source" in condition["message"]
    assert cluster.get("pod", "box", ns) is None
    refused = cluster.apply(
        server("bad", ns, tenant.small, image="cirros", runtime="kata", keyPair="k"), check=False
    )
    assert "only runtime vm has" in refused.stderr


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"image": "cirros", "bootVolume": "root"}, "exactly one of image and bootVolume"),
        ({}, "exactly one of image and bootVolume"),
        ({"bootVolume": "root", "runtime": "kata"}, "registry source, not a bootVolume"),
        ({"image": "cirros", "powerState": "Paused"}, "Unsupported value"),
        ({"image": "cirros", "networks": [{"network": "lan", "fixedIp": "10.0.0"}]}, "IP address"),
    ],
)
def test_the_api_server_refuses_impossible_servers(
    cluster: Cluster, tenant: Tenant, spec: dict[str, Any], message: str
) -> None:
    refused = cluster.apply(server("bad", tenant.namespace, tenant.small, **spec), check=False)
    assert refused.returncode != 0
    assert message in refused.stderr


def test_the_image_is_immutable(cluster: Cluster, tenant: Tenant) -> None:
    ns = tenant.namespace
    cluster.apply(server("fixed", ns, tenant.small, image="cirros", powerState="Stopped"))
    refused = cluster.apply(
        server("fixed", ns, tenant.small, image=f"{ns}/other", powerState="Stopped"),
        check=False,
    )
    assert "image is immutable" in refused.stderr


def instance_size(cluster: Cluster, name: str, namespace: str) -> tuple[int, str, str]:
    """The running instance's vCPUs, memory and the Flavor it was started in."""
    found = cluster.get("vmi", name, namespace)
    assert found is not None
    domain = found["spec"]["domain"]
    flavor = found["metadata"]["annotations"]["stratus.io/flavor"]
    return domain["cpu"]["sockets"], domain["memory"]["guest"], flavor


def verifying(cluster: Cluster, name: str, namespace: str) -> dict[str, Any]:
    """The Server once its resize runs and waits for a confirmation (Nova's VERIFY_RESIZE)."""
    target = f"server/{name}"
    cluster.wait(target, "jsonpath={.status.phase}=VerifyResize", namespace, timeout=120)
    cluster.wait(target, "condition=Ready", namespace)
    found = cluster.get("server", name, namespace)
    assert found is not None
    return found


def confirm_resize(cluster: Cluster, name: str, namespace: str, at: str) -> None:
    patch = json.dumps({"spec": {"resizeConfirmedAt": at}})
    cluster.kubectl("patch", "server", name, "-n", namespace, "--type=merge", "-p", patch)


def test_a_resize_restarts_once_in_the_new_flavor_and_waits_for_confirmation(
    cluster: Cluster, tenant: Tenant, operator: Operator
) -> None:
    ns = tenant.namespace
    cluster.apply(server("rs", ns, tenant.small, image="cirros"))
    active(cluster, "rs", ns)
    first = instance_uid(cluster, "rs", ns)
    assert instance_size(cluster, "rs", ns) == (1, "1Gi", tenant.small)

    cluster.apply(server("rs", ns, tenant.large, image="cirros"))
    resized = verifying(cluster, "rs", ns)
    second = instance_uid(cluster, "rs", ns)
    assert second and second != first
    assert instance_size(cluster, "rs", ns) == (4, "8Gi", tenant.large)
    assert "resizeOf" not in resized["status"]
    assert resized["status"]["flavor"] == {
        "name": tenant.large, "vcpus": 4, "memory": "8Gi", "dedicatedCpu": False,
    }  # fmt: skip
    assert resized["status"]["previousFlavor"]["name"] == tenant.small
    ready = next(c for c in resized["status"]["conditions"] if c["type"] == "Ready")
    assert ready["reason"] == "VerifyResize"
    assert f"revert with spec.flavor: {tenant.small}" in ready["message"]
    assert {"Resizing", "VerifyResize"} <= set(cluster.event_reasons("rs", ns))
    # The old Flavor is held until the resize is confirmed: the larger of the two counts.
    cluster.wait(f"project/{ns}", "jsonpath={.status.usage.memory}=8Gi")
    # A restarted operator finds the resize waiting, and restarts nothing.
    restart_and_watch_quietly(cluster, operator, "rs", ns)
    assert instance_uid(cluster, "rs", ns) == second
    # As Nova, nothing acts on a Server in VerifyResize: a reboot and a live migration are
    # refused, each answered once.
    at = "2026-12-04T09:00:00Z"
    requests = json.dumps({"spec": {"rebootRequestedAt": at, "migrateRequestedAt": at}})
    cluster.kubectl("patch", "server", "rs", "-n", ns, "--type=merge", "-p", requests)
    cluster.wait("server/rs", f"jsonpath={{.status.rebootedFor}}={at}", ns)
    cluster.wait("server/rs", "jsonpath={.status.migration.reason}=ResizeNotConfirmed", ns)
    refused = cluster.settled("server", "rs", ns)
    assert (refused["status"]["phase"], refused["status"]["migration"]["phase"]) == (
        "VerifyResize", "Failed",
    )  # fmt: skip
    assert "confirm it (spec.resizeConfirmedAt)" in refused["status"]["migration"]["message"]
    refusals = sorted(
        str(event["message"]).split(" cannot be ")[1].split(":")[0]
        for event in cluster.events("rs", ns)
        if event["reason"] == "ResizeNotConfirmed"
    )
    assert refusals == ["live-migrated", "rebooted"]
    assert instance_uid(cluster, "rs", ns) == second
    assert cluster.kubectl("get", "vmim", "-n", ns, "-o", "name").stdout.split() == []

    confirm_resize(cluster, "rs", ns, "2026-12-04T10:00:00Z")
    confirmed = active(cluster, "rs", ns)
    assert "previousFlavor" not in confirmed["status"]
    assert confirmed["status"]["resizeConfirmedFor"] == "2026-12-04T10:00:00Z"
    assert "ResizeConfirmed" in cluster.event_reasons("rs", ns)
    assert instance_uid(cluster, "rs", ns) == second


def test_a_resize_is_reverted_by_naming_the_old_flavor_and_blocks_another_until_then(
    cluster: Cluster, tenant: Tenant
) -> None:
    ns = tenant.namespace
    cluster.apply(server("back", ns, tenant.small, image="cirros"))
    active(cluster, "back", ns)
    cluster.apply(server("back", ns, tenant.large, image="cirros"))
    verifying(cluster, "back", ns)
    resized = instance_uid(cluster, "back", ns)
    # Another Flavor now is refused: the resize under way is confirmed or reverted first.
    cluster.apply(server("back", ns, tenant.huge, image="cirros"))
    condition = ready_condition(cluster, "back", ns, "ResizeRefused")
    assert (
        f"the resize from {tenant.small} to {tenant.large} is not confirmed"
        in (condition["message"])
    )
    assert cluster.get("server", "back", ns)["status"]["phase"] == "VerifyResize"
    assert instance_uid(cluster, "back", ns) == resized

    cluster.apply(server("back", ns, tenant.small, image="cirros"))
    cluster.wait("server/back", f"jsonpath={{.status.flavor.name}}={tenant.small}", ns)
    reverted = active(cluster, "back", ns)
    assert "previousFlavor" not in reverted["status"]
    assert instance_size(cluster, "back", ns) == (1, "1Gi", tenant.small)
    assert instance_uid(cluster, "back", ns) not in (None, resized)
    cluster.wait(f"project/{ns}", "jsonpath={.status.usage.cores}=1")


@pytest.fixture
def small_guests_only(cluster: Cluster) -> Iterator[None]:
    """Every node fails guests of more than 4Gi (the simulator's fault), until the test ends."""
    with cluster.nodes_annotated(GUEST_MEMORY_LIMIT, "4Gi"):
        yield


def test_a_resize_whose_new_instance_fails_is_reverted(
    cluster: Cluster, tenant: Tenant, small_guests_only: None
) -> None:
    ns = tenant.namespace
    cluster.apply(server("fails", ns, tenant.small, image="cirros"))
    active(cluster, "fails", ns)
    cluster.apply(server("fails", ns, tenant.large, image="cirros"))
    condition = ready_condition(cluster, "fails", ns, "ResizeFailed")
    assert f"the resize to {tenant.large} failed (CrashLoopBackOff" in condition["message"]
    found = cluster.get("server", "fails", ns)
    assert (found["status"]["phase"], found["status"]["flavor"]["name"]) == (
        "Active", tenant.small,
    )  # fmt: skip
    assert found["status"]["resizeFailed"]["flavor"] == tenant.large
    assert instance_size(cluster, "fails", ns) == (1, "1Gi", tenant.small)
    assert "ResizeReverted" in cluster.event_reasons("fails", ns)
    cluster.wait(f"project/{ns}", "jsonpath={.status.usage.cores}=1")
    # Naming the Flavor it runs in clears the failure.
    cluster.apply(server("fails", ns, tenant.small, image="cirros"))
    cluster.wait("server/fails", "condition=Ready", ns)
    assert "resizeFailed" not in cluster.get("server", "fails", ns)["status"]


def test_a_resize_to_a_larger_disk_grows_the_root_disk(cluster: Cluster, tenant: Tenant) -> None:
    ns = tenant.namespace
    bigger = f"{ns}-disk"
    cluster.apply(stratus_object("Flavor", bigger, {"vcpus": 1, "memory": "1Gi", "disk": "4Gi"}))
    cluster.apply(server("grow", ns, tenant.small, image="cirros"))
    active(cluster, "grow", ns)
    root = cluster.get("pvc", "grow-root", ns)
    assert root is not None and root["status"]["capacity"]["storage"] == "2Gi"

    cluster.apply(server("grow", ns, bigger, image="cirros"))
    assert verifying(cluster, "grow", ns)["status"]["flavor"]["disk"] == "4Gi"
    cluster.wait("pvc/grow-root", "jsonpath={.status.capacity.storage}=4Gi", ns)
    # The same claim, grown: the guest's disk and what it holds are kept.
    assert cluster.get("pvc", "grow-root", ns)["metadata"]["uid"] == root["metadata"]["uid"]
    template = cluster.get("vm", "grow", ns)["spec"]["dataVolumeTemplates"][0]
    assert template["spec"]["storage"]["resources"]["requests"]["storage"] == "4Gi"


def test_a_stopped_server_takes_its_new_flavor_when_it_starts(
    cluster: Cluster, tenant: Tenant
) -> None:
    ns = tenant.namespace
    cluster.apply(server("cold", ns, tenant.small, image="cirros", powerState="Stopped"))
    cluster.wait("server/cold", "condition=Ready", ns)
    cluster.apply(server("cold", ns, tenant.large, image="cirros", powerState="Stopped"))
    cluster.wait("server/cold", f"jsonpath={{.status.flavor.name}}={tenant.large}", ns)
    cluster.wait("server/cold", "condition=Ready", ns)
    assert cluster.get("vmi", "cold", ns) is None
    cluster.apply(server("cold", ns, tenant.large, image="cirros", powerState="Running"))
    active(cluster, "cold", ns)
    assert instance_size(cluster, "cold", ns) == (4, "8Gi", tenant.large)


def test_a_refused_resize_changes_nothing(cluster: Cluster, tenant: Tenant) -> None:
    """No node can hold the new size, or its root disk is smaller: the Server runs on as it
    was, in its phase, and says why; naming its own Flavor again ends the refusal."""
    ns = tenant.namespace
    smaller_disk = f"{ns}-t"
    cluster.apply(
        stratus_object("Flavor", smaller_disk, {"vcpus": 1, "memory": "1Gi", "disk": "1Gi"})
    )
    cluster.apply(server("stay", ns, tenant.small, image="cirros"))
    active(cluster, "stay", ns)
    before = instance_uid(cluster, "stay", ns)
    refusals = {
        tenant.huge: ("NoValidHost", "RamFilter eliminated 3"),
        smaller_disk: (
            "ResizeRefused",
            f"Flavor {smaller_disk} has a 1Gi root disk, smaller than the 2Gi of {tenant.small}",
        ),
    }
    for flavor, (reason, message) in refusals.items():
        cluster.apply(server("stay", ns, flavor, image="cirros"))
        condition = ready_condition(cluster, "stay", ns, reason)
        assert message in condition["message"]
        found = cluster.get("server", "stay", ns)
        assert (found["status"]["phase"], found["status"]["flavor"]["name"]) == (
            "Active", tenant.small,
        )  # fmt: skip
        assert instance_uid(cluster, "stay", ns) == before
        assert instance_size(cluster, "stay", ns) == (1, "1Gi", tenant.small)
        assert reason in cluster.event_reasons("stay", ns)
    cluster.apply(server("stay", ns, tenant.small, image="cirros"))
    active(cluster, "stay", ns)
    assert instance_uid(cluster, "stay", ns) == before


def tenant_with_cores(cluster: Cluster, name: str, cores: int) -> tuple[str, str]:
    """A Project of `cores` vCPUs of quota, and its Flavors of 1 and of 4 vCPUs."""
    flavors = {
        f"{name}-s": {"vcpus": 1, "memory": "1Gi"},
        f"{name}-l": {"vcpus": 4, "memory": "2Gi"},
    }
    provision_tenant(cluster, name, flavors, {"cores": cores})
    small, large = flavors
    return small, large


def test_a_resize_beyond_the_quota_is_refused_with_the_numbers(
    cluster: Cluster, operator: Operator, name: str
) -> None:
    small, large = tenant_with_cores(cluster, name, 3)
    cluster.apply(server("grow", name, small, image="cirros"))
    active(cluster, "grow", name)
    before = instance_uid(cluster, "grow", name)
    cluster.apply(server("grow", name, large, image="cirros"))
    condition = ready_condition(cluster, "grow", name, "QuotaExceeded")
    assert "cores quota of Project" in condition["message"]
    assert "0 used by other Servers + 4 requested > 3 allowed" in condition["message"]
    found = cluster.get("server", "grow", name)
    assert (found["status"]["phase"], found["status"]["flavor"]["name"]) == ("Active", small)
    assert instance_uid(cluster, "grow", name) == before
    cluster.wait(f"project/{name}", "jsonpath={.status.usage.cores}=1")
    # The quota raised, the same resize goes through without another change to the Server.
    cluster.kubectl(
        "patch", "project", name, "--type=merge", "-p", '{"spec":{"quota":{"cores":4}}}'
    )
    cluster.wait("server/grow", f"jsonpath={{.status.flavor.name}}={large}", name, timeout=90)
    verifying(cluster, "grow", name)
    assert instance_size(cluster, "grow", name)[0] == 4


def test_a_shelved_server_keeps_disks_and_addresses_and_gives_back_cores_and_memory(
    cluster: Cluster, operator: Operator, name: str
) -> None:
    small, large = tenant_with_cores(cluster, name, 4)
    networks = [{"network": "lan"}]
    cluster.apply(server("big", name, large, image="cirros", networks=networks))
    running = active(cluster, "big", name)
    cluster.apply(server("late", name, small, image="cirros"))
    ready_condition(cluster, "late", name, "QuotaExceeded")

    cluster.apply(
        server("big", name, large, image="cirros", networks=networks, powerState="Shelved")
    )
    cluster.wait("server/big", "jsonpath={.status.phase}=Shelved", name, timeout=90)
    shelved = cluster.get("server", "big", name)
    ready = next(c for c in shelved["status"]["conditions"] if c["type"] == "Ready")
    assert (ready["status"], ready["reason"], shelved["status"]["shelved"]) == (
        "True",
        "Shelved",
        True,
    )
    assert shelved["status"]["addresses"] == running["status"]["addresses"]
    assert cluster.get("vmi", "big", name) is None
    assert cluster.get("datavolume", "big-root", name) is not None
    # Its cores are free: the Server the quota refused is admitted without being touched.
    active(cluster, "late", name)
    cluster.wait(f"project/{name}", "jsonpath={.status.usage.cores}=1")
    header, row = cluster.kubectl("get", "server", "big", "-n", name).stdout.splitlines()
    starts = [header.index(title) for title in header.split()]
    columns = {
        header[start:end].strip(): row[start:end].strip()
        for start, end in zip(starts, [*starts[1:], None], strict=True)
    }
    assert (columns["POWER"], columns["PHASE"]) == ("Shelved", "Shelved"), columns

    # Unshelving goes through the quota again: refused while "late" holds a core.
    cluster.apply(server("big", name, large, image="cirros", networks=networks))
    condition = ready_condition(cluster, "big", name, "QuotaExceeded")
    assert "1 used by other Servers + 4 requested > 4 allowed" in condition["message"]
    assert cluster.get("server", "big", name)["status"]["phase"] == "Shelved"
    cluster.kubectl("delete", "server", "late", "-n", name)
    unshelved = active(cluster, "big", name)
    assert unshelved["status"]["addresses"] == running["status"]["addresses"]
    assert "shelved" not in unshelved["status"]
    cluster.wait(f"project/{name}", "jsonpath={.status.usage.cores}=4")


def placed_hosts(cluster: Cluster, ns: str, names: list[str]) -> list[str]:
    return [active(cluster, n, ns)["status"]["host"] for n in names]


def test_anti_affinity_spreads_members_and_a_fourth_gets_no_valid_host(
    cluster: Cluster, tenant: Tenant, operator: Operator
) -> None:
    ns = tenant.namespace
    cluster.apply(stratus_object("ServerGroup", "spread", {"policy": "anti-affinity"}, ns))
    cluster.wait("servergroup/spread", "condition=Ready", ns)
    members = ["a1", "a2", "a3"]
    cluster.apply(
        "\n---\n".join(
            server(m, ns, tenant.small, image="cirros", serverGroup="spread") for m in members
        )
    )
    assert sorted(placed_hosts(cluster, ns, members)) == ["node-1", "node-2", "node-3"]
    cluster.wait_until(
        "the group to list its members",
        lambda: cluster.get("servergroup", "spread", ns)["status"]["members"] == members,
    )

    cluster.apply(server("a4", ns, tenant.small, image="cirros", serverGroup="spread"))
    condition = ready_condition(cluster, "a4", ns, "NoValidHost")
    assert "ServerGroupAntiAffinityFilter eliminated 3" in condition["message"]
    assert cluster.get("vm", "a4", ns) is None
    assert "NoValidHost" in cluster.event_reasons("a4", ns)
    # Waiting is quiet: no writes while nothing changes.
    for member in [*members, "a4"]:
        cluster.settled("server", member, ns)
    # What a waiting Server would write. Ports are left out: the operator may meanwhile be
    # retrying an allocation of another test's, on a full pool, whose attempts count as creates.
    operator.assert_quiet(
        "server", "a4", ns, kinds=("Server", "VirtualMachine", "Secret", "DataVolume", "Event")
    )
    # Capacity freed: the unplaced Server is retried at once, not after its long delay.
    cluster.kubectl("delete", "server", "a1", "-n", ns, "--wait=false")
    assert active(cluster, "a4", ns, timeout=60)["status"]["host"]


def test_affinity_keeps_members_together_and_a_zone_pins_them(
    cluster: Cluster, tenant: Tenant
) -> None:
    ns = tenant.namespace
    cluster.apply(stratus_object("ServerGroup", "together", {"policy": "affinity"}, ns))
    cluster.wait("servergroup/together", "condition=Ready", ns)
    members = ["t1", "t2", "t3"]
    for member in members:  # one by one: the first decides where the others go
        cluster.apply(server(member, ns, tenant.small, image="cirros", serverGroup="together"))
        active(cluster, member, ns)
    assert len(set(placed_hosts(cluster, ns, members))) == 1
    cluster.apply(server("pinned", ns, tenant.small, image="cirros", availabilityZone="zone-b"))
    assert active(cluster, "pinned", ns)["status"]["host"] == "node-2"
    affinity = cluster.get("vm", "pinned", ns)["spec"]["template"]["spec"]["affinity"]
    term = affinity["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert term["nodeSelectorTerms"][0]["matchExpressions"][0]["values"] == ["zone-b"]


@pytest.mark.parametrize(
    ("spec", "filter_"),
    [
        ({"availabilityZone": "zone-x"}, "AvailabilityZoneFilter eliminated 3"),
        ({"flavor": "huge"}, "RamFilter eliminated 3"),
    ],
)
def test_no_node_can_hold_the_server(
    cluster: Cluster, tenant: Tenant, spec: dict[str, Any], filter_: str
) -> None:
    ns = tenant.namespace
    flavor = tenant.huge if spec.pop("flavor", None) else tenant.small
    cluster.apply(server("nowhere", ns, flavor, image="cirros", **spec))
    condition = ready_condition(cluster, "nowhere", ns, "NoValidHost")
    assert filter_ in condition["message"]
    assert cluster.get("server", "nowhere", ns)["status"]["phase"] == "Error"
    assert cluster.get("vm", "nowhere", ns) is None
    assert "flavor" not in cluster.get("server", "nowhere", ns)["status"]


def test_a_private_flavor_serves_only_the_projects_it_names(
    cluster: Cluster, tenant: Tenant, name: str
) -> None:
    ns = tenant.namespace
    private = {"vcpus": 1, "memory": "1Gi", "public": False, "projects": ["someone-else"]}
    cluster.apply(stratus_object("Flavor", name, private))
    cluster.apply(server("private", ns, name, image="cirros"))
    condition = ready_condition(cluster, "private", ns, "FlavorNotVisible")
    assert condition["message"] == f"Flavor {name} is not public and not offered to this Project"
    offered = private | {"projects": ["someone-else", ns]}
    cluster.apply(stratus_object("Flavor", name, offered))
    active(cluster, "private", ns)


def test_cores_and_memory_quota_under_concurrent_creates_and_deletes(
    cluster: Cluster, tenant: Tenant
) -> None:
    ns = tenant.namespace
    cluster.apply(
        stratus_object(
            "Project", ns, {"deletionPolicy": "Cascade", "quota": {"cores": 4, "memory": "64Gi"}}
        )
    )
    cluster.wait(f"project/{ns}", "condition=Ready", timeout=60)
    names = [f"q{i}" for i in range(6)]
    cluster.apply(
        "\n---\n".join(
            server(n, ns, tenant.small, image="cirros", powerState="Stopped") for n in names
        )
    )

    def reasons() -> dict[str, str] | None:
        found = {}
        for n in names:
            conditions = (cluster.get("server", n, ns).get("status") or {}).get("conditions") or []
            ready = next((c for c in conditions if c["type"] == "Ready"), None)
            if ready is None or ready["reason"] not in ("Stopped", "QuotaExceeded"):
                return None
            found[n] = ready["reason"]
        return found

    outcome = cluster.wait_until("every Server admitted or refused", reasons, timeout=120)
    assert sorted(outcome.values()).count("Stopped") == 4
    refused = next(n for n, r in outcome.items() if r == "QuotaExceeded")
    message = next(
        c["message"]
        for c in cluster.get("server", refused, ns)["status"]["conditions"]
        if c["type"] == "Ready"
    )
    assert "cores quota of Project" in message and "> 4 allowed" in message
    usage = cluster.get("project", ns)["status"]["usage"]
    assert (usage["cores"], usage["memory"]) == (4, "4Gi")
    cluster.kubectl("delete", "servers", "--all", "-n", ns, "--wait=true", "--timeout=120s")
    cluster.wait_until(
        "usage to return to zero",
        lambda: cluster.get("project", ns)["status"]["usage"]["cores"] == 0,
        timeout=60,
    )
    usage = cluster.get("project", ns)["status"]["usage"]
    assert (usage["servers"], usage["cores"], usage["memory"]) == (0, 0, "0")


def test_the_server_count_quota_is_refused_by_the_api_server(
    cluster: Cluster, tenant: Tenant
) -> None:
    ns = tenant.namespace
    cluster.apply(
        stratus_object("Project", ns, {"deletionPolicy": "Cascade", "quota": {"servers": 2}})
    )
    cluster.wait(f"project/{ns}", "condition=Ready", timeout=60)
    cluster.apply(
        "\n---\n".join(
            server(n, ns, tenant.small, image="cirros", powerState="Stopped") for n in ("c1", "c2")
        )
    )
    third = cluster.apply(server("c3", ns, tenant.small, image="cirros"), check=False)
    assert third.returncode != 0
    assert "exceeded quota: stratus-project" in third.stderr
    assert "count/servers.stratus.io=2" in third.stderr
    assert cluster.get("server", "c3", ns) is None


def test_deleting_a_server_leaves_nothing_behind_and_its_volumes_available(
    cluster: Cluster, tenant: Tenant
) -> None:
    ns = tenant.namespace
    cluster.apply(stratus_object("Volume", "keep", {"size": "1Gi"}, ns))
    cluster.wait("volume/keep", "condition=Ready", ns)
    cluster.apply(
        server(
            "gone",
            ns,
            tenant.small,
            image="cirros",
            networks=[{"network": "lan"}],
            volumes=["keep"],
        )
    )
    active(cluster, "gone", ns)
    cluster.wait("volume/keep", "jsonpath={.status.phase}=InUse", ns, timeout=30)
    cluster.kubectl("delete", "server", "gone", "-n", ns, "--timeout=120s")
    for kind, name in (("vm", "gone"), ("vmi", "gone"), ("datavolume", "gone-root")):
        cluster.wait_until(
            f"{kind} {name} to go", lambda k=kind, n=name: cluster.get(k, n, ns) is None
        )
    ports = json.loads(cluster.kubectl("get", "ports", "-n", ns, "-o", "json").stdout)["items"]
    assert [p for p in ports if p["spec"]["holder"].endswith("/gone")] == []
    cluster.wait("volume/keep", "jsonpath={.status.phase}=Available", ns, timeout=60)
    assert cluster.get("pvc", "keep", ns) is not None
    cluster.wait_until(
        "the cloud-init Secret to be collected",
        lambda: cluster.get("secret", "gone-cloud-init", ns) is None,
    )
