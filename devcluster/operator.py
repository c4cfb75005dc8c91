"""The Stratus operator as a local process against the local cluster, with the chart's
ServiceAccount token, which the tests and the benchmark start, kill and restart."""

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from prometheus_client.samples import Sample

from devcluster.cluster import State, free_port
from devcluster.process import StratusProcess, answers, metrics_at, samples_of


@dataclass
class OperatorProcess(StratusProcess):
    """One operator process at a time: `start` after `kill` is a restart."""

    state: State
    config: Path
    mode: tuple[str, ...] = ("--standalone",)
    """Alone, or one of several replicas (--lease NAME --lease-namespace NAMESPACE)."""
    verbose: bool = True
    """Debug logs, which tests read; a benchmark measures the operator as it is deployed."""
    liveness_port: int = field(default_factory=free_port)
    metrics_port: int = field(default_factory=free_port)

    @property
    def health(self) -> str:
        return f"http://127.0.0.1:{self.liveness_port}/healthz"

    def start(self, timeout: float = 60) -> None:
        env = {
            # The chart's ServiceAccount: the operator runs with exactly the chart's RBAC.
            "KUBECONFIG": str(self.state.operator_kubeconfig),
            "STRATUS_CONFIG": str(self.config),
            "STRATUS_METRICS_PORT": str(self.metrics_port),
            "STRATUS_METRICS_ADDRESS": "127.0.0.1",
        }
        arguments = [
            "run",
            *self.mode,
            *(["--verbose"] if self.verbose else []),
            "--json-logs",
            f"--liveness={self.health}",
        ]
        self.launch(arguments, env, self.health, timeout)

    def alive(self) -> bool:
        return answers(self.health)

    def rss_bytes(self) -> int:
        """Resident memory now, as the kernel counts it for an OOM kill."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise RuntimeError("no VmRSS for the operator process")

    def metrics(self) -> str:
        return metrics_at(f"http://127.0.0.1:{self.metrics_port}/metrics")

    def samples(self, name: str) -> Iterator[Sample]:
        """The samples of one metric (a counter's "..._total"), as the operator exports them."""
        return samples_of(self.metrics(), name)

    def counter(self, name: str, **labels: str) -> float:
        """A counter's total since this process started, over the samples carrying `labels`:
        counter("controller_runtime_reconcile_total", controller="Project")."""
        return sum(s.value for s in self.samples(name) if labels.items() <= s.labels.items())


def operators_of(state: State) -> list[int]:
    """Operator processes already running against this cluster (`make run`'s, say)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            environ = (entry / "environ").read_bytes().split(b"\0")
        except (OSError, ValueError):
            continue
        if f"KUBECONFIG={state.operator_kubeconfig}".encode() in environ:
            found.append(int(entry.name))
    return found


def refuse_a_second_operator(state: State, who: str) -> None:
    """With two operators on one cluster, both reconcile: no figure or count would mean
    anything."""
    if running := operators_of(state):
        raise SystemExit(
            f"an operator already runs against {state.root} (pid {running[0]}): stop it "
            f"(Ctrl-C on `make run`); {who} runs its own"
        )
