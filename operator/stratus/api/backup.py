"""VolumeBackup: a Cinder backup, a Volume's bytes exported to one of the Project's Buckets."""

from enum import StrEnum

from pydantic import ConfigDict, Field

from stratus.api.common import (
    DNS_SUBDOMAIN_PATTERN,
    Model,
    Status,
    immutable,
    rule,
    validations,
)
from stratus.api.crd import PHASE_COLUMN, READY_COLUMN, Kind, PrinterColumn


class BackupPhase(StrEnum):
    CREATING = "Creating"
    AVAILABLE = "Available"
    ERROR = "Error"
    DELETING = "Deleting"


class VolumeBackupSpec(Model):
    model_config = Model.model_config | ConfigDict(
        json_schema_extra=validations(
            rule("has(self.snapshot) == has(oldSelf.snapshot)", "snapshot is immutable"),
        )
    )

    volume: str = Field(
        max_length=253,
        pattern=DNS_SUBDOMAIN_PATTERN,
        description="The Volume of this Project to back up. Immutable. Deleting the Volume "
        "later keeps the backup.",
        json_schema_extra=validations(immutable("volume")),
    )
    snapshot: str | None = Field(
        default=None,
        max_length=253,
        pattern=DNS_SUBDOMAIN_PATTERN,
        description="A Snapshot of that Volume to back up instead of its current bytes, as "
        "Cinder's backup from a snapshot. Immutable. Deleting the Snapshot later keeps the "
        "backup.",
        json_schema_extra=validations(immutable("snapshot")),
    )
    bucket: str = Field(
        max_length=253,
        pattern=DNS_SUBDOMAIN_PATTERN,
        description="The Bucket of this Project that holds the backup, under "
        "volume-backups/<volume>/. Immutable.",
        json_schema_extra=validations(immutable("bucket")),
    )
    incremental: bool = Field(
        default=False,
        description="Store only what changed since the Volume's latest Available backup in the "
        "same Bucket (its parent). Without one, the backup waits (NoParentBackup), as Cinder "
        "refuses an incremental backup with no full one. Immutable.",
        json_schema_extra=validations(immutable("incremental")),
    )
    description: str | None = Field(default=None, max_length=255, description="Free text.")


class VolumeBackupStatus(Status):
    size: str | None = Field(
        default=None, description="The Volume's size: what a Volume restored from it needs."
    )
    stored_bytes: int | None = Field(
        default=None,
        description="Bytes this backup added to the Bucket: zeroes and chunks its parent "
        "holds are not stored again.",
    )
    progress: str | None = Field(default=None, description="Where the backup stands.")
    parent: str | None = Field(
        default=None, description="The backup an incremental backup builds on."
    )
    prefix: str | None = Field(default=None, description="Where in the Bucket it is kept.")
    backup_id: str | None = Field(
        default=None, description="The backup's name in the Bucket (its manifest)."
    )
    completed_at: str | None = Field(default=None, description="When the backup was complete.")


VOLUME_BACKUP = Kind(
    kind="VolumeBackup",
    plural="volumebackups",
    scope="Namespaced",
    short_names=("vbk",),
    spec=VolumeBackupSpec,
    status=VolumeBackupStatus,
    description="A Cinder backup: a Volume's bytes in a Bucket, incremental where asked, "
    "which new Volumes restore.",
    columns=(
        PrinterColumn("Volume", ".spec.volume"),
        PrinterColumn("Bucket", ".spec.bucket"),
        PrinterColumn("Size", ".status.size"),
        PrinterColumn("Incremental", ".spec.incremental", "boolean"),
        PrinterColumn("Progress", ".status.progress"),
        PHASE_COLUMN,
        READY_COLUMN,
    ),
)
