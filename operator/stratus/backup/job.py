"""`stratus mover`: what a backup or restore Job's container runs. The store comes from the
environment, as a Bucket's credentials Secret gives it (endpoint, bucket, access and secret
key); progress goes to stdout as JSON lines, and the summary to the termination message,
where it can be read off the finished pod."""

import argparse
import errno
import json
import os
import stat
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from minio import Minio

from stratus.backup import mover
from stratus.backup.manifest import Manifest, zeroes

ENVIRONMENT = {
    "endpoint": "STRATUS_S3_ENDPOINT",
    "bucket": "STRATUS_S3_BUCKET",
    "accessKey": "STRATUS_S3_ACCESS_KEY",
    "secretKey": "STRATUS_S3_SECRET_KEY",
}
"""A key of a Bucket's credentials Secret -> the variable of the mover's environment it fills."""


class Usage(Exception):
    """Arguments or environment the mover cannot work with."""


def store_from(environment: Mapping[str, str]) -> mover.S3Store:
    missing = [name for name in ENVIRONMENT.values() if not environment.get(name)]
    if missing:
        raise Usage(f"the environment lacks {', '.join(missing)}")
    values = {key: environment[name] for key, name in ENVIRONMENT.items()}
    endpoint = urlsplit(values["endpoint"])
    client = Minio(
        endpoint.netloc,
        access_key=values["accessKey"],
        secret_key=values["secretKey"],
        secure=endpoint.scheme == "https",
    )
    return mover.S3Store(client, values["bucket"])


class Percent:
    """Progress as a JSON line each time the whole percentage moves, not once per chunk."""

    def __init__(self) -> None:
        self.last = -1

    def __call__(self, done: int, total: int) -> None:
        percent = 100 * done // total if total else 100
        if percent != self.last:
            self.last = percent
            print(json.dumps({"progress": percent, "bytes": done}), flush=True)


def _summary(action: str, manifest: Manifest) -> dict[str, Any]:
    return {
        "action": action,
        "backup": manifest.backup,
        "parent": manifest.parent,
        "size": manifest.size,
        "chunks": len(manifest.digests()),
        "storedBytes": manifest.stored_bytes,
    }


class Zeroes:
    """What a Filesystem volume no guest ever wrote holds: no disk image yet, all zeroes."""

    def read(self, size: int, /) -> bytes:
        return zeroes(size)


def _back_up(args: argparse.Namespace, store: mover.Store) -> dict[str, Any]:
    if not args.volume.exists() and args.blank_size is not None:
        blank = mover.back_up(
            Zeroes(), args.blank_size, store, args.prefix, args.backup, args.parent, Percent()
        )
        return _summary("backup", blank)
    descriptor = os.open(args.volume, os.O_RDONLY)
    try:
        size = os.lseek(descriptor, 0, os.SEEK_END)  # a block device's size too
        source = SparseFile(descriptor)
        manifest = mover.back_up(
            source, size, store, args.prefix, args.backup, args.parent, Percent()
        )
    finally:
        os.close(descriptor)
    return _summary("backup", manifest)


def holes_from(descriptor: int, offset: int) -> int | None:
    """Where the next data of a file is at or after `offset`; None when there is no more (the
    rest is a hole). A device, which has no holes, answers `offset`."""
    try:
        return os.lseek(descriptor, offset, os.SEEK_DATA)
    except OSError as error:
        if error.errno == errno.ENXIO:
            return None
        if error.errno == errno.EINVAL:
            return offset
        raise


def holds_no_data(descriptor: int) -> bool:
    """Whether a regular file is all holes (new, or a fresh sparse volume): it reads zeroes
    wherever the restore writes nothing, so chunks of zeroes can stay holes."""
    return holes_from(descriptor, 0) is None


class SparseFile:
    """A volume read in order, where a range that is all hole is answered without reading
    it: a disk image of 50 GiB that holds 1 GiB is read as 1 GiB."""

    def __init__(self, descriptor: int) -> None:
        self.descriptor, self.offset = descriptor, 0

    def read(self, size: int, /) -> bytes:
        start = self.offset
        data_at = holes_from(self.descriptor, start)
        if data_at is None or data_at >= start + size:
            self.offset += size
            return zeroes(size)
        data = os.pread(self.descriptor, size, start)
        self.offset += len(data)
        return data


def _restore(args: argparse.Namespace, store: mover.Store) -> dict[str, Any]:
    descriptor = os.open(args.volume, os.O_WRONLY | os.O_CREAT, 0o600)
    with os.fdopen(descriptor, "wb") as volume:
        found = os.fstat(descriptor)
        image_file = stat.S_ISREG(found.st_mode)
        zeroed = image_file and holds_no_data(descriptor)
        manifest = mover.restore(store, args.prefix, args.backup, volume, Percent(), zeroed=zeroed)
        if image_file and found.st_size < manifest.size:
            volume.truncate(manifest.size)  # an image file is at least as large as the volume was
        os.fsync(descriptor)
    return _summary("restore", manifest)


def run(args: argparse.Namespace, environment: Mapping[str, str] = os.environ) -> int:
    try:
        store = store_from(environment)
        if args.action == "remove":
            removed = mover.remove(store, args.prefix, args.backup)
            summary: dict[str, Any] = {
                "action": "remove",
                "backup": args.backup,
                "chunksRemoved": removed,
            }
        elif args.volume is None:
            raise Usage(f"{args.action} needs --volume")
        elif args.action == "backup":
            summary = _back_up(args, store)
        else:
            summary = _restore(args, store)
    except (Usage, OSError, EOFError, ValueError, mover.CorruptChunk) as failed:
        summary = {"action": args.action, "backup": args.backup, "error": str(failed)}
        _report(args.summary, summary)
        print(f"stratus mover: {failed}", file=sys.stderr)
        return 1
    _report(args.summary, summary)
    return 0


def _report(path: Path, summary: Mapping[str, Any]) -> None:
    text = json.dumps(summary, sort_keys=True)
    print(text, flush=True)
    if path.parent.is_dir():
        path.write_text(text)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=("backup", "restore", "remove"))
    parser.add_argument("--volume", type=Path, help="the volume's device or image file")
    parser.add_argument("--prefix", required=True, help="where the volume's backups are kept")
    parser.add_argument("--backup", required=True, help="the backup's name in the store")
    parser.add_argument("--parent", help="the backup an incremental backup builds on")
    parser.add_argument(
        "--blank-size",
        type=int,
        help="bytes to back up as zeroes when --volume does not exist: the disk image of a "
        "Filesystem volume that no guest has written yet",
    )
    parser.add_argument(
        "--summary",
        type=Path,
        default=Path("/dev/termination-log"),
        help="where the summary goes (the container's termination message)",
    )
