"""Server handlers: resolve what a Server needs, place and admit it, give it addresses, keep its
VirtualMachine (or Kata Pod) as the spec says, reboot it once per request, and on deletion
release everything it held."""

from dataclasses import dataclass, field
from typing import Any

import kopf

from stratus.api.flavor import FlavorSpec
from stratus.api.network import NetworkSpec
from stratus.api.server import SERVER, ServerFlavor, ServerSpec
from stratus.api.volume import VolumeSpec
from stratus.builders.cloudinit import EMPTY_USER_DATA, network_config
from stratus.builders.kata import build_kata_pod
from stratus.builders.kubevirt import (
    VM_API_VERSION,
    build_cloud_init_secret,
    build_ssh_key_secret,
    build_virtual_machine,
    pod_interface_mac,
    root_disk_name,
    ssh_key_secret_name,
)
from stratus.builders.meta import ChildRef, Children, Manifest, Owner, read_secret_value
from stratus.builders.server import (
    LABEL_SERVER,
    Boot,
    Disk,
    Interface,
    Placement,
    disk_name,
    mac_address,
)
from stratus.config import settings
from stratus.constants import API_VERSION, GROUP, VERSION
from stratus.core import kube
from stratus.core.errors import DependencyNotReady, InvalidInput, NotVisible, WaitingForContents
from stratus.core.quota import admit_server, amount, project_of, quantity, refresh_usage
from stratus.core.reconcile import Outcome, parse_spec, reconcile
from stratus.handlers import server_status
from stratus.handlers.children import (
    Parent,
    dependency_key,
    parent_key,
    ready_dependency,
    register,
    register_dependencies,
    run,
)
from stratus.handlers.image import image_copy
from stratus.ipam.ports import Holder, allocate, holder_addresses, release
from stratus.placement import inventory
from stratus.placement.filters import Request, hosts_for

NO_VALID_HOST = "NoValidHost"
USABLE_VOLUME = ("Available", "InUse")
DELETION_POLL = 5.0


@kopf.on.resume(GROUP, VERSION, SERVER.plural)
@kopf.on.create(GROUP, VERSION, SERVER.plural)
@kopf.on.update(GROUP, VERSION, SERVER.plural)
def server_changed(body: kopf.Body, **kwargs: Any) -> None:
    inventory.bind(kwargs)
    reconcile(SERVER, body, lambda: ensure_server(body), error_phase=waiting_phase(body))


@kopf.on.delete(GROUP, VERSION, SERVER.plural)
def server_deleted(body: kopf.Body, **_: Any) -> None:
    reconcile(SERVER, body, lambda: release_server(body), error_phase="Deleting")


@kopf.index(GROUP, VERSION, SERVER.plural)
def servers_by_name(
    namespace: str | None, name: str, body: kopf.Body, **_: Any
) -> dict[str, kopf.Body]:
    return {parent_key(namespace, name): body}


@kopf.index(GROUP, VERSION, SERVER.plural)
def servers_by_dependency(body: kopf.Body, **_: Any) -> dict[str, kopf.Body]:
    return dict.fromkeys(server_dependencies(body), body)


@kopf.index(GROUP, VERSION, SERVER.plural)
def servers_without_host(body: kopf.Body, **_: Any) -> dict[str, kopf.Body] | None:
    """Servers no node could hold: a change of nodes or capacity retries them."""
    conditions = (body.get("status") or {}).get("conditions") or []
    unplaced = any(c.get("reason") == NO_VALID_HOST for c in conditions if c.get("type") == "Ready")
    return {NO_VALID_HOST: body} if unplaced else None


@kopf.index(GROUP, VERSION, SERVER.plural)
def servers_by_group(namespace: str | None, body: kopf.Body, **_: Any) -> dict[str, str] | None:
    group = (body.get("spec") or {}).get("serverGroup")
    return {parent_key(namespace, group): body["metadata"]["name"]} if group else None


def waiting_phase(body: kopf.Body) -> str:
    """A Server that runs keeps its phase while something it needs is not ready."""
    phase = (body.get("status") or {}).get("phase")
    return phase if phase in ("Active", "Shutoff") else "Building"


def _reference(namespace: str, reference: str) -> tuple[str, str]:
    owner_namespace, _, name = reference.rpartition("/")
    return owner_namespace or namespace, name


def server_dependencies(body: kopf.Body) -> list[str]:
    """The Stratus objects a Server waits for, so a change to one wakes it at once."""
    spec = body.get("spec") or {}
    namespace = body["metadata"]["namespace"]
    keys = [dependency_key("Flavor", "", str(spec.get("flavor")))]
    if spec.get("image"):
        keys.append(dependency_key("Image", *_reference(namespace, spec["image"])))
    for volume in [spec.get("bootVolume"), *(spec.get("volumes") or [])]:
        if volume:
            keys.append(dependency_key("Volume", namespace, volume))
    for entry in spec.get("networks") or []:
        keys.append(dependency_key("Network", *_reference(namespace, entry["network"])))
    if spec.get("keyPair"):
        keys.append(dependency_key("KeyPair", namespace, spec["keyPair"]))
    if spec.get("serverGroup"):
        keys.append(dependency_key("ServerGroup", namespace, spec["serverGroup"]))
    return keys


# --- what a Server needs, resolved -------------------------------------------------------


@dataclass
class Inputs:
    """Everything a Server's children are built from, as the cluster has it now."""

    flavor: ServerFlavor
    boot: Boot
    registry: str | None
    networks: list[tuple[str, str, NetworkSpec]]
    disks: list[Disk]
    placement: Placement
    public_key: str | None
    waiting: list[str] = field(default_factory=list)
    """Volumes in the spec that cannot be attached yet, and why."""


def workload_of(owner: Owner, spec: ServerSpec) -> Manifest | None:
    if spec.runtime == "kata":
        return kube.read("v1", "Pod", owner.name, owner.namespace)
    return kube.read(VM_API_VERSION, "VirtualMachine", owner.name, owner.namespace)


def resolve_flavor(name: str, namespace: str) -> ServerFlavor:
    """The Flavor, if the Project may use it (public, or listed in its projects)."""
    found = kube.read(API_VERSION, "Flavor", name)
    if found is None:
        raise DependencyNotReady("FlavorNotFound", f"Flavor {name} does not exist")
    flavor = FlavorSpec.model_validate(found["spec"])
    if not flavor.public:
        project = project_of(namespace)
        if project is None or project["metadata"]["name"] not in flavor.projects:
            raise DependencyNotReady(
                "FlavorNotVisible", f"Flavor {name} is not public and not offered to this Project"
            )
    return ServerFlavor(
        name=name,
        vcpus=flavor.vcpus,
        memory=quantity(amount(flavor.memory)),
        disk=quantity(amount(flavor.disk)) if flavor.disk else None,
        dedicated_cpu=flavor.dedicated_cpu,
    )


def _root_storage_class() -> str:
    storage = settings().storage
    if storage.root_disk_type not in storage.volume_types:
        raise InvalidInput(
            "UnknownVolumeType", f"the root disk type {storage.root_disk_type} is not offered"
        )
    return storage.volume_types[storage.root_disk_type]


def resolve_boot(
    owner: Owner, spec: ServerSpec, flavor: ServerFlavor, workload: Manifest | None
) -> tuple[Boot, str | None]:
    """The root disk, and for kata the container image; once the workload exists it is read
    from there, so a deleted or changed Image never touches a Server built from it."""
    namespace = str(owner.namespace)
    if spec.boot_volume:
        if workload is None:
            _attachable(owner, spec.boot_volume, "BootVolumeNotReady")
        return Boot(claim=spec.boot_volume), None
    if workload is not None and spec.runtime == "kata":
        return Boot(), "docker://" + str(workload["spec"]["containers"][0]["image"])
    templates = ((workload or {}).get("spec") or {}).get("dataVolumeTemplates") or []
    if templates:
        existing = templates[0]
        storage = existing["spec"]["storage"]
        return Boot(
            source=existing["spec"]["source"],
            size=storage["resources"]["requests"]["storage"],
            storage_class=storage.get("storageClassName"),
        ), None
    copy = image_copy(namespace, str(spec.image))
    if spec.runtime == "kata":
        if not copy.spec.source.registry:
            raise InvalidInput(
                "ImageNotBootable",
                f"Image {copy.image} has no registry source: a kata Server runs a container "
                "image (docker://...)",
            )
        return Boot(), copy.spec.source.registry
    size = flavor.disk or copy.min_disk or copy.size or settings().storage.default_image_size
    return Boot(
        source=copy.source, size=quantity(amount(size)), storage_class=_root_storage_class()
    ), None


def _attachable(owner: Owner, volume: str, reason: str) -> Manifest:
    """A Volume this Server may attach: usable, and not attached elsewhere unless shareable."""
    found = ready_dependency("Volume", volume, str(owner.namespace), USABLE_VOLUME, reason)
    holder = (found.get("status") or {}).get("attachedTo")
    shareable = VolumeSpec.model_validate(found["spec"]).access_mode == "ReadWriteMany"
    if holder and holder != owner.name and not shareable:
        raise DependencyNotReady("VolumeInUse", f"Volume {volume} is attached to {holder}")
    return found


def resolve_disks(
    owner: Owner, spec: ServerSpec, workload: Manifest | None
) -> tuple[list[Disk], list[str]]:
    """Attached Volumes: those already attached stay as they are; new ones are checked, and
    hot-pluggable when the workload already exists."""
    present = server_status.template_volumes(workload)
    if spec.runtime == "kata":
        present = server_status.live_volumes(workload)
    disks, waiting = [], []
    for volume in spec.volumes:
        name = disk_name(volume)
        if name in present:
            found = kube.read(API_VERSION, "Volume", volume, owner.namespace)
            block = bool(found and found["spec"].get("volumeMode") == "Block")
            disks.append(Disk(volume, present[name][0], block, present[name][1]))
            continue
        try:
            found = _attachable(owner, volume, "VolumeNotReady")
        except DependencyNotReady as error:
            waiting.append(error.message)
            continue
        block = found["spec"].get("volumeMode") == "Block"
        hotpluggable = workload is not None and spec.runtime == "vm"
        disks.append(Disk(volume, str(found["status"]["claimName"]), block, hotpluggable))
    return disks, waiting


def resolve_network(namespace: str, reference: str) -> tuple[str, str, NetworkSpec]:
    """A Network of this Project, or a shared one of another."""
    network_namespace, name = _reference(namespace, reference)
    found = kube.read(API_VERSION, "Network", name, network_namespace)
    if found is None:
        raise DependencyNotReady(
            "NetworkNotFound", f"Network {network_namespace}/{name} does not exist"
        )
    network = NetworkSpec.model_validate(found["spec"])
    if network_namespace != namespace and not network.shared:
        raise NotVisible("NetworkNotVisible", f"Network {network_namespace}/{name} is not shared")
    if (found.get("status") or {}).get("phase") != "Active":
        raise DependencyNotReady(
            "NetworkNotReady", f"Network {network_namespace}/{name} is not Active"
        )
    return network_namespace, name, network


def resolve_key(owner: Owner, spec: ServerSpec) -> str | None:
    """The public key, copied from the KeyPair once and kept with the Server from then on."""
    if not spec.key_pair:
        return None
    secret = kube.read("v1", "Secret", ssh_key_secret_name(owner.name), owner.namespace)
    data = (secret or {}).get("data") or {}
    if spec.key_pair in data:
        return read_secret_value(data[spec.key_pair])
    key_pair = ready_dependency(
        "KeyPair", spec.key_pair, str(owner.namespace), ("Active",), "KeyPairNotReady"
    )
    return str(key_pair["spec"]["publicKey"])


def resolve_placement(owner: Owner, spec: ServerSpec) -> Placement:
    if not spec.server_group:
        return Placement(zone=spec.availability_zone)
    group = ready_dependency(
        "ServerGroup", spec.server_group, str(owner.namespace), ("Active",), "ServerGroupNotFound"
    )
    return Placement(spec.availability_zone, spec.server_group, str(group["spec"]["policy"]))


def resolve(body: kopf.Body, spec: ServerSpec, workload: Manifest | None) -> Inputs:
    owner = Owner.of(body)
    namespace = str(owner.namespace)
    admitted = (body.get("status") or {}).get("flavor")
    flavor = (
        ServerFlavor.model_validate(admitted)
        if admitted
        else resolve_flavor(spec.flavor, namespace)
    )
    boot, registry = resolve_boot(owner, spec, flavor, workload)
    disks, waiting = resolve_disks(owner, spec, workload)
    return Inputs(
        flavor=flavor,
        boot=boot,
        registry=registry,
        networks=[resolve_network(namespace, entry.network) for entry in spec.networks],
        disks=disks,
        placement=resolve_placement(owner, spec),
        public_key=resolve_key(owner, spec),
        waiting=waiting,
    )


# --- placement, admission, addresses --------------------------------------------------------


def placement_request(
    namespace: str, spec: ServerSpec, flavor: ServerFlavor, placement: Placement
) -> Request:
    """What the Server's pod will ask of a node, as KubeVirt (or the Kata pod) sizes it."""
    memory = int(amount(flavor.memory))
    if spec.runtime == "kata" or flavor.dedicated_cpu:
        cpu = flavor.vcpus * 1000
    else:
        cpu = flavor.vcpus * 1000 // settings().placement.cpu_allocation_ratio
    if spec.runtime == "vm":
        memory += int(amount(settings().placement.vm_memory_overhead))
    hosts: frozenset[str] = frozenset()
    if placement.group:
        hosts = inventory.current().group_hosts(namespace, placement.group)
    return Request(cpu, memory, placement.zone, placement.policy, hosts)


def interfaces_of(
    owner: Owner, spec: ServerSpec, inputs: Inputs, allocate_missing: bool
) -> list[Interface]:
    """The Server's interfaces with their addresses; allocated here only when asked."""
    holder = Holder(SERVER.kind, str(owner.namespace), owner.name)
    interfaces = []
    for index, (entry, (namespace, name, network)) in enumerate(
        zip(spec.networks, inputs.networks, strict=True)
    ):
        if allocate_missing:
            address = allocate(
                namespace, name, network.subnet, holder, index, entry.fixed_ip, holder_uid=owner.uid
            )
        else:
            held = [a for a in holder_addresses(namespace, holder, name) if a.interface == index]
            if not held:
                raise DependencyNotReady("AddressPending", f"no address yet on Network {name}")
            address = held[0].address
        interfaces.append(
            Interface(
                index=index,
                network=name,
                namespace=namespace,
                address=address,
                cidr=network.subnet.cidr,
                mac=mac_address(owner.uid, index),
                gateway=network.subnet.gateway,
                dns=tuple(network.subnet.dns_nameservers),
                mtu=network.mtu,
            )
        )
    return interfaces


# --- children --------------------------------------------------------------------------


def build_children(
    owner: Owner, spec: ServerSpec, inputs: Inputs, interfaces: list[Interface]
) -> Children:
    running = spec.power_state == "Running"
    if spec.runtime == "kata":
        pod = build_kata_pod(
            owner,
            inputs.flavor,
            str(inputs.registry),
            settings().kata_runtime_class,
            interfaces,
            inputs.disks,
            inputs.placement,
        )
        return {ChildRef.of(pod): pod if running else None}
    secret = build_cloud_init_secret(
        owner,
        spec.user_data or EMPTY_USER_DATA,
        network_config(pod_interface_mac(owner), interfaces),
    )
    machine = build_virtual_machine(
        owner,
        inputs.flavor,
        inputs.boot,
        interfaces,
        inputs.disks,
        inputs.placement,
        running,
        spec.key_pair,
    )
    children: Children = {ChildRef.of(secret): secret}
    if spec.key_pair and inputs.public_key:
        key = build_ssh_key_secret(owner, spec.key_pair, inputs.public_key)
        children[ChildRef.of(key)] = key
    children[ChildRef.of(machine)] = machine
    return children


def server_children(body: kopf.Body) -> Children:
    """The children as the spec wants them now, from what is already allocated."""
    spec = parse_spec(ServerSpec, body)
    owner = Owner.of(body)
    workload = workload_of(owner, spec)
    inputs = resolve(body, spec, workload)
    return build_children(owner, spec, inputs, interfaces_of(owner, spec, inputs, False))


def ensure_server(body: kopf.Body) -> Outcome:
    spec = parse_spec(ServerSpec, body)
    owner = Owner.of(body)
    namespace = str(owner.namespace)
    status = body.get("status") or {}
    workload = workload_of(owner, spec)
    inputs = resolve(body, spec, workload)
    if workload is None and spec.power_state == "Running":
        nodes = inventory.current().nodes()
        hosts_for(nodes, placement_request(namespace, spec, inputs.flavor, inputs.placement))
    if not status.get("flavor"):
        admit_server(
            namespace, owner.name, inputs.flavor.model_dump(by_alias=True, exclude_none=True)
        )
        refresh_usage(namespace)
    interfaces = interfaces_of(owner, spec, inputs, allocate_missing=True)
    children = build_children(owner, spec, inputs, interfaces)
    for ref, manifest in children.items():
        if ref.kind == "Pod" and manifest is not None and workload is not None:
            continue  # a Pod's spec is fixed: changes wait for its next restart
        kube.sync({ref: manifest})
    fields = reboot(owner, spec, status)
    return observe(body, spec, inputs.waiting, fields)


def reboot(owner: Owner, spec: ServerSpec, status: Manifest) -> dict[str, Any]:
    """Carry out a new rebootRequestedAt exactly once: the instance to replace is recorded
    before it is deleted, and deleted only under that uid, so repeating this after a crash
    never restarts the instance that replaced it."""
    requested = spec.reboot_requested_at
    if requested is None or requested == status.get("rebootedFor"):
        return {}
    api_version, kind = (
        ("v1", "Pod") if spec.runtime == "kata" else (VM_API_VERSION, "VirtualMachineInstance")
    )
    instance = kube.read(api_version, kind, owner.name, owner.namespace)
    uid = (
        None
        if instance is None or server_status.deleting(instance)
        else instance["metadata"]["uid"]
    )
    pending = status.get("rebootOf")
    done = {"rebootedFor": requested, "rebootOf": None}
    if spec.power_state == "Stopped" or (pending and uid and uid != pending):
        return done
    if pending is None:
        if uid is None:
            return done  # nothing runs yet to reboot
        kube.patch_status(
            API_VERSION, SERVER.kind, owner.name, owner.namespace, status={"rebootOf": uid}
        )
        pending = uid
    kube.delete(api_version, kind, owner.name, owner.namespace, uid=pending)
    return {"rebootOf": pending}


# --- status ----------------------------------------------------------------------------


def observe(
    body: kopf.Body, spec: ServerSpec, waiting: list[str], fields: dict[str, Any]
) -> Outcome:
    owner = Owner.of(body)
    running = spec.power_state == "Running"
    if spec.runtime == "kata":
        instance = kube.read("v1", "Pod", owner.name, owner.namespace)
        state = server_status.pod_state(running, instance)
        wanted = {disk_name(v): (v, False) for v in spec.volumes}
        volumes = server_status.attachments(wanted, instance, is_vmi=False)
        host = ((instance or {}).get("spec") or {}).get("nodeName")
    else:
        machine = kube.read(VM_API_VERSION, "VirtualMachine", owner.name, owner.namespace)
        instance = kube.read(VM_API_VERSION, "VirtualMachineInstance", owner.name, owner.namespace)
        state = server_status.vm_state(running, machine, instance)
        template = server_status.template_volumes(machine)
        volumes = server_status.attachments(
            template, instance, is_vmi=True, not_volumes=frozenset({root_disk_name(owner.name)})
        )
        host = ((instance or {}).get("status") or {}).get("nodeName")
    status = {**(body.get("status") or {}), **fields}
    fields = {
        **fields,
        "virtualMachine": owner.name,
        "host": host if state.phase == "Active" else None,
        "addresses": addresses_of(owner, spec),
        "volumes": volumes,
    }
    if status.get("rebootOf"):
        return Outcome("Rebooting", False, "Rebooting", "rebooting", fields)
    if waiting and state.ready:
        return Outcome(state.phase, False, "VolumeNotReady", "; ".join(waiting), fields)
    return Outcome(state.phase, state.ready, state.reason, state.message, fields)


def addresses_of(owner: Owner, spec: ServerSpec) -> dict[str, list[str]]:
    """Allocated addresses by Network, as the spec names them."""
    holder = Holder(SERVER.kind, str(owner.namespace), owner.name)
    found: dict[str, list[str]] = {}
    for entry in spec.networks:
        namespace, name = _reference(str(owner.namespace), entry.network)
        found[entry.network] = [a.address for a in holder_addresses(namespace, holder, name)]
    return found


def observe_server(body: kopf.Body) -> Outcome:
    """Status after the workload changed: this is also where a reboot is seen through."""
    spec = parse_spec(ServerSpec, body)
    owner = Owner.of(body)
    _, waiting = resolve_disks(owner, spec, workload_of(owner, spec))
    return observe(body, spec, waiting, reboot(owner, spec, body.get("status") or {}))


# --- deletion --------------------------------------------------------------------------


def release_server(body: kopf.Body) -> Outcome:
    """Stop and remove the workload first (its Volumes detach with it), then free addresses."""
    spec = parse_spec(ServerSpec, body)
    owner = Owner.of(body)
    namespace = str(owner.namespace)
    api_version, kind = (
        ("v1", "Pod") if spec.runtime == "kata" else (VM_API_VERSION, "VirtualMachine")
    )
    if kube.read(api_version, kind, owner.name, namespace) is not None:
        kube.delete(api_version, kind, owner.name, namespace, foreground=True)
        raise ServerStopping("Deleting", f"waiting for the {kind} to be removed")
    holder = Holder(SERVER.kind, namespace, owner.name)
    for network_namespace in {_reference(namespace, e.network)[0] for e in spec.networks}:
        release(network_namespace, holder)
    refresh_usage(namespace)
    return Outcome("Deleting", False, "Deleting", "released")


class ServerStopping(WaitingForContents):
    retry_after = DELETION_POLL


register(Parent(SERVER, server_children, ensure_server, observe_server, server_dependencies))


@kopf.on.event("kubevirt.io", "v1", "virtualmachineinstances", labels={LABEL_SERVER: kopf.PRESENT})
def instance_changed(namespace: str | None, labels: kopf.Labels, **kwargs: Any) -> None:
    """A Server's host, volumes and reboots are read off its instance, whose changes (a
    hot-plugged volume turning ready) need not show on the VirtualMachine at all."""
    index: kopf.Index[str, kopf.Body] = kwargs["servers_by_name"]
    for server in index.get(parent_key(namespace, labels[LABEL_SERVER]), []):
        run(SERVER, server, observe_server)


for plural in ("flavors", "keypairs", "networks", "servergroups"):
    register_dependencies(GROUP, VERSION, plural)
