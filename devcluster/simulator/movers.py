"""The kubelet of Stratus's volume mover pods. KWOK marks every pod Running without running
anything (and ends a Job's pods at once with exit 0); a mover must really run, or a backup
would "succeed" with nothing stored. So once KWOK shows the pod Running, its one container's
command (`stratus mover ...`) runs here as a process, with the pod's environment (Secret keys
resolved), its volume's device or disk image mapped to the simulated volume's image file, and
its termination message to a file; the exit code and that message then become the pod's
final status, as a kubelet reports them."""

import base64
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import kopf

from devcluster.simulator import contents, kube
from devcluster.simulator.kube import Manifest

MOVER_LABEL = {"app.kubernetes.io/component": "volume-mover"}
DISK_IMAGE = "disk.img"
"""The file a Filesystem volume's disk lives in, as KubeVirt names it."""
RUN_TIMEOUT = 600.0

_started: set[str] = set()
"""Pods whose container this process has run or runs: each runs once."""
_lock = threading.Lock()


def environment(container: Manifest, namespace: str) -> dict[str, str]:
    """The container's env, with secretKeyRef values read from their Secrets."""
    found: dict[str, str] = {}
    for entry in container.get("env") or []:
        reference = (entry.get("valueFrom") or {}).get("secretKeyRef")
        if reference is None:
            found[entry["name"]] = str(entry.get("value", ""))
            continue
        secret = kube.get(kube.SECRET, reference["name"], namespace) or {}
        value = (secret.get("data") or {}).get(reference["key"])
        if value is None:
            raise LookupError(f"secret {reference['name']} has no key {reference['key']}")
        found[entry["name"]] = base64.b64decode(value).decode()
    return found


def host_paths(container: Manifest, image_of: dict[str, Path]) -> dict[str, Path]:
    """Paths in the container -> files here: a block device, or a Filesystem volume's disk
    image, is its volume's image file. `image_of` maps the pod's volume names to those."""
    paths: dict[str, Path] = {}
    for device in container.get("volumeDevices") or []:
        if device["name"] in image_of:
            paths[device["devicePath"]] = image_of[device["name"]]
    for mount in container.get("volumeMounts") or []:
        if mount["name"] in image_of:
            paths[f"{mount['mountPath'].rstrip('/')}/{DISK_IMAGE}"] = image_of[mount["name"]]
    return paths


def volume_images(pod: Manifest) -> dict[str, Path]:
    """The pod's claim volumes, by volume name, as the simulated volumes' image files."""
    namespace = pod["metadata"]["namespace"]
    images = {}
    for volume in pod["spec"].get("volumes") or []:
        claim_name = (volume.get("persistentVolumeClaim") or {}).get("claimName")
        claim = kube.get(kube.PVC, claim_name, namespace) if claim_name else None
        bound = ((claim or {}).get("spec") or {}).get("volumeName")
        if bound:
            images[volume["name"]] = contents.volume_path(bound)
    return images


def command_line(container: Manifest, paths: dict[str, Path], message: Path) -> list[str]:
    """The container's command as a process here: `stratus` from this environment, and the
    container's paths (its termination message's too) mapped to files here."""
    command = [*container.get("command", []), *container.get("args", [])]
    mapped = {inside: str(here) for inside, here in paths.items()}
    mapped[container_message_path(container)] = str(message)
    executable = shutil.which("stratus", path=str(Path(sys.executable).parent)) or "stratus"
    return [executable, *(mapped.get(argument, argument) for argument in command[1:])]


def container_message_path(container: Manifest) -> str:
    return str(container.get("terminationMessagePath") or "/dev/termination-log")


def final_status(pod: Manifest, exit_code: int, message: str, started: str) -> Manifest:
    """What a kubelet reports of a pod whose one container ended."""
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    container = pod["spec"]["containers"][0]
    succeeded = exit_code == 0
    return {
        "phase": "Succeeded" if succeeded else "Failed",
        "conditions": [
            {
                "type": "Ready",
                "status": "False",
                "reason": "PodCompleted",
                "lastTransitionTime": now,
            },
            {
                "type": "ContainersReady",
                "status": "False",
                "reason": "PodCompleted",
                "lastTransitionTime": now,
            },
        ],
        "containerStatuses": [
            {
                "name": container["name"],
                "image": container["image"],
                "imageID": "",
                "ready": False,
                "restartCount": 0,
                "started": False,
                "state": {
                    "terminated": {
                        "exitCode": exit_code,
                        "reason": "Completed" if succeeded else "Error",
                        "message": message,
                        "startedAt": started,
                        "finishedAt": now,
                    }
                },
            }
        ],
    }


def run_mover(pod: Manifest, logger: kopf.Logger) -> None:
    """Run the pod's container to its end, then report how it ended."""
    metadata = pod["metadata"]
    namespace, name = metadata["namespace"], metadata["name"]
    container = pod["spec"]["containers"][0]
    started = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    with tempfile.TemporaryDirectory(prefix="mover-") as scratch:
        message_file = Path(scratch) / "termination-log"
        try:
            paths = host_paths(container, volume_images(pod))
            env = {"PATH": os.environ.get("PATH", ""), **environment(container, namespace)}
            done = subprocess.run(
                command_line(container, paths, message_file),
                env=env,
                capture_output=True,
                text=True,
                timeout=RUN_TIMEOUT,
                check=False,
            )
            exit_code, output = done.returncode, done.stderr
        except (LookupError, OSError, subprocess.TimeoutExpired) as failed:
            exit_code, output = 128, str(failed)
        message = message_file.read_text() if message_file.exists() else output[-4096:]
    logger.info(f"mover pod {namespace}/{name} exited {exit_code}")
    kube.patch(
        kube.POD,
        name,
        namespace,
        {"status": final_status(pod, exit_code, message, started)},
        status=True,
    )


def ready_to_run(pod: Manifest) -> bool:
    """KWOK has started it (Running on a node), and nothing has ended it."""
    status = pod.get("status") or {}
    return (
        not pod["metadata"].get("deletionTimestamp")
        and bool(pod["spec"].get("nodeName"))
        and status.get("phase") == "Running"
    )


@kopf.on.event("", "v1", "pods", labels=MOVER_LABEL)
def mover_pod_changed(body: kopf.Body, logger: kopf.Logger, **_: Any) -> None:
    pod = dict(body)
    uid = pod["metadata"]["uid"]
    if not ready_to_run(pod):
        return
    with _lock:
        if uid in _started:
            return
        _started.add(uid)
    run_mover(pod, logger)
