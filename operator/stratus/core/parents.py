"""Parents and their children: how each kind computes its desired children, and the passes
that other objects' events start (drift, a dependency turning ready, a deletion's wait ending).

Each parent kind registers itself here; a Kopf index (`by_name`) finds the parent of a child
from the child's labels, so no LIST is needed. Passes started by events are offered to the
work queue: coalesced per object, and retried with backoff when they fail for a while.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import kopf
from kubernetes.client.exceptions import ApiException

from stratus.api.crd import Kind
from stratus.builders.meta import Children
from stratus.constants import FINALIZER
from stratus.core import kube, workqueue
from stratus.core.indexes import IndexHandle
from stratus.core.reconcile import Outcome, Work, deleting, key_of, reconcile
from stratus.core.workqueue import Strength


@dataclass(frozen=True)
class Parent:
    kind: Kind
    by_name: IndexHandle[kopf.Body]
    """The index of this kind by parent_key, which finds a child's parent from its labels."""
    children: Callable[[kopf.Body], Children]
    ensure: Work
    observe: Work | None = None
    """Status from the children as they are, without applying anything: run when a child
    changes without drifting (a claim binds, an import progresses)."""
    release: Work | None = None
    """The deletion's work, run again when an event may end what it waits for (a child gone,
    an attachment ended), so that a deletion never waits for a timer."""
    depends_on: Callable[[kopf.Body], list[str]] | None = None
    """Keys (dependency_key) of the Stratus objects this one waits for, so that a change to
    one of them reconciles it at once instead of on a timer."""
    by_dependency: IndexHandle[kopf.Body] | None = None
    """The index of this kind by the dependency keys of depends_on."""
    waiting_phase: Callable[[Mapping[str, Any]], str] = lambda _: "Error"
    """The phase a pass that fails for now leaves the object in, the same whether the
    object's own handler or another object's event started it."""


PARENTS: dict[str, Parent] = {}
FINALIZER_RETRY = 1.0


def register(parent: Parent) -> None:
    PARENTS[parent.kind.kind] = parent


def parent_key(namespace: str | None, name: str) -> str:
    """How `by_name` indexes key a parent: name, or namespace/name."""
    return f"{namespace}/{name}" if namespace else name


def dependency_key(kind: str, namespace: str, name: str) -> str:
    return f"{kind}/{namespace}/{name}"


def run(
    kind: Kind, owner: Mapping[str, Any], work: Work, strength: Strength = Strength.OBSERVE
) -> None:
    """Reconcile on another object's event. A failure is already in the owner's status and
    Events; a temporary one is retried with backoff, whatever event started the pass. An
    owner the index already shows going is left to its deletion."""
    if deleting(owner):
        return
    workqueue.offer(key_of(kind, owner), strength, lambda: _attempt(kind, owner, work, strength))


def own_pass(kind: Kind, body: Mapping[str, Any], work: Work) -> None:
    """An object's own create, update or resume handler. A pass that fails for now is retried
    by the work queue, like the passes other objects' events start, so each object has one
    retry: a dependency turning ready runs the pass at once and ends the wait, where Kopf's
    own retry would still come later and write Kopf's bookkeeping to an object already Ready."""
    _attempt(kind, body, work, Strength.ENSURE)


def finish_deletion(parent: Parent, owner: Mapping[str, Any]) -> None:
    """Something a deleted owner waits for may have happened: run its deletion's work now, and
    let it go when that work is done (Kopf would only look again when its delay ran out)."""
    if parent.release is None or not deleting(owner):
        return
    release = parent.release
    workqueue.offer(
        key_of(parent.kind, owner),
        Strength.RELEASE,
        lambda: _attempt(parent.kind, owner, release, Strength.RELEASE),
    )


def wake(parent: Parent, owner: Mapping[str, Any], work: Work) -> None:
    """Something the owner waits for or reports on changed: a deleted owner's deletion may
    finish now; any other owner runs `work`."""
    if deleting(owner):
        finish_deletion(parent, owner)
    else:
        run(parent.kind, owner, work)


def _attempt(kind: Kind, owner: Mapping[str, Any], work: Work, strength: Strength) -> None:
    key = key_of(kind, owner)
    deletion = strength is Strength.RELEASE
    parent = PARENTS.get(kind.kind)
    phase = "Error" if parent is None else parent.waiting_phase(owner)
    phase = "Deleting" if deletion else phase
    finished: list[kopf.Body] = []

    def tracked(current: kopf.Body) -> Outcome:
        outcome = work(current)
        finished.append(current)
        return outcome

    try:
        reconcile(
            kind,
            owner,
            tracked,
            phase,
            workqueue.failures(key),
            deletion=deletion,
        )
    except kopf.TemporaryError as error:
        workqueue.requeue(
            key, error.delay or 0.0, strength, lambda: _attempt(kind, owner, work, strength)
        )
    except kopf.PermanentError:
        workqueue.forget(key)
    if deletion and finished:
        try:
            kube.remove_finalizer(finished[0], FINALIZER)
        except ApiException:  # the finalizers changed since the read: look again
            workqueue.requeue(
                key, FINALIZER_RETRY, strength, lambda: _attempt(kind, owner, work, strength)
            )
