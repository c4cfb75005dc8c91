"""The local control plane and the operator, as session fixtures for integration tests."""

import contextlib
import ipaddress
import json
import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes.config import kube_config

from devcluster import pki
from devcluster.cluster import State, down, install, run_kubectl, running, simulator_data, up
from devcluster.console import ConsoleProcess
from devcluster.operator import OperatorProcess
from devcluster.simulator import contents
from stratus.constants import API_VERSION
from stratus.core import kube

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
RESYNC_SECONDS = 5
QUIET_SECONDS = 5
"""How long to watch for nothing happening where no timer is due sooner (a Server's is
NoValidHost's safety net, minutes away): long enough for the events a change sets off."""
WRITE_VERBS = frozenset({"create", "apply", "patch", "patch_status", "delete"})
PUBLIC_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"
"""A KeyPair's key for tests that need one and do not look into it."""


@dataclass
class Cluster:
    """The local cluster, driven the way a user drives it: with kubectl."""

    state: State

    @property
    def kubeconfig(self) -> Path:
        return self.state.kubeconfig

    def kubectl(
        self, *args: str, stdin: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        result = run_kubectl(self.state, *args, stdin=stdin)
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed: {result.stderr}")
        return result

    def apply(
        self, manifest: str | dict[str, Any], check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        text = manifest if isinstance(manifest, str) else yaml.safe_dump(manifest)
        return self.kubectl("apply", "-f", "-", stdin=text, check=check)

    def get(self, kind: str, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        args = ["get", kind, name, "-o", "json"] + (["-n", namespace] if namespace else [])
        result = self.kubectl(*args, check=False)
        if result.returncode != 0:
            if "NotFound" in result.stderr:
                return None
            raise AssertionError(result.stderr)
        found: dict[str, Any] = json.loads(result.stdout)
        return found

    @contextlib.contextmanager
    def nodes_annotated(self, annotation: str, value: str) -> Iterator[None]:
        """Every KWOK node carries the annotation (a simulated fault) until the block ends."""
        nodes = self.kubectl("get", "nodes", "-l", "type=kwok", "-o", "name").stdout.split()
        assert nodes, "no KWOK nodes"
        for node in nodes:
            self.kubectl("annotate", node, f"{annotation}={value}", "--overwrite")
        try:
            yield
        finally:
            for node in nodes:
                self.kubectl("annotate", node, f"{annotation}-")

    def events(self, name: str, namespace: str) -> list[dict[str, Any]]:
        """The Events about an object, as `kubectl get events` lists them."""
        found = self.kubectl(
            "get", "events", "-n", namespace, "--field-selector", f"involvedObject.name={name}",
            "-o", "json",
        )  # fmt: skip
        items: list[dict[str, Any]] = json.loads(found.stdout)["items"]
        return items

    def event_reasons(self, name: str, namespace: str) -> list[str]:
        return [str(event["reason"]) for event in self.events(name, namespace)]

    def wait(
        self, target: str, condition: str, namespace: str | None = None, timeout: int = 60
    ) -> None:
        args = ["wait", target, f"--for={condition}", f"--timeout={timeout}s"]
        self.kubectl(*args + (["-n", namespace] if namespace else []))

    def ready(self, kind: str, name: str, namespace: str, timeout: int = 90) -> dict[str, Any]:
        """The object once it is Ready, as `kubectl wait --for=condition=Ready` sees it."""
        self.wait(f"{kind}/{name}", "condition=Ready", namespace, timeout)
        found = self.get(kind, name, namespace)
        assert found is not None
        return found

    def ready_condition(
        self, kind: str, name: str, namespace: str, reason: str, timeout: int = 90
    ) -> dict[str, Any]:
        """The object's Ready condition, once its reason is `reason`."""
        self.wait(
            f"{kind}/{name}",
            f"jsonpath={{.status.conditions[?(@.type=='Ready')].reason}}={reason}",
            namespace,
            timeout,
        )
        found = self.get(kind, name, namespace)
        assert found is not None
        return dict(next(c for c in found["status"]["conditions"] if c["type"] == "Ready"))

    def volume_disk(self, volume: str, namespace: str) -> Path:
        """The simulated disk of a Volume: what its guest reads and writes."""
        claim = self.get("pvc", volume, namespace)
        assert claim is not None and claim["spec"].get("volumeName")
        contents.configure(simulator_data(self.state))
        return contents.volume_path(claim["spec"]["volumeName"])

    def settled(
        self, kind: str, name: str, namespace: str | None = None, quiet: float = 2.0
    ) -> dict[str, Any]:
        """The object once nothing has written it for `quiet` seconds. Ready is written before
        Kopf records that it handled the change, so an object just seen Ready may still get
        that one more write."""
        last: tuple[str, float] = ("", 0.0)

        def quiet_for_long_enough() -> dict[str, Any] | None:
            nonlocal last
            found = self.get(kind, name, namespace)
            assert found is not None, f"{kind} {name} is gone"
            version, now = found["metadata"]["resourceVersion"], time.monotonic()
            if version != last[0]:
                last = (version, now)
            return found if now - last[1] >= quiet else None

        settled: dict[str, Any] = self.wait_until(f"{kind} {name} to settle", quiet_for_long_enough)
        return settled

    def installed_schema(self, crd: str, version: str) -> dict[str, Any]:
        """A third-party kind's schema as the local cluster installed it from its upstream
        project's Go module, refusing the fields it does not list, as ../shared's do: the
        check for kinds ../shared has no schema of."""
        found = self.get("crd", crd)
        assert found is not None, f"{crd} is not installed"
        [served] = [v for v in found["spec"]["versions"] if v["name"] == version]
        return dict(strict(served["schema"]["openAPIV3Schema"]))

    def wait_until(self, what: str, predicate: Any, timeout: float = 60) -> Any:
        """Poll a read-only predicate until it returns something truthy (tests only)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            time.sleep(0.5)
        raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def strict(schema: Any) -> Any:
    """The schema with unknown fields refused wherever it lists the known ones."""
    if isinstance(schema, dict):
        copied = {key: strict(value) for key, value in schema.items()}
        if "properties" in copied and "additionalProperties" not in copied:
            copied["additionalProperties"] = False
        return copied
    if isinstance(schema, list):
        return [strict(item) for item in schema]
    return schema


def stratus_object(kind: str, name: str, spec: dict[str, Any], namespace: str | None = None) -> str:
    """A Stratus manifest as a user writes it."""
    metadata = {"name": name} | ({"namespace": namespace} if namespace else {})
    return yaml.safe_dump(
        {"apiVersion": "stratus.io/v1alpha1", "kind": kind, "metadata": metadata, "spec": spec}
    )


def provision_tenant(
    cluster: Cluster,
    name: str,
    flavors: dict[str, dict[str, Any]],
    quota: dict[str, Any] | None = None,
    cidr: str = "10.30.0.0/24",
    members: list[dict[str, str]] | None = None,
) -> None:
    """A Project `name` (Cascade) with Flavors, a Network `lan` and a bootable Image `cirros`,
    all Ready: what a Server needs."""
    project = (
        {"deletionPolicy": "Cascade"}
        | ({"quota": quota} if quota else {})
        | ({"members": members} if members else {})
    )
    cluster.apply(
        "\n---\n".join(
            [
                stratus_object("Project", name, project),
                *(stratus_object("Flavor", f, spec) for f, spec in flavors.items()),
            ]
        )
    )
    cluster.wait(f"project/{name}", "condition=Ready", timeout=90)
    lan = {
        "hostInterface": "br1",
        "subnet": {"cidr": cidr, "gateway": str(next(ipaddress.ip_network(cidr).hosts()))},
    }
    cirros = {"source": {"registry": "docker://quay.io/kubevirt/cirros-container-disk-demo"}}
    cluster.apply(
        "\n---\n".join(
            [
                stratus_object("Network", "lan", lan, name),
                stratus_object("Image", "cirros", cirros, name),
            ]
        )
    )
    cluster.kubectl(
        "wait", "--for=condition=Ready", "networks,images", "--all", "-n", name, "--timeout=60s"
    )


def kwok_node(name: str) -> dict[str, Any]:
    """A node like the local cluster's own, that KWOK runs pods on."""
    size = {"cpu": "16", "memory": "64Gi", "pods": "110", "ephemeral-storage": "500Gi"}
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "annotations": {"kwok.x-k8s.io/node": "fake"},
            "labels": {
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "type": "kwok",
                "kubevirt.io/schedulable": "true",
            },
        },
        "status": {"allocatable": size, "capacity": size},
    }


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test in this folder is an integration test, so `-m "not integration"` leaves the
    unit tests alone. Tests marked after_everything look back over the whole session: run them
    last. The hook sees the whole session's items, not only this folder's."""
    for item in items:
        if item.path.is_relative_to(HERE):
            item.add_marker(pytest.mark.integration)
    items.sort(key=lambda item: item.get_closest_marker("after_everything") is not None)


LOGS_ON_FAILURE = ("operator.log", "simulator.log", "console.log")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """A failed test shows the last lines the operator, the simulator and the console wrote:
    CI's output is all there is of a run on a machine gone since."""
    outcome = yield
    report: pytest.TestReport = outcome.get_result()  # type: ignore[attr-defined]
    if not report.failed or not item.path.is_relative_to(HERE):
        return
    logs = Path(os.environ.get("STRATUS_TEST_STATE", REPO / ".stratus-test")) / "logs"
    for name in LOGS_ON_FAILURE:
        if (logs / name).exists():
            report.sections.append((f"{name}, last lines", _tail(logs / name, 40)))


def _tail(path: Path, count: int) -> str:
    """The last lines of a log, without the operator's debug lines (watch streams opening)."""
    with path.open("rb") as log:
        log.seek(max(0, path.stat().st_size - 256 * 1024))
        lines = log.read().decode(errors="replace").splitlines()
    lines = [line for line in lines if '"severity": "debug"' not in line][-count:]
    return "\n".join(line[:400] for line in lines)


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    """A local cluster for the whole session, started here unless one is already running."""
    state = State(Path(os.environ.get("STRATUS_TEST_STATE", REPO / ".stratus-test")))
    started_here = not running(state)
    up(state)
    install(state)
    yield Cluster(state)
    if started_here and not os.environ.get("STRATUS_KEEP_CLUSTER"):
        down(state)


@dataclass(kw_only=True)
class Operator(OperatorProcess):
    """The operator process of a test, which a test may kill and restart, and whose log and
    counters it reads."""

    cluster: Cluster
    session_start: int | None = None
    """Where this session's lines begin in the log, which earlier sessions also wrote."""

    def start(self, timeout: float = 60) -> None:
        if self.session_start is None:
            self.session_start = self.log.stat().st_size if self.log.exists() else 0
        super().start(timeout)

    def session_log(self) -> list[str]:
        """The operator's log lines of this test session, every restart included."""
        with self.log.open("rb") as log:
            log.seek(self.session_start or 0)
            text = log.read().decode(errors="replace")
        # The operator may be writing a line at this moment: only the lines it ended count.
        return text.split("\n")[:-1]

    def writes(self, *kinds: str) -> float:
        """Write requests this process has sent to the API, to objects of `kinds` or of any."""
        return sum(self.writes_by_kind(*kinds).values())

    def writes_by_kind(self, *kinds: str) -> dict[tuple[str, str], float]:
        """The same, by (verb, kind), to say which write it was."""
        requests = list(self.samples("stratus_api_requests_total"))
        assert requests, (
            "the operator counts no API requests: a count of writes would prove nothing"
        )
        return {
            (s.labels["verb"], s.labels["kind"]): s.value
            for s in requests
            if s.labels["verb"] in WRITE_VERBS and (not kinds or s.labels["kind"] in kinds)
        }

    def log_about(self, namespace: str | None, name: str, message: str) -> list[str]:
        """This session's log messages about one object that contain `message`."""
        found = []
        for line in self.session_log():
            entry = json.loads(line) if line.startswith("{") else {}
            about = entry.get("object") or {}
            if (about.get("namespace"), about.get("name")) == (namespace, name) and (
                message in entry.get("message", "")
            ):
                found.append(entry["message"])
        return found

    def assert_quiet(
        self,
        resource: str,
        name: str,
        namespace: str | None = None,
        *,
        kinds: tuple[str, ...] = (),
        window: float = QUIET_SECONDS,
    ) -> None:
        """Nothing happens for `window` seconds: the operator sends no write request (to
        objects of `kinds`, or of any kind), and the object's resourceVersion stays, which also
        catches what Kopf writes with its own client. The window must cover any timer due on
        the object, or a write it makes is simply not seen."""
        what = f"{resource} {name}"

        def observed() -> tuple[dict[tuple[str, str], float], str]:
            found = self.cluster.get(resource, name, namespace)
            assert found is not None, f"{what} is gone"
            return self.writes_by_kind(*kinds), found["metadata"]["resourceVersion"]

        before = observed()
        deadline = time.monotonic() + window
        while time.monotonic() < deadline:
            time.sleep(0.5)
            now = observed()
            written = {
                k: v - before[0].get(k, 0) for k, v in now[0].items() if v != before[0].get(k)
            }
            assert now == before, (
                f"{what} was not left alone for {window}s: operator writes {written}, "
                f"resourceVersion {before[1]} -> {now[1]}"
            )


def operator_of(cluster: Cluster, log: Path, mode: tuple[str, ...] = ("--standalone",)) -> Operator:
    """An operator process with the local cluster's configuration, the object store compared
    every few seconds and a Retain deletion released soon after the store is gone."""
    config = yaml.safe_load(cluster.state.operator_config.read_text())
    config["objectStore"] |= {"resyncSeconds": RESYNC_SECONDS, "abandonAfterSeconds": 20}
    path = cluster.state.root / "operator-test-config.yaml"
    path.write_text(yaml.safe_dump(config))
    return Operator(log=log, state=cluster.state, config=path, mode=mode, cluster=cluster)


@pytest.fixture(scope="session")
def operator(cluster: Cluster) -> Iterator[Operator]:
    handle = operator_of(cluster, cluster.state.logs / "operator.log")
    handle.start()
    yield handle
    handle.stop()


@pytest.fixture(scope="session")
def operator_client(cluster: Cluster) -> Iterator[None]:
    """Point stratus.core.kube at the local cluster, to act as the operator does (allocate)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("KUBECONFIG", str(cluster.kubeconfig))
        # The kubernetes package reads KUBECONFIG once, when it is first imported.
        patch.setattr(kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", str(cluster.kubeconfig))
        kube._dynamic_client.cache_clear()
        kube._resource.cache_clear()
        # Warm discovery before threads race on it.
        assert kube.served(API_VERSION, "Port")
        yield
    kube._dynamic_client.cache_clear()


@pytest.fixture
def name(request: pytest.FixtureRequest) -> str:
    """A DNS-label name unique to the test, so tests sharing the cluster never collide."""
    stem = "".join(
        c if c.isalnum() else "-" for c in request.node.name.lower().removeprefix("test_")
    )
    return f"{stem[:40].strip('-')}-{uuid.uuid4().hex[:5]}"


@dataclass(frozen=True)
class Person:
    """Someone who signs in to the console with their own token."""

    username: str
    token: str

    def member(self, role: str) -> dict[str, str]:
        """This person as a Project's member with `role`."""
        return {"kind": "User", "name": self.username, "role": role}


def person(cluster: Cluster, name: str) -> Person:
    """A new person: a ServiceAccount's token, as `kubectl create token` prints it. Projects
    name them as Users (system:serviceaccount:...), as they would an OIDC user."""
    cluster.kubectl("create", "serviceaccount", name, "-n", "default")
    token = cluster.kubectl("create", "token", name, "-n", "default", "--duration=4h")
    return Person(f"system:serviceaccount:default:{name}", token.stdout.strip())


@dataclass(frozen=True)
class ConsoleTenancy:
    """Two Projects and the people of each, as the console's tests sign them in."""

    project: str
    """Ready to launch Servers: Flavors, a Network `lan`, an Image `cirros`; 4 cores of quota."""
    other: str
    small: str
    large: str
    huge: str
    """Larger than any node: NoValidHost."""
    admin: Person
    member: Person
    reader: Person
    outsider: Person
    """A member of the other Project only."""
    cloud_admin: Person
    """A cluster administrator (system:masters), as the local API server knows them by token."""


@pytest.fixture(scope="session")
def console_tenancy(cluster: Cluster, operator: Operator) -> ConsoleTenancy:
    stem = f"console-{uuid.uuid4().hex[:5]}"
    people = {role: person(cluster, f"{stem}-{role}") for role in ("admin", "member", "reader")}
    outsider = person(cluster, f"{stem}-outsider")
    flavors = {
        f"{stem}-small": {"vcpus": 1, "memory": "1Gi", "disk": "2Gi"},
        f"{stem}-large": {"vcpus": 4, "memory": "2Gi"},
        f"{stem}-huge": {"vcpus": 8, "memory": "100Gi"},
    }
    members = [p.member(role) for role, p in people.items()]
    provision_tenant(cluster, stem, flavors, {"cores": 4}, "10.60.0.0/24", members)
    other = f"{stem}-b"
    provision_tenant(cluster, other, {}, None, "10.61.0.0/24", [outsider.member("member")])
    admin_token = pki.token_of(cluster.state.pki, "admin")
    return ConsoleTenancy(
        stem,
        other,
        *flavors,
        admin=people["admin"],
        member=people["member"],
        reader=people["reader"],
        outsider=outsider,
        cloud_admin=Person("admin", admin_token),
    )


@pytest.fixture(scope="session")
def console(cluster: Cluster) -> Iterator[ConsoleProcess]:
    """The console, started as `make run` starts it."""
    handle = ConsoleProcess(log=cluster.state.logs / "console.log", state=cluster.state)
    handle.start()
    yield handle
    handle.stop()
