"""The object store behind Buckets: the S3 API for everything S3 has (so any S3 server holds
the buckets), MinIO's admin API for what it lacks (users, their policies, hard quotas).

Every call goes through `translated`, which turns an unreachable store into
ObjectStoreUnavailable and a store without MinIO's admin API into CapabilityMissing; no
message carries a credential."""

import contextlib
import functools
import json
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import urllib3
from minio import Minio, MinioAdmin
from minio.commonconfig import ENABLED, Filter
from minio.credentials.providers import StaticProvider
from minio.deleteobjects import DeleteObject
from minio.error import MinioAdminException, S3Error
from minio.lifecycleconfig import Expiration, LifecycleConfig, Rule
from minio.versioningconfig import VersioningConfig

from stratus.builders.bucket import Credentials, Expiry, policy_name, user_policy
from stratus.builders.meta import read_secret_value
from stratus.config import settings
from stratus.core import kube
from stratus.core.errors import BackendUnavailable, StratusError

NOT_FOUND = ("NoSuchBucket", "NoSuchBucketPolicy", "NoSuchLifecycleConfiguration")
DENIED = ("AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "Forbidden")
COUNT_LIMIT = 100_000
"""Objects counted at most when a deletion reports how many remain."""


class ObjectStoreUnavailable(BackendUnavailable):
    """The store does not answer, or answers with a server error: retried with backoff."""

    retry_after = 2.0
    backoff_limit = 60.0


class CapabilityMissing(StratusError):
    """The store lacks an API Buckets need; retried rarely, in case it is upgraded."""

    retry_after = 300.0
    phase = "Error"


class ObjectStoreRefused(StratusError):
    """The store refused a request (a 4xx): its admin may fix that, so it is retried slowly."""

    retry_after = 60.0
    backoff_limit = 600.0
    phase = "Error"


class NotConfigured(StratusError):
    """No object store is configured, or its admin Secret is missing."""

    retry_after = 60.0
    phase = "Error"


@dataclass(frozen=True)
class Connection:
    """Where the store is and the admin key pair the operator uses there."""

    endpoint: str
    access_key: str
    secret_key: str
    region: str
    ca_file: str | None
    timeout: float

    @property
    def secure(self) -> bool:
        return urlsplit(self.endpoint).scheme == "https"

    @property
    def host(self) -> str:
        return urlsplit(self.endpoint).netloc


def _endpoint() -> str:
    endpoint = settings().object_store.endpoint
    if not endpoint:
        raise NotConfigured(
            "BackendNotConfigured", "the operator has no objectStore.endpoint configured"
        )
    return endpoint


def connection() -> Connection:
    """The configured store with the admin keys from their Secret, read at each use so a
    rotated key is picked up."""
    config = settings().object_store
    endpoint = _endpoint()
    namespace, name = config.credentials_secret.split("/", 1)
    secret = kube.read("v1", "Secret", name, namespace)
    data = (secret or {}).get("data") or {}
    if "accessKey" not in data or "secretKey" not in data:
        raise NotConfigured(
            "BackendNotConfigured",
            f"Secret {config.credentials_secret} with keys accessKey and secretKey is missing",
        )
    return Connection(
        endpoint=endpoint,
        access_key=read_secret_value(data["accessKey"]),
        secret_key=read_secret_value(data["secretKey"]),
        region=config.region,
        ca_file=config.ca_file,
        timeout=config.timeout_seconds,
    )


def public_endpoint() -> str:
    """The endpoint tenants are given."""
    return settings().object_store.public_endpoint or _endpoint()


@contextlib.contextmanager
def translated(what: str) -> Iterator[None]:
    """Failures of the store as Stratus's failure families, without credentials in them."""
    try:
        yield
    except S3Error as error:
        if error.response is not None and error.response.status >= 500:
            raise ObjectStoreUnavailable(
                "BackendUnavailable", f"the object store failed to {what}: {error.code}"
            ) from None
        raise ObjectStoreRefused(
            "BackendRefused", f"the object store refused to {what}: {error.code}"
        ) from None
    except MinioAdminException as error:
        status = int(error._code)
        if status in (404, 501) or "NotImplemented" in error._body:
            raise CapabilityMissing(
                "CapabilityMissing",
                "the object store does not offer MinIO's admin API, which Buckets need for "
                f"per-bucket users and quotas (it answered {status} to {what})",
            ) from None
        if status >= 500:
            raise ObjectStoreUnavailable(
                "BackendUnavailable", f"the object store failed to {what}: HTTP {status}"
            ) from None
        raise ObjectStoreRefused(
            "BackendRefused", f"the object store refused to {what}: HTTP {status}"
        ) from None
    except (urllib3.exceptions.HTTPError, OSError) as error:
        raise ObjectStoreUnavailable(
            "BackendUnavailable",
            f"the object store is unreachable ({type(error).__name__} while trying to {what})",
        ) from None


class ObjectStore:
    """One configured store, with a connection pool its S3 and admin clients share."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self._http = urllib3.PoolManager(
            timeout=urllib3.Timeout(connect=connection.timeout, read=connection.timeout),
            retries=False,
            maxsize=8,
            cert_reqs=ssl.CERT_REQUIRED if connection.secure else ssl.CERT_NONE,
            ca_certs=connection.ca_file,
        )
        self.s3 = self._s3(Credentials(connection.access_key, connection.secret_key))
        self.admin = MinioAdmin(
            endpoint=connection.host,
            credentials=StaticProvider(connection.access_key, connection.secret_key),
            region=connection.region,
            secure=connection.secure,
            http_client=self._http,
        )

    def _s3(self, credentials: Credentials) -> Minio:
        return Minio(
            self.connection.host,
            access_key=credentials.access_key,
            secret_key=credentials.secret_key,
            secure=self.connection.secure,
            region=self.connection.region,
            http_client=self._http,
        )

    # --- the bucket (S3) ---------------------------------------------------------------

    def exists(self, bucket: str) -> bool:
        with translated("look up the bucket"):
            return bool(self.s3.bucket_exists(bucket))

    def create(self, bucket: str, object_lock: bool) -> None:
        with translated("create the bucket"):
            self.s3.make_bucket(bucket, object_lock=object_lock)

    def versioning(self, bucket: str) -> str | None:
        """Enabled, Suspended, or None when it was never turned on."""
        with translated("read versioning"):
            status = self.s3.get_bucket_versioning(bucket).status
        return str(status) if status in ("Enabled", "Suspended") else None

    def set_versioning(self, bucket: str, status: str) -> None:
        with translated("set versioning"):
            self.s3.set_bucket_versioning(bucket, VersioningConfig(status))

    def anonymous_policy(self, bucket: str) -> dict[str, Any] | None:
        with translated("read the bucket policy"):
            try:
                found: dict[str, Any] = json.loads(self.s3.get_bucket_policy(bucket))
            except S3Error as error:
                if error.code in NOT_FOUND:
                    return None
                raise
        return found

    def set_anonymous_policy(self, bucket: str, policy: dict[str, Any] | None) -> None:
        with translated("set the bucket policy"):
            if policy is None:
                self.s3.delete_bucket_policy(bucket)
            else:
                self.s3.set_bucket_policy(bucket, json.dumps(policy))

    def expiries(self, bucket: str) -> frozenset[Expiry]:
        with translated("read the lifecycle"):
            config = self.s3.get_bucket_lifecycle(bucket)
        rules = config.rules if config else []
        return frozenset(
            Expiry(
                str(r.rule_id),
                str((r.rule_filter.prefix if r.rule_filter else None) or ""),
                int(r.expiration.days or 0) if r.expiration else 0,
            )
            for r in rules
        )

    def set_expiries(self, bucket: str, wanted: frozenset[Expiry]) -> None:
        with translated("set the lifecycle"):
            if not wanted:
                self.s3.delete_bucket_lifecycle(bucket)
                return
            rules = [
                Rule(
                    ENABLED,
                    rule_filter=Filter(prefix=e.prefix),
                    rule_id=e.rule_id,
                    expiration=Expiration(days=e.days),
                )
                for e in sorted(wanted, key=lambda e: e.rule_id)
            ]
            self.s3.set_bucket_lifecycle(bucket, LifecycleConfig(rules))

    def count_objects(self, bucket: str) -> int:
        """Objects, with every version and delete marker, up to COUNT_LIMIT."""
        with translated("list objects"):
            count = 0
            for _ in self.s3.list_objects(bucket, recursive=True, include_version=True):
                count += 1
                if count >= COUNT_LIMIT:
                    break
            return count

    def empty(self, bucket: str) -> None:
        """Remove every object version; what retention locks stays, and is counted after."""
        with translated("remove objects"):
            listed = self.s3.list_objects(bucket, recursive=True, include_version=True)
            doomed = (DeleteObject(o.object_name, o.version_id) for o in listed)
            for _ in self.s3.remove_objects(bucket, doomed):
                pass  # an object under retention: left for count_objects to report

    def remove(self, bucket: str) -> None:
        with translated("remove the bucket"):
            try:
                self.s3.remove_bucket(bucket)
            except S3Error as error:
                if error.code not in NOT_FOUND:
                    raise

    # --- users, policies and quotas (MinIO's admin API) --------------------------------

    def quota(self, bucket: str) -> int:
        """The hard quota in bytes; 0: none."""
        with translated("read the bucket quota"):
            found = json.loads(self.admin.bucket_quota_get(bucket) or "{}")
        return int(found.get("quota") or 0)

    def set_quota(self, bucket: str, size: int) -> None:
        with translated("set the bucket quota"):
            self.admin.bucket_quota_set(bucket, size)

    def reaches(self, bucket: str, credentials: Credentials) -> bool:
        """Whether this key pair works and is allowed on the bucket, asked as its user."""
        with translated("check the bucket's credentials"):
            try:
                return bool(self._s3(credentials).bucket_exists(bucket))
            except S3Error as error:
                if error.code in DENIED:
                    return False
                raise

    def grant(self, bucket: str, credentials: Credentials) -> None:
        """Create (or reset) the bucket's user and give it this bucket alone."""
        policy = policy_name(bucket)
        with translated("create the bucket's user"):
            self.admin.user_add(credentials.access_key, credentials.secret_key)
            self.admin.policy_add(policy, policy=user_policy(bucket))
            self.admin.policy_set(policy, user=credentials.access_key)

    def revoke(self, bucket: str, access_key: str) -> None:
        """Remove the bucket's user and its policy; either being gone already is fine."""
        with translated("remove the bucket's user"):
            for remove, argument in (
                (self.admin.user_remove, access_key),
                (self.admin.policy_remove, policy_name(bucket)),
            ):
                try:
                    remove(argument)
                except MinioAdminException as error:
                    if int(error._code) != 404:
                        raise


@functools.lru_cache(maxsize=4)
def _store(connection: Connection) -> ObjectStore:
    return ObjectStore(connection)


def store() -> ObjectStore:
    """The configured store; clients are kept while the connection stays the same."""
    return _store(connection())
