"""The Stratus console as a local process against the local cluster, as `make run` starts it:
plain HTTP on loopback, no credentials of its own. Tests sign people in through it."""

import os
from dataclasses import dataclass, field

from devcluster.cluster import State, free_port
from devcluster.process import StratusProcess, metrics_at, samples_of


@dataclass
class ConsoleProcess(StratusProcess):
    state: State
    port: int = field(default_factory=free_port)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30) -> None:
        # The kubeconfig tells the console where the API server is and its CA, nothing more:
        # it sends every request with the signed-in person's token.
        env = {
            "KUBECONFIG": str(self.state.kubeconfig),
            "STRATUS_DASHBOARD_SECRET": os.urandom(24).hex(),
        }
        arguments = ["dashboard", "--listen=127.0.0.1", f"--port={self.port}", "--plain-http"]
        self.launch(arguments, env, f"{self.url}/healthz", timeout)

    def api_requests(self) -> dict[tuple[str, str], float]:
        """The requests the console has sent to the Kubernetes API, by (verb, resource)."""
        samples = samples_of(
            metrics_at(f"{self.url}/metrics"), "stratus_dashboard_api_requests_total"
        )
        return {(s.labels["verb"], s.labels["resource"]): s.value for s in samples}
