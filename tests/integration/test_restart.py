"""An operator killed while a mixed batch is being created converges, with no duplicates."""

import json
import shutil
import subprocess
from pathlib import Path

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
