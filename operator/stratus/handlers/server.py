"""Server handlers: resolve what a Server needs, place and admit it, give it addresses, keep its
VirtualMachine (or Kata Pod) as the spec says, reboot it once per request, resize it when its
Flavor changes, shelve it, and on deletion release everything it held.

A pass goes through phases in order, each owning one condition beside Ready, as Cluster API's
machine controller does: QuotaAdmitted (the Flavor is admitted against the Project's quota),
AddressesAllocated (every interface has its address), WorkloadReady (placement and the
VirtualMachine or Pod). A phase that fails sets its condition False and stops the pass."""

import contextlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import kopf

from stratus.api.flavor import FlavorSpec
from stratus.api.network import NetworkSpec
from stratus.api.server import (
    SERVER,
    ServerCondition,
    ServerFlavor,
    ServerPhase,
    ServerSpec,
    ServerStatus,
)
from stratus.api.volume import USABLE_PHASES, VolumeSpec
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
    FLAVOR_ANNOTATION,
    LABEL_SERVER,
    Boot,
    Disk,
    Interface,
    Placement,
    disk_name,
    mac_address,
)
from stratus.builders.storage import cdi_claim
from stratus.config import settings
from stratus.constants import API_VERSION, GROUP, VERSION
from stratus.core import kube
from stratus.core.errors import DependencyNotReady, InvalidInput, StratusError, WaitingForEvent
from stratus.core.indexes import index
from stratus.core.parents import Parent, dependency_key, own_pass, parent_key, register, run
from stratus.core.quota import admit_server, refresh_usage
from stratus.core.reconcile import (
    Check,
    Outcome,
    commit_status,
    parse_spec,
    parse_status,
    reconcile,
)
from stratus.core.resolve import (
    attach_key,
    image_copy,
    ports_key,
    project_name_of,
    ready_dependency,
    resolve_network,
    split_reference,
)
from stratus.core.units import amount, quantity
from stratus.core.workqueue import hold_all
from stratus.handlers.loadbalancer import member_probe
from stratus.handlers.migration import awaiting_confirmation, follow, migrate, under_way
from stratus.ipam.ports import Holder, allocate, holder_addresses, release, taken_addresses
from stratus.placement import inventory
from stratus.placement.filters import hosts_for
from stratus.placement.sizing import placement_request
from stratus.status import server as workload_status
from stratus.status.server import State


@kopf.on.resume(GROUP, VERSION, SERVER.plural)
@kopf.on.create(GROUP, VERSION, SERVER.plural)
@kopf.on.update(GROUP, VERSION, SERVER.plural)
def server_changed(body: kopf.Body, **_: Any) -> None:
    own_pass(SERVER, body, ensure_server)


@kopf.on.delete(GROUP, VERSION, SERVER.plural)
def server_deleted(body: kopf.Body, **_: Any) -> None:
    reconcile(SERVER, body, release_server, error_phase=ServerPhase.DELETING, deletion=True)


@index(GROUP, VERSION, SERVER.plural)
def servers_by_name(
    namespace: str | None, name: str, body: kopf.Body, **_: Any
) -> dict[str, kopf.Body]:
    return {parent_key(namespace, name): body}


@index(GROUP, VERSION, SERVER.plural)
def servers_by_dependency(body: kopf.Body, **_: Any) -> dict[str, kopf.Body]:
    return dict.fromkeys(server_dependencies(body), body)


def waiting_phase(body: Mapping[str, Any]) -> str:
    """A Server that runs keeps its phase while something it needs is not ready."""
    phase = (body.get("status") or {}).get("phase")
    running = (
        ServerPhase.ACTIVE,
        ServerPhase.SHUTOFF,
        ServerPhase.SHELVED,
        ServerPhase.MIGRATING,
        ServerPhase.VERIFY_RESIZE,
    )
    return phase if phase in running else ServerPhase.BUILDING


def server_dependencies(body: kopf.Body) -> list[str]:
    """The Stratus objects a Server waits for, so a change to one wakes it at once."""
    spec = body.get("spec") or {}
    namespace = body["metadata"]["namespace"]
    keys = [dependency_key("Flavor", "", str(spec.get("flavor")))]
    if spec.get("image"):
        keys.append(dependency_key("Image", *split_reference(namespace, spec["image"])))
    for volume in [spec.get("bootVolume"), *(spec.get("volumes") or [])]:
        if volume:
            keys.append(dependency_key("Volume", namespace, volume))
    for entry in spec.get("networks") or []:
        keys.append(dependency_key("Network", *split_reference(namespace, entry["network"])))
    if spec.get("keyPair"):
        keys.append(dependency_key("KeyPair", namespace, spec["keyPair"]))
    if spec.get("serverGroup"):
        keys.append(dependency_key("ServerGroup", namespace, spec["serverGroup"]))
    for group in spec.get("securityGroups") or []:
        keys.append(dependency_key("SecurityGroup", namespace, group))
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
    readiness_probe: Manifest | None = None
    """The health monitor of a LoadBalancer whose pool holds the Server."""
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
    if not flavor.offered_to(None if flavor.public else project_name_of(namespace)):
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
            attachable(owner, spec.boot_volume, "BootVolumeNotReady")
        return Boot(claim=spec.boot_volume), None
    if workload is not None and spec.runtime == "kata":
        return Boot(), "docker://" + str(workload["spec"]["containers"][0]["image"])
    templates = ((workload or {}).get("spec") or {}).get("dataVolumeTemplates") or []
    if templates:
        existing = templates[0]
        storage = existing["spec"]["storage"]
        size = storage["resources"]["requests"]["storage"]
        if flavor.disk and amount(flavor.disk) > amount(size):
            size = flavor.disk  # resized to a Flavor with a larger disk (never a smaller one)
        return Boot(
            source=existing["spec"]["source"],
            size=size,
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


def attachable(owner: Owner, volume: str, reason: str) -> Manifest:
    """A Volume this Server may attach: usable, and not attached elsewhere unless shareable."""
    found = ready_dependency("Volume", volume, str(owner.namespace), USABLE_PHASES, reason)
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
    present = workload_status.template_volumes(workload)
    if spec.runtime == "kata":
        present = workload_status.live_volumes(workload)
    disks, waiting = [], []
    for volume in spec.volumes:
        name = disk_name(volume)
        if name in present:
            found = kube.read(API_VERSION, "Volume", volume, owner.namespace)
            block = bool(found and found["spec"].get("volumeMode") == "Block")
            disks.append(Disk(volume, present[name][0], block, present[name][1]))
            continue
        try:
            found = attachable(owner, volume, "VolumeNotReady")
        except DependencyNotReady as error:
            waiting.append(error.message)
            continue
        block = found["spec"].get("volumeMode") == "Block"
        hotpluggable = workload is not None and spec.runtime == "vm"
        disks.append(Disk(volume, str(found["status"]["claimName"]), block, hotpluggable))
    return disks, waiting


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


def wanted_flavor(body: kopf.Body, spec: ServerSpec) -> ServerFlavor:
    """The Flavor as admitted, kept like Nova keeps it; or, when the spec names another, the
    one a resize goes to, if it keeps the root disk. The Flavor a resize left, named again,
    is a revert to it as it was admitted; the one a failed resize was reverted from is not
    tried again until the spec names another."""
    status = parse_status(ServerStatus, body)
    admitted, previous, failed = status.flavor, status.previous_flavor, status.resize_failed
    if admitted is not None and admitted.name == spec.flavor:
        return admitted
    if previous is not None and previous.name == spec.flavor:
        return previous
    if admitted is not None and failed is not None and failed.flavor == spec.flavor:
        return admitted
    with refused_resize_keeps_phase(body, resizing=admitted is not None):
        if admitted is not None and previous is not None:
            raise InvalidInput(
                "ResizeRefused",
                f"the resize from {previous.name} to {admitted.name} is not confirmed: confirm "
                f"it (spec.resizeConfirmedAt) or revert it (spec.flavor: {previous.name}) first",
            )
        flavor = resolve_flavor(spec.flavor, str(body["metadata"]["namespace"]))
        if admitted is not None and shrinks(admitted, flavor):
            raise InvalidInput(
                "ResizeRefused",
                f"Flavor {flavor.name} has a {flavor.disk} root disk, smaller than the "
                f"{admitted.disk} of {admitted.name}: a root disk never shrinks",
            )
    return flavor


def shrinks(old: ServerFlavor, new: ServerFlavor) -> bool:
    """Whether a resize would shrink the root disk, which no guest file system survives."""
    return bool(old.disk and new.disk and amount(new.disk) < amount(old.disk))


@contextlib.contextmanager
def refused_resize_keeps_phase(body: Mapping[str, Any], resizing: bool) -> Iterator[None]:
    """A resize refused (quota, placement, a smaller disk) leaves the Server as it was,
    running or stopped: Ready=False says why, the phase stays."""
    try:
        yield
    except StratusError as refused:
        if resizing:
            refused.phase = waiting_phase(body)
        raise


def resolve_placement(owner: Owner, spec: ServerSpec) -> Placement:
    if not spec.server_group:
        return Placement(zone=spec.availability_zone)
    group = ready_dependency(
        "ServerGroup", spec.server_group, str(owner.namespace), ("Active",), "ServerGroupNotFound"
    )
    return Placement(spec.availability_zone, spec.server_group, str(group["spec"]["policy"]))


def resolve_security_groups(namespace: str, spec: ServerSpec) -> None:
    """The groups must exist, as Neutron refuses a port in a group it does not know: a
    misspelt one would otherwise leave the Server allowed less than its owner meant."""
    for group in spec.security_groups:
        ready_dependency("SecurityGroup", group, namespace, ("Active",), "SecurityGroupNotFound")


def resolve(body: kopf.Body, spec: ServerSpec, workload: Manifest | None) -> Inputs:
    owner = Owner.of(body)
    namespace = str(owner.namespace)
    resolve_security_groups(namespace, spec)
    flavor = wanted_flavor(body, spec)
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
        readiness_probe=member_probe(namespace, owner.name, body["metadata"].get("labels") or {}),
        waiting=waiting,
    )


# --- placement, admission, addresses --------------------------------------------------------


def interfaces_of(
    owner: Owner, spec: ServerSpec, inputs: Inputs, allocate_missing: bool
) -> list[Interface]:
    """The Server's interfaces with their addresses; allocated here only when asked."""
    holder = Holder(SERVER.kind, str(owner.namespace), owner.name)
    interfaces = []
    for position, (entry, (namespace, name, network)) in enumerate(
        zip(spec.networks, inputs.networks, strict=True)
    ):
        if allocate_missing:
            address = allocate(
                namespace,
                name,
                network.subnet,
                holder,
                position,
                entry.fixed_ip,
                known_taken=taken_addresses(namespace, name),
                holder_uid=owner.uid,
            )
        else:
            held = [a for a in holder_addresses(namespace, holder, name) if a.interface == position]
            if not held:
                raise DependencyNotReady("AddressPending", f"no address yet on Network {name}")
            address = held[0].address
        interfaces.append(
            Interface(
                index=position,
                network=name,
                namespace=namespace,
                address=address,
                cidr=network.subnet.cidr,
                mac=mac_address(owner.uid, position),
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
        inputs.readiness_probe,
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
    """The phases in order; the keys held make an attachment and an allocation exclusive with
    the deletion of the Volume or Network they take from."""
    spec = parse_spec(ServerSpec, body)
    owner = Owner.of(body)
    revert_failed_resize(body, spec)
    with hold_all(exclusive_keys(str(owner.namespace), spec)):
        workload = workload_of(owner, spec)
        inputs = resolve(body, spec, workload)
        admitted = admit(body, spec, inputs, workload)
        interfaces = interfaces_of(owner, spec, inputs, allocate_missing=True)
        grow_root_disk(owner, inputs.boot, workload)
        apply_workload(build_children(owner, spec, inputs, interfaces), workload)
    changes = reboot(body, spec) | resize(body, spec)
    outcome = observe(body, spec, inputs.waiting, changes | migrate(body, spec, inputs.placement))
    allocated = Check(True, "Allocated", _addresses_message(interfaces))
    outcome.checks = {
        ServerCondition.QUOTA_ADMITTED: admitted,
        ServerCondition.ADDRESSES_ALLOCATED: allocated,
        **outcome.checks,
    }
    return outcome


def exclusive_keys(namespace: str, spec: ServerSpec) -> list[str]:
    volumes = [spec.boot_volume, *spec.volumes] if spec.boot_volume else spec.volumes
    return [attach_key(namespace, v) for v in volumes] + [
        ports_key(*split_reference(namespace, entry.network)) for entry in spec.networks
    ]


def admit(body: kopf.Body, spec: ServerSpec, inputs: Inputs, workload: Manifest | None) -> Check:
    """Placement first (a Server no node can hold takes no quota), then the Flavor against the
    Project's quota, once: the admission is kept in status.flavor from then on. A resize is
    admitted the same way, for the new Flavor in place of the old, and so is an unshelve."""
    owner = Owner.of(body)
    namespace = str(owner.namespace)
    status = parse_status(ServerStatus, body)
    admitted, running = status.flavor, spec.power_state == "Running"
    resizing = admitted is not None and admitted.name != inputs.flavor.name
    unshelving = bool(status.shelved) and running
    reverting = resizing and status.previous_flavor is not None  # others wait (wanted_flavor)
    with refused_resize_keeps_phase(body, resizing or unshelving):
        if (workload is None or resizing or unshelving) and running:
            nodes = inventory.current().nodes()
            hosts_for(nodes, placement_request(namespace, spec, inputs.flavor, inputs.placement))
        if admitted is None or resizing or unshelving:
            # A running Server's resize is verified in its new Flavor before the old is let go.
            verified = resizing and not reverting and running and workload is not None
            previous = admitted.model_dump(by_alias=True) if admitted and verified else None
            # Every field, unset ones as null: a resize's merge patch must drop the old disk.
            admit_server(body, inputs.flavor.model_dump(by_alias=True), previous)
            refresh_usage(namespace)
    flavor = inputs.flavor
    return Check(True, "Admitted", f"{flavor.name}: {flavor.vcpus} vCPUs, {flavor.memory}")


def grow_root_disk(owner: Owner, boot: Boot, workload: Manifest | None) -> None:
    """A resize to a Flavor with a larger disk grows the root disk's claim, before the
    VirtualMachine's template says so: KubeVirt leaves a DataVolume it made as it is, and
    the template's size is how a later pass knows the claim has grown."""
    templates = ((workload or {}).get("spec") or {}).get("dataVolumeTemplates") or []
    if not templates or boot.size is None:
        return
    made = templates[0]["spec"]["storage"]["resources"]["requests"]["storage"]
    if amount(boot.size) > amount(made):
        kube.converge(cdi_claim(owner, root_disk_name(owner.name), boot.size))


def apply_workload(children: Children, workload: Manifest | None) -> None:
    for ref, manifest in children.items():
        if ref.kind == "Pod" and manifest is not None and workload is not None:
            continue  # a Pod's spec is fixed: changes wait for its next restart
        kube.sync({ref: manifest})


def _addresses_message(interfaces: list[Interface]) -> str:
    return ", ".join(f"{i.address} on {i.network}" for i in interfaces) or "no interfaces"


def reboot(body: kopf.Body, spec: ServerSpec) -> dict[str, Any]:
    """Carry out a new rebootRequestedAt exactly once: the instance to replace is recorded
    before it is deleted, and deleted only under that uid, so repeating this after a crash
    never restarts the instance that replaced it."""
    owner = Owner.of(body)
    status = parse_status(ServerStatus, body)
    requested = spec.reboot_requested_at
    if requested is None or requested == status.rebooted_for:
        return {}
    try:
        awaiting_confirmation(status, "rebooted")
    except InvalidInput as refused:  # recorded as answered: a new request asks again
        kopf.event(body, type="Warning", reason=refused.reason, message=refused.message)
        return {"rebootedFor": requested}
    api_version, kind = instance_kind(spec)
    instance = kube.read(api_version, kind, owner.name, owner.namespace)
    uid = (
        None
        if instance is None or workload_status.deleting(instance)
        else instance["metadata"]["uid"]
    )
    pending = status.reboot_of
    done = {"rebootedFor": requested, "rebootOf": None}
    if spec.power_state != "Running" or (pending and uid and uid != pending):
        return done
    if pending is None:
        if uid is None:
            return done  # nothing runs yet to reboot
        commit_status(body, {"rebootOf": uid})
        pending = uid
    kube.delete(api_version, kind, owner.name, owner.namespace, uid=pending)
    return {"rebootOf": pending}


def resize(body: kopf.Body, spec: ServerSpec) -> dict[str, Any]:
    """Carry a resize (or its revert) through: an instance started in another Flavor than the
    admitted one is replaced once, under its uid (recorded before it is deleted, as for a
    reboot), and the next starts in the admitted Flavor. KubeVirt would only mark the machine
    RestartRequired. An instance that predates the Flavor annotation is never restarted."""
    owner = Owner.of(body)
    status = parse_status(ServerStatus, body)
    admitted = status.flavor.name if status.flavor else None
    api_version, kind = instance_kind(spec)
    instance = kube.read(api_version, kind, owner.name, owner.namespace)
    live = instance is not None and not workload_status.deleting(instance)
    annotations = (instance or {}).get("metadata", {}).get("annotations") or {}
    started_in = annotations.get(FLAVOR_ANNOTATION) if live else None
    if spec.power_state != "Running" or (live and started_in in (None, admitted)):
        return {"resizeOf": None} if status.resize_of else {}
    if not live or instance is None:
        return {}  # the old instance is going, or the new one is not made yet
    uid = instance["metadata"]["uid"]
    fields = {"resizeOf": uid}
    if status.resize_of != uid:
        commit_status(body, fields)
    kube.delete(api_version, kind, owner.name, owner.namespace, uid=uid)
    return fields


def instance_kind(spec: ServerSpec) -> tuple[str, str]:
    """What runs a started Server: a Pod (kata), or a VirtualMachineInstance."""
    if spec.runtime == "kata":
        return "v1", "Pod"
    return VM_API_VERSION, "VirtualMachineInstance"


def revert_failed_resize(body: kopf.Body, spec: ServerSpec) -> bool:
    """Nova reverts a resize whose new instance fails: until the resize is confirmed, a
    workload in Error (it cannot be scheduled, or fails to start) goes back to the Flavor it
    left, which the quota still holds. The failure is kept, so the spec's Flavor is not tried
    again until it names another."""
    status = parse_status(ServerStatus, body)
    previous, admitted = status.previous_flavor, status.flavor
    if previous is None or admitted is None or spec.power_state != "Running":
        return False
    state = read_workload(Owner.of(body), spec).state
    if state.phase != ServerPhase.ERROR:
        return False
    failure = {"flavor": admitted.name, "reason": state.reason, "message": state.message}
    commit_status(
        body,
        {
            "flavor": previous.model_dump(by_alias=True),
            "previousFlavor": None,
            "resizeFailed": failure,
        },
    )
    refresh_usage(str(body["metadata"]["namespace"]))
    kopf.event(
        body,
        type="Warning",
        reason="ResizeReverted",
        message=f"the instance in {admitted.name} failed ({state.reason}: {state.message}); "
        f"reverting to {previous.name}",
    )
    return True


def resize_state(body: kopf.Body, spec: ServerSpec, state: State) -> State | None:
    """Nova's VERIFY_RESIZE: a resize whose instance runs in its new Flavor waits for a
    confirmation (a new resizeConfirmedAt), or a revert (the old Flavor named again). A
    confirmation lets the old Flavor go; one given while no resize is under way is recorded
    and does nothing. After a failed resize, the Server runs in its old Flavor, not Ready."""
    status = parse_status(ServerStatus, body)
    previous, failed = status.previous_flavor, status.resize_failed
    requested = spec.resize_confirmed_at
    confirming = requested is not None and requested != status.resize_confirmed_for
    if failed is not None and failed.flavor != spec.flavor:
        commit_status(body, {"resizeFailed": None})
        failed = None
    if previous is None:
        settled = status.flavor is not None and status.flavor.name == spec.flavor
        if confirming and settled:  # else it waits for the resize the spec asks for
            commit_status(body, {"resizeConfirmedFor": requested})
        if failed is not None and state.ready:
            message = (
                f"the resize to {failed.flavor} failed ({failed.reason}: {failed.message}) and "
                f"was reverted: set spec.flavor to {status.flavor.name if status.flavor else ''} "
                "or to another Flavor"
            )
            return State(state.phase, False, "ResizeFailed", message)
        return None
    if status.resize_of or not state.ready:
        return None
    flavor = status.flavor.name if status.flavor else spec.flavor
    if confirming:
        commit_status(body, {"previousFlavor": None, "resizeConfirmedFor": requested})
        refresh_usage(str(body["metadata"]["namespace"]))
        kopf.event(
            body,
            type="Normal",
            reason="ResizeConfirmed",
            message=f"resized from {previous.name} to {flavor}",
        )
        return None
    message = (
        f"resized from {previous.name} to {flavor}: confirm with spec.resizeConfirmedAt, or "
        f"revert with spec.flavor: {previous.name}"
    )
    phase = ServerPhase.VERIFY_RESIZE if state.phase == ServerPhase.ACTIVE else state.phase
    return State(phase, True, "VerifyResize", message)


# --- status ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Workload:
    """The workload as it runs now: its state, the instance (VMI or Pod) and the
    VirtualMachine (None for kata) it is read from."""

    state: State
    instance: Manifest | None
    machine: Manifest | None


def read_workload(owner: Owner, spec: ServerSpec) -> Workload:
    running = spec.power_state == "Running"
    if spec.runtime == "kata":
        pod = kube.read("v1", "Pod", owner.name, owner.namespace)
        return Workload(workload_status.pod_state(running, pod), pod, None)
    machine = kube.read(VM_API_VERSION, "VirtualMachine", owner.name, owner.namespace)
    instance = kube.read(VM_API_VERSION, "VirtualMachineInstance", owner.name, owner.namespace)
    return Workload(workload_status.vm_state(running, machine, instance), instance, machine)


def observe(
    body: kopf.Body, spec: ServerSpec, waiting: list[str], fields: dict[str, Any]
) -> Outcome:
    owner = Owner.of(body)
    workload = read_workload(owner, spec)
    state, instance = workload.state, workload.instance
    if spec.runtime == "kata":
        wanted = {disk_name(v): (v, False) for v in spec.volumes}
        volumes = workload_status.attachments(wanted, instance, is_vmi=False)
        host = ((instance or {}).get("spec") or {}).get("nodeName")
    else:
        template = workload_status.template_volumes(workload.machine)
        volumes = workload_status.attachments(
            template, instance, is_vmi=True, not_volumes=frozenset({root_disk_name(owner.name)})
        )
        host = ((instance or {}).get("status") or {}).get("nodeName")
    status = {**(body.get("status") or {}), **fields}
    placed = host if state.phase == ServerPhase.ACTIVE else None
    fields = {
        **fields,
        "virtualMachine": owner.name,
        "host": placed,
        "zone": inventory.current().zone_of(placed) if placed else None,
        "addresses": addresses_of(owner, spec),
        "volumes": volumes,
    }
    checks: dict[str, Check] = {
        ServerCondition.WORKLOAD_READY: Check(state.ready, state.reason, state.message)
    }
    if spec.power_state == "Shelved" and state.phase == ServerPhase.SHUTOFF:
        shelve(body)
        message = "shelved: its disks and addresses are kept, its vCPUs and memory are free"
        state = State(ServerPhase.SHELVED, True, "Shelved", message)
    verifying = resize_state(body, spec, state)
    if status.get("rebootOf"):
        return Outcome(ServerPhase.REBOOTING, False, "Rebooting", "rebooting", fields, checks)
    if status.get("resizeOf"):
        flavor = (status.get("flavor") or {}).get("name")
        previous = (status.get("previousFlavor") or {}).get("name")
        message = f"resizing from {previous} to {flavor}" if previous else f"restarting in {flavor}"
        return Outcome(ServerPhase.RESIZING, False, "Resizing", message, fields, checks)
    moving = under_way(status)
    if moving is not None and state.phase == ServerPhase.ACTIVE:
        message = f"live-migrating from {moving.source_host} to {moving.target_host}"
        return Outcome(ServerPhase.MIGRATING, state.ready, "Migrating", message, fields, checks)
    if verifying is not None:
        state = verifying
        return Outcome(state.phase, state.ready, state.reason, state.message, fields, checks)
    if waiting and state.ready:
        return Outcome(state.phase, False, "VolumeNotReady", "; ".join(waiting), fields, checks)
    return Outcome(state.phase, state.ready, state.reason, state.message, fields, checks)


def shelve(body: kopf.Body) -> None:
    """Nova's shelve offload: once the instance is gone, its vCPUs and memory leave the
    Project's usage (and the quota's count), until an unshelve admits them again. A resize
    waiting for confirmation is confirmed: the Flavor it left is let go with the rest."""
    if not parse_status(ServerStatus, body).shelved:
        commit_status(body, {"shelved": True, "previousFlavor": None})
        refresh_usage(str(body["metadata"]["namespace"]))


def addresses_of(owner: Owner, spec: ServerSpec) -> dict[str, list[str]]:
    """Allocated addresses by Network, as the spec names them."""
    holder = Holder(SERVER.kind, str(owner.namespace), owner.name)
    found: dict[str, list[str]] = {}
    for entry in spec.networks:
        namespace, name = split_reference(str(owner.namespace), entry.network)
        found[entry.network] = [a.address for a in holder_addresses(namespace, holder, name)]
    return found


def observe_server(body: kopf.Body) -> Outcome:
    """Status after the workload changed: this is also where a reboot is seen through, and
    where a failed resize is seen, which takes a whole pass to revert."""
    spec = parse_spec(ServerSpec, body)
    if revert_failed_resize(body, spec):
        return ensure_server(body)
    owner = Owner.of(body)
    _, waiting = resolve_disks(owner, spec, workload_of(owner, spec))
    changes = reboot(body, spec) | resize(body, spec)
    moving = under_way(body.get("status") or {})
    return observe(body, spec, waiting, changes | (follow(body, moving) if moving else {}))


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
        raise WaitingForEvent("Deleting", f"waiting for the {kind} to be removed")
    holder = Holder(SERVER.kind, namespace, owner.name)
    for network_namespace in {split_reference(namespace, e.network)[0] for e in spec.networks}:
        release(network_namespace, holder)
    refresh_usage(namespace)
    return Outcome(ServerPhase.DELETING, False, "Deleting", "released")


register(
    Parent(
        SERVER,
        servers_by_name,
        server_children,
        ensure_server,
        observe_server,
        release_server,
        server_dependencies,
        servers_by_dependency,
        waiting_phase,
    )
)


@kopf.on.event("kubevirt.io", "v1", "virtualmachineinstances", labels={LABEL_SERVER: kopf.PRESENT})
def instance_changed(namespace: str | None, labels: kopf.Labels, **_: Any) -> None:
    """A Server's host, volumes and reboots are read off its instance, whose changes (a
    hot-plugged volume turning ready) need not show on the VirtualMachine at all."""
    for server in servers_by_name.get(parent_key(namespace, labels[LABEL_SERVER])):
        run(SERVER, server, observe_server)


@kopf.on.event(
    "kubevirt.io", "v1", "virtualmachineinstancemigrations", labels={LABEL_SERVER: kopf.PRESENT}
)
def migration_changed(namespace: str | None, labels: kopf.Labels, **_: Any) -> None:
    """A live migration's progress shows in its Server's status.migration."""
    for server in servers_by_name.get(parent_key(namespace, labels[LABEL_SERVER])):
        run(SERVER, server, observe_server)
