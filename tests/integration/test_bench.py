"""The benchmark keeps working: a tiny run of every scenario against the suite's cluster,
with its own operator, as `make bench` runs it. Its figures are not judged here (they belong
to docs/performance.md); what is checked is that each scenario measured something real."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench.objects import BENCH_LABEL
from tests.integration.conftest import REPO, Cluster, Operator


def bench_namespaces(writes: dict[str, int]) -> dict[str, int]:
    return {namespace: n for namespace, n in writes.items() if namespace.startswith("bench")}


@pytest.mark.after_everything
def test_a_tiny_benchmark_runs_every_scenario_and_writes_its_figures(
    cluster: Cluster, operator: Operator, tmp_path: Path
) -> None:
    results, chart = tmp_path / "results.json", tmp_path / "storm.png"
    operator.stop()  # the benchmark runs its own; two operators would race
    try:
        run = subprocess.run(
            [
                sys.executable, "-m", "bench",
                f"--state={cluster.state.root}",
                "--servers=5", "--nodes=3", "--objects=40",
                "--scheduler-nodes=10", "--repeats=1",
                "--iterations=3", "--concurrency=2", "--rest=5", "--console-servers=5",
                "--backup-gib=1", "--backup-mib=8",
                f"--output={results}", f"--chart={chart}",
            ],
            cwd=REPO, capture_output=True, text=True, timeout=900, check=False,
        )  # fmt: skip
    finally:
        operator.start()
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    figures = json.loads(results.read_text())
    storm = figures["bootStorm"][0]
    assert storm["servers"] == 5
    assert storm["stratusSeconds"] > 0 and storm["floorSeconds"] > 0
    # The audit log saw the operator's requests: a Server cannot boot with fewer writes than
    # its Port, its Secrets and its VirtualMachine.
    assert storm["apiWrites"]["perServer"] >= 3
    # Objects the suite left behind may have timers of their own; the benchmark's must not.
    at_rest = storm["atRest"]
    assert not bench_namespaces(at_rest["writesByNamespace"]), at_rest["writesByObject"]
    assert figures["memory"]["objects"] >= 40 and figures["memory"]["rssMiB"] > 0
    restart = figures["restart"]
    assert not bench_namespaces(restart["writesByNamespace"]), restart["writesByObject"]
    assert figures["scheduler"]["noValidHostSeconds"]["median"] > 0
    assert figures["bootAndDelete"]["successRate"] == 1
    page = figures["consoleServersPage"]
    assert page["servers"] == 5 and page["seconds"]["median"] > 0
    assert page["apiRequestsPerPage"]["list servers"] == 1
    backup = figures["volumeBackup"]
    assert backup["restoredByteForByte"] is True
    assert (backup["fullStoredMiB"], backup["incrementalStoredMiB"]) == (8, 4)
    assert "VolumeBackup of 1 GiB" in run.stdout
    assert chart.read_bytes().startswith(b"\x89PNG")
    assert "Targets" in run.stdout
    # It leaves the nodes it found, so what runs after it is placed as before.
    left = cluster.kubectl("get", "nodes", "-l", BENCH_LABEL, "-o", "name").stdout
    assert not left.strip(), left
