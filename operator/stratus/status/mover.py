"""What a `stratus mover` pod says: running, or finished with its summary."""

import json
from dataclasses import dataclass, field
from typing import Any

from stratus.builders.meta import Manifest


@dataclass(frozen=True)
class MoverResult:
    phase: str
    """The pod's phase: Pending, Running, Succeeded or Failed."""
    summary: dict[str, Any] = field(default_factory=dict)
    """The mover's summary from the termination message, once it ended."""

    @property
    def finished(self) -> bool:
        return self.phase in ("Succeeded", "Failed")

    @property
    def error(self) -> str:
        return str(self.summary.get("error") or "the mover failed")


def mover_result(pod: Manifest) -> MoverResult:
    status = pod.get("status") or {}
    phase = str(status.get("phase") or "Pending")
    for container in status.get("containerStatuses") or []:
        terminated = (container.get("state") or {}).get("terminated") or {}
        message = terminated.get("message")
        if message:
            try:
                summary = json.loads(message.strip().splitlines()[-1])
            except ValueError:
                summary = {"error": message.strip()[-500:]}
            return MoverResult(phase, summary if isinstance(summary, dict) else {})
        if terminated and phase == "Failed":
            return MoverResult(phase, {"error": terminated.get("reason") or "the mover failed"})
    return MoverResult(phase)
