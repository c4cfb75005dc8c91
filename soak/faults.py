"""The faults of the soak, on a schedule over its length: the operator SIGKILLed and started
again every few seconds; once each, the kube-apiserver and etcd restarted, the object store
stopped for a while, and a node deleted and added back."""

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from devcluster.cluster import (
    State,
    kubectl,
    restart_api_server,
    restart_etcd,
    start_object_store,
    stop_object_store,
)
from devcluster.operator import OperatorProcess


@dataclass(eq=False)
class Faults(threading.Thread):
    state: State
    operator: OperatorProcess
    seconds: float
    kill_every: float = 10.0
    store_outage: float = 60.0
    node: str = "node-2"
    log: list[tuple[float, str]] = field(default_factory=list)
    stopped: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        super().__init__(name="faults", daemon=True)

    def run(self) -> None:
        began = time.monotonic()
        once: list[tuple[float, str, Callable[[], None]]] = [
            (0.2, "kube-apiserver restarted", lambda: restart_api_server(self.state)),
            (0.35, "etcd restarted", lambda: restart_etcd(self.state)),
            (0.5, "object store stopped", lambda: stop_object_store(self.state)),
            (0.5 + self.store_outage / self.seconds, "object store started",
             lambda: start_object_store(self.state)),
            (0.7, f"node {self.node} deleted", self._delete_node),
            (0.8, f"node {self.node} added back", self._add_node),
        ]  # fmt: skip
        next_kill = began + self.kill_every
        while not self.stopped.wait(0.5):
            now = time.monotonic()
            while once and now - began >= once[0][0] * self.seconds:
                _, what, fault = once.pop(0)
                fault()
                self._note(began, what)
            if now >= next_kill:
                self.operator.kill()
                self.operator.start()
                self._note(began, "operator SIGKILLed and started")
                next_kill = time.monotonic() + self.kill_every
        for _, what, fault in once:  # what the schedule still owes: the store and the node back
            if what.endswith(("started", "added back")):
                fault()
                self._note(began, what)

    def _note(self, began: float, what: str) -> None:
        self.log.append((round(time.monotonic() - began, 1), what))

    _saved: str = ""

    def _delete_node(self) -> None:
        node = json.loads(kubectl(self.state, "get", "node", self.node, "-o", "json"))
        for key in ("resourceVersion", "uid", "creationTimestamp", "managedFields"):
            node["metadata"].pop(key, None)
        status = node.get("status") or {}
        node["status"] = {
            k: status[k] for k in ("allocatable", "capacity", "nodeInfo") if k in status
        }
        self._saved = json.dumps(node)
        kubectl(self.state, "delete", "node", self.node, "--wait=true")

    def _add_node(self) -> None:
        if self._saved:
            kubectl(self.state, "create", "-f", "-", stdin=self._saved)

    def finish(self) -> None:
        self.stopped.set()
        self.join()
