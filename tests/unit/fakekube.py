"""An in-memory stand-in for stratus.core.kube, for unit tests of passes over a few objects:
reads return copies, status patches merge, deletes honour a uid precondition."""

import copy
import itertools
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from stratus.core import kube

Manifest = dict[str, Any]
Key = tuple[str, str | None, str]


class FakeKube:
    def __init__(self) -> None:
        self.objects: dict[Key, Manifest] = {}
        self.calls: Counter[str] = Counter()
        self.deleted: list[tuple[str, str, str | None]] = []
        """(kind, name, uid) of every delete that removed something."""
        self.on_delete: dict[str, Callable[[Manifest], None]] = {}
        """By kind: what a controller does after an object of that kind is deleted."""
        self._uids = itertools.count(1)

    def add(self, manifest: Manifest) -> Manifest:
        metadata = manifest.setdefault("metadata", {})
        metadata.setdefault("uid", f"uid-{next(self._uids)}")
        metadata.setdefault("generation", 1)
        metadata["resourceVersion"] = str(next(self._uids))
        key = (manifest["kind"], metadata.get("namespace"), metadata["name"])
        self.objects[key] = manifest
        return manifest

    def get(self, kind: str, name: str, namespace: str | None = None) -> Manifest | None:
        return self.objects.get((kind, namespace, name))

    def read(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> Any:
        self.calls["get"] += 1
        found = self.get(kind, name, namespace)
        return copy.deepcopy(found) if found is not None else None

    def list_objects(
        self, api_version: str, kind: str, namespace: str, label_selector: str = ""
    ) -> list[Manifest]:
        self.calls["list"] += 1
        return [
            copy.deepcopy(o)
            for (k, ns, _), o in self.objects.items()
            if (k, ns) == (kind, namespace)
        ]

    def list_names(
        self, api_version: str, kind: str, namespace: str, label_selector: str = ""
    ) -> list[str]:
        return [o["metadata"]["name"] for o in self.list_objects(api_version, kind, namespace)]

    def patch_status(
        self, api_version: str, kind: str, name: str, namespace: str | None, *, status: Manifest
    ) -> None:
        self.calls["patch_status"] += 1
        found = self.objects[(kind, namespace, name)]
        current = found.setdefault("status", {})
        for field, value in copy.deepcopy(status).items():
            if value is None:
                current.pop(field, None)
            else:
                current[field] = value

    def delete(
        self,
        api_version: str,
        kind: str,
        name: str,
        namespace: str | None = None,
        *,
        uid: str | None = None,
        foreground: bool = False,
    ) -> None:
        self.calls["delete"] += 1
        found = self.objects.get((kind, namespace, name))
        if found is None or (uid is not None and found["metadata"]["uid"] != uid):
            return
        del self.objects[(kind, namespace, name)]
        self.deleted.append((kind, name, found["metadata"]["uid"]))
        if kind in self.on_delete:
            self.on_delete[kind](found)

    def create(self, manifest: Manifest) -> Manifest:
        """Refuses a second object of the same name with 409, as the API server does."""
        self.calls["create"] += 1
        metadata = manifest["metadata"]
        if self.get(manifest["kind"], metadata["name"], metadata.get("namespace")) is not None:
            raise ApiException(status=409, reason="AlreadyExists")
        return copy.deepcopy(self.add(copy.deepcopy(manifest)))

    def remove_finalizer(self, body: Manifest, finalizer: str) -> None:
        self.calls["remove_finalizer"] += 1
        metadata = body["metadata"]
        found = self.get(body["kind"], metadata["name"], metadata.get("namespace"))
        if found is not None:
            found["metadata"]["finalizers"] = [
                f for f in found["metadata"].get("finalizers") or [] if f != finalizer
            ]

    def install(self, monkeypatch: pytest.MonkeyPatch) -> "FakeKube":
        for name in ("read", "list_objects", "list_names", "patch_status", "delete", "create"):
            monkeypatch.setattr(kube, name, getattr(self, name))
        monkeypatch.setattr(kube, "remove_finalizer", self.remove_finalizer)
        return self
