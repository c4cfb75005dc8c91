"""Conditions follow the API conventions for every kind."""

from stratus.core.conditions import set_condition


def test_transition_time_stays_while_status_is_unchanged() -> None:
    first = set_condition([], "Ready", False, "Pending", "waiting", 1)
    stamp = first[0]["lastTransitionTime"]
    first[0]["lastTransitionTime"] = "2020-01-01T00:00:00Z"
    again = set_condition(first, "Ready", False, "QuotaExceeded", "over quota", 2)
    assert again[0]["lastTransitionTime"] == "2020-01-01T00:00:00Z"
    assert again[0]["reason"] == "QuotaExceeded"
    assert again[0]["observedGeneration"] == 2
    assert stamp


def test_transition_time_moves_when_status_changes() -> None:
    old = [
        {
            "type": "Ready",
            "status": "False",
            "reason": "Pending",
            "message": "",
            "lastTransitionTime": "2020-01-01T00:00:00Z",
        }
    ]
    new = set_condition(old, "Ready", True, "Reconciled", "", 3)
    assert new[0]["status"] == "True"
    assert new[0]["lastTransitionTime"] != "2020-01-01T00:00:00Z"


def test_other_conditions_are_kept() -> None:
    other = {
        "type": "Reconciling",
        "status": "True",
        "reason": "Working",
        "lastTransitionTime": "x",
    }
    result = set_condition([other], "Ready", True, "Reconciled", "", 1)
    assert other in result
    assert [c["type"] for c in result] == ["Reconciling", "Ready"]


def test_a_condition_keeps_its_place_so_passes_setting_them_in_another_order_agree() -> None:
    ensure_order = ["QuotaAdmitted", "Ready", "WorkloadReady"]
    conditions: list[dict[str, object]] = []
    for type_ in ensure_order:
        conditions = set_condition(conditions, type_, True, "Done", "", 1)
    observed = conditions
    for type_ in reversed(ensure_order):
        observed = set_condition(observed, type_, True, "Done", "", 1)
    assert observed == conditions
