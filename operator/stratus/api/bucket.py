"""Bucket: a Swift container, an S3 bucket on the object store with its own credentials."""

from typing import Literal

from pydantic import ConfigDict, Field
from pydantic.config import JsonDict

from stratus.api.common import Model, Status, immutable, rule, validations
from stratus.api.crd import PHASE_COLUMN, READY_COLUMN, Kind, PrinterColumn

MAX_LIFECYCLE_RULES = 100
"""Far below S3's 1000, and enough for any rule set a person writes by hand."""

QUOTA_SCHEMA: JsonDict = {
    "type": "string",
    "maxLength": 32,
    "x-kubernetes-validations": [
        rule("isQuantity(self)", "quota must be a quantity such as 10Gi"),
        rule(
            "!isQuantity(self) || quantity(self).isGreaterThan(quantity('0'))",
            "quota must be positive",
        ),
    ],
}


class LifecycleRule(Model):
    """Objects under `prefix` expire this many days after they were written."""

    prefix: str = Field(
        default="",
        max_length=1024,
        description="Key prefix the rule applies to; empty: every object.",
    )
    expire_after_days: int = Field(
        ge=1, le=36500, description="Days after creation when an object expires."
    )


class BucketSpec(Model):
    model_config = Model.model_config | ConfigDict(
        json_schema_extra=validations(
            rule(
                "!self.objectLock || self.versioning",
                "objectLock needs versioning: S3 locks object versions",
            ),
        )
    )

    versioning: bool = Field(
        default=False,
        description="Keep every version of an object. Turning it off later suspends versioning "
        "(existing versions stay), as S3 does.",
    )
    object_lock: bool = Field(
        default=False,
        description="Allow object retention and legal holds (WORM). Set at creation only.",
        json_schema_extra=validations(immutable("objectLock")),
    )
    quota: str | None = Field(
        default=None,
        description="Hard quota on the bucket's size: writes beyond it are refused.",
        json_schema_extra=QUOTA_SCHEMA,
    )
    access: Literal["private", "public-read"] = Field(
        default="private",
        description="private: only the Bucket's credentials; public-read: anyone may list and "
        "read objects without credentials.",
    )
    lifecycle: list[LifecycleRule] = Field(
        default_factory=list,
        max_length=MAX_LIFECYCLE_RULES,
        description="Expiration rules, at most one per prefix.",
        json_schema_extra=validations(
            rule(
                "self.all(r, self.exists_one(s, s.prefix == r.prefix))",
                "lifecycle has at most one rule per prefix",
            )
        ),
    )
    deletion_policy: Literal["Retain", "Delete"] = Field(
        default="Retain",
        description="Retain: deleting the Bucket keeps the bucket and its objects on the store "
        "(its credentials are revoked); Delete: the bucket is removed, only when empty unless "
        "forceDelete.",
    )
    force_delete: bool = Field(
        default=False,
        description="With deletionPolicy Delete: remove the bucket's objects (every version) too.",
    )


class BucketStatus(Status):
    bucket_name: str | None = Field(
        default=None, description="The bucket's name on the store, unique across Projects."
    )
    endpoint: str | None = Field(default=None, description="The S3 endpoint to use.")
    credentials_secret: str | None = Field(
        default=None,
        description="Secret with keys endpoint, bucket, accessKey and secretKey: they reach "
        "this bucket and no other.",
    )


BUCKET = Kind(
    kind="Bucket",
    plural="buckets",
    scope="Namespaced",
    short_names=("bkt",),
    spec=BucketSpec,
    status=BucketStatus,
    description="A Swift container: an S3 bucket on the object store, with its own credentials.",
    columns=(
        PrinterColumn("Bucket", ".status.bucketName"),
        PrinterColumn("Access", ".spec.access"),
        PrinterColumn("Quota", ".spec.quota"),
        PrinterColumn("Versioning", ".spec.versioning", type="boolean", priority=1),
        PrinterColumn("Policy", ".spec.deletionPolicy", priority=1),
        PHASE_COLUMN,
        READY_COLUMN,
    ),
)
