"""Whether a child still carries what its builder wants, ignoring what the server added."""

from collections.abc import Mapping
from typing import Any


def covers(actual: Any, desired: Any) -> bool:
    """True when every field the builder sets is present in `actual` with the same value."""
    if isinstance(desired, Mapping):
        return isinstance(actual, Mapping) and all(
            key in actual and covers(actual[key], value) for key, value in desired.items()
        )
    if isinstance(desired, list):
        return (
            isinstance(actual, list)
            and len(actual) == len(desired)
            and all(covers(a, d) for a, d in zip(actual, desired, strict=True))
        )
    return bool(actual == desired)
