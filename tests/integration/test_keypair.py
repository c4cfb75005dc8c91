"""KeyPair against the local control plane."""

import base64
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.integration.conftest import Cluster, Operator, stratus_object


@pytest.fixture
def namespace(cluster: Cluster, name: str) -> str:
    cluster.kubectl("create", "namespace", name)
    return name


def keypair(name: str, namespace: str, public_key: str) -> str:
    return stratus_object("KeyPair", name, {"publicKey": public_key}, namespace)


@pytest.mark.skipif(shutil.which("ssh-keygen") is None, reason="ssh-keygen is not installed")
def test_keypair_shows_the_fingerprint_of_its_key(
    cluster: Cluster, operator: Operator, namespace: str, tmp_path: Path
) -> None:
    subprocess.run(
        ["ssh-keygen", "-q", "-N", "", "-t", "ed25519", "-C", "alice", "-f", str(tmp_path / "k")],
        check=True,
    )
    public = (tmp_path / "k.pub").read_text().strip()
    expected = subprocess.run(
        ["ssh-keygen", "-l", "-f", str(tmp_path / "k.pub")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()[1]
    cluster.apply(keypair("alice", namespace, public))
    cluster.wait("keypair/alice", "condition=Ready", namespace)
    status = cluster.get("keypair", "alice", namespace)["status"]
    assert (status["fingerprint"], status["type"], status["bits"]) == (expected, "ssh-ed25519", 256)
    assert expected in cluster.kubectl("get", "keypairs", "-n", namespace).stdout

    changed = cluster.apply(
        keypair("alice", namespace, public.replace("alice", "bob")), check=False
    )
    assert "publicKey is immutable" in changed.stderr


def test_a_line_that_is_no_ssh_key_is_refused_by_the_api_server(
    cluster: Cluster, namespace: str
) -> None:
    result = cluster.apply(keypair("bad", namespace, "-----BEGIN PUBLIC KEY-----"), check=False)
    assert "publicKey must be one OpenSSH public key line" in result.stderr
    assert cluster.get("keypair", "bad", namespace) is None


def test_key_material_that_does_not_match_its_type_is_reported(
    cluster: Cluster, operator: Operator, namespace: str
) -> None:
    blob = base64.b64encode(b"\x00\x00\x00\x07ssh-rsa").decode()
    cluster.apply(keypair("forged", namespace, f"ssh-ed25519 {blob} mallory"))
    cluster.wait(
        "keypair/forged",
        "jsonpath={.status.conditions[?(@.type=='Ready')].reason}=InvalidPublicKey",
        namespace,
    )
    condition = cluster.get("keypair", "forged", namespace)["status"]["conditions"][0]
    assert (
        condition["message"]
        == "publicKey is not usable: the key material does not encode a ssh-ed25519 key"
    )
