"""One pass at a time per object, without tying up threads: the semantics of
controller-runtime's work queue, for Kopf's thread pool.

Kopf runs an object's own handlers, its timers and the events of its children in separate
threads. `hold` makes passes over one key exclusive (and re-entrant). `offer` is for passes
triggered by other objects' events: when the key is busy it only leaves the pass to the
thread at work, which runs it next, so a hundred events for one busy object hold one thread,
not a hundred. Passes are level-based (each reads the object fresh), so coalesced offers
lose nothing: the strongest one offered runs once. `requeue` retries a failed pass after a
delay, with the failure count kept for backoff. Idle keys leave no state behind.
"""

import contextlib
import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from enum import IntEnum

logger = logging.getLogger(__name__)
REQUEUE_THREADS = 4
"""Threads that start due retries; each runs its pass like an event's thread would."""


class Strength(IntEnum):
    """How much a pass does; a coalesced pass is the strongest one offered."""

    OBSERVE = 1
    """Report status from the children as they are."""
    ENSURE = 2
    """Apply the children the spec wants, then report."""
    RELEASE = 3
    """Finish a deletion."""


Pass = Callable[[], None]


@dataclass
class _Slot:
    ready: threading.Condition
    owner: int | None = None
    depth: int = 0
    waiters: int = 0
    queued: tuple[Strength, Pass] | None = None


_guard = threading.Lock()
_slots: dict[str, _Slot] = {}


def _slot(key: str) -> _Slot:
    slot = _slots.get(key)
    if slot is None:
        slot = _slots[key] = _Slot(threading.Condition(_guard))
    return slot


@contextlib.contextmanager
def hold(key: str) -> Iterator[None]:
    """Run the body while no other thread works on `key`; waits for one that does."""
    me = threading.get_ident()
    with _guard:
        slot = _slot(key)
        if slot.owner == me:
            slot.depth += 1
        else:
            slot.waiters += 1
            while slot.owner is not None:
                slot.ready.wait()
            slot.waiters -= 1
            slot.owner, slot.depth = me, 1
    try:
        yield
    finally:
        _leave(key, slot)


@contextlib.contextmanager
def hold_all(keys: Iterable[str]) -> Iterator[None]:
    """Hold every key, taken in one order so that two passes never wait for each other."""
    with contextlib.ExitStack() as stack:
        for key in sorted(set(keys)):
            stack.enter_context(hold(key))
        yield


def offer(key: str, strength: Strength, work: Pass) -> None:
    """Run `work` now if nobody works on `key`; otherwise leave it (or a stronger pass already
    left) for the thread at work, and return at once."""
    me = threading.get_ident()
    with _guard:
        slot = _slot(key)
        if slot.owner is not None and slot.owner != me:
            if slot.queued is None or slot.queued[0] <= strength:
                slot.queued = (strength, work)
            return
        if slot.owner == me:
            slot.depth += 1
        else:
            slot.owner, slot.depth = me, 1
    try:
        work()
    finally:
        _leave(key, slot)


def _leave(key: str, slot: _Slot) -> None:
    """Release `key`, first running what was left for it unless a blocked holder is waiting:
    that holder then runs it when it leaves."""
    while True:
        with _guard:
            if slot.depth > 1:
                slot.depth -= 1
                return
            queued = slot.queued if not slot.waiters else None
            if queued is None:
                slot.owner, slot.depth = None, 0
                if slot.waiters:
                    slot.ready.notify()
                elif slot.queued is None:
                    del _slots[key]
                return
            slot.queued = None
        try:
            queued[1]()
        except Exception:  # a failed queued pass must not keep the key held for good
            logger.exception("a pass left for %s failed", key)


def busy_keys() -> int:
    """How many keys have state (held, waited for or queued): zero when idle."""
    with _guard:
        return len(_slots)


# --- retries -------------------------------------------------------------------------------


@dataclass(order=True)
class _Retry:
    due: float
    sequence: int
    key: str = field(compare=False)
    strength: Strength = field(compare=False)
    work: Pass = field(compare=False)


_retries_guard = threading.Condition()
_due: list[_Retry] = []
_scheduled: dict[str, _Retry] = {}
_failures: dict[str, int] = {}
_sequence = itertools.count()
_runner: list[threading.Thread] = []
_executor = ThreadPoolExecutor(max_workers=REQUEUE_THREADS, thread_name_prefix="requeue")


def failures(key: str) -> int:
    """Failed passes over `key` in a row, for backoff."""
    with _retries_guard:
        return _failures.get(key, 0)


def requeue(key: str, delay: float, strength: Strength, work: Pass) -> None:
    """Offer `work` again after `delay` seconds, counting one more failure; an earlier retry
    already scheduled for the key stands, made at least as strong."""
    with _retries_guard:
        _failures[key] = _failures.get(key, 0) + 1
        due = time.monotonic() + max(delay, 0.0)
        existing = _scheduled.get(key)
        if existing is not None and existing.due <= due:
            if existing.strength < strength:
                existing.strength, existing.work = strength, work
            return
        retry = _Retry(due, next(_sequence), key, strength, work)
        _scheduled[key] = retry
        heapq.heappush(_due, retry)
        if not _runner:
            _runner.append(threading.Thread(target=_run_due, name="requeue-timer", daemon=True))
            _runner[0].start()
        _retries_guard.notify()


def forget(key: str) -> None:
    """The key reconciled: no retry is owed and the failure count starts again."""
    with _retries_guard:
        _failures.pop(key, None)
        _scheduled.pop(key, None)


def scheduled_retries() -> int:
    with _retries_guard:
        return len(_scheduled)


def _run_due() -> None:
    while True:
        with _retries_guard:
            while not _due or _due[0].due > time.monotonic():
                _retries_guard.wait(_due[0].due - time.monotonic() if _due else None)
            retry = heapq.heappop(_due)
            if _scheduled.get(retry.key) is not retry:
                continue  # forgotten, or replaced by an earlier one
            del _scheduled[retry.key]
        _executor.submit(offer, retry.key, retry.strength, retry.work)
