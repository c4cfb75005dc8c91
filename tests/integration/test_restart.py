"""An operator killed while a mixed batch is being created converges, with no duplicates."""

import json
import random
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import Cluster, Operator, stratus_object


@pytest.mark.skipif(shutil.which("ssh-keygen") is None, reason="ssh-keygen is not installed")
def test_a_killed_operator_converges_every_kind_without_duplicates(
    cluster: Cluster, operator: Operator, name: str, tmp_path: Path
) -> None:
    cluster.apply(stratus_object("Project", name, {"deletionPolicy": "Cascade"}))
    cluster.wait(f"project/{name}", "condition=Ready", timeout=90)
    subprocess.run(
        ["ssh-keygen", "-q", "-N", "", "-t", "ed25519", "-f", str(tmp_path / "k")], check=True
    )
    key = (tmp_path / "k.pub").read_text().strip()
    batch = [
        stratus_object("KeyPair", "key", {"publicKey": key}, name),
        *(
            stratus_object(
                "Network",
                f"net{i}",
                {"hostInterface": "br1", "subnet": {"cidr": f"10.{i}.0.0/24"}},
                name,
            )
            for i in range(4)
        ),
        stratus_object(
            "Image", "img", {"source": {"url": "https://images.example.org/a.qcow2"}}, name
        ),
        *(
            stratus_object("Volume", f"vol{i}", {"size": "11Gi", "source": {"image": "img"}}, name)
            for i in range(3)
        ),
        stratus_object("Volume", "plain", {"size": "1Gi"}, name),
        stratus_object("Snapshot", "snap", {"volume": "plain"}, name),
    ]
    cluster.apply("\n---\n".join(batch))
    cluster.wait_until(
        "work to be under way", lambda: cluster.get("network-attachment-definitions", "net0", name)
    )
    operator.kill()
    operator.start()
    kinds = "keypairs,networks,images,volumes,snapshots"
    cluster.kubectl("wait", "--for=condition=Ready", kinds, "--all", "-n", name, "--timeout=120s")

    def names(kind: str, namespace: str = name, selector: str = "") -> list[str]:
        args = ["get", kind, "-n", namespace, "-o", "json"] + (["-l", selector] if selector else [])
        return sorted(
            i["metadata"]["name"] for i in json.loads(cluster.kubectl(*args).stdout)["items"]
        )

    assert names("network-attachment-definitions") == ["net0", "net1", "net2", "net3"]
    assert names("datavolumes") == ["vol0", "vol1", "vol2"]
    assert names("pvc") == ["plain", "vol0", "vol1", "vol2"]
    assert names("volumesnapshots") == ["snap"]
    golden = cluster.get("image", "img", name)["status"]["goldenVolume"].split("/")[1]
    assert names("datavolumes", "stratus-images", f"stratus.io/namespace={name}") == [golden]


def test_servers_created_in_a_batch_converge_through_repeated_kills(
    cluster: Cluster, operator: Operator, name: str
) -> None:
    """30 Servers; the operator is SIGKILLed at random moments while it works on them."""
    seed = random.randrange(2**32)
    print(f"kill schedule seed: {seed}")
    schedule = random.Random(seed)
    flavor = f"{name}-tiny"
    cluster.apply(
        "\n---\n".join(
            [
                stratus_object("Project", name, {"deletionPolicy": "Cascade"}),
                stratus_object("Flavor", flavor, {"vcpus": 1, "memory": "512Mi", "disk": "1Gi"}),
            ]
        )
    )
    cluster.wait(f"project/{name}", "condition=Ready", timeout=90)
    cluster.apply(
        "\n---\n".join(
            [
                stratus_object(
                    "Network",
                    "lan",
                    {"hostInterface": "br1", "subnet": {"cidr": "10.9.0.0/24"}},
                    name,
                ),
                stratus_object(
                    "Image", "img", {"source": {"registry": "docker://example.org/os:1"}}, name
                ),
                stratus_object("ServerGroup", "spread", {"policy": "soft-anti-affinity"}, name),
            ]
        )
    )
    servers = [f"s{i:02}" for i in range(30)]
    cluster.apply(
        "\n---\n".join(
            stratus_object(
                "Server",
                s,
                {
                    "flavor": flavor,
                    "image": "img",
                    "networks": [{"network": "lan"}],
                    "serverGroup": "spread",
                },
                name,
            )
            for s in servers
        )
    )
    for _ in range(3):
        time.sleep(schedule.uniform(0.5, 6.0))
        operator.kill()
        operator.start()
    cluster.kubectl(
        "wait", "--for=condition=Ready", "servers", "--all", "-n", name, "--timeout=300s"
    )

    def items(kind: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = json.loads(
            cluster.kubectl("get", kind, "-n", name, "-o", "json").stdout
        )["items"]
        return found

    assert sorted(v["metadata"]["name"] for v in items("vm")) == servers
    assert sorted(v["metadata"]["name"] for v in items("vmi")) == servers
    assert sorted(d["metadata"]["name"] for d in items("datavolumes")) == [
        f"{s}-root" for s in servers
    ]
    launchers = [p for p in items("pods") if p["metadata"]["name"].startswith("virt-launcher-")]
    assert len(launchers) == 30
    ports = items("ports")
    assert sorted(p["spec"]["holder"] for p in ports) == [f"Server/{name}/{s}" for s in servers]
    assert len({p["spec"]["address"] for p in ports}) == 30
    for found in items("servers"):
        status = found["status"]
        holder = f"Server/{name}/{found['metadata']['name']}"
        held = [p["spec"]["address"] for p in ports if p["spec"]["holder"] == holder]
        assert status["addresses"] == {"lan": held}
        assert status["phase"] == "Active"
    usage = cluster.get("project", name)["status"]["usage"]
    assert (usage["servers"], usage["cores"], usage["memory"]) == (30, 30, "15Gi")


def test_a_deletion_waiting_for_an_event_that_came_while_no_operator_ran_ends_at_start(
    cluster: Cluster, operator: Operator, name: str
) -> None:
    """A Network being deleted waits for its last holder to go. When the holder's Port goes
    while the operator is down (its namespace's deletion takes it, say), the holder's own
    deletion then frees nothing and no Port event comes: the operator looks again at every
    waiting deletion when it starts."""
    cluster.apply(stratus_object("Project", name, {"deletionPolicy": "Cascade"}))
    cluster.wait(f"project/{name}", "condition=Ready", timeout=90)
    subnet = {"cidr": "10.77.0.0/24", "gateway": "10.77.0.1"}
    network = {"hostInterface": "br1", "subnet": subnet}
    cluster.apply(stratus_object("Network", "edge", network, name))
    cluster.wait("network/edge", "condition=Ready", name)
    lb = {"vip": {"network": "edge"}, "listeners": [{"port": 80}], "pool": {"members": ["x"]}}
    cluster.apply(stratus_object("LoadBalancer", "lb", lb, name))
    cluster.wait_until(
        "the VIP", lambda: cluster.kubectl("get", "ports", "-n", name, "-o", "name").stdout
    )
    cluster.kubectl("delete", "network", "edge", "-n", name, "--wait=false")
    in_use = "jsonpath={.status.conditions[?(@.type=='Ready')].reason}=NetworkInUse"
    cluster.wait("network/edge", in_use, name)

    operator.stop()
    try:
        cluster.kubectl("delete", "ports", "--all", "-n", name)
        cluster.kubectl("delete", "loadbalancer", "lb", "-n", name, "--wait=false")
    finally:
        operator.start()
    started = time.monotonic()
    cluster.kubectl("wait", "--for=delete", "network/edge", "-n", name, "--timeout=60s")
    print(f"the Network went {time.monotonic() - started:.1f}s after the operator started")
