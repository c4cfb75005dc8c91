"""What VolumeBackups and restores run: a pod of `stratus mover` next to the volume, with the
Bucket's credentials, and the claim a backup reads its snapshot through."""

import hashlib
from typing import Literal

from stratus.backup.job import ENVIRONMENT
from stratus.builders.meta import Manifest, Owner, child
from stratus.builders.storage import claim_spec, snapshot_data_source
from stratus.constants import GROUP

LABEL_STORE = f"{GROUP}/backup-store"
"""On mover pods: which volume's backups in which Bucket they touch, so that a removal never
runs beside a backup of the same volume (it could remove chunks that backup relies on)."""
LABEL_ACTION = f"{GROUP}/mover-action"

MoverAction = Literal["backup", "restore", "remove"]
VolumeMode = Literal["Block", "Filesystem"]

DEVICE_PATH = "/dev/stratus-volume"
MOUNT_PATH = "/volume"
DISK_IMAGE = f"{MOUNT_PATH}/disk.img"
"""Where KubeVirt keeps a disk on a Filesystem volume, and so where its bytes are."""
TERMINATION_LOG = "/dev/termination-log"


def store_prefix(volume: str) -> str:
    """Where one Volume's backups are kept in a Bucket: they share chunks, so incremental
    backups and removals see each other."""
    return f"volume-backups/{volume}"


def store_label(bucket: str, volume: str) -> str:
    return hashlib.sha256(f"{bucket}/{volume}".encode()).hexdigest()[:32]


def build_backup_claim(
    owner: Owner,
    snapshot: str,
    size: str,
    volume_mode: VolumeMode,
    storage_class: str | None,
) -> Manifest:
    """A claim restored from the snapshot, which the mover pod reads."""
    claim = child("v1", "PersistentVolumeClaim", owner.name, owner, owner.namespace)
    claim["spec"] = claim_spec(size, "ReadWriteOnce", volume_mode, storage_class)
    claim["spec"]["dataSource"] = snapshot_data_source(snapshot)
    return claim


def build_mover_pod(
    owner: Owner,
    name: str,
    action: MoverAction,
    image: str,
    credentials_secret: str,
    store: tuple[str, str],
    prefix: str,
    backup_id: str,
    *,
    claim: str | None = None,
    volume_mode: VolumeMode = "Filesystem",
    parent: str | None = None,
    blank_size: int | None = None,
) -> Manifest:
    """A pod of one `stratus mover` run. A bare pod, as CDI's importer is: its owner is the
    controller that retries it, and reads its summary off the termination message."""
    labels = {
        LABEL_STORE: store_label(*store),
        LABEL_ACTION: action,
        "app.kubernetes.io/component": "volume-mover",
    }
    pod = child("v1", "Pod", name, owner, owner.namespace, labels)
    command = ["stratus", "mover", action, "--prefix", prefix, "--backup", backup_id]
    container: Manifest = {
        "name": "mover",
        "image": image,
        "env": [
            {"name": env, "valueFrom": {"secretKeyRef": {"name": credentials_secret, "key": key}}}
            for key, env in ENVIRONMENT.items()
        ],
        "resources": {
            "requests": {"cpu": "100m", "memory": "128Mi"},
            "limits": {"memory": "512Mi"},
        },
        "terminationMessagePath": TERMINATION_LOG,
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
    }
    volumes = []
    if claim is not None:
        volumes = [
            {
                "name": "volume",
                "persistentVolumeClaim": {"claimName": claim, "readOnly": action == "backup"},
            }
        ]
        if volume_mode == "Block":
            container["volumeDevices"] = [{"name": "volume", "devicePath": DEVICE_PATH}]
            command += ["--volume", DEVICE_PATH]
        else:
            mount = {"name": "volume", "mountPath": MOUNT_PATH, "readOnly": action == "backup"}
            container["volumeMounts"] = [mount]
            command += ["--volume", DISK_IMAGE]
    if parent:
        command += ["--parent", parent]
    if blank_size is not None and volume_mode == "Filesystem":
        command += ["--blank-size", str(blank_size)]
    container["command"] = [*command, "--summary", TERMINATION_LOG]
    pod["spec"] = {
        "restartPolicy": "Never",
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": 65532,
            "runAsGroup": 65532,
            "fsGroup": 65532,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "automountServiceAccountToken": False,
        "containers": [container],
        "volumes": volumes,
    }
    return pod
