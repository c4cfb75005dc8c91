"""Drift is what the builder set and the child no longer carries; server defaults are not drift."""

import kopf

from stratus.builders.meta import ChildRef
from stratus.core.drift import covers, with_digest
from stratus.handlers.children import needs_reconcile

WANTED = {
    "apiVersion": "v1",
    "kind": "ResourceQuota",
    "metadata": {"name": "q", "namespace": "acme", "labels": {"stratus.io/kind": "Project"}},
    "spec": {"hard": {"count/servers.stratus.io": "10"}},
}


def observed(**spec: object) -> kopf.Body:
    return kopf.Body(
        {
            "apiVersion": "v1",
            "kind": "ResourceQuota",
            "metadata": {
                "name": "q",
                "namespace": "acme",
                "resourceVersion": "7",
                "labels": {"stratus.io/kind": "Project", "extra": "x"},
            },
            "spec": spec or {"hard": {"count/servers.stratus.io": "10"}, "scopes": []},
            "status": {"used": {"count/servers.stratus.io": "3"}},
        }
    )


def test_fields_the_server_adds_are_not_drift() -> None:
    assert covers(observed(), WANTED)


def test_a_changed_value_is_drift() -> None:
    assert not covers(observed(hard={"count/servers.stratus.io": "99"}), WANTED)


def test_a_removed_label_is_drift() -> None:
    child = dict(observed())
    child["metadata"] = {**child["metadata"], "labels": {}}
    assert not covers(child, WANTED)


def test_lists_must_match_in_length() -> None:
    assert not covers({"subjects": [{"name": "a"}, {"name": "b"}]}, {"subjects": [{"name": "a"}]})


def test_a_field_the_builder_stopped_setting_is_drift_once_stamped() -> None:
    applied = with_digest(WANTED | {"spec": {"hard": {"count/servers.stratus.io": "10"},
                                             "scopes": ["Terminating"]}})  # fmt: skip
    assert covers(applied, WANTED)
    assert not covers(applied, with_digest(WANTED))
    assert covers(with_digest(WANTED), with_digest(WANTED))


def test_the_digest_ignores_the_order_of_keys_and_keeps_other_annotations() -> None:
    reordered = {key: WANTED[key] for key in reversed(list(WANTED))}
    assert with_digest(reordered) == with_digest(WANTED)
    annotated = with_digest(WANTED | {"metadata": WANTED["metadata"] | {"annotations": {"a": "b"}}})
    assert annotated["metadata"]["annotations"]["a"] == "b"
    assert "annotations" not in WANTED["metadata"]


def test_deleting_a_wanted_child_needs_a_reconcile_but_an_unwanted_one_does_not() -> None:
    ref = ChildRef("v1", "ResourceQuota", "q", "acme")
    assert needs_reconcile("DELETED", observed(), {ref: WANTED})
    assert not needs_reconcile("DELETED", observed(), {ref: None})


def test_a_child_that_should_not_exist_needs_a_reconcile() -> None:
    assert needs_reconcile(None, observed(), {ChildRef("v1", "ResourceQuota", "q", "acme"): None})


def test_a_child_the_parent_does_not_manage_is_left_alone() -> None:
    assert not needs_reconcile("MODIFIED", observed(), {})
