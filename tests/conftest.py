"""Fixtures shared by the whole suite."""

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
UPSTREAM_SCHEMAS = SHARED / "upstream-schemas"


@pytest.fixture(scope="session")
def upstream_schemas() -> Path:
    """Upstream JSON schemas of third-party kinds: beside the project, not in a user's clone."""
    if not UPSTREAM_SCHEMAS.is_dir():
        pytest.skip(f"{UPSTREAM_SCHEMAS} is absent: upstream schema checks need ../shared")
    return UPSTREAM_SCHEMAS
