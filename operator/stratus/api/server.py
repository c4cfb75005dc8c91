"""Server: a Nova server, a KubeVirt VirtualMachine or a Kata-runtime Pod."""

from enum import StrEnum
from typing import Literal

from pydantic import ConfigDict, Field
from pydantic.config import JsonDict

from stratus.api.common import (
    DNS_SUBDOMAIN_PATTERN,
    QUOTA_ADMITTED,
    Model,
    Status,
    immutable,
    rule,
    validations,
)
from stratus.api.crd import PHASE_COLUMN, READY_COLUMN, Kind, PrinterColumn
from stratus.api.securitygroup import DEFAULT_GROUP
from stratus.api.volume import REFERENCE

NAME: JsonDict = {"maxLength": 253, "pattern": DNS_SUBDOMAIN_PATTERN}
MAX_USER_DATA = 65535
"""Nova's limit on user data."""


class ServerPhase(StrEnum):
    """Nova's server states, as far as Stratus has them."""

    BUILDING = "Building"
    ACTIVE = "Active"
    SHUTOFF = "Shutoff"
    REBOOTING = "Rebooting"
    RESIZING = "Resizing"
    VERIFY_RESIZE = "VerifyResize"
    MIGRATING = "Migrating"
    SHELVED = "Shelved"
    ERROR = "Error"
    DELETING = "Deleting"


class ServerCondition(StrEnum):
    """The conditions of a Server's phases, each set by the step that owns it, beside Ready."""

    QUOTA_ADMITTED = QUOTA_ADMITTED
    ADDRESSES_ALLOCATED = "AddressesAllocated"
    WORKLOAD_READY = "WorkloadReady"


class ServerNetwork(Model):
    """One interface: an address on a Network of this Project, or a shared one."""

    network: str = Field(
        description="A Network of this Project (<name>) or a shared one (<namespace>/<name>).",
        json_schema_extra=REFERENCE,
    )
    fixed_ip: str | None = Field(
        default=None,
        max_length=45,
        description="The address to take; by default the first free one of the pools.",
        json_schema_extra=validations(rule("isIP(self)", "fixedIp must be an IP address")),
    )


class ServerSpec(Model):
    model_config = Model.model_config | ConfigDict(
        json_schema_extra=validations(
            rule(
                "has(self.image) != has(self.bootVolume)",
                "a Server boots from exactly one of image and bootVolume",
            ),
            rule(
                "has(self.image) == has(oldSelf.image)"
                " && has(self.bootVolume) == has(oldSelf.bootVolume)",
                "image and bootVolume are immutable",
            ),
            rule(
                "self.runtime != 'kata' || has(self.image)",
                "a kata Server boots from an Image with a registry source, not a bootVolume",
            ),
            rule(
                "self.runtime != 'kata' || (!has(self.userData) && !has(self.keyPair))",
                "userData and keyPair reach a guest through cloud-init, which only runtime vm has",
            ),
            rule(
                "!has(self.bootVolume) || !has(self.volumes) || !(self.bootVolume in self.volumes)",
                "the bootVolume cannot also be in volumes",
            ),
            *[
                rule(
                    f"has(self.{field}) == has(oldSelf.{field})",
                    f"{field} is immutable",
                )
                for field in ("keyPair", "userData", "availabilityZone", "serverGroup")
            ],
        )
    )

    flavor: str = Field(
        description="The Flavor: vCPUs, memory and root disk size. Changing it resizes the "
        "Server, as Nova does: the new Flavor is admitted against the quota and placement, and "
        "a running Server restarts once in it. A Flavor with a smaller root disk is refused.",
        json_schema_extra=NAME,
    )
    image: str | None = Field(
        default=None,
        description="Boot from a copy of this Image: <name>, or <namespace>/<name> for a shared "
        "or public Image. Immutable.",
        json_schema_extra={**REFERENCE, **validations(immutable("image"))},
    )
    boot_volume: str | None = Field(
        default=None,
        description="Boot from this Volume of the Project instead of an Image. Immutable.",
        json_schema_extra={**NAME, **validations(immutable("bootVolume"))},
    )
    runtime: Literal["vm", "kata"] = Field(
        default="vm",
        description="vm: a KubeVirt VirtualMachine; kata: a Pod with the Kata RuntimeClass. "
        "Immutable.",
        json_schema_extra=validations(immutable("runtime")),
    )
    networks: list[ServerNetwork] = Field(
        default_factory=list,
        max_length=16,
        description="Interfaces, in order, each with an address Stratus allocates. Immutable: "
        "create a new Server to change them.",
        json_schema_extra=validations(immutable("networks")),
    )
    volumes: list[str] = Field(
        default_factory=list,
        max_length=16,
        description="Volumes of this Project to attach. Added and removed ones are hot-plugged "
        "where KubeVirt can, otherwise on the next restart; status.volumes says which.",
        json_schema_extra={"x-kubernetes-list-type": "set", "items": {"type": "string", **NAME}},
    )
    key_pair: str | None = Field(
        default=None,
        description="A KeyPair of this Project, injected through cloud-init. Immutable.",
        json_schema_extra={**NAME, **validations(immutable("keyPair"))},
    )
    user_data: str | None = Field(
        default=None,
        max_length=MAX_USER_DATA,
        description="cloud-init user data (#cloud-config, a script, ...). Immutable.",
        json_schema_extra=validations(immutable("userData")),
    )
    power_state: Literal["Running", "Stopped", "Shelved"] = Field(
        default="Running",
        description="Running, Stopped, or Shelved (Nova's shelve: stopped, its disks and "
        "addresses kept, its vCPUs and memory no longer counted against the quota; Running "
        "again unshelves it through placement and the quota).",
    )
    availability_zone: str | None = Field(
        default=None,
        max_length=63,
        description="Place only on nodes labelled topology.kubernetes.io/zone=<zone>. Immutable.",
        json_schema_extra=validations(immutable("availabilityZone")),
    )
    server_group: str | None = Field(
        default=None,
        description="A ServerGroup of this Project whose policy places this Server. Immutable.",
        json_schema_extra={**NAME, **validations(immutable("serverGroup"))},
    )
    security_groups: list[str] = Field(
        default_factory=lambda: [DEFAULT_GROUP],
        min_length=1,
        max_length=16,
        description="SecurityGroups of this Project whose rules decide what the Server may "
        "receive and send, on the pod network and its Networks; a change applies at once, "
        "without a restart. At least one. Default: the Project's default group.",
        json_schema_extra={
            "default": [DEFAULT_GROUP],
            "x-kubernetes-list-type": "set",
            "items": {"type": "string", **NAME},
        },
    )
    reboot_requested_at: str | None = Field(
        default=None,
        description="Set or change it (to the current time) to reboot the Server once.",
        json_schema_extra={"format": "date-time"},
    )
    resize_confirmed_at: str | None = Field(
        default=None,
        description="Set or change it (to the current time) to confirm the resize that waits "
        "in phase VerifyResize (Nova's resize confirm); set with a new flavor, it confirms that "
        "resize once it runs. Setting flavor back to status.previousFlavor.name reverts instead.",
        json_schema_extra={"format": "date-time"},
    )
    migrate_requested_at: str | None = Field(
        default=None,
        description="Set or change it (to the current time) to live-migrate the running Server "
        "once to another node, chosen by the same placement filters as a new Server (Nova's "
        "live migration); status.migration follows it.",
        json_schema_extra={"format": "date-time"},
    )


class ServerFlavor(Model):
    """The Flavor as admitted, kept like Nova keeps it: later Flavor changes do not apply."""

    name: str = Field(description="The Flavor's name.")
    vcpus: int = Field(description="Virtual CPUs.")
    memory: str = Field(description="Guest memory.")
    disk: str | None = Field(default=None, description="Root disk size.")
    dedicated_cpu: bool = Field(default=False, description="Dedicated host CPUs.")


MIGRATION_PHASES = (
    "Pending",
    "Scheduling",
    "Scheduled",
    "PreparingTarget",
    "TargetReady",
    "Running",
    "Succeeded",
    "Failed",
)
"""KubeVirt's VirtualMachineInstanceMigration phases, in order."""
MIGRATION_DONE = ("Succeeded", "Failed")


class ResizeFailure(Model):
    """A resize whose new instance failed, reverted to the Flavor before it."""

    flavor: str = Field(description="The Flavor the Server failed to start in.")
    reason: str = Field(description="Why, in one word (the workload's reason).")
    message: str = Field(description="Why, as the workload said it.")


class ServerMigration(Model):
    """The last live migration: what asked for it, where it stands, and where it went."""

    requested_by: str = Field(
        description="migrateRequestedAt, or the HostMaintenance that moves Servers off a node."
    )
    phase: str = Field(
        description="KubeVirt's migration phase (Pending, Scheduling, Scheduled, Running, "
        "Succeeded, Failed); Failed also when Stratus refused to start it (see reason)."
    )
    name: str | None = Field(
        default=None, description="The VirtualMachineInstanceMigration carrying it out."
    )
    source_host: str | None = Field(default=None, description="The node it leaves.")
    target_host: str | None = Field(
        default=None, description="The node placement chose for it, where it runs if Succeeded."
    )
    reason: str | None = Field(
        default=None,
        description="Why it failed: NoValidHost, NotRunning, NotLiveMigratable, "
        "LiveMigrationUnsupported or MigrationFailed.",
    )
    message: str | None = Field(default=None, description="What happened, in words.")


class VolumeAttachment(Model):
    name: str = Field(description="The Volume.")
    state: Literal["Attached", "Attaching", "Detaching", "AttachOnRestart", "DetachOnRestart"] = (
        Field(description="Attached now, being hot-plugged, or waiting for the next restart.")
    )


class ServerStatus(Status):
    host: str | None = Field(default=None, description="The node the Server runs on.")
    zone: str | None = Field(
        default=None,
        description="The availability zone of its node (topology.kubernetes.io/zone), which "
        "tenants, who may not read nodes, learn here.",
    )
    addresses: dict[str, list[str]] = Field(
        default_factory=dict, description="Allocated addresses by Network."
    )
    virtual_machine: str | None = Field(
        default=None, description="The VirtualMachine (runtime vm) or Pod (runtime kata)."
    )
    flavor: ServerFlavor | None = Field(
        default=None, description="The Flavor as admitted against the Project's quota."
    )
    volumes: list[VolumeAttachment] = Field(
        default_factory=list, description="Attached Volumes and where their attachment stands."
    )
    rebooted_for: str | None = Field(
        default=None, description="The last rebootRequestedAt that was carried out."
    )
    reboot_of: str | None = Field(
        default=None, description="The instance (uid) being rebooted, while phase is Rebooting."
    )
    shelved: bool | None = Field(
        default=None,
        description="Shelved and its instance gone: its vCPUs and memory are not counted "
        "against the Project's quota until it is unshelved.",
    )
    previous_flavor: ServerFlavor | None = Field(
        default=None,
        description="The Flavor a resize started from, kept until the resize is confirmed or "
        "reverted (phases Resizing and VerifyResize): the quota counts the larger of the two, "
        "as Nova holds the old host's share, so that a revert always fits.",
    )
    resize_of: str | None = Field(
        default=None, description="The instance (uid) being replaced by a resize."
    )
    resize_confirmed_for: str | None = Field(
        default=None, description="The last resizeConfirmedAt that was acted on."
    )
    resize_failed: ResizeFailure | None = Field(
        default=None,
        description="The last resize's new instance failed to start, and the Server was "
        "reverted to status.flavor; Ready stays False until spec.flavor names another Flavor.",
    )
    migration: ServerMigration | None = Field(
        default=None,
        description="The last live migration (Nova's server migration); phase is Migrating "
        "while it is under way, and a failed one leaves the Server where it was.",
    )
    migrated_for: str | None = Field(
        default=None, description="The last migrateRequestedAt that was acted on."
    )


SERVER = Kind(
    kind="Server",
    plural="servers",
    scope="Namespaced",
    short_names=("srv",),
    spec=ServerSpec,
    status=ServerStatus,
    description="A Nova server: a KubeVirt VirtualMachine or a Kata-runtime Pod.",
    columns=(
        PrinterColumn("Flavor", ".spec.flavor"),
        PrinterColumn("Runtime", ".spec.runtime", priority=1),
        PrinterColumn("Host", ".status.host"),
        PrinterColumn("Zone", ".status.zone", priority=1),
        PrinterColumn("Power", ".spec.powerState"),
        PrinterColumn("Migration", ".status.migration.phase"),
        PHASE_COLUMN,
        READY_COLUMN,
    ),
)
