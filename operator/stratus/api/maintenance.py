"""HostMaintenance: Nova's host evacuation. An administrator takes a node out of service;
Stratus cordons it and live-migrates every running Server off it, and deleting the
HostMaintenance puts the node back in service."""

from pydantic import Field

from stratus.api.common import DNS_SUBDOMAIN_PATTERN, Model, Status, immutable, validations
from stratus.api.crd import PHASE_COLUMN, READY_COLUMN, Kind, PrinterColumn


class HostMaintenanceSpec(Model):
    node: str = Field(
        min_length=1,
        max_length=253,
        description="The node to empty: cordoned, and every Server running on it "
        "live-migrated elsewhere within the placement rules. Immutable.",
        json_schema_extra={"pattern": DNS_SUBDOMAIN_PATTERN, **validations(immutable("node"))},
    )
    reason: str | None = Field(
        default=None,
        max_length=1024,
        description="Why, for the record (Nova's disabled_reason).",
    )


class UnmovableServer(Model):
    server: str = Field(description="<namespace>/<name> of the Server.")
    reason: str = Field(description="Why it cannot move, as its status.migration says.")
    message: str = Field(default="", description="In words.")


class HostMaintenanceStatus(Status):
    cordoned: bool | None = Field(
        default=None,
        description="Stratus cordoned the node, and uncordons it when the HostMaintenance is "
        "deleted. False: the node was already cordoned by someone else, who keeps it so.",
    )
    servers: list[str] = Field(
        default_factory=list, description="<namespace>/<name> of the Servers still running on it."
    )
    migrating: list[str] = Field(
        default_factory=list, description="Those of them being live-migrated now."
    )
    unmovable: list[UnmovableServer] = Field(
        default_factory=list,
        description="Those that cannot move, and why: a Server that stays blocks the "
        "maintenance until it is moved or stopped.",
    )


HOST_MAINTENANCE = Kind(
    kind="HostMaintenance",
    plural="hostmaintenances",
    scope="Cluster",
    short_names=("hm",),
    spec=HostMaintenanceSpec,
    status=HostMaintenanceStatus,
    description="A node taken out of service: cordoned and emptied of running Servers by "
    "live migration (Nova's host evacuation); deleting it puts the node back in service.",
    columns=(
        PrinterColumn("Node", ".spec.node"),
        PHASE_COLUMN,
        READY_COLUMN,
    ),
)
