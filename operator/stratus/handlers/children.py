"""Drift: a child changed or deleted behind Stratus's back brings its parent back to the spec.

Each parent kind registers how to compute its desired children and how to reconcile; a Kopf
index (`<plural>_by_name`) finds the parent of a child from the child's labels, so no LIST
is needed. Nothing is written unless the child really differs from what the builder wants.
"""

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import kopf

from stratus.api.crd import Kind
from stratus.builders.meta import ChildRef, Children
from stratus.constants import (
    API_VERSION,
    LABEL_KIND,
    LABEL_MANAGED_BY,
    LABEL_NAME,
    LABEL_NAMESPACE,
    MANAGED_BY,
)
from stratus.core import kube
from stratus.core.drift import covers
from stratus.core.errors import DependencyNotReady, StratusError
from stratus.core.reconcile import Outcome, object_lock, reconcile


@dataclass(frozen=True)
class Parent:
    kind: Kind
    children: Callable[[kopf.Body], Children]
    ensure: Callable[[kopf.Body], Outcome]
    observe: Callable[[kopf.Body], Outcome] | None = None
    """Status from the children as they are, without applying anything: run when a child
    changes without drifting (a claim binds, an import progresses)."""
    depends_on: Callable[[kopf.Body], list[str]] | None = None
    """Keys (dependency_key) of the Stratus objects this one waits for, so that a change to
    one of them reconciles it at once instead of on a timer."""


def dependency_key(kind: str, namespace: str, name: str) -> str:
    return f"{kind}/{namespace}/{name}"


def ready_dependency(
    kind: str, name: str, namespace: str, phases: tuple[str, ...], reason: str
) -> dict[str, Any]:
    """The Stratus object this one needs, in one of `phases`; otherwise DependencyNotReady,
    which a change to that object ends at once (dependency_event)."""
    found = kube.read(API_VERSION, kind, name, namespace)
    phase = ((found or {}).get("status") or {}).get("phase")
    if found is None or phase not in phases:
        state = "does not exist" if found is None else f"is {phase or 'not ready'}"
        raise DependencyNotReady(reason, f"{kind} {name} {state}")
    return found


def parent_key(namespace: str | None, name: str) -> str:
    """How `<plural>_by_name` indexes key a parent: name, or namespace/name."""
    return f"{namespace}/{name}" if namespace else name


PARENTS: dict[str, Parent] = {}

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
    key = parent_key(labels.get(LABEL_NAMESPACE), labels.get(LABEL_NAME, ""))
    for owner in index.get(key, []):
        if owner["metadata"].get("deletionTimestamp"):
            continue
        try:
            desired = parent.children(owner)
        except StratusError:
            continue  # the parent's own handler reports what is wrong with it
        if needs_reconcile(type, body, desired):
            run(parent.kind, owner, parent.ensure)
        elif parent.observe is not None:
            run(parent.kind, owner, parent.observe)


def run(kind: Kind, owner: kopf.Body, work: Callable[[kopf.Body], Outcome]) -> None:
    """Reconcile on another object's event, from the owner as the API has it now: an index's
    copy can be a step behind the owner's own last write, and work done from it could repeat
    what that write recorded as done (a reboot would replace the new instance). A failure is
    already in the owner's status and Events; it must not stop the other owners the same
    event concerns. An owner the index already shows going is skipped without a read."""
    if owner["metadata"].get("deletionTimestamp"):
        return
    name, namespace = owner["metadata"]["name"], owner["metadata"].get("namespace")
    with object_lock(kind, namespace, name):
        found = kube.read(API_VERSION, kind.kind, name, namespace)
        if found is None or found["metadata"].get("deletionTimestamp"):
            return
        current = kopf.Body(cast(kopf.RawBody, found))
        with contextlib.suppress(kopf.TemporaryError, kopf.PermanentError):
            reconcile(kind, current, lambda: work(current))


for group, version, plural in CHILD_RESOURCES:
    kopf.on.event(group, version, plural, labels={LABEL_MANAGED_BY: MANAGED_BY})(child_event)


def dependency_event(body: kopf.Body, **kwargs: Any) -> None:
    """A Stratus object changed: reconcile, at once, whoever waits for it and is not Ready."""
    metadata = body["metadata"]
    key = dependency_key(body["kind"], metadata.get("namespace") or "", metadata["name"])
    for parent in PARENTS.values():
        if parent.depends_on is None:
            continue
        index: kopf.Index[str, kopf.Body] = kwargs[f"{parent.kind.plural}_by_dependency"]
        for dependent in index.get(key, []):
            if not is_ready(dependent):
                run(parent.kind, dependent, parent.ensure)


def is_ready(body: kopf.Body) -> bool:
    conditions = (body.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def register_dependencies(group: str, version: str, plural: str) -> None:
    """Watch a kind others depend on (Image, Volume, Snapshot)."""
    kopf.on.event(group, version, plural)(dependency_event)
