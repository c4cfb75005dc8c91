"""The CRDs are generated from the models, structural, and committed as generated."""

from pathlib import Path
from typing import Any

import pytest

from stratus.api import KINDS
from stratus.api.crd import build_crd
from stratus.api.volume import VOLUME
from stratus.cli import crds, render_crds

REPO = Path(__file__).resolve().parents[2]


def walk(node: Any, path: str = "") -> list[tuple[str, dict[str, Any]]]:
    found = []
    if isinstance(node, dict):
        found.append((path, node))
        for key, child in node.items():
            found.extend(walk(child, f"{path}/{key}"))
    elif isinstance(node, list):
        for index, child in enumerate(node):
            found.extend(walk(child, f"{path}/{index}"))
    return found


def test_committed_crds_are_byte_identical_to_the_generated_ones() -> None:
    assert crds(REPO / "crds", check=True) == 0, "crds/ is stale: run `make crds`"


def test_a_stale_or_extra_crd_file_is_detected(tmp_path: Path) -> None:
    crds(tmp_path, check=False)
    name = next(iter(render_crds()))
    (tmp_path / name).write_text((tmp_path / name).read_text() + "# edited by hand\n")
    assert crds(tmp_path, check=True) == 1
    crds(tmp_path, check=False)
    (tmp_path / "leftover.yaml").write_text("{}\n")
    assert crds(tmp_path, check=True) == 1


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.kind)
def test_schema_is_structural(kind: Any) -> None:
    schema = build_crd(kind)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    for path, node in walk(schema):
        if path.endswith("/properties") or path.endswith("/x-kubernetes-validations"):
            continue
        assert "$ref" not in node and "$defs" not in node, path
        assert "title" not in node, path
        assert "const" not in node, path
        assert node.get("additionalProperties") is not False, path
        if "anyOf" in node:
            assert node.get("x-kubernetes-int-or-string") is True, path
        if "default" in node:
            assert node["default"] is not None, path


@pytest.mark.parametrize("kind", [k for k in KINDS if not k.record], ids=lambda k: k.kind)
def test_every_kind_is_listed_by_get_stratus_and_shows_readiness(kind: Any) -> None:
    crd = build_crd(kind)
    names = crd["spec"]["names"]
    assert "stratus" in names["categories"]
    assert names["shortNames"]
    version = crd["spec"]["versions"][0]
    assert version["subresources"] == {"status": {}}
    columns = {c["name"]: c["jsonPath"] for c in version["additionalPrinterColumns"]}
    assert columns["Ready"] == '.status.conditions[?(@.type=="Ready")].status'
    assert "Age" in columns
    status = version["schema"]["openAPIV3Schema"]["properties"]["status"]["properties"]
    conditions = status["conditions"]
    assert conditions["x-kubernetes-list-type"] == "map"
    assert conditions["x-kubernetes-list-map-keys"] == ["type"]
    assert {"observedGeneration", "phase"} <= status.keys()


def test_fields_carry_descriptions_for_kubectl_explain() -> None:
    for kind in KINDS:
        spec = build_crd(kind)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"][
            "spec"
        ]
        for name, field in spec["properties"].items():
            assert field.get("description"), f"{kind.kind}.spec.{name} has no description"


def test_records_stay_out_of_get_stratus() -> None:
    records = [kind for kind in KINDS if kind.record]
    assert [kind.kind for kind in records] == ["Port"]
    assert build_crd(records[0])["spec"]["names"]["categories"] == []


def test_a_fields_own_rules_add_to_the_rules_of_its_type() -> None:
    source = build_crd(VOLUME)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"][
        "spec"
    ]["properties"]["source"]
    messages = [r["message"] for r in source["x-kubernetes-validations"]]
    assert "source takes at most one of image, volume, snapshot and backup" in messages
    assert "source is immutable" in messages
