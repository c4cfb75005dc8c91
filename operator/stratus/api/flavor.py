"""Flavor: a Nova flavor, the size of a Server."""

from pydantic import ConfigDict, Field
from pydantic.config import JsonDict

from stratus.api.common import DNS_SUBDOMAIN_PATTERN, Model, Quantity, Status
from stratus.api.crd import PHASE_COLUMN, READY_COLUMN, Kind, PrinterColumn


def _immutable(field: str) -> JsonDict:
    return {
        "rule": f"has(self.{field}) == has(oldSelf.{field})"
        f" && (!has(self.{field}) || self.{field} == oldSelf.{field})",
        "message": f"{field} is immutable: create a new Flavor instead, as with Nova",
    }


class FlavorSpec(Model):
    model_config = Model.model_config | ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                *[_immutable(f) for f in ("vcpus", "memory", "disk", "dedicatedCpu")],
                {
                    "rule": "!self.public || !has(self.projects) || size(self.projects) == 0",
                    "message": "projects lists who may use a non-public Flavor; "
                    "set public: false to use it",
                },
            ]
        }
    )

    vcpus: int = Field(ge=1, le=1024, description="Virtual CPUs. Immutable.")
    memory: Quantity = Field(description="Guest memory, for example 4Gi. Immutable.")
    disk: Quantity | None = Field(
        default=None,
        description="Root disk size when a Server boots from an Image. Immutable.",
    )
    dedicated_cpu: bool = Field(
        default=False, description="Pin each vCPU to a dedicated host CPU. Immutable."
    )
    public: bool = Field(
        default=True, description="false: only the Projects in projects may use it."
    )
    projects: list[str] = Field(
        default_factory=list,
        max_length=1024,
        description="Projects allowed to use a non-public Flavor.",
        json_schema_extra={
            "x-kubernetes-list-type": "set",
            "items": {"type": "string", "pattern": DNS_SUBDOMAIN_PATTERN, "maxLength": 253},
        },
    )

    def offered_to(self, project: str | None) -> bool:
        """Nova's rule: a public Flavor serves every Project, another only those it lists."""
        return self.public or project in self.projects


class FlavorStatus(Status):
    instancetype: str | None = Field(
        default=None, description="The VirtualMachineClusterInstancetype this Flavor became."
    )


FLAVOR = Kind(
    kind="Flavor",
    plural="flavors",
    scope="Cluster",
    short_names=("flv",),
    spec=FlavorSpec,
    status=FlavorStatus,
    description="A Server size (Nova flavor): vCPUs, memory and root disk.",
    columns=(
        PrinterColumn("VCPUs", ".spec.vcpus", "integer"),
        PrinterColumn("Memory", ".spec.memory"),
        PrinterColumn("Disk", ".spec.disk"),
        PrinterColumn("Public", ".spec.public", "boolean"),
        PHASE_COLUMN,
        READY_COLUMN,
    ),
)
