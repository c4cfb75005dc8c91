"""What every scenario stands on: the cluster as its administrator reaches it, the operator
process, the API server's audit log of the operator's requests, and trackers that watch
objects to time what a user waits for."""

import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, cast

import yaml
from kubernetes import client, config, watch
from kubernetes.client.exceptions import ApiException
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from urllib3.exceptions import ProtocolError

from devcluster.cluster import State, kubectl, run_kubectl
from devcluster.operator import OperatorProcess
from stratus.core.conditions import is_ready

Manifest = dict[str, Any]
KUBECTL_STEP = 240
"""Seconds one `kubectl wait` may take: devcluster stops any kubectl after 300."""
WRITE_VERBS = frozenset({"create", "update", "patch", "delete", "deletecollection"})
STRATUS = ("stratus.io", "v1alpha1")
KUBEVIRT = ("kubevirt.io", "v1")


def vm_ready(body: Manifest) -> bool:
    """A VirtualMachine running and ready, as KubeVirt reports it."""
    status = body.get("status") or {}
    return status.get("printableStatus") == "Running" and bool(status.get("ready"))


@dataclass
class Tracker:
    """One kind in one namespace, watched from the moment it starts: when each object was
    first seen, first ready, and gone, on the monotonic clock."""

    custom: client.CustomObjectsApi
    group_version: tuple[str, str]
    plural: str
    namespace: str
    ready: Callable[[Manifest], bool] = is_ready
    objects: dict[str, Manifest] = field(default_factory=dict)
    ready_at: dict[str, float] = field(default_factory=dict)
    gone_at: dict[str, float] = field(default_factory=dict)
    changed: threading.Condition = field(default_factory=threading.Condition)
    _watch: watch.Watch = field(default_factory=watch.Watch)
    _stopped: bool = False

    def __enter__(self) -> "Tracker":
        listed = self._list()
        for body in listed["items"]:
            self._record("ADDED", body)
        thread = threading.Thread(
            target=self._follow, args=(listed["metadata"]["resourceVersion"],), daemon=True
        )
        thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stopped = True
        self._watch.stop()

    def _list(self, **options: Any) -> Manifest:
        group, version = self.group_version
        listed = self.custom.list_namespaced_custom_object(
            group, version, self.namespace, self.plural, **options
        )
        return cast(Manifest, listed)

    def _follow(self, resource_version: str) -> None:
        while not self._stopped:
            try:
                for event in self._watch.stream(
                    self._list,
                    resource_version=resource_version,
                    allow_watch_bookmarks=True,
                    timeout_seconds=300,
                ):
                    body = event["object"]
                    resource_version = body["metadata"]["resourceVersion"]
                    self._record(event["type"], body)
            except ApiException as error:
                if error.status != 410:
                    raise
                resource_version = self._list()["metadata"]["resourceVersion"]
            except ProtocolError:
                if self._stopped:
                    return  # the stream was closed under the reader, on purpose
                raise

    def _record(self, kind: str, body: Manifest) -> None:
        if kind == "BOOKMARK":
            return
        now = time.monotonic()
        name = body["metadata"]["name"]
        with self.changed:
            if kind == "DELETED":
                self.objects.pop(name, None)
                self.gone_at[name] = now
            else:
                self.objects[name] = body
                self.gone_at.pop(name, None)
                if name not in self.ready_at and self.ready(body):
                    self.ready_at[name] = now
            self.changed.notify_all()

    def wait(
        self,
        description: str,
        done: Callable[["Tracker"], int],
        total: int,
        timeout: float,
    ) -> None:
        """Until `done` counts `total`, with a progress bar of what is being waited for."""
        deadline = time.monotonic() + timeout
        columns = (
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
        )
        with Progress(*columns, transient=True) as progress:
            task = progress.add_task(description, total=total)
            with self.changed:
                while (count := done(self)) < total:
                    progress.update(task, completed=count)
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise TimeoutError(f"{description}: {count} of {total} after {timeout}s")
                    self.changed.wait(min(left, 1.0))

    def until(self, done: Callable[["Tracker"], bool], timeout: float) -> None:
        """Until `done`, without a display: for one of many waits running at once."""
        deadline = time.monotonic() + timeout
        with self.changed:
            while not done(self):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"not done after {timeout}s")
                self.changed.wait(left)

    def count_ready(self, names: set[str]) -> Callable[["Tracker"], int]:
        return lambda tracker: len(names & tracker.ready_at.keys())

    def count_gone(self, names: set[str]) -> Callable[["Tracker"], int]:
        return lambda tracker: len(names - tracker.objects.keys())


@dataclass(frozen=True)
class AuditWindow:
    """The operator's requests between two marks of the audit log."""

    events: list[Manifest]

    def by_verb(self) -> dict[str, int]:
        return dict(Counter(e["verb"] for e in self.events))

    def writes(self) -> list[Manifest]:
        return [e for e in self.events if e["verb"] in WRITE_VERBS]

    def writes_by_resource(self) -> dict[str, int]:
        return dict(Counter(_resource(e) for e in self.writes()))

    def writes_by_namespace(self) -> dict[str, int]:
        return dict(Counter(e.get("objectRef", {}).get("namespace") or "" for e in self.writes()))

    def writes_by_object(self, limit: int = 20) -> dict[str, int]:
        """The most written objects, as `verb resource namespace/name`: what a write that
        should not have happened names first."""
        counted = Counter(_write(e) for e in self.writes())
        return dict(counted.most_common(limit))

    def cluster_wide_lists(self) -> int:
        """LISTs across every namespace of a namespaced kind (a watch's first list included):
        the requests whose cost grows with the whole cluster."""
        return sum(
            1
            for e in self.events
            if e["verb"] == "list" and not e.get("objectRef", {}).get("namespace")
        )


def _write(event: Manifest) -> str:
    ref = event.get("objectRef") or {}
    where = "/".join(part for part in (ref.get("namespace"), ref.get("name")) if part)
    return f"{event['verb']} {_resource(event)} {where}"


def _resource(event: Manifest) -> str:
    ref = event.get("objectRef") or {}
    name = ref.get("resource", "?")
    return f"{name}/{ref['subresource']}" if ref.get("subresource") else name


@dataclass
class AuditLog:
    """The API server's audit log, which records every request of the operator's
    ServiceAccount, Kopf's own included, once it is answered."""

    path: Path

    def mark(self) -> int:
        return self.path.stat().st_size if self.path.exists() else 0

    def since(self, start: int) -> AuditWindow:
        # A request is logged when it is answered: give the last ones time to land.
        time.sleep(1)
        with self.path.open("rb") as log:
            log.seek(start)
            written = log.read()
        # The API server may be halfway through a line: only whole lines are events.
        whole = written[: written.rfind(b"\n") + 1].decode()
        return AuditWindow([json.loads(line) for line in whole.splitlines() if line.strip()])


@dataclass
class Bench:
    """The local cluster as its administrator reaches it, and the operator under test."""

    state: State
    operator: OperatorProcess
    api: client.ApiClient
    audit: AuditLog

    @classmethod
    def connect(cls, state: State, workers: int) -> "Bench":
        if not state.audit_log.parent.exists():
            raise SystemExit(f"no local cluster in {state.root}: run `make cluster-up` first")
        configuration = client.Configuration()
        config.load_kube_config(str(state.kubeconfig), client_configuration=configuration)
        configuration.connection_pool_maxsize = max(workers, 10) + 4
        operator = OperatorProcess(
            log=state.logs / "bench-operator.log",
            state=state,
            config=state.operator_config,
            verbose=False,
        )
        return cls(state, operator, client.ApiClient(configuration), AuditLog(state.audit_log))

    @property
    def custom(self) -> client.CustomObjectsApi:
        return client.CustomObjectsApi(self.api)

    def kubectl(self, *args: str, stdin: str | None = None) -> str:
        return kubectl(self.state, *args, stdin=stdin)

    def wait_for(self, what: str, timeout: float) -> None:
        """`kubectl wait <what>` for up to `timeout` seconds, in steps shorter than the
        local cluster's limit on one kubectl command."""
        deadline = time.monotonic() + timeout
        while True:
            step = int(min(KUBECTL_STEP, max(1.0, deadline - time.monotonic())))
            result = run_kubectl(self.state, "wait", *what.split(), f"--timeout={step}s")
            if result.returncode == 0:
                return
            if time.monotonic() >= deadline or "timed out" not in result.stderr:
                raise RuntimeError(f"kubectl wait {what}: {result.stderr.strip()}")

    def apply(self, manifests: list[Manifest]) -> None:
        """`kubectl apply` of one multi-document file, as a user applies a directory."""
        self.kubectl("apply", "-f", "-", stdin=yaml.safe_dump_all(manifests))

    def track(
        self,
        plural: str,
        namespace: str,
        ready: Callable[[Manifest], bool] = is_ready,
        group_version: tuple[str, str] = STRATUS,
    ) -> Tracker:
        return Tracker(self.custom, group_version, plural, namespace, ready)

    @contextmanager
    def operator_stopped(self) -> Iterator[None]:
        self.operator.stop()
        try:
            yield
        finally:
            self.operator.start()

    def quiet(self, seconds: float) -> AuditWindow:
        """The operator's requests over `seconds` in which nothing else changes."""
        start = self.audit.mark()
        time.sleep(seconds)
        return self.audit.since(start)

    def idle_after(self, start: int, began: float, quiet: float, timeout: float) -> float:
        """Seconds from `began` (epoch) to the operator's last request before a stretch of
        `quiet` seconds without any: how long it took to be idle again."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            time.sleep(quiet / 4)
            stamps = [_epoch(e["stageTimestamp"]) for e in self.audit.since(start).events]
            last = max(stamps, default=began)
            if time.time() - last >= quiet:
                return max(0.0, last - began)
        raise TimeoutError(f"the operator was still busy after {timeout}s")


def _epoch(timestamp: str) -> float:
    return datetime.fromisoformat(timestamp).timestamp()
