"""Moving a volume's bytes to and from the object store: what a backup or restore Job runs,
next to the volume it reads or writes."""

import hashlib
import io
from collections.abc import Callable, Iterator
from typing import BinaryIO, Protocol

from minio import Minio
from minio.deleteobjects import DeleteObject

from stratus.backup.manifest import (
    CHUNK_SIZE,
    Manifest,
    chunk_count,
    chunk_name,
    digest_of,
    manifest_name,
)

Progress = Callable[[int, int], None]
"""Told the bytes done so far and the bytes in all, after each chunk."""


class Source(Protocol):
    """What a backup reads: an open volume, or the zeroes of one never written."""

    def read(self, size: int, /) -> bytes: ...


class Store(Protocol):
    """The few object operations a backup needs, so any S3 store can hold backups."""

    def put(self, name: str, data: bytes) -> None: ...

    def get(self, name: str) -> bytes: ...

    def names(self, prefix: str) -> Iterator[str]: ...

    def remove(self, names: list[str]) -> None: ...


class CorruptChunk(Exception):
    """A chunk read back does not match its digest: the restore stops rather than write it."""


class S3Store:
    """A bucket through the S3 API."""

    def __init__(self, client: Minio, bucket: str) -> None:
        self.client, self.bucket = client, bucket

    def put(self, name: str, data: bytes) -> None:
        self.client.put_object(self.bucket, name, io.BytesIO(data), len(data))

    def get(self, name: str) -> bytes:
        response = self.client.get_object(self.bucket, name)
        try:
            return bytes(response.read())
        finally:
            response.close()
            response.release_conn()

    def names(self, prefix: str) -> Iterator[str]:
        for found in self.client.list_objects(self.bucket, prefix=prefix, recursive=True):
            yield str(found.object_name)

    def remove(self, names: list[str]) -> None:
        failures = list(self.client.remove_objects(self.bucket, map(DeleteObject, names)))
        if failures:
            raise OSError(f"could not remove {len(failures)} objects: {failures[0]}")


def _read_exactly(source: Source, length: int) -> bytes:
    data = bytearray()
    while len(data) < length:
        part = source.read(length - len(data))
        if not part:
            raise EOFError(f"the volume ended {length - len(data)} bytes early")
        data += part
    return bytes(data)


def load(store: Store, prefix: str, backup: str) -> Manifest:
    return Manifest.from_json(store.get(manifest_name(prefix, backup)))


def back_up(
    source: Source,
    size: int,
    store: Store,
    prefix: str,
    backup: str,
    parent: str | None = None,
    progress: Progress | None = None,
) -> Manifest:
    """Store the volume's chunks and then its manifest, which is written last: a backup whose
    mover died half way has no manifest, and is no backup. An incremental backup skips the
    chunks its parent lists."""
    known = load(store, prefix, parent).digests() if parent else set()
    chunks: list[str | None] = []
    stored = 0
    for index in range(chunk_count(size)):
        offset = index * CHUNK_SIZE
        data = _read_exactly(source, min(CHUNK_SIZE, size - offset))
        digest = digest_of(data)
        if digest is not None and digest not in known:
            store.put(chunk_name(prefix, digest), data)
            known.add(digest)
            stored += len(data)
        chunks.append(digest)
        if progress:
            progress(offset + len(data), size)
    manifest = Manifest(backup, size, chunks, parent, stored_bytes=stored)
    store.put(manifest_name(prefix, backup), manifest.to_json())
    return manifest


def restore(
    store: Store,
    prefix: str,
    backup: str,
    target: BinaryIO,
    progress: Progress | None = None,
    *,
    zeroed: bool = False,
) -> Manifest:
    """Write the backup over `target` from its start, checking each chunk's digest first. A
    `zeroed` target (a new image file) reads zeroes where nothing is written, so chunks of
    zeroes are skipped and stay holes; any other (a device's old blocks) gets them written."""
    manifest = load(store, prefix, backup)
    for index, digest in enumerate(manifest.chunks):
        offset = index * manifest.chunk_size
        length = min(manifest.chunk_size, manifest.size - offset)
        if digest is None:
            if zeroed:
                target.seek(length, io.SEEK_CUR)
            else:
                target.write(bytes(length))
        else:
            data = store.get(chunk_name(prefix, digest))
            if len(data) != length or hashlib.sha256(data).hexdigest() != digest:
                raise CorruptChunk(f"chunk {index} of backup {backup} does not match {digest}")
            target.write(data)
        if progress:
            progress(offset + length, manifest.size)
    target.flush()
    return manifest


def remove(store: Store, prefix: str, backup: str) -> int:
    """Remove a backup's manifest, then every chunk no other backup of the prefix lists (an
    incremental backup keeps its parent's chunks). The number of chunks removed."""
    store.remove([manifest_name(prefix, backup)])
    kept: set[str] = set()
    for name in store.names(f"{prefix}/backups/"):
        kept |= Manifest.from_json(store.get(name)).digests()
    unused = [
        name for name in store.names(f"{prefix}/chunks/") if name.rsplit("/", 1)[-1] not in kept
    ]
    if unused:
        store.remove(unused)
    return len(unused)
