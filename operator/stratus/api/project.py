"""Project: a Keystone project, hosted as a namespace with quota, RBAC and isolation."""

from typing import Literal

from pydantic import ConfigDict, Field

from stratus.api.common import DNS_LABEL_PATTERN, Model, Quantity, Status, immutable
from stratus.api.crd import PHASE_COLUMN, READY_COLUMN, Kind, PrinterColumn

RESERVED_NAMESPACE_RULE = "self != 'default' && !self.startsWith('kube-')"


class ProjectMember(Model):
    """A user or group granted a role inside the project's namespace."""

    kind: Literal["User", "Group"] = Field(default="User", description="User or Group.")
    name: str = Field(min_length=1, max_length=253, description="The user or group name.")
    role: Literal["admin", "member", "reader"] = Field(
        description="admin, member or reader: bound to the ClusterRole stratus:<role>."
    )


class ProjectQuota(Model):
    """Limits on what the project may hold; an absent limit means unlimited."""

    servers: int | None = Field(default=None, ge=0, description="Number of Servers.")
    cores: int | None = Field(default=None, ge=0, description="Sum of the Servers' Flavor vcpus.")
    memory: Quantity | None = Field(default=None, description="Sum of the Servers' Flavor memory.")
    volumes: int | None = Field(default=None, ge=0, description="Number of Volumes.")
    storage: Quantity | None = Field(default=None, description="Sum of the Volumes' sizes.")
    networks: int | None = Field(default=None, ge=0, description="Number of Networks.")
    buckets: int | None = Field(default=None, ge=0, description="Number of Buckets.")
    backups: int | None = Field(default=None, ge=0, description="Number of VolumeBackups.")
    floating_ips: int | None = Field(default=None, ge=0, description="Number of FloatingIPs.")
    load_balancers: int | None = Field(default=None, ge=0, description="Number of LoadBalancers.")


class ProjectSpec(Model):
    model_config = Model.model_config | ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "has(self.namespace) == has(oldSelf.namespace)",
                    "message": "namespace is immutable",
                }
            ]
        }
    )

    display_name: str | None = Field(
        default=None, max_length=256, description="Name shown to people."
    )
    description: str | None = Field(default=None, max_length=4096, description="Free text.")
    namespace: str | None = Field(
        default=None,
        max_length=63,
        pattern=DNS_LABEL_PATTERN,
        description="The namespace that holds the project's resources; defaults to the "
        "Project's name. Immutable. An existing namespace is adopted only if no other "
        "owner claims it.",
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": RESERVED_NAMESPACE_RULE,
                    "message": "default and kube-* namespaces are reserved",
                },
                immutable("namespace"),
            ]
        },
    )
    quota: ProjectQuota = Field(default_factory=ProjectQuota, description="Resource limits.")
    members: list[ProjectMember] = Field(
        default_factory=list,
        max_length=256,
        description="Who may use the project, and with which role.",
        json_schema_extra={
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["kind", "name", "role"],
        },
    )
    deletion_policy: Literal["Retain", "Cascade"] = Field(
        default="Retain",
        description="Retain: deleting the Project waits until its namespace holds no Stratus "
        "resources or volume claims. Cascade: deleting the Project deletes everything in it.",
    )


class ProjectUsage(Model):
    """What the project holds now, in the same units as its quota."""

    servers: int = 0
    cores: int = 0
    memory: str = "0"
    volumes: int = 0
    storage: str = "0"
    networks: int = 0
    buckets: int = 0
    backups: int = 0
    floating_ips: int = 0
    load_balancers: int = 0


class ProjectStatus(Status):
    namespace: str | None = Field(default=None, description="The project's namespace.")
    usage: ProjectUsage | None = Field(default=None, description="Current consumption.")


PROJECT = Kind(
    kind="Project",
    plural="projects",
    scope="Cluster",
    short_names=("proj",),
    spec=ProjectSpec,
    status=ProjectStatus,
    description="A tenant (Keystone project): a namespace with quota, member roles and "
    "network isolation.",
    columns=(
        PrinterColumn("Namespace", ".status.namespace"),
        PHASE_COLUMN,
        READY_COLUMN,
        PrinterColumn("Display Name", ".spec.displayName", priority=1),
    ),
    rules=(
        {
            "rule": "has(self.spec.namespace) || (size(self.metadata.name) <= 63"
            " && self.metadata.name.matches('" + DNS_LABEL_PATTERN + "')"
            " && self.metadata.name != 'default' && !self.metadata.name.startsWith('kube-'))",
            "message": "the Project's name is not a usable namespace name (a DNS label, not "
            "default or kube-*): set spec.namespace",
        },
    ),
)
