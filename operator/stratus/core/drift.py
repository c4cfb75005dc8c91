"""Whether a child still carries what its builder wants, ignoring what the server added."""

import hashlib
import json
from collections.abc import Mapping
from typing import Any

APPLIED_DIGEST = "stratus.io/applied-digest"
"""A digest of the manifest Stratus last applied to a child. A field the builder stops
setting is still on the live object, so `covers` alone cannot see it go; the digest can."""


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


def with_digest(manifest: Mapping[str, Any]) -> dict[str, Any]:
    """The manifest, annotated with a digest of itself."""
    canonical = json.dumps(manifest, sort_keys=True, separators=(",", ":"), default=str)
    digest = hashlib.sha256(canonical.encode()).hexdigest()[:16]
    metadata = dict(manifest["metadata"])
    metadata["annotations"] = {**(metadata.get("annotations") or {}), APPLIED_DIGEST: digest}
    return {**manifest, "metadata": metadata}
