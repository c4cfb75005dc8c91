"""The Helm chart in its first form: it lints, renders, and the API server accepts it."""

import subprocess
from pathlib import Path

from devcluster.components import binary
from tests.integration.conftest import REPO, Cluster

CHART = REPO / "charts" / "stratus"


def helm(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(binary("helm")), *args], capture_output=True, text=True, check=False)


def test_chart_lints_clean() -> None:
    result = helm("lint", str(CHART))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 chart(s) failed" in result.stdout


def test_chart_crds_are_the_generated_ones() -> None:
    chart_crds = CHART / "crds"
    assert sorted(p.name for p in chart_crds.glob("*.yaml")) == sorted(
        p.name for p in (REPO / "crds").glob("*.yaml")
    )
    for path in chart_crds.glob("*.yaml"):
        assert path.read_text() == (REPO / "crds" / path.name).read_text()


def test_rendered_chart_is_accepted_by_the_api_server(cluster: Cluster, tmp_path: Path) -> None:
    rendered = helm(
        "template",
        "stratus",
        str(CHART),
        "--namespace",
        "stratus-system",
        "--include-crds",
        "--kube-version",
        "1.34.4",
    )
    assert rendered.returncode == 0, rendered.stderr
    result = cluster.kubectl("apply", "--dry-run=server", "-f", "-", stdin=rendered.stdout)
    assert "deployment.apps/stratus-operator created (server dry run)" in result.stdout
