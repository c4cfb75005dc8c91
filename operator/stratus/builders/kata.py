"""A Server with runtime kata: a Pod in the Kata RuntimeClass, sized by its Flavor."""

from stratus.api.server import ServerFlavor
from stratus.builders.meta import Manifest, Owner, child
from stratus.builders.server import (
    Disk,
    Interface,
    Placement,
    affinity,
    workload_annotations,
    workload_labels,
)

CONTAINER = "server"
VOLUMES_PATH = "/volumes"


def container_image(registry: str) -> str:
    """An Image's docker:// reference as a container image."""
    return registry.removeprefix("docker://")


def build_kata_pod(
    owner: Owner,
    flavor: ServerFlavor,
    registry: str,
    runtime_class: str,
    interfaces: list[Interface],
    disks: list[Disk],
    placement: Placement,
) -> Manifest:
    """Flavor resources as requests and limits alike (a Kata guest is sized up front); Volumes
    mounted under /volumes/<name>, or as /dev/<name> devices when they are Block volumes."""
    resources = {"cpu": str(flavor.vcpus), "memory": flavor.memory}
    container: Manifest = {
        "name": CONTAINER,
        "image": container_image(registry),
        "resources": {"requests": dict(resources), "limits": dict(resources)},
        "securityContext": {"allowPrivilegeEscalation": False},
    }
    mounts = [
        {"name": d.name, "mountPath": f"{VOLUMES_PATH}/{d.volume}"} for d in disks if not d.block
    ]
    devices = [{"name": d.name, "devicePath": f"/dev/{d.name}"} for d in disks if d.block]
    if mounts:
        container["volumeMounts"] = mounts
    if devices:
        container["volumeDevices"] = devices
    pod = child(
        "v1", "Pod", owner.name, owner, owner.namespace, workload_labels(owner.name, placement)
    )
    pod["metadata"]["annotations"] = workload_annotations(flavor.name, interfaces)
    spec: Manifest = {
        "runtimeClassName": runtime_class,
        "hostname": owner.name[:63],
        "restartPolicy": "Always",
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "containers": [container],
    }
    if disks:
        spec["volumes"] = [
            {"name": d.name, "persistentVolumeClaim": {"claimName": d.claim}} for d in disks
        ]
    if scheduling := affinity(placement):
        spec["affinity"] = scheduling
    pod["spec"] = spec
    return pod
