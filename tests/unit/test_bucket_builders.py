"""What a Bucket becomes, built with no store at all, and how the store's failures read."""

import re

import pytest
import urllib3
from minio.error import MinioAdminException

from stratus.api.bucket import BucketSpec, LifecycleRule
from stratus.backends.objectstore import (
    CapabilityMissing,
    ObjectStoreRefused,
    ObjectStoreUnavailable,
    translated,
)
from stratus.builders.bucket import (
    Credentials,
    access_key,
    anonymous_policy,
    backend_bucket_name,
    build_credentials_secret,
    canonical_policy,
    expiries,
    stored_credentials,
    user_policy,
)
from stratus.builders.meta import Owner, read_secret_value
from stratus.core.errors import StratusError

OWNER = Owner(kind="Bucket", name="backups", uid="0b5e", namespace="acme")
S3_NAME = r"[a-z0-9][a-z0-9-]{1,61}[a-z0-9]"


def test_backend_names_are_readable_unique_and_valid_s3_names() -> None:
    name = backend_bucket_name("acme", "backups", "uid-1")
    assert name.startswith("acme-backups-") and len(name) == len("acme-backups-") + 8
    assert name != backend_bucket_name("acme", "backups", "uid-2")  # recreated after Retain
    assert name != backend_bucket_name("acme-backups", "x", "uid-1")
    for namespace, bucket in (("a", "b"), ("n" * 63, "m" * 253), ("ns", "web.assets.v2")):
        found = backend_bucket_name(namespace, bucket, "uid")
        assert re.fullmatch(S3_NAME, found), found


def test_access_keys_fit_minios_twenty_characters_and_are_per_bucket() -> None:
    key = access_key("uid-1")
    assert len(key) == 20 and key.startswith("stratus-")
    assert key == access_key("uid-1") != access_key("uid-2")


def test_the_user_policy_reaches_its_bucket_and_nothing_else() -> None:
    [statement] = user_policy("acme-backups-1")["Statement"]
    assert statement["Resource"] == [
        "arn:aws:s3:::acme-backups-1",
        "arn:aws:s3:::acme-backups-1/*",
    ]
    assert "Principal" not in statement


def test_public_read_lets_anyone_list_and_read_but_not_write() -> None:
    assert anonymous_policy(BucketSpec(), "b") is None
    policy = anonymous_policy(BucketSpec(access="public-read"), "b")
    assert policy is not None
    actions = {a for s in policy["Statement"] for a in s["Action"]}
    assert actions == {"s3:GetBucketLocation", "s3:ListBucket", "s3:GetObject"}
    assert all(s["Principal"] == {"AWS": ["*"]} for s in policy["Statement"])


def test_a_policy_read_back_in_another_order_or_form_is_the_same_policy() -> None:
    wanted = anonymous_policy(BucketSpec(access="public-read"), "b")
    assert wanted is not None
    listing, objects = wanted["Statement"]
    # As MinIO answered one read: actions reordered, statements swapped, a lone string.
    read_back = {
        "Version": "2012-10-17",
        "Statement": [
            {**objects, "Action": "s3:GetObject"},
            {**listing, "Action": ["s3:ListBucket", "s3:GetBucketLocation"]},
        ],
    }
    assert canonical_policy(read_back) == canonical_policy(wanted)
    assert canonical_policy(None) is None


@pytest.mark.parametrize(
    "change",
    [
        {"Action": ["s3:GetObject", "s3:PutObject"]},
        {"Effect": "Deny"},
        {"Resource": ["arn:aws:s3:::other/*"]},
        {"Principal": {"AWS": ["arn:aws:iam::1:root"]}},
    ],
)
def test_a_policy_that_grants_something_else_differs(change: dict[str, object]) -> None:
    wanted = anonymous_policy(BucketSpec(access="public-read"), "b")
    assert wanted is not None
    listing, objects = wanted["Statement"]
    changed = {**wanted, "Statement": [listing, {**objects, **change}]}
    assert canonical_policy(changed) != canonical_policy(wanted)


def test_lifecycle_rules_have_ids_derived_from_their_prefix() -> None:
    spec = BucketSpec(lifecycle=[LifecycleRule(prefix="logs/", expire_after_days=30)])
    [rule] = expiries(spec)
    assert (rule.prefix, rule.days) == ("logs/", 30)
    again = BucketSpec(lifecycle=[LifecycleRule(prefix="logs/", expire_after_days=30)])
    assert expiries(again) == expiries(spec)
    assert expiries(BucketSpec()) == frozenset()


def test_the_credentials_secret_has_the_four_keys_and_is_owned_by_the_bucket() -> None:
    keys = Credentials("stratus-0123456789ab", "s3cr3t")
    secret = build_credentials_secret(OWNER, "http://minio:9000", "acme-backups-1", keys)
    assert secret["metadata"]["name"] == "backups-credentials"
    assert secret["metadata"]["ownerReferences"][0]["uid"] == "0b5e"
    decoded = {k: read_secret_value(v) for k, v in secret["data"].items()}
    assert decoded == {
        "endpoint": "http://minio:9000",
        "bucket": "acme-backups-1",
        "accessKey": "stratus-0123456789ab",
        "secretKey": "s3cr3t",
    }
    assert stored_credentials(secret, "stratus-0123456789ab") == keys


def test_a_secret_with_another_access_key_or_missing_keys_is_not_reused() -> None:
    keys = Credentials("stratus-aaaaaaaaaaaa", "s")
    secret = build_credentials_secret(OWNER, "http://minio:9000", "b", keys)
    assert stored_credentials(secret, "stratus-bbbbbbbbbbbb") is None
    assert stored_credentials(None, "stratus-aaaaaaaaaaaa") is None
    assert stored_credentials({"data": {"accessKey": "!!"}}, "stratus-aaaaaaaaaaaa") is None


def fail_with(error: Exception) -> StratusError:
    with pytest.raises(StratusError) as raised, translated("create the bucket's user"):
        raise error
    return raised.value


def test_a_store_without_minios_admin_api_is_a_missing_capability() -> None:
    missing = fail_with(MinioAdminException("404", '{"Code":"NotImplemented"}'))
    assert isinstance(missing, CapabilityMissing)
    assert missing.reason == "CapabilityMissing"
    assert "does not offer MinIO's admin API" in missing.message
    assert isinstance(fail_with(MinioAdminException("501", "")), CapabilityMissing)


def test_an_unreachable_store_is_unavailable_and_a_refusal_is_not() -> None:
    gone = fail_with(urllib3.exceptions.NewConnectionError(None, "refused"))  # type: ignore[arg-type]
    assert isinstance(gone, ObjectStoreUnavailable)
    assert gone.reason == "BackendUnavailable"
    assert isinstance(fail_with(ConnectionRefusedError()), ObjectStoreUnavailable)
    assert isinstance(fail_with(MinioAdminException("503", "")), ObjectStoreUnavailable)
    refused = fail_with(MinioAdminException("403", '{"Code":"AccessDenied"}'))
    assert isinstance(refused, ObjectStoreRefused)


def test_no_failure_message_carries_what_the_store_answered_in_full() -> None:
    body = '{"Code":"XMinioAdminInvalidAccessKey","Message":"key=stratus-local-secret"}'
    refused = fail_with(MinioAdminException("400", body))
    assert "stratus-local-secret" not in refused.message


def test_store_outages_back_off_from_two_seconds_to_a_minute() -> None:
    outage = ObjectStoreUnavailable("BackendUnavailable", "down")
    assert [outage.delay(retry) for retry in range(8)] == [2, 4, 8, 16, 32, 60, 60, 60]
    assert StratusError("Plain", "x").delay(5) is None
