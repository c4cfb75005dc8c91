"""What Stratus objects become in KubeVirt's API."""

import hashlib

from stratus.api.flavor import FlavorSpec
from stratus.api.server import ServerFlavor
from stratus.builders.meta import Manifest, Owner, child, secret_value
from stratus.builders.server import (
    HOSTNAME_LABEL,
    LABEL_SERVER,
    Boot,
    Disk,
    Interface,
    Placement,
    affinity,
    mac_address,
    workload_annotations,
    workload_labels,
)

INSTANCETYPE_API_VERSION = "instancetype.kubevirt.io/v1beta1"


def build_cluster_instancetype(owner: Owner, flavor: FlavorSpec) -> Manifest:
    """A Flavor as a VirtualMachineClusterInstancetype of the same name."""
    instancetype = child(
        INSTANCETYPE_API_VERSION, "VirtualMachineClusterInstancetype", owner.name, owner
    )
    cpu: Manifest = {"guest": flavor.vcpus}
    if flavor.dedicated_cpu:
        cpu["dedicatedCPUPlacement"] = True
    instancetype["spec"] = {"cpu": cpu, "memory": {"guest": str(flavor.memory)}}
    return instancetype


VM_API_VERSION = "kubevirt.io/v1"
ROOT_DISK = "root"
CLOUD_INIT_DISK = "cloudinit"
POD_NETWORK = "default"


def root_disk_name(server: str) -> str:
    return f"{server}-root"


def cloud_init_secret_name(server: str) -> str:
    return f"{server}-cloud-init"


def ssh_key_secret_name(server: str) -> str:
    return f"{server}-ssh-key"


def build_cloud_init_secret(owner: Owner, user_data: str, network_data: str) -> Manifest:
    """User data can hold secrets, so it travels in a Secret rather than the VM's spec."""
    secret = child("v1", "Secret", cloud_init_secret_name(owner.name), owner, owner.namespace)
    secret["type"] = "Opaque"
    secret["data"] = {
        "userdata": secret_value(user_data),
        "networkdata": secret_value(network_data),
    }
    return secret


def build_ssh_key_secret(owner: Owner, key_pair: str, public_key: str) -> Manifest:
    """The KeyPair's key, copied at creation as Nova does: deleting the KeyPair keeps it."""
    secret = child("v1", "Secret", ssh_key_secret_name(owner.name), owner, owner.namespace)
    secret["type"] = "Opaque"
    secret["data"] = {key_pair: secret_value(public_key)}
    return secret


def _disk(name: str, bus: str, boot_order: int | None = None) -> Manifest:
    disk: Manifest = {"name": name, "disk": {"bus": bus}}
    if boot_order is not None:
        disk["bootOrder"] = boot_order
    return disk


def _attached(disk: Disk) -> tuple[Manifest, Manifest]:
    """The disk and volume of an attached Volume: scsi and hotpluggable when added live."""
    claim: Manifest = {"claimName": disk.claim}
    if disk.hotpluggable:
        claim["hotpluggable"] = True
    return (
        _disk(disk.name, "scsi" if disk.hotpluggable else "virtio"),
        {"name": disk.name, "persistentVolumeClaim": claim},
    )


def _root(owner: Owner, boot: Boot) -> tuple[Manifest, list[Manifest]]:
    """The root volume, and the DataVolume template that copies the Image into it."""
    if boot.claim:
        return {"name": ROOT_DISK, "persistentVolumeClaim": {"claimName": boot.claim}}, []
    name = root_disk_name(owner.name)
    storage: Manifest = {"resources": {"requests": {"storage": boot.size}}}
    if boot.storage_class:
        storage["storageClassName"] = boot.storage_class
    template = {
        "metadata": {"name": name, "labels": owner.labels()},
        "spec": {"source": boot.source, "storage": storage},
    }
    return {"name": ROOT_DISK, "dataVolume": {"name": name}}, [template]


def build_virtual_machine(
    owner: Owner,
    flavor: ServerFlavor,
    boot: Boot,
    interfaces: list[Interface],
    disks: list[Disk],
    placement: Placement,
    running: bool,
    key_pair: str | None,
    readiness_probe: Manifest | None = None,
) -> Manifest:
    """A Server as a VirtualMachine: Flavor sizes, root disk, Volumes, cloud-init, one
    bridged Multus interface per Network besides the pod network, and the readiness probe of
    the load balancer health monitor watching it."""
    root, datavolume_templates = _root(owner, boot)
    attached = [_attached(disk) for disk in disks]
    cpu: Manifest = {"sockets": flavor.vcpus, "cores": 1, "threads": 1}
    if flavor.dedicated_cpu:
        cpu["dedicatedCpuPlacement"] = True
    pod_mac = pod_interface_mac(owner)
    template_spec: Manifest = {
        "hostname": owner.name[:63],
        "domain": {
            "cpu": cpu,
            "memory": {"guest": flavor.memory},
            "devices": {
                "disks": [
                    _disk(ROOT_DISK, "virtio", boot_order=1),
                    _disk(CLOUD_INIT_DISK, "virtio"),
                    *(disk for disk, _ in attached),
                ],
                "interfaces": [
                    {"name": POD_NETWORK, "masquerade": {}, "macAddress": pod_mac},
                    *({"name": i.name, "bridge": {}, "macAddress": i.mac} for i in interfaces),
                ],
            },
        },
        "networks": [
            {"name": POD_NETWORK, "pod": {}},
            *(
                {"name": i.name, "multus": {"networkName": f"{i.namespace}/{i.network}"}}
                for i in interfaces
            ),
        ],
        "volumes": [
            root,
            {
                "name": CLOUD_INIT_DISK,
                "cloudInitNoCloud": {
                    "secretRef": {"name": cloud_init_secret_name(owner.name)},
                    "networkDataSecretRef": {"name": cloud_init_secret_name(owner.name)},
                },
            },
            *(volume for _, volume in attached),
        ],
    }
    if key_pair:
        template_spec["accessCredentials"] = [
            {
                "sshPublicKey": {
                    "source": {"secret": {"secretName": ssh_key_secret_name(owner.name)}},
                    "propagationMethod": {"noCloud": {}},
                }
            }
        ]
    if scheduling := affinity(placement):
        template_spec["affinity"] = scheduling
    if readiness_probe:
        template_spec["readinessProbe"] = readiness_probe
    template_metadata: Manifest = {
        "labels": workload_labels(owner.name, placement),
        "annotations": workload_annotations(flavor.name, interfaces),
    }
    machine = child(VM_API_VERSION, "VirtualMachine", owner.name, owner, owner.namespace)
    machine["spec"] = {
        "runStrategy": "Always" if running else "Halted",
        "template": {"metadata": template_metadata, "spec": template_spec},
    }
    if datavolume_templates:
        machine["spec"]["dataVolumeTemplates"] = datavolume_templates
    return machine


def pod_interface_mac(owner: Owner) -> str:
    """The pod network's MAC, which the network-config matches."""
    return mac_address(owner.uid, -1)


def migration_name(server: str, request: str) -> str:
    """One VirtualMachineInstanceMigration per request, so that a repeated pass finds the
    migration it started instead of starting another."""
    return f"{server}-migration-{hashlib.sha256(request.encode()).hexdigest()[:8]}"


def build_migration(owner: Owner, name: str, target_host: str) -> Manifest:
    """A live migration of the Server's instance to the node placement chose for it."""
    migration = child(
        VM_API_VERSION,
        "VirtualMachineInstanceMigration",
        name,
        owner,
        namespace=owner.namespace,
        labels={LABEL_SERVER: owner.name},
    )
    migration["spec"] = {
        "vmiName": owner.name,
        "addedNodeSelector": {HOSTNAME_LABEL: target_host},
    }
    return migration
