"""Named index handles: an object that stops matching leaves the index, and a handle reads
the live index Kopf bound at startup."""

from typing import Any

import kopf
import pytest

from stratus.core import indexes
from stratus.core.errors import BackendUnavailable
from stratus.core.indexes import IndexHandle, index

REGISTERED = index("example.org", "v1", "widgets")


@REGISTERED
def widgets_by_colour(body: kopf.Body, **_: Any) -> dict[str, str] | None:
    colour = (body.get("spec") or {}).get("colour")
    return {colour: body["metadata"]["name"]} if colour else None


def kopf_function(name: str) -> Any:
    registry = kopf.get_default_registry()
    (handler,) = [h for h in registry._indexing.get_all_handlers() if h.id == name]
    return handler.fn


def test_an_object_that_stops_matching_gives_kopf_an_empty_mapping_not_none() -> None:
    """Kopf keeps the previous entries of an object whose index function returns None."""
    function = kopf_function("widgets_by_colour")
    red = kopf.Body({"metadata": {"name": "w"}, "spec": {"colour": "red"}})
    plain = kopf.Body({"metadata": {"name": "w"}, "spec": {}})
    assert function(body=red) == {"red": "w"}
    assert function(body=plain) == {}


def test_a_handle_reads_the_bound_index_and_says_when_there_is_none(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert isinstance(widgets_by_colour, IndexHandle)
    monkeypatch.setattr(indexes, "_bound", {})
    with pytest.raises(BackendUnavailable):
        widgets_by_colour.get("red")
    monkeypatch.setattr(indexes, "_bound", {"widgets_by_colour": {"red": ["w"]}})
    assert widgets_by_colour.get("red") == ["w"]
    assert widgets_by_colour.get("blue") == []
