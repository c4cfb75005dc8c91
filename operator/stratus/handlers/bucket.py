"""Bucket handlers: keep the bucket on the object store as the spec says (and correct drift
there on a timer, since the store sends no events), keep its credentials working, and on
deletion retain or remove it as the deletionPolicy says, revoking its credentials."""

import datetime
import secrets
from collections.abc import Mapping
from typing import Any

import kopf

from stratus.api.bucket import BUCKET, BucketSpec
from stratus.backends.objectstore import (
    COUNT_LIMIT,
    NotConfigured,
    ObjectStore,
    ObjectStoreUnavailable,
    public_endpoint,
    store,
)
from stratus.builders.bucket import (
    Credentials,
    access_key,
    anonymous_policy,
    backend_bucket_name,
    build_credentials_secret,
    canonical_policy,
    credentials_secret_name,
    expiries,
    stored_credentials,
)
from stratus.builders.meta import ChildRef, Children, Manifest, Owner
from stratus.config import settings
from stratus.constants import GROUP, VERSION
from stratus.core import kube
from stratus.core.conditions import is_ready
from stratus.core.drift import covers
from stratus.core.errors import WaitingForContents
from stratus.core.indexes import index
from stratus.core.parents import Parent, own_pass, parent_key, register
from stratus.core.quota import refresh_usage
from stratus.core.reconcile import Outcome, parse_spec, reconcile
from stratus.core.units import amount

SECRET_KEY_BYTES = 30
"""40 characters of base64url: as strong as the keys MinIO and AWS generate."""


class BucketNotEmpty(WaitingForContents):
    """Deletion waits for the bucket to be emptied; nothing tells when, so it looks again,
    less often the longer it waits."""

    retry_after = 15.0
    backoff_limit = 300.0


@kopf.on.resume(GROUP, VERSION, BUCKET.plural)
@kopf.on.create(GROUP, VERSION, BUCKET.plural)
@kopf.on.update(GROUP, VERSION, BUCKET.plural)
def bucket_changed(body: kopf.Body, **_: Any) -> None:
    own_pass(BUCKET, body, ensure_bucket)


@kopf.on.delete(GROUP, VERSION, BUCKET.plural)
def bucket_deleted(body: kopf.Body, retry: int, **_: Any) -> None:
    reconcile(BUCKET, body, release_bucket, "Deleting", retry, deletion=True)


@kopf.timer(
    GROUP,
    VERSION,
    BUCKET.plural,
    interval=settings().object_store.resync_seconds,
    initial_delay=settings().object_store.resync_seconds,
)
def bucket_resync(body: kopf.Body, **_: Any) -> None:
    """The store may have been changed behind Stratus's back: compare and correct. A Bucket
    that is not Ready is already being retried, with backoff, by the work queue."""
    if is_ready(body):
        own_pass(BUCKET, body, ensure_bucket)


@index(GROUP, VERSION, BUCKET.plural)
def buckets_by_name(
    namespace: str | None, name: str, body: kopf.Body, **_: Any
) -> dict[str, kopf.Body]:
    return {parent_key(namespace, name): body}


def waiting_phase(body: Mapping[str, Any]) -> str:
    """A bucket that exists on the store is in Error while it fails; before, still Creating."""
    return "Error" if (body.get("status") or {}).get("bucketName") else "Creating"


def read_credentials_secret(owner: Owner) -> Manifest | None:
    return kube.read("v1", "Secret", credentials_secret_name(owner.name), owner.namespace)


def credentials_of(owner: Owner, secret: Manifest | None) -> Credentials:
    """The key pair the credentials Secret holds, or a new one when there is none yet."""
    expected = access_key(owner.uid)
    return stored_credentials(secret, expected) or Credentials(
        expected, secrets.token_urlsafe(SECRET_KEY_BYTES)
    )


def bucket_children(body: kopf.Body) -> Children:
    """The credentials Secret; its key pair is kept once made, so this never rotates it."""
    owner = Owner.of(body)
    bucket = backend_bucket_name(str(owner.namespace), owner.name, owner.uid)
    credentials = credentials_of(owner, read_credentials_secret(owner))
    secret = build_credentials_secret(owner, public_endpoint(), bucket, credentials)
    return {ChildRef.of(secret): secret}


def ensure_bucket(body: kopf.Body) -> Outcome:
    owner = Owner.of(body)
    spec = parse_spec(BucketSpec, body)
    namespace = str(owner.namespace)
    bucket = backend_bucket_name(namespace, owner.name, owner.uid)
    objects = store()
    current = read_credentials_secret(owner)
    credentials = credentials_of(owner, current)
    # The Secret first: it is the only record of the key pair the store's user gets.
    secret = build_credentials_secret(owner, public_endpoint(), bucket, credentials)
    if current is None or not covers(current, secret):
        kube.apply(secret)
    created = not objects.exists(bucket)
    if created:
        objects.create(bucket, spec.object_lock)
    corrected = converge(objects, bucket, spec)
    if not objects.reaches(bucket, credentials):
        objects.grant(bucket, credentials)
        corrected.append("credentials")
    if created or not (body.get("status") or {}).get("bucketName"):
        refresh_usage(namespace)
    elif corrected and body["metadata"].get("generation") == body.get("status", {}).get(
        "observedGeneration"
    ):
        kopf.event(
            body,
            type="Normal",
            reason="DriftCorrected",
            message=f"restored on the object store: {', '.join(corrected)}",
        )
    return Outcome(
        phase="Ready",
        message=f"bucket {bucket} on {public_endpoint()}",
        fields={
            "bucketName": bucket,
            "endpoint": public_endpoint(),
            "credentialsSecret": secret["metadata"]["name"],
        },
    )


def converge(objects: ObjectStore, bucket: str, spec: BucketSpec) -> list[str]:
    """Bring versioning, access, lifecycle and quota on the store to the spec; say what
    differed. Each is read first and written only when it differs."""
    corrected = []
    versioning = objects.versioning(bucket)
    wanted = "Enabled" if spec.versioning else ("Suspended" if versioning else None)
    if wanted != versioning and wanted is not None:
        objects.set_versioning(bucket, wanted)
        corrected.append("versioning")
    policy = anonymous_policy(spec, bucket)
    if canonical_policy(objects.anonymous_policy(bucket)) != canonical_policy(policy):
        objects.set_anonymous_policy(bucket, policy)
        corrected.append("access")
    rules = expiries(spec)
    if objects.expiries(bucket) != rules:
        objects.set_expiries(bucket, rules)
        corrected.append("lifecycle")
    quota = int(amount(spec.quota)) if spec.quota else 0
    if objects.quota(bucket) != quota:
        objects.set_quota(bucket, quota)
        corrected.append("quota")
    return corrected


def release_bucket(body: kopf.Body) -> Outcome:
    outcome = _release(body, Owner.of(body))
    refresh_usage(str(body["metadata"]["namespace"]))
    return outcome


def _release(body: kopf.Body, owner: Owner) -> Outcome:
    """Retain keeps the bucket and its objects; Delete removes them, only when empty unless
    forceDelete. Either way the bucket's user is removed from the store."""
    spec = parse_spec(BucketSpec, body)
    bucket = backend_bucket_name(str(owner.namespace), owner.name, owner.uid)
    try:
        objects = store()
        present = objects.exists(bucket)
    except (ObjectStoreUnavailable, NotConfigured) as error:
        if spec.deletion_policy == "Retain" and _waited_too_long(body, error):
            kopf.event(
                body,
                type="Warning",
                reason="CredentialsNotRevoked",
                message=f"the object store stayed unavailable ({error.message}); bucket "
                f"{bucket} and its user {access_key(owner.uid)} were left on it",
            )
            return Outcome("Deleting", False, "Abandoned", "released without the object store")
        raise
    if spec.deletion_policy == "Delete" and present:
        if spec.force_delete:
            objects.empty(bucket)
        remaining = objects.count_objects(bucket)
        if remaining:
            raise BucketNotEmpty("BucketNotEmpty", not_empty_message(bucket, remaining, spec))
        objects.remove(bucket)
    objects.revoke(bucket, access_key(owner.uid))
    return Outcome("Deleting", False, "Deleting", "released from the object store")


def not_empty_message(bucket: str, remaining: int, spec: BucketSpec) -> str:
    counted = f"{remaining} object{'s' if remaining != 1 else ''} (versions included)"
    if remaining >= COUNT_LIMIT:
        counted = f"at least {COUNT_LIMIT} objects"
    if spec.force_delete:
        return f"{counted} could not be removed from bucket {bucket}: under retention"
    return f"{counted} still in bucket {bucket}: empty it, or set forceDelete to remove them"


def _waited_too_long(body: kopf.Body, error: Exception) -> bool:
    """A Retain deletion stops waiting for a store that is gone: at once when nothing was
    ever made there, else after objectStore.abandonAfterSeconds."""
    if isinstance(error, NotConfigured) and not (body.get("status") or {}).get("bucketName"):
        return True
    asked = datetime.datetime.fromisoformat(str(body["metadata"]["deletionTimestamp"]))
    waited = datetime.datetime.now(datetime.UTC) - asked
    return waited.total_seconds() >= settings().object_store.abandon_after_seconds


register(
    Parent(BUCKET, buckets_by_name, bucket_children, ensure_bucket, waiting_phase=waiting_phase)
)
