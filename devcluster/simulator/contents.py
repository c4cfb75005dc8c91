"""What the simulated volumes hold. Each PersistentVolume of the simulator's driver is a sparse
image file under the data directory, and each VolumeSnapshotContent a copy of one, so that the
bytes a guest (or a test, in its place) writes survive snapshots, restores, clones and
expansion as a real driver's blocks do. Copies skip holes: a 10 GiB volume that holds a few
megabytes costs a few megabytes."""

import errno
import os
from pathlib import Path

from devcluster.simulator import kube

COPY_BLOCK = 1024 * 1024
_data_dir: list[Path] = []
"""The data directory, once configured."""


def configure(root: Path) -> None:
    (root / "volumes").mkdir(parents=True, exist_ok=True)
    (root / "snapshots").mkdir(parents=True, exist_ok=True)
    _data_dir[:] = [root]


def _under(folder: str, name: str) -> Path:
    if not _data_dir:
        raise RuntimeError("the simulator's data directory is not configured")
    return _data_dir[0] / folder / f"{name}.img"


def volume_path(volume: str) -> Path:
    """The image file of a PersistentVolume."""
    return _under("volumes", volume)


def snapshot_path(content: str) -> Path:
    """The image file of a VolumeSnapshotContent."""
    return _under("snapshots", content)


def size_in_bytes(quantity: str) -> int:
    return int(kube.quantity(quantity))


def provision(volume: str, size: str, source: Path | None = None) -> None:
    """A new volume: empty, or a copy of `source` (a snapshot or another volume) grown to its
    size. Done once: a volume already there is left as it is."""
    path = volume_path(volume)
    if path.exists():
        return
    partial = path.with_suffix(".partial")
    partial.unlink(missing_ok=True)
    if source is not None and source.exists():
        copy_sparse(source, partial)
    with open(partial, "ab") as image:
        image.truncate(max(size_in_bytes(size), image.seek(0, os.SEEK_END)))
    partial.replace(path)


def copy_sparse(source: Path, target: Path) -> None:
    """Copy the data regions of `source` over `target`, keeping its holes holes."""
    with open(source, "rb") as reader, open(target, "wb") as writer:
        size = os.fstat(reader.fileno()).st_size
        offset = 0
        while offset < size:
            try:
                start = os.lseek(reader.fileno(), offset, os.SEEK_DATA)
                end = os.lseek(reader.fileno(), start, os.SEEK_HOLE)
            except OSError as error:
                if error.errno == errno.ENXIO:  # no data past offset: the rest is a hole
                    break
                start, end = offset, size  # a file system that cannot tell: copy it all
            reader.seek(start)
            writer.seek(start)
            while start < end:
                block = reader.read(min(COPY_BLOCK, end - start))
                writer.write(block)
                start += len(block)
            offset = end
        writer.truncate(size)


def snapshot(volume: str, content: str) -> None:
    """Cut a snapshot: the volume's bytes as they are now, once."""
    path = snapshot_path(content)
    if not path.exists() and volume_path(volume).exists():
        partial = path.with_suffix(".partial")
        copy_sparse(volume_path(volume), partial)
        partial.replace(path)


def clone(source: Path, volume: str) -> None:
    """A clone's transfer: the source's bytes written over the volume, which keeps its size
    when it is the larger."""
    path = volume_path(volume)
    if not source.exists() or not path.exists():
        return
    size = path.stat().st_size
    copy_sparse(source, path)
    with open(path, "ab") as image:
        image.truncate(max(size, image.seek(0, os.SEEK_END)))


def grow(volume: str, size: str) -> None:
    path = volume_path(volume)
    if path.exists() and path.stat().st_size < size_in_bytes(size):
        os.truncate(path, size_in_bytes(size))


def remove(path: Path) -> None:
    path.unlink(missing_ok=True)


def write(path: Path, offset: int, data: bytes) -> None:
    """What a guest does to its disk: for tests and tools that stand in for one."""
    with open(path, "r+b") as image:
        image.seek(offset)
        image.write(data)


def read(path: Path, offset: int, length: int) -> bytes:
    with open(path, "rb") as image:
        image.seek(offset)
        return image.read(length)
