"""Volume: a Cinder volume, a PVC or a CDI DataVolume cloned from its source."""

from enum import StrEnum
from typing import Literal

from pydantic import ConfigDict, Field
from pydantic.config import JsonDict

from stratus.api.common import (
    DNS_SUBDOMAIN_PATTERN,
    Model,
    Status,
    immutable,
    rule,
    validations,
)
from stratus.api.crd import PHASE_COLUMN, READY_COLUMN, Kind, PrinterColumn

SIZE_SCHEMA: JsonDict = {
    "type": "string",
    "maxLength": 32,
    "x-kubernetes-validations": [
        rule("isQuantity(self)", "size must be a quantity such as 20Gi"),
        rule(
            "!isQuantity(self) || quantity(self).isGreaterThan(quantity('0'))",
            "size must be positive",
        ),
        rule(
            "!isQuantity(self) || !isQuantity(oldSelf)"
            " || !quantity(self).isLessThan(quantity(oldSelf))",
            "size may grow, never shrink",
        ),
    ],
}
REFERENCE: JsonDict = {
    "type": "string",
    "maxLength": 253,
    "pattern": r"^([a-z0-9][-a-z0-9]*/)?[a-z0-9]([-a-z0-9.]*[a-z0-9])?$",
}


class VolumePhase(StrEnum):
    CREATING = "Creating"
    AVAILABLE = "Available"
    IN_USE = "InUse"
    RESIZING = "Resizing"
    RETYPING = "Retyping"
    ERROR = "Error"
    DELETING = "Deleting"


USABLE_PHASES: tuple[str, ...] = (VolumePhase.AVAILABLE, VolumePhase.IN_USE)
"""A Volume in these phases can be attached, cloned or snapshotted."""


class VolumeSource(Model):
    model_config = Model.model_config | ConfigDict(
        json_schema_extra=validations(
            rule(
                "(has(self.image) ? 1 : 0) + (has(self.volume) ? 1 : 0)"
                " + (has(self.snapshot) ? 1 : 0) + (has(self.backup) ? 1 : 0) <= 1",
                "source takes at most one of image, volume, snapshot and backup",
            )
        )
    )

    image: str | None = Field(
        default=None,
        description="An Image this Project may use: <name>, or <namespace>/<name> for a shared or "
        "public Image of another Project.",
        json_schema_extra=REFERENCE,
    )
    volume: str | None = Field(
        default=None, description="A Volume of this Project to clone.", json_schema_extra=REFERENCE
    )
    snapshot: str | None = Field(
        default=None,
        description="A Snapshot of this Project to restore.",
        json_schema_extra=REFERENCE,
    )
    backup: str | None = Field(
        default=None,
        max_length=253,
        pattern=DNS_SUBDOMAIN_PATTERN,
        description="An Available VolumeBackup of this Project to restore, byte for byte, "
        "from its Bucket.",
    )


class VolumeSpec(Model):
    model_config = Model.model_config | ConfigDict(
        json_schema_extra=validations(
            rule("has(self.source) == has(oldSelf.source)", "source is immutable"),
        )
    )

    size: str = Field(
        description="Capacity, for example 20Gi. It may grow, never shrink.",
        json_schema_extra=SIZE_SCHEMA,
    )
    volume_type: str = Field(
        default="standard",
        min_length=1,
        max_length=63,
        description="Maps to a StorageClass (and a VolumeAttributesClass) through the operator "
        "configuration. Changing it retypes the Volume, as Cinder's retype does, where the two "
        "types share a StorageClass: the CSI driver changes the volume in place, attached or "
        "not. A retype to another StorageClass is refused (RetypeRefused).",
    )
    access_mode: Literal["ReadWriteOnce", "ReadWriteMany"] = Field(
        default="ReadWriteOnce",
        description="ReadWriteOnce or ReadWriteMany. Immutable.",
        json_schema_extra=validations(immutable("accessMode")),
    )
    volume_mode: Literal["Block", "Filesystem"] = Field(
        default="Filesystem",
        description="Block or Filesystem. Immutable.",
        json_schema_extra=validations(immutable("volumeMode")),
    )
    source: VolumeSource | None = Field(
        default=None,
        description="What the Volume starts from: at most one of image, volume, snapshot and "
        "backup. Immutable.",
        json_schema_extra=validations(immutable("source")),
    )


class VolumeStatus(Status):
    capacity: str | None = Field(default=None, description="The capacity the claim has now.")
    attached_to: str | None = Field(default=None, description="The Server using the Volume.")
    claim_name: str | None = Field(default=None, description="The PersistentVolumeClaim.")
    progress: str | None = Field(
        default=None, description="Copy progress when cloning or importing."
    )
    restored_from: str | None = Field(
        default=None,
        description="The VolumeBackup whose bytes the Volume holds, once its restore is done.",
    )
    volume_type: str | None = Field(
        default=None,
        description="The type the volume has now: it differs from spec.volumeType while a "
        "retype is under way, or refused.",
    )


VOLUME = Kind(
    kind="Volume",
    plural="volumes",
    scope="Namespaced",
    short_names=("vol",),
    spec=VolumeSpec,
    status=VolumeStatus,
    description="A Cinder volume: a PersistentVolumeClaim, cloned or restored from its source.",
    columns=(
        PrinterColumn("Size", ".spec.size"),
        PrinterColumn("Capacity", ".status.capacity"),
        PrinterColumn("Type", ".spec.volumeType"),
        PrinterColumn("Attached To", ".status.attachedTo"),
        PHASE_COLUMN,
        READY_COLUMN,
    ),
)
