"""What a backup is in the store: its manifest, and the object names under a volume's prefix.
Pure functions, so the layout is checked without a store."""

import functools
import hashlib
import json
from dataclasses import asdict, dataclass, field

FORMAT = "stratus-backup/1"
CHUNK_SIZE = 4 * 1024 * 1024
"""Cinder's Swift driver stores 50 MB objects and compares 32 KiB blocks; 4 MiB chunks keep
an incremental backup of a lightly written disk small without an index of tiny objects."""


@dataclass(frozen=True)
class Manifest:
    """One backup: its volume's size and, per chunk in order, the chunk's SHA-256 (None for a
    chunk of zeroes, which is not stored)."""

    backup: str
    size: int
    chunks: list[str | None]
    parent: str | None = None
    chunk_size: int = CHUNK_SIZE
    stored_bytes: int = 0
    """Bytes this backup uploaded: all its chunks for a full backup, the new ones for an
    incremental one."""
    format: str = field(default=FORMAT)

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), sort_keys=True).encode()

    @classmethod
    def from_json(cls, data: bytes) -> "Manifest":
        loaded = json.loads(data)
        if loaded.get("format") != FORMAT:
            raise ValueError(f"not a {FORMAT} manifest: {loaded.get('format')!r}")
        return cls(**loaded)

    def digests(self) -> set[str]:
        return {digest for digest in self.chunks if digest}


def manifest_name(prefix: str, backup: str) -> str:
    return f"{prefix}/backups/{backup}.json"


def chunk_name(prefix: str, digest: str) -> str:
    return f"{prefix}/chunks/{digest[:2]}/{digest}"


def chunk_count(size: int, chunk_size: int = CHUNK_SIZE) -> int:
    return -(-size // chunk_size)


@functools.cache
def zeroes(size: int) -> bytes:
    return bytes(size)


def digest_of(chunk: bytes) -> str | None:
    """The chunk's SHA-256, or None for zeroes (a sparse or never-written region). Compared
    with a block of zeroes, which is a hundred times faster than scanning for another byte."""
    if chunk == zeroes(len(chunk)):
        return None
    return hashlib.sha256(chunk).hexdigest()
