"""Kopf's record of the spec it handled: a spec changed and changed back is still a change."""

import kopf

from stratus.handlers.settings import GenerationDiffBaseStorage

STORAGE = GenerationDiffBaseStorage(prefix="stratus.io", key="last-handled-configuration")


def body(generation: int, rules: list[str], observed: int | None = None) -> kopf.Body:
    raw = {
        "apiVersion": "stratus.io/v1alpha1",
        "kind": "SecurityGroup",
        "metadata": {"name": "db", "namespace": "acme", "generation": generation, "uid": "1"},
        "spec": {"rules": rules},
        "status": {"observedGeneration": generation if observed is None else observed},
    }
    return kopf.Body(raw)  # type: ignore[arg-type]


def test_the_same_spec_at_a_later_generation_is_a_change() -> None:
    handed, back_again = body(2, ["tcp 5432"]), body(4, ["tcp 5432"])
    assert STORAGE.build(body=handed) != STORAGE.build(body=back_again)
    assert STORAGE.build(body=back_again)["spec"] == {"rules": ["tcp 5432"]}


def test_status_and_bookkeeping_are_still_no_change() -> None:
    once, again = body(2, ["tcp 5432"]), body(2, ["tcp 5432"], observed=1)
    assert STORAGE.build(body=once) == STORAGE.build(body=again)
