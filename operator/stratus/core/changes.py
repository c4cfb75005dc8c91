"""Which events matter to a handler that acts on another kind's objects: those that change
what it reads of them. Most events of a Server are its status moving; a handler that cares
for its labels, say, should run on a change of labels only."""

from collections.abc import Mapping
from typing import Any


class LastSeen:
    """What of each object a handler acts on, as the object's last event showed it."""

    def __init__(self) -> None:
        self._seen: dict[str, tuple[Any, ...]] = {}

    def changed(self, type: str | None, body: Mapping[str, Any], now: tuple[Any, ...]) -> bool:
        """Whether this event changes it. A deletion always does; the first sight of an
        object at start-up does not, since every object has its own resume pass then."""
        metadata = body["metadata"]
        key = f"{body.get('kind')}/{metadata.get('namespace') or ''}/{metadata['name']}"
        if type == "DELETED":
            self._seen.pop(key, None)
            return True
        known = key in self._seen
        if self._seen.get(key) == now:
            return False
        self._seen[key] = now
        return type is not None or known
