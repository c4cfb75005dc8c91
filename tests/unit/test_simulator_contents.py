"""What simulated volumes hold: image files that keep their holes, copied for snapshots,
restores and clones, and grown with their claims."""

import os
from pathlib import Path

import pytest

from devcluster.simulator import contents

MiB = 1024 * 1024


@pytest.fixture(autouse=True)
def data_dir(tmp_path: Path) -> Path:
    contents.configure(tmp_path)
    return tmp_path


def write(volume: str, offset: int, data: bytes) -> None:
    contents.write(contents.volume_path(volume), offset, data)


def allocated(path: Path) -> int:
    return os.stat(path).st_blocks * 512


def test_a_new_volume_is_empty_and_costs_nothing() -> None:
    contents.provision("pv-a", "64Mi")
    path = contents.volume_path("pv-a")
    assert path.stat().st_size == 64 * MiB
    assert contents.read(path, 0, 16) == bytes(16)
    assert allocated(path) < MiB
    write("pv-a", 0, b"kept")
    contents.provision("pv-a", "64Mi")  # again: what it holds is kept
    assert contents.read(path, 0, 4) == b"kept"


def test_a_snapshot_keeps_the_bytes_of_its_moment_and_restores_grow() -> None:
    contents.provision("pv-a", "64Mi")
    write("pv-a", 32 * MiB, b"monday")
    contents.snapshot("pv-a", "snapcontent-1")
    write("pv-a", 32 * MiB, b"friday")
    contents.provision("pv-b", "128Mi", contents.snapshot_path("snapcontent-1"))
    restored = contents.volume_path("pv-b")
    assert contents.read(restored, 32 * MiB, 6) == b"monday"
    assert restored.stat().st_size == 128 * MiB
    assert allocated(restored) < 2 * MiB  # the holes stayed holes


def test_a_clone_takes_its_sources_bytes_and_keeps_its_own_size() -> None:
    contents.provision("pv-a", "16Mi")
    write("pv-a", 5, b"golden")
    contents.provision("pv-c", "32Mi")
    contents.clone(contents.volume_path("pv-a"), "pv-c")
    assert contents.read(contents.volume_path("pv-c"), 5, 6) == b"golden"
    assert contents.volume_path("pv-c").stat().st_size == 32 * MiB


def test_a_volume_grows_and_goes() -> None:
    contents.provision("pv-a", "16Mi")
    contents.grow("pv-a", "48Mi")
    assert contents.volume_path("pv-a").stat().st_size == 48 * MiB
    contents.grow("pv-a", "16Mi")  # never shrinks
    assert contents.volume_path("pv-a").stat().st_size == 48 * MiB
    contents.remove(contents.volume_path("pv-a"))
    assert not contents.volume_path("pv-a").exists()
