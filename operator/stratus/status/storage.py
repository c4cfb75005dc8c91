"""What CDI's DataVolume status says about an import or a clone."""

from typing import Any


def datavolume_failure(status: dict[str, Any]) -> str | None:
    """CDI's own words when an import or clone fails (CDI keeps retrying; Stratus reports it)."""
    if status.get("phase") == "Failed":
        return "the import failed"
    for condition in status.get("conditions") or []:
        if (
            condition.get("type") == "Running"
            and condition.get("status") == "False"
            and condition.get("reason") == "Error"
        ):
            return str(condition.get("message") or "the importer failed")
    return None
