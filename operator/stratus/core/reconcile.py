"""The one path every handler's work takes: run it, record the outcome in status, Events,
metrics, and tell Kopf whether and when to retry."""

import contextlib
import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import kopf
from kubernetes.client.exceptions import ApiException
from pydantic import BaseModel, ValidationError

from stratus.api.crd import Kind
from stratus.constants import API_VERSION
from stratus.core import conditions, kube
from stratus.core.errors import BackendUnavailable, StratusError
from stratus.core.locks import lock_for
from stratus.core.metrics import RECONCILE_ERRORS, RECONCILE_TIME, RECONCILES

READY = "Ready"
RECONCILING = "Reconciling"
STALLED = "Stalled"
API_DETAIL_LIMIT = 300

ModelT = TypeVar("ModelT", bound=BaseModel)


@dataclass
class Outcome:
    """What a successful pass of a handler's work reports."""

    phase: str
    ready: bool = True
    reason: str = "Reconciled"
    message: str = ""
    fields: dict[str, Any] = field(default_factory=dict)


def parse_spec(model: type[ModelT], body: kopf.Body) -> ModelT:
    """The spec as its model; what the API server admitted should always parse."""
    try:
        return model.model_validate(dict(body.get("spec") or {}))
    except ValidationError as error:
        raise StratusError("InvalidSpec", f"spec does not match the API: {error}") from error


def reconcile(
    kind: Kind,
    body: kopf.Body,
    work: Callable[[], Outcome],
    error_phase: str = "Error",
    retry: int = 0,
) -> None:
    """Run `work`, then write status only where it changed and emit an Event on transitions.
    `retry` is Kopf's count of failed attempts in a row, for failures that back off.

    One object is reconciled by one thread at a time: its own handlers and the events of
    its children run in different threads, and two passes at once could write their status
    in the wrong order, leaving the older reading in place."""
    with object_lock(kind, body["metadata"].get("namespace"), body["metadata"]["name"]):
        started = time.monotonic()
        try:
            outcome = work()
        except ApiException as error:
            outcome = _failed(kind, body, _api_failure(error), error_phase, retry)
        except StratusError as error:
            outcome = _failed(kind, body, error, error_phase, retry)
        finally:
            RECONCILE_TIME.labels(kind.kind).observe(time.monotonic() - started)
        record(kind, body, outcome)
        RECONCILES.labels(kind.kind, "success").inc()


def object_lock(kind: Kind, namespace: str | None, name: str) -> threading.RLock:
    return lock_for(f"{kind.kind}/{namespace or ''}/{name}")


def _api_failure(error: ApiException) -> StratusError:
    """The API server's own words say what to do (a missing permission, a namespace being
    deleted), so they go into the message."""
    detail = ""
    with contextlib.suppress(ValueError, TypeError, AttributeError):
        detail = str(json.loads(error.body or "{}").get("message") or "")
    return BackendUnavailable(
        f"ApiError{error.status or ''}",
        f"the Kubernetes API answered {error.status}: {error.reason}"
        + (f": {detail[:API_DETAIL_LIMIT]}" if detail else ""),
    )


def _failed(kind: Kind, body: kopf.Body, error: StratusError, phase: str, retry: int) -> Outcome:
    outcome = Outcome(
        phase=error.phase or phase, ready=False, reason=error.reason, message=error.message
    )
    record(kind, body, outcome)
    RECONCILE_ERRORS.labels(kind.kind).inc()
    delay = error.delay(retry)
    if delay is None:
        RECONCILES.labels(kind.kind, "error").inc()
        raise kopf.PermanentError(error.message) from error
    RECONCILES.labels(kind.kind, "requeue_after").inc()
    raise kopf.TemporaryError(error.message, delay=delay) from error


def _condition_states(outcome: Outcome) -> list[tuple[str, bool]]:
    """Ready, and kstatus's abnormal-true pair that Flux and `kubectl wait` read: Reconciling
    while Stratus still works towards Ready, Stalled when it is in Error and needs someone to
    act (fix the spec, free capacity, raise a quota)."""
    stalled = not outcome.ready and outcome.phase == "Error"
    return [
        (READY, outcome.ready),
        (RECONCILING, not outcome.ready and not stalled),
        (STALLED, stalled),
    ]


def record(kind: Kind, body: kopf.Body, outcome: Outcome) -> None:
    """Patch status with the outcome if anything differs; post an Event when Ready changes."""
    metadata = body["metadata"]
    current: Mapping[str, Any] = body.get("status") or {}
    generation = metadata.get("generation")
    previous = conditions.find(current.get("conditions") or [], READY)
    updated_conditions = list(current.get("conditions") or [])
    for type_, holds in _condition_states(outcome):
        updated_conditions = conditions.set_condition(
            updated_conditions,
            type_,
            holds,
            outcome.reason,
            outcome.message if holds or type_ == READY else "",
            generation,
        )
    desired = {
        "observedGeneration": generation,
        "phase": outcome.phase,
        "conditions": updated_conditions,
        **outcome.fields,
    }
    changes = {key: value for key, value in desired.items() if current.get(key) != value}
    if not changes:
        return
    kube.patch_status(
        API_VERSION, kind.kind, metadata["name"], metadata.get("namespace"), status=changes
    )
    if previous is None or (previous.get("reason"), previous.get("message")) != (
        outcome.reason,
        outcome.message,
    ):
        kopf.event(
            body,
            type="Normal" if outcome.ready else "Warning",
            reason=outcome.reason,
            message=outcome.message or f"{kind.kind} is {outcome.phase}",
        )
