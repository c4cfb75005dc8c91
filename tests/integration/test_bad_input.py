"""The API server refuses bad input itself, with words a user can act on: the corpus
tests/corpus/invalid.yaml holds the cases, for every kind and every spec field."""

import json
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from stratus.api import KINDS
from stratus.api.crd import structural_schema
from stratus.constants import API_VERSION
from tests.integration.conftest import Cluster

CORPUS = Path(__file__).resolve().parents[1] / "corpus" / "invalid.yaml"
USER_KINDS = {kind.kind: kind for kind in KINDS if not kind.record}
"""Ports are records Stratus writes for itself, never a user."""


@dataclass(frozen=True)
class Case:
    """One bad input. `change` is a spec overlay, or for a `names` case the metadata.name."""

    number: int
    kind: str
    section: str
    index: int
    namespaced: bool
    valid: dict[str, Any]
    change: Any
    message: str

    @property
    def id(self) -> str:
        if self.section == "names":
            tail = re.sub(r"[^a-z0-9]+", "_", self.change.lower())[:24].strip("_") or "unicode"
        else:
            tail = field(self.change) or "spec"
        return f"{self.kind}-{self.section}-{self.index}-{tail}"


def expand(node: Any) -> Any:
    """The corpus's shorthand for huge input: {repeat: s, times: n} is s*n, {list_of: x,
    times: n} is n copies of x."""
    if isinstance(node, list):
        return [expand(item) for item in node]
    if not isinstance(node, dict):
        return node
    if node.keys() == {"repeat", "times"}:
        return node["repeat"] * node["times"]
    if node.keys() == {"list_of", "times"}:
        return [expand(node["list_of"])] * node["times"]
    return {key: expand(value) for key, value in node.items()}


def merged(base: Any, overlay: Any) -> Any:
    """`overlay` deep-merged onto `base`; a null in it deletes the key, a list replaces."""
    if not (isinstance(base, dict) and isinstance(overlay, dict)):
        return overlay
    result = {key: value for key, value in base.items() if overlay.get(key, 0) is not None}
    for key, value in overlay.items():
        if value is not None:
            result[key] = merged(base.get(key), value)
    return result


def field(overlay: Any) -> str:
    """The last field path an overlay sets (`subnet.cidr`), to name its test: what comes
    first only makes the case possible (`public: false` for `projects`)."""
    if isinstance(overlay, list) and overlay:
        return field(overlay[-1])
    if not isinstance(overlay, dict) or not overlay:
        return ""
    key, value = list(overlay.items())[-1]
    return ".".join(filter(None, (key, field(value))))


def paths(node: Any, prefix: str = "") -> set[str]:
    """Every field path in a spec, list items included (`rules.direction`)."""
    if isinstance(node, list):
        return set().union(*(paths(item, prefix) for item in node))
    if not isinstance(node, dict):
        return set()
    return set().union(*({f"{prefix}{k}"} | paths(v, f"{prefix}{k}.") for k, v in node.items()))


def skeleton(schema: dict[str, Any]) -> Any:
    """A spec with every field a CRD's schema declares, to take its paths."""
    if "items" in schema:
        return [skeleton(schema["items"])]
    return {key: skeleton(child) for key, child in schema.get("properties", {}).items()}


def load() -> list[Case]:
    cases: list[Case] = []
    for kind, entry in expand(yaml.safe_load(CORPUS.read_text())).items():
        ns, valid = entry["scope"] == "namespaced", entry["valid"]
        for section in ("refused", "names", "changed"):
            for index, (change, message) in enumerate(entry.get(section) or []):
                cases.append(Case(len(cases), kind, section, index, ns, valid, change, message))
    return cases


CASES = load()


def manifest(case: Case, name: str, spec: dict[str, Any], namespace: str) -> str:
    """JSON, not YAML: kubectl reads YAML 1.1, where a bare `n` in a list is a boolean."""
    metadata = {"name": name} | ({"namespace": namespace} if case.namespaced else {})
    return json.dumps(
        {"apiVersion": API_VERSION, "kind": case.kind, "metadata": metadata, "spec": spec}
    )


@pytest.fixture(scope="module")
def namespace(cluster: Cluster) -> Iterator[str]:
    """A plain namespace for the namespaced kinds: a dry run needs it to exist, nothing more."""
    created = f"bad-input-{uuid.uuid4().hex[:5]}"
    cluster.kubectl("create", "namespace", created)
    yield created
    cluster.kubectl("delete", "namespace", created, "--wait=false")


def test_corpus_covers_every_kind_and_field() -> None:
    """The corpus is the inventory of what the API server guards: a kind, or a spec field
    added to a model, without a bad-input case fails here."""
    assert len(CASES) >= 200, len(CASES)
    assert {case.kind for case in CASES} == set(USER_KINDS)
    for kind in USER_KINDS.values():
        cases = [case for case in CASES if case.kind == kind.kind]
        assert {case.namespaced for case in cases} == {kind.scope == "Namespaced"}, kind.kind
        touched = set().union(*(paths(c.change) for c in cases if c.section != "names"))
        untouched = paths(skeleton(structural_schema(kind.spec))) - touched
        assert not untouched, f"{kind.kind}: no case for {sorted(untouched)}"


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_api_server_refuses(cluster: Cluster, namespace: str, case: Case) -> None:
    """A dry run is all the API server needs to refuse; the expected words make sure it
    refuses for the reason the case is about, not for a typo in the case. An immutable field
    is changed on an object that exists, as a user would."""
    name, spec = f"bad-{case.number}", merged(case.valid, case.change)
    if case.section == "names":
        name, spec = case.change, case.valid
    if case.section == "changed":
        cluster.kubectl("apply", "-f", "-", stdin=manifest(case, name, case.valid, namespace))
    try:
        attempt = manifest(case, name, spec, namespace)
        result = cluster.kubectl("apply", "--dry-run=server", "-f", "-", stdin=attempt, check=False)
    finally:
        if case.section == "changed" and not case.namespaced:
            cluster.kubectl("delete", f"{case.kind.lower()}.stratus.io", name, "--wait=false")
    assert result.returncode != 0, f"accepted: {attempt[:500]}"
    assert case.message in result.stderr, result.stderr[:2000]
    assert "no such key" not in result.stderr, "a CEL rule failed instead of refusing"
