"""The mover pods of VolumeBackups and restores, and how the simulator runs one: the command
sees the volume where the pod mounts it, and the summary where Kubernetes reads it."""

import json
from pathlib import Path

import jsonschema

from devcluster.simulator import movers
from stratus.builders.backup import LABEL_ACTION, LABEL_STORE, build_mover_pod, store_label
from stratus.builders.meta import Owner
from stratus.builders.storage import build_volume_snapshot
from stratus.core.movers import _conflicts
from stratus.status.mover import mover_result
from tests.conftest import UpstreamSchema

OWNER = Owner("VolumeBackup", "weekly", "uid-1", "acme")


def pod(mode: str = "Filesystem", action: str = "backup") -> dict:
    return build_mover_pod(
        OWNER, "weekly", action, "stratus:1", "backups-credentials", ("backups", "data"),
        "volume-backups/data", "uid-1", claim="weekly", volume_mode=mode, parent="uid-0",
        blank_size=1024,
    )  # fmt: skip


def test_a_backup_reads_a_filesystem_volumes_disk_image_read_only() -> None:
    built = pod()
    container = built["spec"]["containers"][0]
    assert container["command"] == [
        "stratus", "mover", "backup", "--prefix", "volume-backups/data", "--backup", "uid-1",
        "--volume", "/volume/disk.img", "--parent", "uid-0", "--blank-size", "1024",
        "--summary", "/dev/termination-log",
    ]  # fmt: skip
    assert container["volumeMounts"] == [
        {"name": "volume", "mountPath": "/volume", "readOnly": True}
    ]
    assert built["spec"]["volumes"][0]["persistentVolumeClaim"] == {
        "claimName": "weekly",
        "readOnly": True,
    }
    keys = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in container["env"]}
    assert keys["STRATUS_S3_SECRET_KEY"] == {"name": "backups-credentials", "key": "secretKey"}
    assert built["spec"]["restartPolicy"] == "Never"
    assert built["spec"]["securityContext"]["runAsNonRoot"] is True
    labels = built["metadata"]["labels"]
    assert (labels[LABEL_STORE], labels[LABEL_ACTION]) == (store_label("backups", "data"), "backup")


def test_a_restore_writes_a_block_device_and_a_removal_needs_no_volume() -> None:
    restore = pod("Block", "restore")["spec"]["containers"][0]
    assert restore["volumeDevices"] == [{"name": "volume", "devicePath": "/dev/stratus-volume"}]
    assert "--blank-size" not in restore["command"]
    remove = build_mover_pod(OWNER, "weekly-remove", "remove", "stratus:1", "creds",
                             ("backups", "data"), "p", "uid-1")  # fmt: skip
    assert remove["spec"]["volumes"] == []
    assert "--volume" not in remove["spec"]["containers"][0]["command"]


def test_only_a_removal_conflicts_with_another_mover_of_the_same_backups() -> None:
    assert not _conflicts("backup", "backup")
    assert not _conflicts("backup", "restore")
    assert _conflicts("remove", "backup") and _conflicts("restore", "remove")


def test_the_summary_is_read_off_the_terminated_container() -> None:
    summary = {"action": "backup", "storedBytes": 42}
    finished = {
        "status": {
            "phase": "Succeeded",
            "containerStatuses": [
                {"state": {"terminated": {"exitCode": 0, "message": json.dumps(summary)}}}
            ],
        }
    }
    assert mover_result(finished).summary == summary and mover_result(finished).finished
    failed = {"status": {"phase": "Failed", "containerStatuses": [
        {"state": {"terminated": {"exitCode": 137, "reason": "OOMKilled"}}}]}}  # fmt: skip
    assert mover_result(failed).error == "OOMKilled"
    assert not mover_result({}).finished


def test_the_simulator_maps_the_pods_paths_to_the_simulated_volume(tmp_path: Path) -> None:
    image = tmp_path / "pvc-1.img"
    for mode, inside in (("Filesystem", "/volume/disk.img"), ("Block", "/dev/stratus-volume")):
        built = pod(mode)
        container = built["spec"]["containers"][0]
        paths = movers.host_paths(container, {"volume": image})
        assert paths == {inside: image}
        command = movers.command_line(container, paths, tmp_path / "log")
        assert command[0].endswith("stratus") and command[1:3] == ["mover", "backup"]
        assert command[command.index("--volume") + 1] == str(image)
        assert command[-1] == str(tmp_path / "log")


def test_the_simulator_reports_the_end_as_a_kubelet_does() -> None:
    status = movers.final_status(pod(), 1, '{"error": "no keys"}', "2026-01-01T00:00:00Z")
    terminated = status["containerStatuses"][0]["state"]["terminated"]
    assert (status["phase"], terminated["exitCode"], terminated["reason"]) == ("Failed", 1, "Error")
    assert mover_result({"status": status}).error == "no keys"


def test_the_snapshot_a_backup_reads_passes_the_upstream_schema(
    upstream_schema: UpstreamSchema,
) -> None:
    snapshot = build_volume_snapshot(OWNER, "data", "standard")
    jsonschema.validate(snapshot, upstream_schema("snapshot.storage.k8s.io", "volumesnapshot_v1"))
    assert snapshot["spec"]["source"] == {"persistentVolumeClaimName": "data"}
