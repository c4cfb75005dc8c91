"""The Stratus operator as a local process against the local cluster, with the chart's
ServiceAccount token, which the tests and the benchmark start, kill and restart."""

import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from devcluster.cluster import State, free_port


@dataclass
class OperatorProcess:
    """One operator process at a time: `start` after `kill` is a restart."""

    state: State
    log: Path
    config: Path
    mode: tuple[str, ...] = ("--standalone",)
    """Alone, or one of several replicas (--peering NAME --priority N)."""
    verbose: bool = True
    """Debug logs, which tests read; a benchmark measures the operator as it is deployed."""
    process: subprocess.Popen[bytes] | None = None
    liveness_port: int = field(default_factory=free_port)
    metrics_port: int = field(default_factory=free_port)

    def start(self, timeout: float = 60) -> None:
        env = {
            **os.environ,
            # The chart's ServiceAccount: the operator runs with exactly the chart's RBAC.
            "KUBECONFIG": str(self.state.operator_kubeconfig),
            "STRATUS_CONFIG": str(self.config),
            "STRATUS_METRICS_PORT": str(self.metrics_port),
            "STRATUS_METRICS_ADDRESS": "127.0.0.1",
        }
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "stratus.cli",
                    "run",
                    *self.mode,
                    *(["--verbose"] if self.verbose else []),
                    "--json-logs",
                    f"--liveness=http://127.0.0.1:{self.liveness_port}/healthz",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
            )
        deadline = time.monotonic() + timeout
        while not self.alive():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the operator did not start; see {self.log}")
            time.sleep(0.2)

    def alive(self) -> bool:
        try:
            with urllib.request.urlopen(
                f"http://127.0.0.1:{self.liveness_port}/healthz", timeout=2
            ):
                return True
        except OSError:
            return False

    @property
    def pid(self) -> int:
        assert self.process is not None, "the operator is not running"
        return self.process.pid

    def rss_bytes(self) -> int:
        """Resident memory now, as the kernel counts it for an OOM kill."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise RuntimeError("no VmRSS for the operator process")

    def kill(self) -> None:
        """SIGKILL: no chance to finish anything, as in a crash or an OOM kill."""
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def metrics(self) -> str:
        with urllib.request.urlopen(
            f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5
        ) as response:
            text: str = response.read().decode()
            return text

    def samples(self, name: str) -> Iterator[Sample]:
        """The samples of one metric (a counter's "..._total"), as the operator exports them."""
        for family in text_string_to_metric_families(self.metrics()):
            yield from (sample for sample in family.samples if sample.name == name)

    def counter(self, name: str, **labels: str) -> float:
        """A counter's total since this process started, over the samples carrying `labels`:
        counter("controller_runtime_reconcile_total", controller="Project")."""
        return sum(s.value for s in self.samples(name) if labels.items() <= s.labels.items())
