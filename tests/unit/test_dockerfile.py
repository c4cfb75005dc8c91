"""The container image's Dockerfile: linted, and built the way the README installs Stratus."""

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = (REPO / "Dockerfile").read_text()


def test_hadolint_finds_nothing() -> None:
    hadolint = Path(sys.executable).parent / "hadolint"
    result = subprocess.run(
        [str(hadolint), "--failure-threshold", "info", str(REPO / "Dockerfile")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_image_installs_the_lock_then_stratus_without_dependencies_as_make_does() -> None:
    makefile = (REPO / "Makefile").read_text()
    assert "pip install -q --no-deps -e ." in makefile
    assert "pip install --no-cache-dir -r requirements.lock" in DOCKERFILE
    assert "pip install --no-cache-dir --no-deps ." in DOCKERFILE


def test_the_console_assets_come_from_the_npm_lock_as_make_installs_them() -> None:
    makefile = (REPO / "Makefile").read_text()
    assert "npm ci --no-audit --no-fund" in makefile
    assert "npm ci --no-audit --no-fund && npm run build" in DOCKERFILE
    assert "COPY --from=assets /src/static/vendor ./operator/stratus/dashboard/static/vendor" in (
        DOCKERFILE
    )


def test_the_final_stage_is_slim_non_root_and_runs_the_operator() -> None:
    stages = DOCKERFILE.split("\nFROM ")[1:]
    assert len(stages) == 3, "the console's assets, a build stage and a final stage"
    final = stages[-1]
    assert final.startswith("python:3.11.") and "-slim-" in final.splitlines()[0]
    assert "\nUSER 65532:65532" in final
    assert 'ENTRYPOINT ["stratus", "run"]' in final
    assert "pip install" not in final and "apt-get" not in final  # nothing is built there
