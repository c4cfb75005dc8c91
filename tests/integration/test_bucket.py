"""Bucket against the real MinIO of the local control plane: what a Swift or S3 user relies
on, driven with kubectl and checked with an S3 client using the Bucket's own Secret."""

import base64
import io
import json
import re
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from minio import Minio, MinioAdmin
from minio.credentials.providers import StaticProvider
from minio.error import S3Error
from minio.versioningconfig import VersioningConfig

from devcluster.cluster import MINIO_PASSWORD, MINIO_USER, start_object_store, stop_object_store
from tests.integration.conftest import RESYNC_SECONDS, Cluster, Operator, stratus_object

DENIED = ("AccessDenied", "InvalidAccessKeyId")


def bucket(name: str, namespace: str, **spec: Any) -> str:
    return stratus_object("Bucket", name, spec, namespace)


def host(endpoint: str) -> str:
    return endpoint.removeprefix("http://")


@pytest.fixture
def project(cluster: Cluster, operator: Operator, name: str) -> Iterator[str]:
    cluster.apply(stratus_object("Project", name, {"deletionPolicy": "Cascade"}))
    cluster.wait(f"project/{name}", "condition=Ready", timeout=90)
    yield name


@pytest.fixture(scope="module")
def admin_s3(cluster: Cluster) -> Minio:
    """The store as its administrator sees it, to look behind Stratus's back."""
    return Minio(host(cluster.state.endpoints()["minio"]), MINIO_USER, MINIO_PASSWORD, secure=False)


@pytest.fixture(scope="module")
def admin(cluster: Cluster) -> MinioAdmin:
    return MinioAdmin(
        endpoint=host(cluster.state.endpoints()["minio"]),
        credentials=StaticProvider(MINIO_USER, MINIO_PASSWORD),
        secure=False,
    )


def ready(cluster: Cluster, name: str, namespace: str) -> dict[str, Any]:
    cluster.wait(f"bucket/{name}", "condition=Ready", namespace, timeout=60)
    found = cluster.get("bucket", name, namespace)
    assert found is not None
    return found


def credentials(cluster: Cluster, name: str, namespace: str) -> dict[str, str]:
    """The Bucket's credentials Secret, decoded, as an application would mount it."""
    secret_name = ready(cluster, name, namespace)["status"]["credentialsSecret"]
    secret = cluster.get("secret", secret_name, namespace)
    assert secret is not None
    return {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}


def client(keys: dict[str, str]) -> Minio:
    return Minio(host(keys["endpoint"]), keys["accessKey"], keys["secretKey"], secure=False)


def put(s3: Minio, bucket_name: str, key: str, data: bytes = b"hello") -> None:
    s3.put_object(bucket_name, key, io.BytesIO(data), len(data))


def refused(call: Any) -> str:
    with pytest.raises(S3Error) as error:
        call()
    return str(error.value.code)


def ready_reason(
    cluster: Cluster, name: str, namespace: str, reason: str, timeout: int = 60
) -> str:
    cluster.wait(
        f"bucket/{name}",
        f"jsonpath={{.status.conditions[?(@.type=='Ready')].reason}}={reason}",
        namespace,
        timeout=timeout,
    )
    found = cluster.get("bucket", name, namespace)
    assert found is not None
    return str(next(c for c in found["status"]["conditions"] if c["type"] == "Ready")["message"])


def corrections(cluster: Cluster, namespace: str, name: str) -> set[str]:
    """What the Bucket's DriftCorrected Events say was restored on the store."""
    restored = "restored on the object store: "
    return {
        item
        for event in cluster.events(name, namespace)
        if event["reason"] == "DriftCorrected"
        for item in event["message"].removeprefix(restored).split(", ")
    }


def test_each_bucket_has_a_unique_name_and_keys_that_reach_it_alone(
    cluster: Cluster, project: str, operator: Operator
) -> None:
    cluster.apply("\n---\n".join(bucket(b, project) for b in ("backups", "media")))
    status = ready(cluster, "backups", project)["status"]
    assert re.fullmatch(rf"{project}-backups-[0-9a-f]{{8}}", status["bucketName"])
    assert status["phase"] == "Ready"
    assert status["endpoint"] == cluster.state.endpoints()["minio"]
    own = credentials(cluster, "backups", project)
    neighbour = credentials(cluster, "media", project)
    assert set(own) == {"endpoint", "bucket", "accessKey", "secretKey"}
    assert own["bucket"] == status["bucketName"] != neighbour["bucket"]
    assert own["accessKey"] != neighbour["accessKey"]

    s3 = client(own)
    put(s3, own["bucket"], "db/dump.sql", b"SELECT 1;")
    assert s3.get_object(own["bucket"], "db/dump.sql").read() == b"SELECT 1;"
    assert [o.object_name for o in s3.list_objects(own["bucket"], recursive=True)] == [
        "db/dump.sql"
    ]
    # The neighbour's bucket, and the store as a whole, are out of reach.
    assert refused(lambda: put(s3, neighbour["bucket"], "x")) in DENIED
    assert refused(lambda: s3.get_object(neighbour["bucket"], "x")) in DENIED
    assert refused(lambda: list(s3.list_objects(neighbour["bucket"]))) in DENIED
    assert refused(lambda: s3.make_bucket(f"{project}-stolen")) in DENIED
    assert [b.name for b in s3.list_buckets()] == [own["bucket"]]  # MinIO lists what it may

    # No secret key shows in the operator's log, the namespace's Events or any status.
    log = "\n".join(operator.session_log())
    seen = json.dumps([cluster.events(b, project) for b in ("backups", "media")])
    seen += json.dumps([cluster.get("bucket", b, project) for b in ("backups", "media")])
    for secret_key in (own["secretKey"], neighbour["secretKey"], MINIO_PASSWORD):
        assert secret_key not in log
        assert secret_key not in seen


def test_versioning_quota_access_and_lifecycle_are_applied_and_follow_changes(
    cluster: Cluster, project: str, admin_s3: Minio, admin: MinioAdmin
) -> None:
    spec: dict[str, Any] = {
        "versioning": True,
        "quota": "1Mi",
        "access": "public-read",
        "lifecycle": [{"prefix": "logs/", "expireAfterDays": 30}],
    }
    cluster.apply(bucket("site", project, **spec))
    keys = credentials(cluster, "site", project)
    name = keys["bucket"]
    assert admin_s3.get_bucket_versioning(name).status == "Enabled"
    assert json.loads(admin.bucket_quota_get(name))["quota"] == 2**20
    lifecycle = admin_s3.get_bucket_lifecycle(name)
    assert lifecycle is not None
    [rule] = lifecycle.rules
    assert (rule.rule_filter.prefix, rule.expiration.days) == ("logs/", 30)

    s3 = client(keys)
    put(s3, name, "index.html", b"<h1>hi</h1>")
    put(s3, name, "index.html", b"<h1>hello</h1>")
    versions = list(s3.list_objects(name, include_version=True))
    assert len(versions) == 2
    # The hard quota refuses a write that would exceed it.
    assert (
        refused(lambda: put(s3, name, "big.bin", b"x" * 2**21)) == "XMinioAdminBucketQuotaExceeded"
    )
    # public-read: anyone may read without credentials.
    with urllib.request.urlopen(f"{keys['endpoint']}/{name}/index.html", timeout=5) as page:
        assert page.read() == b"<h1>hello</h1>"

    changed = {"versioning": False, "quota": "10Mi", "access": "private", "lifecycle": []}
    cluster.apply(bucket("site", project, **changed))
    cluster.wait_until(
        "the changes to reach the store",
        lambda: (
            admin_s3.get_bucket_versioning(name).status == "Suspended"
            and json.loads(admin.bucket_quota_get(name))["quota"] == 10 * 2**20
            and admin_s3.get_bucket_lifecycle(name) is None
        ),
    )
    with pytest.raises(urllib.error.HTTPError) as anonymous:
        urllib.request.urlopen(f"{keys['endpoint']}/{name}/index.html", timeout=5)
    assert anonymous.value.code == 403
    put(s3, name, "big.bin", b"x" * 2**21)
    assert ready(cluster, "site", project)["status"]["observedGeneration"] == 2


def test_drift_on_the_store_is_corrected_at_the_next_reconcile(
    cluster: Cluster, operator: Operator, project: str, admin_s3: Minio, admin: MinioAdmin
) -> None:
    cluster.apply(
        bucket(
            "drift",
            project,
            versioning=True,
            quota="5Mi",
            access="public-read",
            lifecycle=[{"prefix": "tmp/", "expireAfterDays": 1}],
        )
    )
    keys = credentials(cluster, "drift", project)
    name = keys["bucket"]
    cluster.settled("bucket", "drift", project)
    # Quiet while nothing differs: two resyncs read the store and write nothing, there or here.
    operator.assert_quiet("bucket", "drift", project, window=RESYNC_SECONDS * 2 + 1)
    assert corrections(cluster, project, "drift") == set()

    # Someone with the store's admin keys undoes everything behind Stratus's back.
    admin_s3.set_bucket_versioning(name, VersioningConfig("Suspended"))
    admin_s3.delete_bucket_policy(name)
    admin_s3.delete_bucket_lifecycle(name)
    admin.bucket_quota_set(name, 0)
    admin.user_remove(keys["accessKey"])
    s3 = client(keys)

    def restored() -> bool:
        try:
            s3.bucket_exists(name)
        except S3Error:
            return False
        return bool(
            admin_s3.get_bucket_versioning(name).status == "Enabled"
            and json.loads(admin_s3.get_bucket_policy(name))["Statement"]
            and admin_s3.get_bucket_lifecycle(name) is not None
            and json.loads(admin.bucket_quota_get(name))["quota"] == 5 * 2**20
        )

    cluster.wait_until("the store to be restored", restored, timeout=RESYNC_SECONDS * 6)
    put(s3, name, "tmp/after.txt")
    # A resync may fall between two of the changes above, so the Events may be two.
    cluster.wait_until(
        "Events naming every correction",
        lambda: (
            corrections(cluster, project, "drift")
            == {"versioning", "access", "lifecycle", "quota", "credentials"}
        ),
        timeout=10,
    )


def test_a_deleted_credentials_secret_is_replaced_with_working_keys(
    cluster: Cluster, project: str
) -> None:
    cluster.apply(bucket("keys", project))
    old = credentials(cluster, "keys", project)
    cluster.kubectl("delete", "secret", "keys-credentials", "-n", project)
    cluster.wait_until(
        "a new credentials Secret",
        lambda: (cluster.get("secret", "keys-credentials", project) or {}).get("data"),
    )
    cluster.wait_until(
        "the new keys to work",
        lambda: _works(credentials(cluster, "keys", project)),
        timeout=30,
    )
    new = credentials(cluster, "keys", project)
    assert new["secretKey"] != old["secretKey"]
    assert not _works(old)


def _works(keys: dict[str, str]) -> bool:
    try:
        return bool(client(keys).bucket_exists(keys["bucket"]))
    except S3Error:
        return False


def test_retain_keeps_the_bucket_and_objects_and_revokes_the_keys(
    cluster: Cluster, project: str, admin_s3: Minio
) -> None:
    cluster.apply(bucket("archive", project))
    keys = credentials(cluster, "archive", project)
    put(client(keys), keys["bucket"], "2026/report.pdf")
    cluster.kubectl("delete", "bucket", "archive", "-n", project, "--timeout=60s")
    assert admin_s3.bucket_exists(keys["bucket"])
    assert [o.object_name for o in admin_s3.list_objects(keys["bucket"], recursive=True)] == [
        "2026/report.pdf"
    ]
    assert refused(lambda: client(keys).bucket_exists(keys["bucket"])) in DENIED
    cluster.wait_until(
        "the credentials Secret to be collected",
        lambda: cluster.get("secret", "archive-credentials", project) is None,
    )


def test_delete_waits_for_an_empty_bucket_unless_forced(
    cluster: Cluster, project: str, admin_s3: Minio
) -> None:
    cluster.apply(
        "\n---\n".join(
            [
                bucket("scratch", project, deletionPolicy="Delete"),
                bucket("full", project, deletionPolicy="Delete", versioning=True),
            ]
        )
    )
    empty = credentials(cluster, "scratch", project)["bucket"]
    keys = credentials(cluster, "full", project)
    s3 = client(keys)
    put(s3, keys["bucket"], "a.txt", b"1")
    put(s3, keys["bucket"], "a.txt", b"2")
    put(s3, keys["bucket"], "b.txt")

    cluster.kubectl("delete", "bucket", "scratch", "-n", project, "--timeout=60s")
    assert not admin_s3.bucket_exists(empty)

    cluster.kubectl("delete", "bucket", "full", "-n", project, "--wait=false")
    message = ready_reason(cluster, "full", project, "BucketNotEmpty")
    assert message.startswith("3 objects (versions included) still in bucket")
    assert "set forceDelete" in message
    assert admin_s3.bucket_exists(keys["bucket"])
    assert cluster.get("bucket", "full", project)["status"]["phase"] == "Deleting"

    cluster.kubectl(
        "patch",
        "bucket",
        "full",
        "-n",
        project,
        "--type=merge",
        "-p",
        '{"spec":{"forceDelete":true}}',
    )
    cluster.wait_until(
        "the forced deletion", lambda: cluster.get("bucket", "full", project) is None, timeout=90
    )
    assert not admin_s3.bucket_exists(keys["bucket"])
    assert refused(lambda: s3.bucket_exists(keys["bucket"])) in DENIED


def test_the_bucket_quota_of_a_project_is_enforced_and_usage_counted(
    cluster: Cluster, operator: Operator, name: str
) -> None:
    cluster.apply(
        stratus_object("Project", name, {"deletionPolicy": "Cascade", "quota": {"buckets": 2}})
    )
    cluster.wait(f"project/{name}", "condition=Ready", timeout=90)
    cluster.apply("\n---\n".join(bucket(b, name) for b in ("one", "two")))
    third = cluster.apply(bucket("three", name), check=False)
    assert third.returncode != 0
    assert "count/buckets.stratus.io=2" in third.stderr
    cluster.kubectl("wait", "--for=condition=Ready", "buckets", "--all", "-n", name)
    cluster.wait_until(
        "usage to count the Buckets",
        lambda: cluster.get("project", name)["status"]["usage"]["buckets"] == 2,
    )
    cluster.kubectl("delete", "bucket", "one", "-n", name, "--timeout=60s")
    cluster.wait_until(
        "usage to drop",
        lambda: cluster.get("project", name)["status"]["usage"]["buckets"] == 1,
    )


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"objectLock": True}, "objectLock needs versioning"),
        ({"access": "public-write"}, "Unsupported value"),
        ({"quota": "lots"}, "quota must be a quantity"),
        ({"quota": "0"}, "quota must be positive"),
        ({"lifecycle": [{"expireAfterDays": 0}]}, "should be greater than or equal to 1"),
        (
            {"lifecycle": [{"prefix": "a/", "expireAfterDays": 1}] * 2},
            "at most one rule per prefix",
        ),
        ({"deletionPolicy": "Cascade"}, "Unsupported value"),
    ],
)
def test_the_api_server_refuses_impossible_buckets(
    cluster: Cluster, project: str, spec: dict[str, Any], message: str
) -> None:
    result = cluster.apply(bucket("bad", project, **spec), check=False)
    assert result.returncode != 0
    assert message in result.stderr


def test_object_lock_is_set_at_creation_only(
    cluster: Cluster, project: str, admin_s3: Minio
) -> None:
    cluster.apply(bucket("worm", project, versioning=True, objectLock=True))
    name = credentials(cluster, "worm", project)["bucket"]
    assert admin_s3.get_object_lock_config(name) is not None
    changed = cluster.apply(bucket("worm", project, versioning=True), check=False)
    assert "objectLock is immutable" in changed.stderr


def test_an_outage_of_the_store_is_reported_backed_off_and_recovered(
    cluster: Cluster, project: str, operator: Operator, admin_s3: Minio
) -> None:
    cluster.apply("\n---\n".join(bucket(b, project) for b in ("steady", "kept")))
    ready(cluster, "steady", project)
    kept = ready(cluster, "kept", project)["status"]["bucketName"]
    stop_object_store(cluster.state)
    try:
        cluster.apply(bucket("during", project))
        message = ready_reason(cluster, "during", project, "BackendUnavailable")
        assert "unreachable" in message
        assert ready_reason(cluster, "steady", project, "BackendUnavailable", timeout=30)
        assert cluster.get("bucket", "during", project)["status"]["phase"] == "Creating"
        # Retries back off: a few attempts in half a minute, not a busy loop.
        start = len(_retries(operator, project, "during"))
        time.sleep(30)
        attempts = len(_retries(operator, project, "during")) - start
        assert 1 <= attempts <= 5, attempts
        # A Retain deletion is released once the store stays gone, with a Warning Event.
        cluster.kubectl("delete", "bucket", "kept", "-n", project, "--wait=false")
        cluster.wait_until(
            "the Retain Bucket to be released",
            lambda: cluster.get("bucket", "kept", project) is None,
            timeout=90,
        )
        warning = [
            e for e in cluster.events("kept", project) if e["reason"] == "CredentialsNotRevoked"
        ]
        assert warning and warning[0]["type"] == "Warning"
        assert operator.alive()
    finally:
        start_object_store(cluster.state)
    cluster.kubectl(
        "wait", "--for=condition=Ready", "buckets", "--all", "-n", project, "--timeout=120s"
    )
    keys = credentials(cluster, "during", project)
    put(client(keys), keys["bucket"], "after-the-outage.txt")
    assert admin_s3.bucket_exists(kept)


def _retries(operator: Operator, namespace: str, bucket_name: str) -> list[str]:
    """The operator's log messages of a Bucket's pass failing for now."""
    return operator.log_about(namespace, bucket_name, "Bucket failed for now")
