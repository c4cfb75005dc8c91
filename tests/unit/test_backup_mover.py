"""The backup format and mover over an in-memory store: chunks stored once under their
digest, incremental backups upload what changed, restores are byte for byte and refuse a
corrupt chunk, and removing a backup keeps the chunks others still list."""

import io
import os
import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from stratus.backup import job, mover
from stratus.backup.manifest import CHUNK_SIZE, Manifest, chunk_name, manifest_name

PREFIX = "volumes/acme/data"


class MemoryStore:
    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.puts = 0

    def put(self, name: str, data: bytes) -> None:
        self.objects[name] = data
        self.puts += 1

    def get(self, name: str) -> bytes:
        return self.objects[name]

    def names(self, prefix: str) -> Iterator[str]:
        yield from sorted(n for n in self.objects if n.startswith(prefix))

    def remove(self, names: list[str]) -> None:
        for name in names:
            self.objects.pop(name, None)


def volume(chunks: int, tail: int = 0) -> bytearray:
    """Random chunks, the second one zeroes (never written), and `tail` bytes more."""
    data = bytearray(random.Random(7).randbytes(chunks * CHUNK_SIZE + tail))
    data[CHUNK_SIZE : 2 * CHUNK_SIZE] = bytes(CHUNK_SIZE)
    return data


def back_up(store: MemoryStore, data: bytes, backup: str, parent: str | None = None) -> Manifest:
    return mover.back_up(io.BytesIO(data), len(data), store, PREFIX, backup, parent)


def restored(store: MemoryStore, backup: str) -> bytes:
    target = io.BytesIO()
    mover.restore(store, PREFIX, backup, target)
    return target.getvalue()


def test_a_full_backup_stores_each_written_chunk_once_and_restores_byte_for_byte() -> None:
    store, data = MemoryStore(), volume(4, tail=1000)
    data[3 * CHUNK_SIZE : 4 * CHUNK_SIZE] = data[0:CHUNK_SIZE]  # the same content twice
    seen: list[tuple[int, int]] = []
    manifest = mover.back_up(
        io.BytesIO(data), len(data), store, PREFIX, "full", progress=lambda *p: seen.append(p)
    )
    assert len(manifest.chunks) == 5 and manifest.chunks[1] is None
    assert manifest.chunks[0] == manifest.chunks[3]
    # Three distinct written chunks (the last one short), then the manifest.
    assert store.puts == 4
    assert manifest.stored_bytes == 2 * CHUNK_SIZE + 1000
    assert seen[-1] == (len(data), len(data)) and len(seen) == 5
    assert restored(store, "full") == bytes(data)


def test_an_incremental_backup_uploads_only_the_chunks_that_changed() -> None:
    store, data = MemoryStore(), volume(4)
    back_up(store, bytes(data), "monday")
    data[2 * CHUNK_SIZE + 5] ^= 0xFF
    data[CHUNK_SIZE + 9] = 1  # a chunk of zeroes written for the first time
    before = store.puts
    tuesday = back_up(store, bytes(data), "tuesday", parent="monday")
    assert (tuesday.parent, tuesday.stored_bytes) == ("monday", 2 * CHUNK_SIZE)
    assert store.puts - before == 3  # two chunks and the manifest
    assert restored(store, "tuesday") == bytes(data)
    assert restored(store, "monday") != bytes(data)


def test_removing_a_backup_keeps_the_chunks_another_still_lists() -> None:
    store, data = MemoryStore(), volume(3)
    back_up(store, bytes(data), "monday")
    data[0] ^= 0xFF
    back_up(store, bytes(data), "tuesday", parent="monday")
    assert mover.remove(store, PREFIX, "monday") == 1  # only monday's first chunk
    assert manifest_name(PREFIX, "monday") not in store.objects
    assert restored(store, "tuesday") == bytes(data)
    assert mover.remove(store, PREFIX, "tuesday") == 2
    assert store.objects == {}


def test_a_corrupt_chunk_stops_the_restore() -> None:
    store, data = MemoryStore(), volume(2)
    manifest = back_up(store, bytes(data), "full")
    name = chunk_name(PREFIX, str(manifest.chunks[0]))
    store.objects[name] = store.objects[name][:-1] + b"x"
    with pytest.raises(mover.CorruptChunk, match="chunk 0 of backup full"):
        restored(store, "full")


def test_a_volume_shorter_than_its_size_is_an_error_and_leaves_no_manifest() -> None:
    store = MemoryStore()
    with pytest.raises(EOFError):
        mover.back_up(io.BytesIO(os.urandom(100)), 200, store, PREFIX, "short")
    assert manifest_name(PREFIX, "short") not in store.objects


def test_a_manifest_of_another_format_is_refused() -> None:
    with pytest.raises(ValueError, match="not a stratus-backup/1 manifest"):
        Manifest.from_json(b'{"format": "cinder"}')


def test_a_restore_into_a_new_image_file_leaves_the_zeroes_as_holes(tmp_path: Path) -> None:
    store, data = MemoryStore(), volume(3)
    back_up(store, bytes(data), "full")
    target = tmp_path / "restored.img"
    with open(target, "wb") as image:
        mover.restore(store, PREFIX, "full", image, zeroed=True)
        image.truncate(len(data))
    assert target.read_bytes() == bytes(data)
    assert os.stat(target).st_blocks * 512 <= 2 * CHUNK_SIZE + 64 * 1024  # the zeroes: a hole


def test_only_a_file_of_holes_counts_as_reading_zeroes(tmp_path: Path) -> None:
    """A fresh sparse volume image may keep the zeroes of a restore as holes; one with data,
    like a device's old blocks, must have them written."""
    image = tmp_path / "volume.img"
    image.touch()
    with open(image, "r+b") as empty:
        assert job.holds_no_data(empty.fileno())
        empty.truncate(64 * 1024 * 1024)
        assert job.holds_no_data(empty.fileno())
        empty.seek(32 * 1024 * 1024)
        empty.write(b"old data")
        empty.flush()
        assert not job.holds_no_data(empty.fileno())


def test_a_sparse_image_is_read_only_where_it_holds_data(tmp_path: Path) -> None:
    """The holes of a 1 GiB image come back as zeroes without being read; its data as is."""
    image = tmp_path / "disk.img"
    with open(image, "wb") as written:
        written.truncate(1024 * 1024 * 1024)
        written.seek(CHUNK_SIZE * 100 + 7)
        written.write(b"payload")
    descriptor = os.open(image, os.O_RDONLY)
    try:
        source = job.SparseFile(descriptor)
        chunks = [source.read(CHUNK_SIZE) for _ in range(256)]
    finally:
        os.close(descriptor)
    assert all(len(chunk) == CHUNK_SIZE for chunk in chunks)
    assert chunks[100][7:14] == b"payload"
    # The holes: one shared block of zeroes, so nothing was read.
    assert all(chunk is chunks[0] for index, chunk in enumerate(chunks) if index != 100)
    assert chunks[0] == bytes(CHUNK_SIZE)
