"""The code stays ruff- and mypy-clean; CI runs these with the rest of the suite."""

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=REPO, capture_output=True, text=True, check=False)


def test_ruff_finds_nothing() -> None:
    result = run(str(BIN / "ruff"), "check", "operator", "tests", "devcluster", "bench")
    assert result.returncode == 0, result.stdout


def test_code_is_formatted() -> None:
    result = run(str(BIN / "ruff"), "format", "--check", "operator", "tests", "devcluster", "bench")
    assert result.returncode == 0, result.stdout


def test_mypy_strict_finds_nothing() -> None:
    result = run(str(BIN / "mypy"))
    assert result.returncode == 0, result.stdout
