"""VolumeBackup as a user drives it: a Volume's bytes exported to a Bucket on the real object
store by a mover pod (run against the simulated volume's bytes), incrementally where asked,
kept when the Volume and the Snapshot it came from are gone, counted by the backups quota,
and restored byte for byte into a new Volume."""

import base64
import random
from typing import Any

import pytest
from minio import Minio

from devcluster.simulator import contents
from stratus.backup.manifest import CHUNK_SIZE
from tests.integration.conftest import Cluster, Operator, stratus_object

MIB = 1024 * 1024


@pytest.fixture
def project(cluster: Cluster, operator: Operator, name: str) -> str:
    """A Project allowed three backups, with a Bucket to keep them in."""
    cluster.apply(
        stratus_object("Project", name, {"quota": {"backups": 3}, "deletionPolicy": "Cascade"})
    )
    cluster.wait(f"project/{name}", "condition=Ready", timeout=90)
    cluster.apply(stratus_object("Bucket", "backups", {}, name))
    cluster.wait("bucket/backups", "condition=Ready", name, timeout=60)
    return name


def backup(name: str, namespace: str, volume: str, **spec: Any) -> str:
    return stratus_object("VolumeBackup", name, {"volume": volume, "bucket": "backups", **spec},
                          namespace)  # fmt: skip


def store(cluster: Cluster, namespace: str) -> tuple[Minio, str]:
    """The Bucket on the object store, reached with its own credentials, as a tenant would."""
    bucket = cluster.ready("bucket", "backups", namespace)
    secret = cluster.get("secret", bucket["status"]["credentialsSecret"], namespace)
    assert secret is not None
    keys = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
    client = Minio(keys["endpoint"].removeprefix("http://"), keys["accessKey"],
                   keys["secretKey"], secure=False)  # fmt: skip
    return client, keys["bucket"]


def temporary_children_gone(cluster: Cluster, name: str, namespace: str) -> bool:
    return all(
        cluster.get(kind, name, namespace) is None for kind in ("pod", "pvc", "volumesnapshot")
    )


def test_a_backup_is_restored_byte_for_byte_through_the_object_store(
    cluster: Cluster, project: str
) -> None:
    cluster.apply(stratus_object("Volume", "ledger", {"size": "1Gi"}, project))
    cluster.ready("volume", "ledger", project)
    source = cluster.volume_disk("ledger", project)
    written = random.Random(15).randbytes(5 * MIB)
    contents.write(source, 0, b"monday")
    contents.write(source, 100 * MIB, written)  # chunks 25 and 26
    contents.write(source, 512 * MIB, b"monday")

    cluster.apply(backup("full", project, "ledger", description="before the audit"))
    full = cluster.ready("volumebackup", "full", project)
    assert full["status"]["phase"] == "Available"
    assert (full["status"]["size"], full["status"]["progress"]) == ("1Gi", "100%")
    # Of 256 chunks, four hold data, and two of those are alike: three are stored.
    assert full["status"]["storedBytes"] == 3 * CHUNK_SIZE
    assert full["status"].get("parent") is None
    cluster.wait_until(
        "the backup's snapshot, claim and pod to go",
        lambda: temporary_children_gone(cluster, "full", project),
    )
    client, bucket = store(cluster, project)
    prefix = full["status"]["prefix"]
    assert prefix == "volume-backups/ledger"
    manifests = {o.object_name for o in client.list_objects(bucket, f"{prefix}/backups/")}
    assert manifests == {f"{prefix}/backups/{full['status']['backupId']}.json"}

    contents.write(source, 0, b"friday")
    cluster.apply(backup("after-friday", project, "ledger", incremental=True))
    incremental = cluster.ready("volumebackup", "after-friday", project)
    assert incremental["status"]["parent"] == full["status"]["backupId"]
    assert incremental["status"]["storedBytes"] == CHUNK_SIZE  # only the chunk that changed
    listed = cluster.kubectl("get", "volumebackups", "-n", project).stdout
    row = next(line for line in listed.splitlines() if line.startswith("after-friday"))
    assert row.split()[1:7] == ["ledger", "backups", "1Gi", "true", "100%", "Available"], listed

    cluster.kubectl("delete", "volume", "ledger", "-n", project)
    cluster.wait_until("the Volume to go", lambda: cluster.get("volume", "ledger", project) is None)
    cluster.kubectl("delete", "volumebackup", "full", "-n", project, "--timeout=90s")
    assert cluster.ready("volumebackup", "after-friday", project)["status"]["phase"] == "Available"
    manifests = {o.object_name for o in client.list_objects(bucket, f"{prefix}/backups/")}
    assert manifests == {f"{prefix}/backups/{incremental['status']['backupId']}.json"}

    cluster.apply(
        stratus_object(
            "Volume", "restored", {"size": "2Gi", "source": {"backup": "after-friday"}}, project
        )
    )
    restored = cluster.ready("volume", "restored", project)
    assert restored["status"]["restoredFrom"] == "after-friday"
    image = cluster.volume_disk("restored", project)
    assert contents.read(image, 0, 6) == b"friday"
    assert contents.read(image, 100 * MIB, 5 * MIB) == written
    assert contents.read(image, 512 * MIB, 6) == b"monday"
    assert image.stat().st_size == 2 * 1024**3
    assert cluster.get("pod", "restored", project) is None


def test_a_backup_of_a_snapshot_outlives_it_and_backups_count_against_the_quota(
    cluster: Cluster, project: str
) -> None:
    cluster.apply(stratus_object("Volume", "db", {"size": "1Gi", "volumeMode": "Block"}, project))
    cluster.ready("volume", "db", project)
    contents.write(cluster.volume_disk("db", project), 4096, b"version one")
    cluster.apply(stratus_object("Snapshot", "v1", {"volume": "db"}, project))
    cluster.ready("snapshot", "v1", project)
    contents.write(cluster.volume_disk("db", project), 4096, b"version two")

    cluster.apply(backup("of-v1", project, "db", snapshot="v1"))
    cluster.ready("volumebackup", "of-v1", project)
    cluster.kubectl("delete", "snapshot", "v1", "-n", project)
    cluster.kubectl("delete", "volume", "db", "-n", project)
    cluster.apply(
        stratus_object(
            "Volume",
            "db-again",
            {"size": "1Gi", "volumeMode": "Block", "source": {"backup": "of-v1"}},
            project,
        )
    )
    cluster.ready("volume", "db-again", project)
    assert contents.read(cluster.volume_disk("db-again", project), 4096, 11) == b"version one"

    cluster.apply(backup("second", project, "db-again"))
    cluster.apply(backup("third", project, "db-again"))
    fourth = cluster.apply(backup("fourth", project, "db-again"), check=False)
    assert "exceeded quota: stratus-project" in fourth.stderr
    assert "count/volumebackups.stratus.io=3" in fourth.stderr
    cluster.wait(f"project/{project}", "jsonpath={.status.usage.backups}=3", timeout=60)


def test_what_a_backup_or_restore_needs_from_the_cluster_is_reported(
    cluster: Cluster, project: str
) -> None:
    """An incremental backup with no full one waits, and goes on once there is one; a restore
    into a Volume too small, or from a Bucket that does not exist, says why."""
    cluster.apply(stratus_object("Volume", "logs", {"size": "1Gi"}, project))
    cluster.apply(backup("early", project, "logs", incremental=True))
    waiting = cluster.ready_condition("volumebackup", "early", project, "NoParentBackup")
    assert "create a full one first" in waiting["message"]
    cluster.apply(backup("base", project, "logs"))
    base = cluster.ready("volumebackup", "base", project)
    early = cluster.ready("volumebackup", "early", project)
    assert early["status"]["parent"] == base["status"]["backupId"]

    cluster.apply(
        stratus_object("VolumeBackup", "nowhere", {"volume": "logs", "bucket": "missing"}, project)
    )
    missing = cluster.ready_condition("volumebackup", "nowhere", project, "BucketNotReady")
    assert "Bucket missing does not exist" in missing["message"]
    cluster.apply(
        stratus_object("Volume", "small", {"size": "512Mi", "source": {"backup": "base"}}, project)
    )
    small = cluster.ready_condition("volume", "small", project, "VolumeTooSmall")
    assert "smaller than the 1Gi VolumeBackup base needs" in small["message"]


def test_a_mover_that_ends_while_no_operator_runs_completes_its_backup_on_restart(
    cluster: Cluster, operator: Operator, project: str
) -> None:
    """Level-based: the pod's end is read whenever the operator comes back. The nodes are
    cordoned so that the mover pod waits until the operator is down."""
    cluster.apply(stratus_object("Volume", "notes", {"size": "1Gi"}, project))
    cluster.ready("volume", "notes", project)
    contents.write(cluster.volume_disk("notes", project), 0, b"written before the restart")
    nodes = cluster.kubectl("get", "nodes", "-o", "name").stdout.split()
    cluster.kubectl("cordon", *nodes)
    try:
        cluster.apply(backup("nightly", project, "notes"))
        cluster.wait_until("the mover pod", lambda: cluster.get("pod", "nightly", project))
        operator.stop()
    finally:
        cluster.kubectl("uncordon", *nodes)
    try:
        cluster.wait("pod/nightly", "jsonpath={.status.phase}=Succeeded", project, timeout=90)
        assert cluster.get("volumebackup", "nightly", project)["status"].get("completedAt") is None
    finally:
        operator.start()
    nightly = cluster.ready("volumebackup", "nightly", project)
    assert nightly["status"]["storedBytes"] == CHUNK_SIZE
    cluster.wait_until(
        "the backup's snapshot, claim and pod to go",
        lambda: temporary_children_gone(cluster, "nightly", project),
    )
