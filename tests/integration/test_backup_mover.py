"""The backup mover (`stratus mover`, what a backup Job runs) against the real object store,
with a Bucket's credentials Secret as its environment, as a Job would mount it: a volume
image backed up in full, then incrementally, restored byte for byte, and removed without
losing what another backup needs."""

import base64
import io
import json
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from minio import Minio

from stratus.backup.manifest import CHUNK_SIZE
from tests.integration.conftest import Cluster, Operator, stratus_object

PREFIX = "volumes/data"


@pytest.fixture
def store_environment(cluster: Cluster, operator: Operator, name: str) -> dict[str, str]:
    """A Project's Bucket, its credentials Secret turned into the mover's environment."""
    cluster.apply(stratus_object("Project", name, {"deletionPolicy": "Cascade"}))
    cluster.wait(f"project/{name}", "condition=Ready", timeout=90)
    cluster.apply(stratus_object("Bucket", "backups", {}, name))
    cluster.wait("bucket/backups", "condition=Ready", name, timeout=60)
    bucket = cluster.get("bucket", "backups", name)
    assert bucket is not None
    secret = cluster.get("secret", bucket["status"]["credentialsSecret"], name)
    assert secret is not None
    keys = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
    return {
        "STRATUS_S3_ENDPOINT": keys["endpoint"],
        "STRATUS_S3_BUCKET": keys["bucket"],
        "STRATUS_S3_ACCESS_KEY": keys["accessKey"],
        "STRATUS_S3_SECRET_KEY": keys["secretKey"],
    }


def mover(
    environment: dict[str, str], summary: Path, *args: str
) -> tuple[int, dict[str, Any], list[str]]:
    """`stratus mover ...` as the Job's container runs it: exit code, summary, stdout lines."""
    ran = subprocess.run(
        [sys.executable, "-m", "stratus.cli", "mover", *args, "--summary", str(summary)],
        env={"PATH": "/usr/bin:/bin", **environment},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return ran.returncode, json.loads(summary.read_text()), ran.stdout.splitlines()


def tenant_s3(environment: dict[str, str]) -> Minio:
    return Minio(
        environment["STRATUS_S3_ENDPOINT"].removeprefix("http://"),
        environment["STRATUS_S3_ACCESS_KEY"],
        environment["STRATUS_S3_SECRET_KEY"],
        secure=False,
    )


def test_a_volume_is_backed_up_incrementally_and_restored_byte_for_byte(
    store_environment: dict[str, str], tmp_path: Path
) -> None:
    env, summary = store_environment, tmp_path / "termination-log"
    image = tmp_path / "disk.img"
    data = bytearray(random.Random(15).randbytes(10 * CHUNK_SIZE + 12345))
    data[2 * CHUNK_SIZE : 6 * CHUNK_SIZE] = bytes(4 * CHUNK_SIZE)  # never written
    image.write_bytes(data)

    code, full, lines = mover(env, summary, "backup", "--volume", str(image),
                              "--prefix", PREFIX, "--backup", "monday")  # fmt: skip
    assert code == 0, full
    assert (full["size"], full["chunks"]) == (len(data), 7)
    assert full["storedBytes"] == 6 * CHUNK_SIZE + 12345  # the zeroes are not stored
    assert json.loads(lines[-2]) == {"progress": 100, "bytes": len(data)}

    data[7 * CHUNK_SIZE + 1] ^= 0xFF
    image.write_bytes(data)
    code, tuesday, _ = mover(env, summary, "backup", "--volume", str(image), "--prefix", PREFIX,
                             "--backup", "tuesday", "--parent", "monday")  # fmt: skip
    assert code == 0, tuesday
    assert (tuesday["parent"], tuesday["storedBytes"]) == ("monday", CHUNK_SIZE)

    # Monday goes; Tuesday still restores whole, through the object store.
    code, removed, _ = mover(env, summary, "remove", "--prefix", PREFIX, "--backup", "monday")
    assert (code, removed["chunksRemoved"]) == (0, 1)
    restored = tmp_path / "restored.img"
    code, done, _ = mover(env, summary, "restore", "--volume", str(restored),
                          "--prefix", PREFIX, "--backup", "tuesday")  # fmt: skip
    assert code == 0, done
    assert restored.read_bytes() == bytes(data)


def test_a_corrupt_chunk_fails_the_restore_with_the_reason(
    store_environment: dict[str, str], tmp_path: Path
) -> None:
    env, summary = store_environment, tmp_path / "termination-log"
    image = tmp_path / "disk.img"
    image.write_bytes(random.Random(16).randbytes(CHUNK_SIZE))
    assert mover(env, summary, "backup", "--volume", str(image),
                 "--prefix", PREFIX, "--backup", "only")[0] == 0  # fmt: skip
    s3, bucket = tenant_s3(env), env["STRATUS_S3_BUCKET"]
    [chunk] = [o.object_name for o in s3.list_objects(bucket, f"{PREFIX}/chunks/", True)]
    s3.put_object(bucket, str(chunk), io.BytesIO(b"rot"), 3)
    code, failed, _ = mover(env, summary, "restore", "--volume", str(tmp_path / "out.img"),
                            "--prefix", PREFIX, "--backup", "only")  # fmt: skip
    assert code == 1
    assert "chunk 0 of backup only does not match" in failed["error"]
    # Without the store's keys, the mover says so and does nothing.
    code, refused, _ = mover({}, summary, "remove", "--prefix", PREFIX, "--backup", "only")
    assert code == 1 and "the environment lacks STRATUS_S3_ENDPOINT" in refused["error"]
