"""A `stratus` command as a local process against the local cluster: started, waited for until
its health endpoint answers, stopped; and what its Prometheus endpoint exports."""

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


def metrics_at(url: str) -> str:
    """What a Prometheus endpoint exports, as text."""
    with urllib.request.urlopen(url, timeout=5) as response:
        text: str = response.read().decode()
        return text


def samples_of(metrics: str, name: str) -> Iterator[Sample]:
    for family in text_string_to_metric_families(metrics):
        yield from (sample for sample in family.samples if sample.name == name)


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2):
            return True
    except OSError:
        return False


@dataclass
class StratusProcess:
    log: Path
    process: subprocess.Popen[bytes] | None = field(default=None, kw_only=True)

    def launch(
        self, arguments: list[str], env: dict[str, str], health: str, timeout: float
    ) -> None:
        """`stratus <arguments>`, its output appended to the log, until `health` answers."""
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "stratus.cli", *arguments],
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, **env},
            )
        deadline = time.monotonic() + timeout
        while not answers(health):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"stratus {arguments[0]} did not start; see {self.log}")
            time.sleep(0.2)

    @property
    def pid(self) -> int:
        assert self.process is not None, f"nothing runs for {self.log}"
        return self.process.pid

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
