"""Drift and dependencies: a child changed or deleted behind Stratus's back brings its parent
back to the spec, a child gone may end its deleted parent's wait, and a Stratus object that
changes wakes whoever waits for it. Nothing is written unless the child really differs from
what the builder wants."""

from typing import Any

import kopf

from stratus.api import KINDS
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
from stratus.core.conditions import is_ready, ready
from stratus.core.drift import covers
from stratus.core.errors import StratusError
from stratus.core.parents import PARENTS, dependency_key, finish_deletion, parent_key, run
from stratus.core.reconcile import deleting
from stratus.core.workqueue import Strength

CHILD_RESOURCES = (
    ("", "v1", "namespaces"),
    ("", "v1", "resourcequotas"),
    ("networking.k8s.io", "v1", "networkpolicies"),
    ("k8s.cni.cncf.io", "v1beta1", "multi-networkpolicies"),
    ("rbac.authorization.k8s.io", "v1", "rolebindings"),
    ("rbac.authorization.k8s.io", "v1", "clusterroles"),
    ("rbac.authorization.k8s.io", "v1", "clusterrolebindings"),
    ("", "v1", "persistentvolumeclaims"),
    ("instancetype.kubevirt.io", "v1beta1", "virtualmachineclusterinstancetypes"),
    ("cdi.kubevirt.io", "v1beta1", "datavolumes"),
    ("snapshot.storage.k8s.io", "v1", "volumesnapshots"),
    ("k8s.cni.cncf.io", "v1", "network-attachment-definitions"),
    ("", "v1", "secrets"),
    ("", "v1", "configmaps"),
    ("", "v1", "services"),
    ("discovery.k8s.io", "v1", "endpointslices"),
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


_checked: dict[str, int | None] = {}
"""Per child (uid), what its last event showed of what a builder sets: its generation with
its labels and annotations, or None for kinds without a generation, always compared."""


def _signature(child: kopf.Body) -> int | None:
    metadata = child["metadata"]
    if metadata.get("generation") is None:
        return None
    return hash(
        (
            metadata["generation"],
            tuple(sorted((metadata.get("labels") or {}).items())),
            tuple(sorted((metadata.get("annotations") or {}).items())),
        )
    )


def _maybe_drifted(type: str | None, child: kopf.Body) -> bool | None:
    """Whether the child may no longer be what its builder wants; None when the event needs
    no pass at all. Status updates (the data plane reporting) leave the generation alone, so
    they only need the parent to observe; the first sight of a child, at start-up, is the
    owner's own resume pass to check."""
    uid = child["metadata"]["uid"]
    if type == "DELETED":
        _checked.pop(uid, None)
        return True
    signature = _signature(child)
    known = uid in _checked
    previous = _checked.get(uid)
    _checked[uid] = signature
    if type is None and not known:
        return None
    if signature is None:
        return True
    return known and signature != previous


def child_event(type: str | None, body: kopf.Body, labels: kopf.Labels, **_: Any) -> None:
    parent = PARENTS.get(labels.get(LABEL_KIND, ""))
    if parent is None:
        return
    drifted = _maybe_drifted(type, body)
    if drifted is None:
        return
    key = parent_key(labels.get(LABEL_NAMESPACE), labels.get(LABEL_NAME, ""))
    for owner in parent.by_name.get(key):
        if deleting(owner):
            if type == "DELETED":
                finish_deletion(parent, owner)
            continue
        if drifted:
            try:
                desired = parent.children(owner)
            except StratusError:
                continue  # the parent's own handler reports what is wrong with it
            if needs_reconcile(type, body, desired):
                run(parent.kind, owner, parent.ensure, Strength.ENSURE)
                continue
        if parent.observe is not None:
            run(parent.kind, owner, parent.observe)


for group, version, plural in CHILD_RESOURCES:
    kopf.on.event(group, version, plural, labels={LABEL_MANAGED_BY: MANAGED_BY})(child_event)


_readiness: dict[str, tuple[Any, ...]] = {}
"""Per Stratus object others wait for, what they wait for in it: a change elsewhere in its
status (a Network's count of ports, say) wakes nobody."""


def _readiness_of(body: kopf.Body) -> tuple[Any, ...]:
    status = body.get("status") or {}
    ready_now = ready(body) or {}
    return (
        body["metadata"].get("generation"),
        deleting(body),
        status.get("phase"),
        ready_now.get("status"),
        ready_now.get("reason"),
        status.get("attachedTo"),
    )


def dependency_event(type: str | None, body: kopf.Body, **_: Any) -> None:
    """A Stratus object changed in a way its dependents wait for: reconcile, at once, whoever
    waits for it and is not Ready. The first sight of it, at start-up, wakes nobody: every
    dependent has its own resume pass then."""
    metadata = body["metadata"]
    key = dependency_key(body["kind"], metadata.get("namespace") or "", metadata["name"])
    if type == "DELETED":
        _readiness.pop(key, None)
    else:
        state = _readiness_of(body)
        known = key in _readiness
        if _readiness.get(key) == state:
            return
        _readiness[key] = state
        if type is None and not known:
            return
    for parent in PARENTS.values():
        if parent.by_dependency is None:
            continue
        for dependent in parent.by_dependency.get(key):
            if not is_ready(dependent):
                run(parent.kind, dependent, parent.ensure, Strength.ENSURE)


DEPENDED_ON = (
    "buckets",
    "flavors",
    "images",
    "keypairs",
    "networks",
    "securitygroups",
    "servergroups",
    "snapshots",
    "volumebackups",
    "volumes",
)
"""The kinds others wait for."""

for plural in DEPENDED_ON:
    kopf.on.event(GROUP, VERSION, plural)(dependency_event)


def being_deleted(body: kopf.Body, **_: Any) -> bool:
    return deleting(body)


def deletion_resumed(body: kopf.Body, **_: Any) -> None:
    """At start, a deletion that waits for an event is looked at again at once: the event may
    have come while no operator ran (a holder's Port deleted with its namespace), and Kopf
    would otherwise sleep until the wait's safety-net retry."""
    parent = PARENTS.get(body["kind"])
    if parent is not None:
        finish_deletion(parent, body)


for kind in KINDS:
    kopf.on.resume(GROUP, VERSION, kind.plural, deleted=True, when=being_deleted)(deletion_resumed)
