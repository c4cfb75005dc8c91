"""Snapshot: a Cinder snapshot, a CSI VolumeSnapshot of a Volume's claim."""

from pydantic import Field

from stratus.api.common import DNS_SUBDOMAIN_PATTERN, Model, Status, immutable, validations
from stratus.api.crd import PHASE_COLUMN, READY_COLUMN, Kind, PrinterColumn


class SnapshotSpec(Model):
    volume: str = Field(
        max_length=253,
        pattern=DNS_SUBDOMAIN_PATTERN,
        description="The Volume of this Project to snapshot (a Volume of another is never "
        "reachable: no `<namespace>/` prefix). Immutable.",
        json_schema_extra=validations(immutable("volume")),
    )


class SnapshotStatus(Status):
    size: str | None = Field(default=None, description="The size a Volume restored from it needs.")
    volume_snapshot: str | None = Field(default=None, description="The CSI VolumeSnapshot.")


SNAPSHOT = Kind(
    kind="Snapshot",
    plural="snapshots",
    scope="Namespaced",
    short_names=("snap",),
    spec=SnapshotSpec,
    status=SnapshotStatus,
    description="A Cinder snapshot: a CSI VolumeSnapshot of a Volume, which new Volumes restore.",
    columns=(
        PrinterColumn("Volume", ".spec.volume"),
        PrinterColumn("Size", ".status.size"),
        PHASE_COLUMN,
        READY_COLUMN,
    ),
)
