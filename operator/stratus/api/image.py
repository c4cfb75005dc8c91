"""Image: a Glance image, imported once into a golden volume that Volumes and Servers clone."""

from typing import Literal

from pydantic import ConfigDict, Field

from stratus.api.common import (
    DNS_SUBDOMAIN_PATTERN,
    Model,
    Quantity,
    Status,
    immutable,
    rule,
    validations,
)
from stratus.api.crd import PHASE_COLUMN, READY_COLUMN, Kind, PrinterColumn


class ImageSource(Model):
    model_config = Model.model_config | ConfigDict(
        json_schema_extra=validations(
            rule(
                "has(self.url) != has(self.registry)",
                "source takes exactly one of url and registry",
            )
        )
    )

    url: str | None = Field(
        default=None,
        max_length=2048,
        description="An HTTP(S) URL of a qcow2, raw or iso image, imported through CDI.",
        json_schema_extra=validations(
            rule(
                "self.startsWith('http://') || self.startsWith('https://')",
                "url must be http:// or https://",
            )
        ),
    )
    registry: str | None = Field(
        default=None,
        max_length=2048,
        description="A containerDisk image reference, docker://registry/repository:tag; the only "
        "source a Kata Server can boot.",
        json_schema_extra=validations(
            rule("self.startsWith('docker://')", "registry must be a docker:// reference")
        ),
    )


class ImageOS(Model):
    distro: str | None = Field(default=None, max_length=64, description="For example ubuntu.")
    version: str | None = Field(default=None, max_length=64, description="For example 24.04.")


class ImageSpec(Model):
    model_config = Model.model_config | ConfigDict(
        json_schema_extra=validations(
            rule(
                "!has(self.sharedWith) || size(self.sharedWith) == 0"
                " || self.visibility == 'shared'",
                "sharedWith applies only to visibility: shared",
            )
        )
    )

    source: ImageSource = Field(
        description="Where the image comes from: exactly one of url and registry. Immutable.",
        json_schema_extra=validations(immutable("source")),
    )
    disk_format: Literal["qcow2", "raw", "iso"] = Field(
        default="qcow2", description="qcow2, raw or iso."
    )
    min_disk: Quantity | None = Field(
        default=None, description="Smallest disk a Server or Volume may boot it from."
    )
    min_memory: Quantity | None = Field(
        default=None, description="Smallest Flavor memory it runs with."
    )
    os: ImageOS | None = Field(
        default=None, description="The operating system, for people and preferences."
    )
    visibility: Literal["private", "shared", "public"] = Field(
        default="private",
        description="private: this Project only; shared: also the Projects in sharedWith; "
        "public: every Project.",
    )
    shared_with: list[str] = Field(
        default_factory=list,
        max_length=256,
        description="Projects that may use a shared Image.",
        json_schema_extra={
            "x-kubernetes-list-type": "set",
            "items": {"type": "string", "pattern": DNS_SUBDOMAIN_PATTERN, "maxLength": 253},
        },
    )


class ImageStatus(Status):
    progress: str | None = Field(default=None, description="Import progress, for example 45%.")
    size: int | None = Field(default=None, description="Size of the golden volume in bytes.")
    golden_volume: str | None = Field(
        default=None, description="<namespace>/<name> of the golden volume."
    )


IMAGE = Kind(
    kind="Image",
    plural="images",
    scope="Namespaced",
    short_names=("img",),
    spec=ImageSpec,
    status=ImageStatus,
    description="A Glance image: a golden volume imported once, or a containerDisk reference.",
    columns=(
        PrinterColumn("Visibility", ".spec.visibility"),
        PrinterColumn("Progress", ".status.progress"),
        PHASE_COLUMN,
        READY_COLUMN,
        PrinterColumn("Source", ".spec.source", priority=1),
    ),
)
