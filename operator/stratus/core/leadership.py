"""Leader election through a `coordination.k8s.io` Lease, as client-go and controller-runtime
do it: one replica holds the Lease and reconciles; the others read it every retry period and
take it once it has not been renewed for a lease duration, timed by their own clock from the
moment they saw it change (clocks of different machines are never compared). A leader that
cannot renew for the renew deadline, shorter than the lease duration, gives up before anyone
else may take over, so two replicas never write at the same time."""

import logging
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from stratus.core import kube

logger = logging.getLogger(__name__)

LEASE_API = "coordination.k8s.io/v1"


@dataclass(frozen=True)
class Timings:
    """controller-runtime's defaults."""

    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0
    request_timeout: float = 5.0


def identity() -> str:
    """The pod's name and a random tail: a restarted pod is a new candidate, as in client-go."""
    return f"{socket.gethostname()}_{uuid.uuid4().hex[:12]}"


def micro_time(moment: datetime) -> str:
    """A Lease's MicroTime, which the API server parses with exactly six fractional digits."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class LeaseElection:
    namespace: str
    name: str
    holder: str = field(default_factory=identity)
    timings: Timings = field(default_factory=Timings)
    clock: Callable[[], float] = time.monotonic
    observed: tuple[Any, ...] | None = None
    """The record (holder, renew time, transitions) as last read; a change restarts the wait."""
    observed_at: float = 0.0

    def try_acquire_or_renew(self, timeout: float | None = None) -> bool:
        """One round: take the Lease if it is free or expired, renew it if held. False when
        another replica holds it, or when the API server refused or did not answer."""
        timeout = timeout or self.timings.request_timeout
        try:
            lease = kube.read(LEASE_API, "Lease", self.name, self.namespace, timeout=timeout)
            if lease is None:
                kube.create(self._lease(None), timeout=timeout)
                return True
            spec = lease.get("spec") or {}
            record = (
                spec.get("holderIdentity"),
                spec.get("renewTime"),
                spec.get("leaseTransitions"),
            )
            if record != self.observed:
                self.observed, self.observed_at = record, self.clock()
            holder = spec.get("holderIdentity")
            expired = self.clock() - self.observed_at >= self.timings.lease_duration
            if holder and holder != self.holder and not expired:
                return False
            kube.replace(self._lease(lease), timeout=timeout)
        except Exception as error:  # any failure is a failed round; the next one retries
            logger.debug("lease %s/%s: round failed: %s", self.namespace, self.name, error)
            return False
        return True

    def _lease(self, current: kube.Manifest | None) -> kube.Manifest:
        now = micro_time(datetime.now(UTC))
        spec = (current or {}).get("spec") or {}
        taken_over = spec.get("holderIdentity") != self.holder
        metadata: dict[str, Any] = {"name": self.name, "namespace": self.namespace}
        if current is not None:
            metadata["resourceVersion"] = current["metadata"]["resourceVersion"]
        return {
            "apiVersion": LEASE_API,
            "kind": "Lease",
            "metadata": metadata,
            "spec": {
                "holderIdentity": self.holder,
                "leaseDurationSeconds": int(self.timings.lease_duration),
                "acquireTime": now if taken_over else spec.get("acquireTime", now),
                "renewTime": now,
                "leaseTransitions": int(spec.get("leaseTransitions") or 0)
                + (1 if taken_over and current is not None else 0),
            },
        }

    @property
    def taken_by_another(self) -> bool:
        return bool(self.observed and self.observed[0] and self.observed[0] != self.holder)

    def acquire(self) -> None:
        """Wait until this replica leads."""
        logger.info("waiting for the lease %s/%s as %s", self.namespace, self.name, self.holder)
        while not self.try_acquire_or_renew():
            time.sleep(self.timings.retry_period)
        logger.info("leading: took the lease %s/%s as %s", self.namespace, self.name, self.holder)

    def keep(self, lost: Callable[[], None]) -> "Renewal":
        """Renew every retry period in the background; call `lost` once renewals have failed
        for the renew deadline, or another replica holds the Lease."""
        renewal = Renewal(self, lost)
        renewal.start()
        return renewal

    def release(self) -> None:
        """Hand the Lease over at once, as client-go's ReleaseOnCancel does: a free holder and
        a one-second duration, so a follower need not wait for it to expire."""
        try:
            lease = kube.read(LEASE_API, "Lease", self.name, self.namespace)
            if lease is None or (lease.get("spec") or {}).get("holderIdentity") != self.holder:
                return
            released = self._lease(lease)
            released["spec"] |= {"holderIdentity": "", "leaseDurationSeconds": 1}
            kube.replace(released, timeout=self.timings.request_timeout)
            logger.info("released the lease %s/%s", self.namespace, self.name)
        except Exception as error:  # it expires on its own
            logger.warning("could not release the lease: %s; it expires on its own", error)


class Renewal(threading.Thread):
    def __init__(self, election: LeaseElection, lost: Callable[[], None]) -> None:
        super().__init__(name="lease-renewal", daemon=True)
        self.election = election
        self.lost = lost
        self.stopped = threading.Event()

    def run(self) -> None:
        timings = self.election.timings
        renewed = self.election.clock()
        while not self.stopped.wait(timings.retry_period):
            attempt = self.election.clock()
            left = timings.renew_deadline - (attempt - renewed)
            if left > 0 and self.election.try_acquire_or_renew(
                timeout=max(0.5, min(timings.request_timeout, left))
            ):
                renewed = attempt
            elif (
                self.election.taken_by_another
                or self.election.clock() - renewed >= timings.renew_deadline
            ):
                logger.error(
                    "lost the lease %s/%s: last renewed %.1fs ago, now held by %s",
                    self.election.namespace,
                    self.election.name,
                    self.election.clock() - renewed,
                    self.election.observed[0] if self.election.observed else None,
                )
                self.lost()
                return

    def stop(self) -> None:
        self.stopped.set()
        self.join()
