"""Drift and dependencies: a child changed or deleted behind Stratus's back brings its parent
back to the spec, a child gone may end its deleted parent's wait, and a Stratus object that
changes wakes whoever waits for it. Nothing is written unless the child really differs from
what the builder wants."""

from typing import Any

import kopf

from stratus.builders.meta import ChildRef, Children
from stratus.constants import (
    GROUP,
    LABEL_KIND,
    LABEL_MANAGED_BY,
    LABEL_NAME,
    LABEL_NAMESPACE,
    MANAGED_BY,
    VERSION,
)
from stratus.core.conditions import is_ready
from stratus.core.drift import covers
from stratus.core.errors import StratusError
from stratus.core.parents import PARENTS, dependency_key, finish_deletion, parent_key, run
from stratus.core.reconcile import deleting
from stratus.core.workqueue import Strength

CHILD_RESOURCES = (
    ("", "v1", "namespaces"),
    ("", "v1", "resourcequotas"),
    ("networking.k8s.io", "v1", "networkpolicies"),
    ("rbac.authorization.k8s.io", "v1", "rolebindings"),
    ("", "v1", "persistentvolumeclaims"),
    ("instancetype.kubevirt.io", "v1beta1", "virtualmachineclusterinstancetypes"),
    ("cdi.kubevirt.io", "v1beta1", "datavolumes"),
    ("snapshot.storage.k8s.io", "v1", "volumesnapshots"),
    ("k8s.cni.cncf.io", "v1", "network-attachment-definitions"),
    ("", "v1", "secrets"),
    ("", "v1", "pods"),
    ("kubevirt.io", "v1", "virtualmachines"),
)


def needs_reconcile(event: str | None, child: kopf.Body, desired: Children) -> bool:
    ref = ChildRef.of(child)
    if ref not in desired:
        return False
    wanted = desired[ref]
    if event == "DELETED":
        return wanted is not None
    return wanted is None or not covers(child, wanted)


def child_event(type: str | None, body: kopf.Body, labels: kopf.Labels, **_: Any) -> None:
    parent = PARENTS.get(labels.get(LABEL_KIND, ""))
    if parent is None:
        return
    key = parent_key(labels.get(LABEL_NAMESPACE), labels.get(LABEL_NAME, ""))
    for owner in parent.by_name.get(key):
        if deleting(owner):
            if type == "DELETED":
                finish_deletion(parent, owner)
            continue
        try:
            desired = parent.children(owner)
        except StratusError:
            continue  # the parent's own handler reports what is wrong with it
        if needs_reconcile(type, body, desired):
            run(parent.kind, owner, parent.ensure, Strength.ENSURE)
        elif parent.observe is not None:
            run(parent.kind, owner, parent.observe)


for group, version, plural in CHILD_RESOURCES:
    kopf.on.event(group, version, plural, labels={LABEL_MANAGED_BY: MANAGED_BY})(child_event)


def dependency_event(body: kopf.Body, **_: Any) -> None:
    """A Stratus object changed: reconcile, at once, whoever waits for it and is not Ready."""
    metadata = body["metadata"]
    key = dependency_key(body["kind"], metadata.get("namespace") or "", metadata["name"])
    for parent in PARENTS.values():
        if parent.by_dependency is None:
            continue
        for dependent in parent.by_dependency.get(key):
            if not is_ready(dependent):
                run(parent.kind, dependent, parent.ensure, Strength.ENSURE)


DEPENDED_ON = ("flavors", "images", "keypairs", "networks", "servergroups", "snapshots", "volumes")
"""The kinds others wait for."""

for plural in DEPENDED_ON:
    kopf.on.event(GROUP, VERSION, plural)(dependency_event)
