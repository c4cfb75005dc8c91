"""Operator configuration: one YAML file (STRATUS_CONFIG), defaults documented here."""

import functools
import os
from pathlib import Path

import yaml
from pydantic import Field

from stratus.api.common import Model


class StorageSettings(Model):
    volume_types: dict[str, str] = Field(
        default_factory=lambda: {"standard": "standard"},
        description="Volume.spec.volumeType -> StorageClass name.",
    )
    volume_attributes: dict[str, str] = Field(
        default_factory=dict,
        description="Volume.spec.volumeType -> VolumeAttributesClass, for types that share a "
        "StorageClass and differ in what the CSI driver can change on a live volume (IOPS, "
        "throughput): a Volume retypes in place between them. Any other retype is refused, "
        "since a claim's StorageClass cannot change.",
    )
    snapshot_class: str = Field(
        default="standard", description="The VolumeSnapshotClass of Snapshots."
    )
    images_namespace: str = Field(
        default="stratus-images",
        description="Where golden Image volumes live; only Stratus reads and clones them.",
    )
    default_image_size: str = Field(
        default="10Gi", description="Size of a golden Image volume when minDisk is not set."
    )

    root_disk_type: str = Field(
        default="standard",
        description="The volume type (a key of volumeTypes) of Servers' root disks.",
    )


class PlacementSettings(Model):
    """How KubeVirt sizes a VM's pod, mirrored so that NoValidHost agrees with the scheduler."""

    cpu_allocation_ratio: int = Field(
        default=10, ge=1, description="KubeVirt's cpuAllocationRatio: a vCPU requests 1/ratio CPU."
    )
    vm_memory_overhead: str = Field(
        default="200Mi", description="Memory a VM's pod requests beyond the guest's."
    )


class ObjectStoreSettings(Model):
    """The S3 server behind Buckets; MinIO's admin API adds users, policies and quotas."""

    endpoint: str | None = Field(
        default=None,
        pattern=r"^https?://[^/?#]+$",
        description="http(s)://host:port of the S3 API, as the operator reaches it; unset: "
        "Buckets wait with BackendNotConfigured.",
    )
    public_endpoint: str | None = Field(
        default=None,
        description="The endpoint tenants use, written to their credentials Secrets; "
        "default: endpoint.",
    )
    credentials_secret: str = Field(
        default="stratus-system/stratus-object-store",
        pattern=r"^[a-z0-9-]+/[a-z0-9.-]+$",
        description="<namespace>/<name> of the Secret with the admin accessKey and secretKey.",
    )
    region: str = Field(default="us-east-1", description="The S3 region to sign requests for.")
    ca_file: str | None = Field(
        default=None, description="CA bundle that signs an https endpoint's certificate."
    )
    timeout_seconds: float = Field(
        default=5.0, gt=0, description="Connect and read timeout of one request to the store."
    )
    resync_seconds: float = Field(
        default=300.0,
        gt=0,
        description="How often each Bucket is compared with the store, to correct drift there.",
    )
    abandon_after_seconds: float = Field(
        default=600.0,
        ge=0,
        description="A Bucket with deletionPolicy Retain whose store stays unreachable this long "
        "after deletion was asked is released anyway, with a Warning Event.",
    )


class Settings(Model):
    storage: StorageSettings = Field(default_factory=StorageSettings)
    placement: PlacementSettings = Field(default_factory=PlacementSettings)
    object_store: ObjectStoreSettings = Field(default_factory=ObjectStoreSettings)
    kata_runtime_class: str = Field(
        default="kata", description="RuntimeClass of runtime: kata Servers."
    )
    mover_image: str = Field(
        default="ghcr.io/stratus/stratus-operator:latest",
        description="The image of volume backup and restore pods: Stratus's own, which runs "
        "`stratus mover`. The chart sets it to the operator's image.",
    )
    router_image: str = Field(
        default="docker.io/nicolaka/netshoot:v0.13",
        description="The image of Routers' pods: it needs sh, iptables-restore and sleep.",
    )


@functools.cache
def settings() -> Settings:
    """The settings from $STRATUS_CONFIG, or the defaults when it is not set."""
    path = os.environ.get("STRATUS_CONFIG")
    if not path:
        return Settings()
    return Settings.model_validate(yaml.safe_load(Path(path).read_text()) or {})
