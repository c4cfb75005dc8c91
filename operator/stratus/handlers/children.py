"""Drift: a child changed or deleted behind Stratus's back brings its parent back to the spec.

Each parent kind registers how to compute its desired children and how to reconcile; a Kopf
index (`<plural>_by_name`) finds the parent of a child from the child's labels, so no LIST
is needed. Nothing is written unless the child really differs from what the builder wants.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import kopf

from stratus.api.crd import Kind
from stratus.builders.meta import ChildRef, Children
from stratus.constants import LABEL_KIND, LABEL_MANAGED_BY, LABEL_NAME, MANAGED_BY
from stratus.core.drift import covers
from stratus.core.errors import StratusError
from stratus.core.reconcile import Outcome, reconcile


@dataclass(frozen=True)
class Parent:
    kind: Kind
    children: Callable[[kopf.Body], Children]
    ensure: Callable[[kopf.Body], Outcome]


PARENTS: dict[str, Parent] = {}

CHILD_RESOURCES = (
    ("", "v1", "namespaces"),
    ("", "v1", "resourcequotas"),
    ("networking.k8s.io", "v1", "networkpolicies"),
    ("rbac.authorization.k8s.io", "v1", "rolebindings"),
    ("instancetype.kubevirt.io", "v1beta1", "virtualmachineclusterinstancetypes"),
)


def register(parent: Parent) -> None:
    PARENTS[parent.kind.kind] = parent


def needs_reconcile(event: str | None, child: kopf.Body, desired: Children) -> bool:
    ref = ChildRef.of(child)
    if ref not in desired:
        return False
    wanted = desired[ref]
    if event == "DELETED":
        return wanted is not None
    return wanted is None or not covers(child, wanted)


def child_event(type: str | None, body: kopf.Body, labels: kopf.Labels, **kwargs: Any) -> None:
    parent = PARENTS.get(labels.get(LABEL_KIND, ""))
    if parent is None:
        return
    index: kopf.Index[str, kopf.Body] = kwargs[f"{parent.kind.plural}_by_name"]
    for owner in index.get(labels.get(LABEL_NAME, ""), []):
        if owner["metadata"].get("deletionTimestamp"):
            continue
        try:
            desired = parent.children(owner)
        except StratusError:
            continue  # the parent's own handler reports what is wrong with it
        if needs_reconcile(type, body, desired):
            restore(parent, owner)


def restore(parent: Parent, owner: kopf.Body) -> None:
    reconcile(parent.kind, owner, lambda: parent.ensure(owner))


for group, version, plural in CHILD_RESOURCES:
    kopf.on.event(group, version, plural, labels={LABEL_MANAGED_BY: MANAGED_BY})(child_event)
