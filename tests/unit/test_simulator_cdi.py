"""The simulated CDI: a DataVolume's claim and the status shapes CDI reports."""

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from devcluster.simulator import cdi, conditions, kube

Manifest = dict[str, Any]
AT = "2026-01-01T00:00:00Z"
LATER = "2026-01-01T00:01:00Z"


def datavolume(source: Manifest | None = None, **spec: Any) -> Manifest:
    return {
        "apiVersion": "cdi.kubevirt.io/v1beta1",
        "kind": "DataVolume",
        "metadata": {"name": "root", "namespace": "acme", "uid": "dv-uid", "labels": {"a": "b"}},
        "spec": {
            "source": source or {"http": {"url": "https://example.org/noble.qcow2"}},
            "storage": {"resources": {"requests": {"storage": "20Gi"}}},
            **spec,
        },
    }


def bound() -> Manifest:
    return {"status": {"phase": "Bound"}}


def by_type(status: Manifest) -> dict[str, Manifest]:
    return {c["type"]: c for c in status["conditions"]}


def test_the_claim_has_the_datavolumes_name_and_is_controlled_by_it() -> None:
    claim = cdi.build_claim(datavolume(), "standard")
    assert claim["metadata"]["name"] == "root"
    assert claim["metadata"]["namespace"] == "acme"
    owner = claim["metadata"]["ownerReferences"][0]
    assert (owner["kind"], owner["uid"], owner["controller"]) == ("DataVolume", "dv-uid", True)
    assert claim["metadata"]["labels"]["a"] == "b"
    assert claim["spec"] == {
        "accessModes": ["ReadWriteMany"],
        "volumeMode": "Filesystem",
        "resources": {"requests": {"storage": "20Gi"}},
        "storageClassName": "standard",
    }


def test_spec_pvc_is_taken_as_given_and_a_clone_defaults_to_the_source_size() -> None:
    given = {"accessModes": ["ReadWriteMany"], "volumeMode": "Block", "storageClassName": "fast"}
    dv = datavolume({"pvc": {"name": "golden"}})
    dv["spec"].pop("storage")
    dv["spec"]["pvc"] = given
    spec = cdi.claim_spec(dv, "standard", source_size="30Gi")
    assert spec == {**given, "resources": {"requests": {"storage": "30Gi"}}}


def test_a_claim_not_yet_bound_keeps_the_datavolume_pending() -> None:
    status = cdi.datavolume_status(datavolume(), {"status": {"phase": "Pending"}}, AT)
    assert (status["phase"], status["progress"]) == ("Pending", "N/A")
    assert by_type(status)["Bound"]["reason"] == "Pending"
    assert by_type(status)["Bound"]["message"] == "PVC root Pending"


def test_an_import_goes_scheduled_then_in_progress_then_succeeded() -> None:
    dv = datavolume()
    dv["status"] = cdi.datavolume_status(dv, bound(), AT)
    assert dv["status"]["phase"] == "ImportScheduled"
    assert cdi.transferring(dv)
    seen = []
    for _ in range(10):
        dv["status"] = cdi.advance(dv, 30.0, LATER)
        seen.append((dv["status"]["phase"], dv["status"]["progress"]))
        if dv["status"]["phase"] == "Succeeded":
            break
    assert seen == [
        ("ImportInProgress", "0.00%"),
        ("ImportInProgress", "30.00%"),
        ("ImportInProgress", "60.00%"),
        ("ImportInProgress", "90.00%"),
        ("Succeeded", "100.0%"),
    ]
    final = by_type(dv["status"])
    assert final["Ready"]["status"] == "True"
    assert (final["Running"]["status"], final["Running"]["reason"]) == ("False", "Completed")
    assert final["Running"]["message"] == "Import Complete"
    assert final["Bound"]["message"] == "PVC root Bound"
    assert not cdi.transferring(dv)


def test_reconciling_an_import_in_progress_keeps_its_progress() -> None:
    dv = datavolume()
    dv["status"] = {"phase": "ImportInProgress", "progress": "42.00%"}
    status = cdi.datavolume_status(dv, bound(), AT)
    assert (status["phase"], status["progress"]) == ("ImportInProgress", "42.00%")
    assert by_type(status)["Running"]["reason"] == cdi.POD_RUNNING


def test_an_unreachable_url_reports_cdis_import_error_and_never_progresses() -> None:
    dv = datavolume({"http": {"url": "http://images.example.invalid/disk.img"}})
    dv["status"] = cdi.datavolume_status(dv, bound(), AT)
    assert dv["status"]["phase"] == "ImportInProgress"
    running = by_type(dv["status"])["Running"]
    assert (running["status"], running["reason"]) == ("False", "Error")
    assert running["message"].startswith("Unable to connect to http data source")
    assert "images.example.invalid" in running["message"]
    assert not cdi.transferring(dv)


def test_a_clone_without_its_source_waits_scheduled_and_says_why() -> None:
    dv = datavolume({"pvc": {"name": "golden", "namespace": "acme"}})
    status = cdi.datavolume_status(dv, None, AT, "The source pvc golden doesn't exist")
    assert status["phase"] == "CloneScheduled"
    assert status["claimName"] is None
    bound_condition = by_type(status)["Bound"]
    assert bound_condition["status"] == "Unknown"
    assert bound_condition["reason"] == cdi.CLONE_WITHOUT_SOURCE
    assert bound_condition["message"] == "The source pvc golden doesn't exist"


def test_clone_sources_resolve_directly_or_through_a_datasource() -> None:
    assert cdi.operation(datavolume({"pvc": {"name": "golden"}})) == cdi.CLONE
    assert cdi.clone_source(datavolume({"pvc": {"name": "golden"}})) == ("pvc", "acme", "golden")
    via_ref = datavolume(sourceRef={"kind": "DataSource", "name": "ubuntu", "namespace": "os"})
    del via_ref["spec"]["source"]
    data_source = {"spec": {"source": {"pvc": {"name": "ubuntu-2404", "namespace": "os"}}}}
    assert cdi.clone_source(via_ref, data_source) == ("pvc", "os", "ubuntu-2404")


def test_conditions_keep_their_transition_time_while_status_is_unchanged() -> None:
    dv = datavolume()
    dv["status"] = cdi.datavolume_status(dv, bound(), AT)
    again = cdi.datavolume_status(dv, bound(), LATER)
    assert again == dv["status"]
    assert not kube.changed(dv["status"], again)


def test_statuses_match_the_upstream_datavolume_schema(upstream_schemas: Path) -> None:
    schema = json.loads((upstream_schemas / "cdi.kubevirt.io/datavolume_v1beta1.json").read_text())
    status_schema = schema["properties"]["status"]
    dv = datavolume()
    for claim in (None, {"status": {"phase": "Pending"}}, bound()):
        status = cdi.datavolume_status(dv, claim, AT)
        jsonschema.validate({k: v for k, v in status.items() if v is not None}, status_schema)
    jsonschema.validate(cdi.succeeded(dv, AT), status_schema)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ({"http": {"url": "http://x"}}, cdi.IMPORT),
        ({"registry": {"url": "docker://x"}}, cdi.IMPORT),
        ({"blank": {}}, cdi.IMPORT),
        ({"upload": {}}, cdi.UPLOAD),
        ({"snapshot": {"name": "s"}}, cdi.CLONE),
    ],
)
def test_the_operation_follows_the_source(source: Manifest, expected: str) -> None:
    assert cdi.operation(datavolume(source)) == expected


def test_condition_merge_moves_heartbeat_only_when_the_text_changes() -> None:
    first = conditions.merge(
        None, [conditions.condition("Running", False, "A")], AT, heartbeat="hb"
    )
    same = conditions.merge(
        first, [conditions.condition("Running", False, "A")], LATER, heartbeat="hb"
    )
    text = conditions.merge(
        first, [conditions.condition("Running", False, "B")], LATER, heartbeat="hb"
    )
    assert same == first
    assert (text[0]["lastTransitionTime"], text[0]["hb"]) == (AT, LATER)
