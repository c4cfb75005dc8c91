"""Metadata every child carries: Stratus labels and an ownerReference to its parent."""

import base64
from dataclasses import dataclass
from typing import Any

from stratus.constants import (
    API_VERSION,
    LABEL_KIND,
    LABEL_MANAGED_BY,
    LABEL_NAME,
    LABEL_NAMESPACE,
    MANAGED_BY,
)

Manifest = dict[str, Any]


@dataclass(frozen=True)
class ChildRef:
    """Where a child lives; a parent's desired children are keyed by it."""

    api_version: str
    kind: str
    name: str
    namespace: str | None = None

    @classmethod
    def of(cls, manifest: Any) -> "ChildRef":
        metadata = manifest["metadata"]
        return cls(
            manifest["apiVersion"], manifest["kind"], metadata["name"], metadata.get("namespace")
        )


Children = dict[ChildRef, Manifest | None]
"""A parent's children as the builders want them; None: that child must not exist."""


@dataclass(frozen=True)
class Owner:
    """The Stratus object a child belongs to."""

    kind: str
    name: str
    uid: str
    namespace: str | None = None

    @classmethod
    def of(cls, body: Any) -> "Owner":
        metadata = body["metadata"]
        return cls(body["kind"], metadata["name"], metadata["uid"], metadata.get("namespace"))

    def labels(self) -> dict[str, str]:
        labels = {LABEL_MANAGED_BY: MANAGED_BY, LABEL_KIND: self.kind, LABEL_NAME: self.name}
        if self.namespace:
            labels[LABEL_NAMESPACE] = self.namespace
        return labels

    def reference(self) -> Manifest:
        return {
            "apiVersion": API_VERSION,
            "kind": self.kind,
            "name": self.name,
            "uid": self.uid,
            "controller": True,
            "blockOwnerDeletion": False,
        }


def child(
    api_version: str,
    kind: str,
    name: str,
    owner: Owner,
    namespace: str | None = None,
    labels: dict[str, str] | None = None,
) -> Manifest:
    """The skeleton of a child manifest, labelled as Stratus's and owned by `owner` where the
    API allows it (an ownerReference cannot cross namespaces; those children are released
    explicitly)."""
    metadata: Manifest = {"name": name, "labels": {**owner.labels(), **(labels or {})}}
    if owner.namespace is None or owner.namespace == namespace:
        metadata["ownerReferences"] = [owner.reference()]
    if namespace:
        metadata["namespace"] = namespace
    return {"apiVersion": api_version, "kind": kind, "metadata": metadata}


def secret_value(text: str) -> str:
    """Secret data as the API stores it (base64), so that a re-read compares equal."""
    return base64.b64encode(text.encode()).decode()


def read_secret_value(encoded: str) -> str:
    return base64.b64decode(encoded).decode()
