"""Status conditions as the upstream controllers keep them: timestamps move only on change."""

from datetime import UTC, datetime
from typing import Any

Condition = dict[str, Any]


def now() -> str:
    """The API's timestamp format, to the second."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def find(conditions: list[Condition] | None, type_: str) -> Condition | None:
    return next((c for c in conditions or [] if c.get("type") == type_), None)


def merge(
    previous: list[Condition] | None,
    wanted: list[Condition],
    at: str,
    *,
    heartbeat: str | None = None,
) -> list[Condition]:
    """The wanted conditions with lastTransitionTime kept while status is unchanged.

    `heartbeat` names CDI's lastHeartbeatTime, which moves when reason or message change.
    Re-merging the result changes nothing, which keeps the handlers idempotent.
    """
    merged = []
    for condition in wanted:
        old = find(previous, condition["type"]) or {}
        same_status = old.get("status") == condition["status"]
        same_text = same_status and all(
            old.get(key, "") == condition.get(key, "") for key in ("reason", "message")
        )
        entry = {key: value for key, value in condition.items() if value not in ("", None)}
        entry["lastTransitionTime"] = old.get("lastTransitionTime", at) if same_status else at
        if heartbeat:
            entry[heartbeat] = old.get(heartbeat, at) if same_text else at
        merged.append(entry)
    return merged


def condition(type_: str, status: bool | str, reason: str = "", message: str = "") -> Condition:
    """A condition without timestamps; `merge` adds them."""
    text = status if isinstance(status, str) else ("True" if status else "False")
    return {"type": type_, "status": text, "reason": reason, "message": message}
