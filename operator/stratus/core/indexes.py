"""Kopf indexes as named handles: a handler module declares an index with `index(...)` and
everyone else refers to the handle it returns, so a misspelt index fails at import instead
of as a KeyError in a handler. Kopf hands its live index objects to the startup handler,
which binds them here once; from then on they stay current."""

import functools
from collections.abc import Callable, Mapping
from typing import Any, Generic, TypeVar

import kopf

from stratus.core.errors import BackendUnavailable

V = TypeVar("V")
_bound: dict[str, Any] = {}


class IndexHandle(Generic[V]):
    """One Kopf index, by the name Kopf knows it under (its function's name)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def get(self, key: Any) -> list[V]:
        """The values indexed under `key` (a copy: the live index may change meanwhile)."""
        return list(self.index().get(key, []))

    def index(self) -> Mapping[Any, Any]:
        found = _bound.get(self.name)
        if found is None:
            raise BackendUnavailable("IndexNotReady", f"the {self.name} index is not loaded yet")
        index: Mapping[Any, Any] = found
        return index


def index(
    group: str, version: str, plural: str, **filters: Any
) -> Callable[[Callable[..., Any]], IndexHandle[Any]]:
    """Register a Kopf index and return its handle in place of the function."""

    def register(function: Callable[..., Any]) -> IndexHandle[Any]:
        @functools.wraps(function)
        def indexed(**kwargs: Any) -> Any:
            # Kopf keeps an object's previous entries when its function returns None; only
            # an empty mapping takes them out, so an object that stops matching is dropped.
            found = function(**kwargs)
            return {} if found is None else found

        kopf.index(group, version, plural, **filters)(indexed)
        return IndexHandle(function.__name__)

    return register


def bind(indexes: Mapping[str, Any]) -> None:
    """Keep the index objects Kopf passes to handlers (the startup handler gets them all)."""
    _bound.update({name: found for name, found in indexes.items() if isinstance(found, kopf.Index)})
