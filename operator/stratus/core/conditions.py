"""Conditions in the Kubernetes API convention, set the same way for every kind."""

from datetime import UTC, datetime
from typing import Any

Condition = dict[str, Any]


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def set_condition(
    conditions: list[Condition],
    type_: str,
    status: bool,
    reason: str,
    message: str,
    generation: int | None,
) -> list[Condition]:
    """A new list with one condition set in its place (a new one last), so that passes
    setting conditions in different orders agree; lastTransitionTime moves only when status
    does."""
    status_text = "True" if status else "False"
    previous = next((c for c in conditions if c.get("type") == type_), None)
    transition = (
        previous["lastTransitionTime"]
        if previous and previous.get("status") == status_text and previous.get("lastTransitionTime")
        else now()
    )
    updated: Condition = {
        "type": type_,
        "status": status_text,
        "reason": reason,
        "message": message,
        "lastTransitionTime": transition,
        "observedGeneration": generation,
    }
    if previous is None:
        return [*conditions, updated]
    return [updated if c is previous else c for c in conditions]


def find(conditions: list[Condition], type_: str) -> Condition | None:
    return next((c for c in conditions if c.get("type") == type_), None)


def ready(body: Any) -> Condition | None:
    """An object's Ready condition, if it has one."""
    return find(list((body.get("status") or {}).get("conditions") or []), "Ready")


def is_ready(body: Any) -> bool:
    found = ready(body)
    return bool(found and found.get("status") == "True")


def ready_reason(body: Any) -> str | None:
    """Why an object is (not) Ready, as its Ready condition says."""
    found = ready(body)
    return found.get("reason") if found else None
