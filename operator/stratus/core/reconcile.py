"""The one path every handler's work takes: read the object fresh under its key, run the work,
record the outcome in status, Events and metrics, and tell Kopf whether and when to retry."""

import contextlib
import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

import kopf
from kubernetes.client.exceptions import ApiException
from pydantic import BaseModel, ValidationError
from urllib3.exceptions import HTTPError

from stratus.api.crd import Kind
from stratus.constants import API_VERSION
from stratus.core import conditions, kube, workqueue
from stratus.core.errors import BackendUnavailable, StratusError
from stratus.core.metrics import RECONCILE_ERRORS, RECONCILE_TIME, RECONCILES

logger = logging.getLogger(__name__)
READY = "Ready"
RECONCILING = "Reconciling"
STALLED = "Stalled"
API_DETAIL_LIMIT = 300

ModelT = TypeVar("ModelT", bound=BaseModel)
Work = Callable[[kopf.Body], "Outcome"]


@dataclass(frozen=True)
class Check:
    """One condition a phase of the work owns, beside Ready (QuotaAdmitted, ...)."""

    holds: bool
    reason: str
    message: str = ""


@dataclass
class Outcome:
    """What a pass of a handler's work reports."""

    phase: str
    ready: bool = True
    reason: str = "Reconciled"
    message: str = ""
    fields: dict[str, Any] = field(default_factory=dict)
    checks: dict[str, Check] = field(default_factory=dict)
    """Conditions of the phases the work went through, by type."""
    failed: bool = False
    """The work stopped on a failure (a StratusError), not on a step still under way."""


def parse_spec(model: type[ModelT], body: Mapping[str, Any]) -> ModelT:
    """The spec as its model; what the API server admitted should always parse."""
    try:
        return model.model_validate(dict(body.get("spec") or {}))
    except ValidationError as error:
        raise StratusError("InvalidSpec", f"spec does not match the API: {error}") from error


def parse_status(model: type[ModelT], body: Mapping[str, Any]) -> ModelT:
    """The status as its model; what Stratus wrote always parses, what it did not is dropped."""
    try:
        return model.model_validate(dict(body.get("status") or {}))
    except ValidationError:
        return model.model_validate({})


def key_of(kind: Kind, body: Mapping[str, Any]) -> str:
    """The work queue's key of one object."""
    metadata = body["metadata"]
    return f"{kind.kind}/{metadata.get('namespace') or ''}/{metadata['name']}"


def deleting(body: Mapping[str, Any]) -> bool:
    return bool(body["metadata"].get("deletionTimestamp"))


API_UNREACHABLE_RETRY = 5.0
"""Seconds before a pass the API server did not answer is tried again."""


def reconcile(
    kind: Kind,
    body: Mapping[str, Any],
    work: Work,
    error_phase: str = "Error",
    retry: int = 0,
    *,
    deletion: bool = False,
) -> Outcome | None:
    """Run `work` on the object as the API has it now, then write status only where it changed
    and emit an Event on transitions. `retry` counts failed attempts in a row, for backoff.
    Returns the outcome, or None when there was nothing to do: the object is gone, or is being
    deleted and this is not the deletion's pass.

    One key, one pass at a time: an object's own handlers and the events of its children run
    in different threads. The object is read after the key is held, because whatever Kopf or
    an index handed over may be older than what the previous pass wrote (a reboot it already
    carried out must not be carried out again)."""
    try:
        return _reconcile(kind, body, work, error_phase, retry, deletion)
    except HTTPError as error:
        # Nothing can be read or recorded while the API server does not answer (restarting,
        # say): try again soon, without a status nobody could write.
        raise kopf.TemporaryError(
            f"the API server did not answer: {error}", delay=API_UNREACHABLE_RETRY
        ) from error
    except ApiException as error:
        # The object's own read refused while the API server starts (503: "before all known
        # HTTP paths have been installed") or sheds load (429): the same, not a crash.
        if error.status not in (429, 503):
            raise
        raise kopf.TemporaryError(
            f"the API server is not ready: {error.reason}", delay=API_UNREACHABLE_RETRY
        ) from error


def _reconcile(
    kind: Kind,
    body: Mapping[str, Any],
    work: Work,
    error_phase: str,
    retry: int,
    deletion: bool,
) -> Outcome | None:
    key = key_of(kind, body)
    with workqueue.hold(key):
        current = _read_current(kind, body)
        if current is None or deleting(current) != deletion:
            workqueue.forget(key)
            return None
        started = time.monotonic()
        try:
            outcome = work(current)
        except ApiException as error:
            outcome = _failed(kind, current, _api_failure(error), error_phase, retry)
        except StratusError as error:
            outcome = _failed(kind, current, error, error_phase, retry)
        finally:
            RECONCILE_TIME.labels(kind.kind).observe(time.monotonic() - started)
        record(kind, current, outcome)
        RECONCILES.labels(kind.kind, "success").inc()
        workqueue.forget(key)
        return outcome


def _read_current(kind: Kind, body: Mapping[str, Any]) -> kopf.Body | None:
    metadata = body["metadata"]
    found = kube.read(API_VERSION, kind.kind, metadata["name"], metadata.get("namespace"))
    if found is None:
        return None
    found.setdefault("status", {})
    return kopf.Body(cast(kopf.RawBody, found))


def commit_status(body: Mapping[str, Any], fields: dict[str, Any]) -> None:
    """Write status fields at once, for a step that must be on record before the next one
    (an admission before the quota lock is let go, the instance a reboot replaces before it is
    deleted), and keep the pass's view current so that the final record does not repeat them."""
    metadata = body["metadata"]
    kube.patch_status(
        API_VERSION, body["kind"], metadata["name"], metadata.get("namespace"), status=fields
    )
    status = body["status"]
    for name, value in fields.items():
        if value is None:
            status.pop(name, None)
        else:
            status[name] = value


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
    checks = {error.condition: Check(False, error.reason, error.message)} if error.condition else {}
    outcome = Outcome(
        phase=error.phase or phase,
        ready=False,
        reason=error.reason,
        message=error.message,
        checks=checks,
        failed=True,
    )
    record(kind, body, outcome)
    RECONCILE_ERRORS.labels(kind.kind).inc()
    delay = error.delay(retry)
    if delay is None:
        RECONCILES.labels(kind.kind, "error").inc()
        raise kopf.PermanentError(error.message) from error
    RECONCILES.labels(kind.kind, "requeue_after").inc()
    logger.info(
        "%s failed for now, again in %gs: %s",
        kind.kind,
        delay,
        error.message,
        extra={"k8s_ref": _reference(body), "k8s_skip": True},
    )
    raise kopf.TemporaryError(error.message, delay=delay) from error


def _reference(body: kopf.Body) -> dict[str, Any]:
    """The object a log line is about, as Kopf's own lines name it."""
    metadata = body["metadata"]
    return {
        "apiVersion": body.get("apiVersion"),
        "kind": body.get("kind"),
        "name": metadata.get("name"),
        "uid": metadata.get("uid"),
        "namespace": metadata.get("namespace"),
    }


def _condition_states(outcome: Outcome) -> list[tuple[str, bool, str, str]]:
    """Ready, and kstatus's abnormal-true pair that Flux and `kubectl wait` read: Reconciling
    while Stratus still works towards Ready, Stalled when it is in Error and needs someone to
    act (fix the spec, free capacity, raise a quota); then the work's own phase conditions."""
    stalled = not outcome.ready and outcome.phase == "Error"
    reconciling = not outcome.ready and not stalled
    states = [
        (READY, outcome.ready, outcome.reason, outcome.message),
        (RECONCILING, reconciling, outcome.reason, outcome.message if reconciling else ""),
        (STALLED, stalled, outcome.reason, outcome.message if stalled else ""),
    ]
    return states + [
        (type_, check.holds, check.reason, check.message) for type_, check in outcome.checks.items()
    ]


def _notable(previous: Mapping[str, Any] | None, outcome: Outcome) -> bool:
    """Worth an Event: Ready turning True or back to False, or a failure with a new reason.
    Steps on the way to Ready show in status only; an Event for each would double the
    writes of every boot."""
    was_ready = previous is not None and previous.get("status") == "True"
    new_reason = previous is None or previous.get("reason") != outcome.reason
    if outcome.failed or outcome.phase == "Error":
        return new_reason
    return outcome.ready != was_ready and (outcome.ready or previous is not None)


def record(kind: Kind, body: kopf.Body, outcome: Outcome) -> None:
    """Patch status with the outcome if anything differs; post an Event when it is notable."""
    metadata = body["metadata"]
    logger.debug(
        "Pass over %s: %s, %s: %s",
        kind.kind,
        outcome.phase,
        outcome.reason,
        outcome.message,
        extra={"k8s_ref": _reference(body), "k8s_skip": True},
    )
    current: Mapping[str, Any] = body.get("status") or {}
    generation = metadata.get("generation")
    previous = conditions.find(current.get("conditions") or [], READY)
    updated_conditions = list(current.get("conditions") or [])
    for type_, holds, reason, message in _condition_states(outcome):
        updated_conditions = conditions.set_condition(
            updated_conditions, type_, holds, reason, message, generation
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
    commit_status(body, changes)
    if _notable(previous, outcome):
        kopf.event(
            body,
            type="Normal" if outcome.ready else "Warning",
            reason=outcome.reason,
            message=outcome.message or f"{kind.kind} is {outcome.phase}",
        )
