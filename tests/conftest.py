"""Fixtures shared by the whole suite."""

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
UPSTREAM_SCHEMAS = SHARED / "upstream-schemas"

UpstreamSchema = Callable[[str, str], dict[str, Any]]


@pytest.fixture(scope="session")
def upstream_schemas() -> Path:
    """Upstream JSON schemas of third-party kinds: beside the project, not in a user's clone.
    A clone without them skips these checks; CI, which must run them, fails instead."""
    if not UPSTREAM_SCHEMAS.is_dir():
        if os.environ.get("CI") == "true":
            pytest.fail(
                f"{UPSTREAM_SCHEMAS} is absent, and CI must run the upstream schema checks: "
                "check out the shared folder beside the project"
            )
        pytest.skip(f"{UPSTREAM_SCHEMAS} is absent: upstream schema checks need ../shared")
    return UPSTREAM_SCHEMAS


@pytest.fixture(scope="session")
def upstream_schema(upstream_schemas: Path) -> UpstreamSchema:
    """Load one upstream schema, for example ("kubevirt.io", "virtualmachine_v1")."""

    def load(group: str, name: str) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads((upstream_schemas / group / f"{name}.json").read_text())
        return loaded

    return load
