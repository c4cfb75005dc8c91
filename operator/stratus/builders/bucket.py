"""What a Bucket becomes on the object store and in its namespace: a backend name unique
across Projects, the IAM policy of its own user, the anonymous policy of public-read, its
lifecycle rules, and the credentials Secret. Pure functions."""

import hashlib
import re
from dataclasses import dataclass
from typing import Any

from stratus.api.bucket import BucketSpec
from stratus.builders.meta import Manifest, Owner, child, read_secret_value, secret_value

MAX_BUCKET_NAME = 63
"""S3's limit; names are 3 to 63 lowercase letters, digits and hyphens here."""
ACCESS_KEY_PREFIX = "stratus-"
POLICY_VERSION = "2012-10-17"
POLICY_SETS = frozenset({"Action", "NotAction", "Resource", "NotResource", "AWS"})
SECRET_KEYS = ("endpoint", "bucket", "accessKey", "secretKey")


def backend_bucket_name(namespace: str, name: str, uid: str) -> str:
    """<namespace>-<name>-<8 hex of the uid>: readable, unique across Projects and across a
    Bucket deleted with Retain and created again under the same name."""
    digest = hashlib.sha256(uid.encode()).hexdigest()[:8]
    readable = re.sub(r"[^a-z0-9-]", "-", f"{namespace}-{name}".lower())
    readable = readable[: MAX_BUCKET_NAME - len(digest) - 1].strip("-")
    return f"{readable}-{digest}"


def access_key(uid: str) -> str:
    """The Bucket's own user on the store: 20 characters, MinIO's limit for access keys."""
    return ACCESS_KEY_PREFIX + hashlib.sha256(uid.encode()).hexdigest()[:12]


def policy_name(bucket: str) -> str:
    return f"stratus-{bucket}"


def _arns(bucket: str) -> list[str]:
    return [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"]


def user_policy(bucket: str) -> dict[str, Any]:
    """Everything on this bucket and its objects, nothing elsewhere."""
    return {
        "Version": POLICY_VERSION,
        "Statement": [{"Effect": "Allow", "Action": ["s3:*"], "Resource": _arns(bucket)}],
    }


def public_read_policy(bucket: str) -> dict[str, Any]:
    """What S3's public-read grants anyone: list the bucket and read its objects."""
    anyone = {"AWS": ["*"]}
    return {
        "Version": POLICY_VERSION,
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": anyone,
                "Action": ["s3:GetBucketLocation", "s3:ListBucket"],
                "Resource": [f"arn:aws:s3:::{bucket}"],
            },
            {
                "Effect": "Allow",
                "Principal": anyone,
                "Action": ["s3:GetObject"],
                "Resource": [f"arn:aws:s3:::{bucket}/*"],
            },
        ],
    }


def anonymous_policy(spec: BucketSpec, bucket: str) -> dict[str, Any] | None:
    return public_read_policy(bucket) if spec.access == "public-read" else None


def canonical_policy(policy: dict[str, Any] | None) -> dict[str, Any] | None:
    """A bucket policy in one comparable form. S3 treats a statement's actions, resources and
    principals as sets, which a store may return in any order (MinIO's changes from one read
    to the next) and as a single string in place of a list of one."""
    if policy is None:
        return None
    statements = [_canonical(statement) for statement in policy.get("Statement") or []]
    return {**policy, "Statement": sorted(statements, key=repr)}


def _canonical(element: dict[str, Any]) -> dict[str, Any]:
    return {key: _canonical_value(key, value) for key, value in sorted(element.items())}


def _canonical_value(key: str, value: Any) -> Any:
    if isinstance(value, dict):
        return _canonical(value)
    if key in POLICY_SETS:
        return sorted({value} if isinstance(value, str) else set(value))
    return value


@dataclass(frozen=True)
class Expiry:
    """One lifecycle rule as the store keeps it; its id is derived from the prefix."""

    rule_id: str
    prefix: str
    days: int


def expiry_rule_id(prefix: str) -> str:
    return "stratus-" + hashlib.sha256(prefix.encode()).hexdigest()[:12]


def expiries(spec: BucketSpec) -> frozenset[Expiry]:
    return frozenset(
        Expiry(expiry_rule_id(r.prefix), r.prefix, r.expire_after_days) for r in spec.lifecycle
    )


def credentials_secret_name(bucket: str) -> str:
    return f"{bucket}-credentials"


@dataclass(frozen=True)
class Credentials:
    access_key: str
    secret_key: str


def build_credentials_secret(
    owner: Owner, endpoint: str, bucket: str, credentials: Credentials
) -> Manifest:
    """The keys a tenant's S3 client needs; they reach this bucket only."""
    secret = child("v1", "Secret", credentials_secret_name(owner.name), owner, owner.namespace)
    secret["type"] = "Opaque"
    values = (endpoint, bucket, credentials.access_key, credentials.secret_key)
    secret["data"] = {
        key: secret_value(value) for key, value in zip(SECRET_KEYS, values, strict=True)
    }
    return secret


def stored_credentials(secret: Manifest | None, expected_access_key: str) -> Credentials | None:
    """The key pair a credentials Secret already holds, if it is this Bucket's."""
    data = (secret or {}).get("data") or {}
    try:
        access = read_secret_value(data["accessKey"])
        secret_key = read_secret_value(data["secretKey"])
    except (KeyError, ValueError):
        return None
    if access != expected_access_key or not secret_key:
        return None
    return Credentials(access, secret_key)
