"""The shell scripts: shellcheck-clean, and the kind path pinned to the versions the local
control plane is checked against."""

import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SCRIPTS = sorted([*REPO.glob("hack/*.sh"), *REPO.glob("devcluster/*.sh"), REPO / ".ci" / "run"])


def pins(text: str) -> dict[str, str]:
    return dict(re.findall(r"^([A-Z_]+_VERSION)=(\S+)$", text, re.MULTILINE))


def test_shellcheck_finds_nothing() -> None:
    shellcheck = Path(sys.executable).parent / "shellcheck"
    result = subprocess.run(
        [str(shellcheck), "-x", *(str(s.relative_to(REPO)) for s in SCRIPTS)],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_kind_installs_the_versions_whose_crds_the_local_cluster_validates_against() -> None:
    kind = pins((REPO / "hack" / "kind-up.sh").read_text())
    local = pins((REPO / "devcluster" / "versions.env").read_text())
    assert kind["KUBEVIRT_VERSION"] == local["KUBEVIRT_VERSION"]
    assert kind["CDI_VERSION"] == local["CDI_API_VERSION"]
    assert kind["MULTUS_VERSION"] == local["MULTUS_VERSION"]
    assert kind["MULTI_NETWORKPOLICY_VERSION"] == local["MULTI_NETWORKPOLICY_VERSION"]
    assert kind["SNAPSHOTTER_VERSION"] == local["SNAPSHOTTER_CLIENT_VERSION"]


def test_the_kind_cluster_has_three_workers_one_per_zone() -> None:
    config = (REPO / "kind-config.yaml").read_text()
    assert config.count("role: worker") == 3
    assert [f"zone-{z}" for z in "abc"] == re.findall(r"zone-[a-c]", config)
