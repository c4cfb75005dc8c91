"""Which retypes the classes allow: in place between types of one StorageClass (by their
VolumeAttributesClass), never across StorageClasses, never taking a claim's class away; and
the simulated driver's ModifyVolume that carries one out."""

from typing import Any

import kopf
import pytest

from devcluster.simulator.storage import PROVISIONER, modified_claim_status
from stratus.api.volume import VolumeSpec
from stratus.config import Settings, StorageSettings
from stratus.core.errors import InvalidInput
from stratus.handlers import volume

STORAGE = StorageSettings(
    volume_types={"standard": "standard", "fast": "standard", "archive": "archive"},
    volume_attributes={"fast": "fast"},
)


@pytest.fixture(autouse=True)
def offered(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(volume, "settings", lambda: Settings(storage=STORAGE))


def body(spec_type: str, status_type: str | None, phase: str = "InUse") -> kopf.Body:
    status: dict[str, Any] = {"phase": phase}
    if status_type:
        status["volumeType"] = status_type
    raw = {"spec": {"size": "1Gi", "volumeType": spec_type}, "status": status}
    return kopf.Body(raw)  # type: ignore[arg-type]


def wanted(spec_type: str, status_type: str | None) -> str:
    found = body(spec_type, status_type)
    return volume.wanted_type(found, VolumeSpec.model_validate(found["spec"]))


def test_a_new_volume_and_a_retype_within_a_class_take_the_specs_type() -> None:
    assert wanted("archive", None) == "archive"
    assert wanted("fast", "standard") == "fast"
    assert wanted("fast", "fast") == "fast"


@pytest.mark.parametrize(
    ("spec_type", "status_type", "words"),
    [
        ("archive", "standard", "standard is on StorageClass standard and archive on archive"),
        ("standard", "archive", "archive is on StorageClass archive and standard on standard"),
        ("standard", "fast", "volume type standard has no VolumeAttributesClass"),
    ],
)
def test_a_retype_the_classes_do_not_allow_is_refused_in_the_volumes_phase(
    spec_type: str, status_type: str, words: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        wanted(spec_type, status_type)
    assert refused.value.reason == "RetypeRefused"
    assert words in refused.value.message
    assert f"volumeType {status_type} cancels the retype" in refused.value.message
    assert refused.value.phase == "InUse"


def test_an_unknown_type_is_reported_before_any_retype() -> None:
    with pytest.raises(InvalidInput) as refused:
        wanted("platinum", "standard")
    assert refused.value.reason == "UnknownVolumeType"


def claim(wanted_class: str | None, current: str | None, phase: str = "Bound") -> dict[str, Any]:
    status: dict[str, Any] = {"phase": phase}
    if current:
        status["currentVolumeAttributesClassName"] = current
    return {"spec": {"volumeAttributesClassName": wanted_class}, "status": status}


STANDARD = {"provisioner": PROVISIONER}
FAST = {"driverName": PROVISIONER}


def test_the_driver_applies_a_class_of_its_own_and_reports_the_others() -> None:
    assert modified_claim_status(claim("fast", None), FAST, STANDARD) == {
        "currentVolumeAttributesClassName": "fast",
        "modifyVolumeStatus": None,
    }
    pending = modified_claim_status(claim("fast", None), None, STANDARD)
    assert pending == {
        "modifyVolumeStatus": {"targetVolumeAttributesClassName": "fast", "status": "Pending"}
    }
    foreign = modified_claim_status(claim("fast", None), {"driverName": "other"}, STANDARD)
    assert foreign is not None and foreign["modifyVolumeStatus"]["status"] == "Infeasible"


def test_nothing_to_modify_before_binding_or_once_applied() -> None:
    assert modified_claim_status(claim("fast", None, "Pending"), FAST, STANDARD) is None
    assert modified_claim_status(claim("fast", "fast"), FAST, STANDARD) is None
    assert modified_claim_status(claim(None, None), FAST, STANDARD) is None
