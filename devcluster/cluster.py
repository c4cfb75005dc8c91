"""Start and stop the local control plane as background processes under one state directory."""

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import yaml

from devcluster import pki
from devcluster.components import HERE, binary, thirdparty_crds

MINIO_USER = "stratus-admin"
MINIO_PASSWORD = "stratus-local-secret"  # a throwaway credential of a loopback-only test server
OBJECT_STORE_SECRET = "stratus-object-store"
OPERATOR_NAMESPACE = "stratus-system"
RELEASE = "stratus"
OPERATOR_ACCOUNT = f"{RELEASE}-operator"
OPERATOR_USER = f"system:serviceaccount:{OPERATOR_NAMESPACE}:{OPERATOR_ACCOUNT}"


@dataclass(frozen=True)
class State:
    """Everything one local cluster keeps: certificates, data, logs, pids, kubeconfig."""

    root: Path

    @property
    def kubeconfig(self) -> Path:
        return self.root / "kubeconfig"

    @property
    def pki(self) -> Path:
        return self.root / "pki"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def run(self) -> Path:
        return self.root / "run"

    @property
    def operator_kubeconfig(self) -> Path:
        """The operator's kubeconfig: the chart's ServiceAccount, not an administrator."""
        return self.root / "operator.kubeconfig"

    @property
    def audit_log(self) -> Path:
        """The API server's record of every request the operator's ServiceAccount sends: the
        benchmark counts the operator's writes from it, Kopf's own included."""
        return self.logs / "audit.log"

    @property
    def operator_config(self) -> Path:
        """The operator configuration (STRATUS_CONFIG) for this cluster's endpoints."""
        return self.root / "operator-config.yaml"

    def endpoints(self) -> dict[str, str]:
        path = self.run / "endpoints.json"
        return json.loads(path.read_text()) if path.exists() else {}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _start(state: State, name: str, argv: list[str], env: dict[str, str] | None = None) -> None:
    """Start one component detached, so it outlives the command that started it."""
    log = (state.logs / f"{name}.log").open("ab")
    process = subprocess.Popen(
        argv,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
        env={**os.environ, **(env or {})},
    )
    (state.run / f"{name}.pid").write_text(str(process.pid))
    (state.run / f"{name}.json").write_text(json.dumps({"argv": argv, "env": env or {}}))


def stop_component(state: State, name: str) -> None:
    """SIGKILL one component, as a crash would; its data and its port stay for a restart."""
    pid = running(state).get(name)
    if pid is None:
        return
    _signal_group(pid, signal.SIGKILL)
    _wait_until(f"{name} to stop", lambda: name not in running(state), state, timeout=20)


def start_component(state: State, name: str) -> None:
    """Start a stopped component again, as it was started, on the same port and data."""
    if name in running(state):
        return
    started = json.loads((state.run / f"{name}.json").read_text())
    _start(state, name, started["argv"], started["env"])


def _alive(pid: int) -> bool:
    with contextlib.suppress(ChildProcessError):
        # A component started by this very process (the test fixture) lingers as a zombie
        # after it exits until it is reaped; reap it so it does not count as alive.
        reaped, _ = os.waitpid(pid, os.WNOHANG)
        if reaped == pid:
            return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def running(state: State) -> dict[str, int]:
    """The components whose processes are alive, by name."""
    alive = {}
    for pidfile in sorted(state.run.glob("*.pid")) if state.run.exists() else []:
        pid = int(pidfile.read_text())
        if _alive(pid):
            alive[pidfile.stem] = pid
    return alive


def run_kubectl(
    state: State, *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """kubectl against this cluster; the caller decides what a failure means."""
    return subprocess.run(
        [str(binary("kubectl")), f"--kubeconfig={state.kubeconfig}", *args],
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


def kubectl(state: State, *args: str, check: bool = True, stdin: str | None = None) -> str:
    result = run_kubectl(state, *args, stdin=stdin)
    if check and result.returncode != 0:
        raise RuntimeError(f"kubectl {' '.join(args)}: {result.stderr.strip()}")
    return result.stdout


def _wait_until(what: str, ready: Callable[[], bool], state: State, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():
            return
        time.sleep(0.5)
    logs = "\n".join(f"  {p}" for p in sorted(state.logs.glob("*.log")))
    raise RuntimeError(f"{what} did not become ready in {timeout:.0f}s; logs:\n{logs}")


def _api_ready(state: State) -> bool:
    return kubectl(state, "get", "--raw=/readyz", check=False).strip() == "ok"


def up(state: State) -> None:
    """Start every component, install cluster-level objects, wait until nodes are Ready."""
    if running(state):
        if _api_ready(state):
            print(f"local cluster already running; kubeconfig: {state.kubeconfig}")
            return
        down(state)
    for directory in (state.logs, state.run):
        directory.mkdir(parents=True, exist_ok=True)
    pki.ensure_pki(state.pki)
    pki.ensure_tokens(state.pki)
    ports = {
        name: free_port()
        for name in ("etcd", "etcd-peer", "apiserver", "minio", "minio-console", "kwok")
    }
    server = f"https://127.0.0.1:{ports['apiserver']}"
    for client in pki.CLIENTS:
        (state.pki / f"{client}.kubeconfig").write_text(pki.kubeconfig(state.pki, server, client))
    shutil.copy(state.pki / "admin.kubeconfig", state.kubeconfig)
    (state.run / "endpoints.json").write_text(
        json.dumps({"apiserver": server, "minio": f"http://127.0.0.1:{ports['minio']}"})
    )

    _start_control_plane(state, ports)
    _wait_until("kube-apiserver", lambda: _api_ready(state), state)
    _start(
        state,
        "kube-controller-manager",
        [
            str(binary("kube-controller-manager")),
            f"--kubeconfig={state.pki / 'controller-manager.kubeconfig'}",
            f"--service-account-private-key-file={state.pki / 'sa.key'}",
            f"--root-ca-file={state.pki / 'ca.crt'}",
            "--use-service-account-credentials=true",
            "--leader-elect=false",
            "--bind-address=127.0.0.1",
            "--secure-port=0",
            "--controllers=*,-nodeipam,-cloud-node-lifecycle,-service-lb-controller",
            "--concurrent-gc-syncs=5",
            # Count kinds whose CRDs arrive after start-up within seconds, not five minutes.
            "--resource-quota-sync-period=10s",
            "--v=1",
        ],
    )
    _start(
        state,
        "kube-scheduler",
        [
            str(binary("kube-scheduler")),
            f"--kubeconfig={state.pki / 'scheduler.kubeconfig'}",
            "--leader-elect=false",
            "--bind-address=127.0.0.1",
            "--secure-port=0",
            "--v=1",
        ],
    )
    _start(
        state,
        "kwok",
        [
            str(binary("kwok")),
            f"--kubeconfig={state.kubeconfig}",
            "--manage-all-nodes=false",
            "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
            "--manage-nodes-with-label-selector=",
            f"--server-address=127.0.0.1:{ports['kwok']}",
            "--node-lease-duration-seconds=40",
            f"--config={binary('kwok').parent / 'stages.yaml'}",
        ],
    )
    _start_minio(state, ports["minio"], ports["minio-console"])

    _bootstrap(state)
    _start(state, "simulator", simulator_command(state), env={"PYTHONPATH": str(HERE.parent)})
    kubectl(state, "wait", "--for=condition=Ready", "node", "--all", "--timeout=120s")
    print(f"local cluster is up; kubeconfig: {state.kubeconfig}")


def simulator_data(state: State) -> Path:
    """Where the simulator keeps its volumes' bytes (see simulator.contents)."""
    return state.root / "simulator-data"


def simulator_command(state: State) -> list[str]:
    """The data-plane simulator's command line."""
    return [
        sys.executable,
        "-m",
        "devcluster.simulator",
        f"--kubeconfig={state.kubeconfig}",
        f"--data-dir={simulator_data(state)}",
    ]


def _start_minio(state: State, port: int, console_port: int) -> None:
    minio_data = state.root / "minio"
    minio_data.mkdir(exist_ok=True)
    _start(
        state,
        "minio",
        [
            str(binary("minio")),
            "server",
            str(minio_data),
            f"--address=127.0.0.1:{port}",
            f"--console-address=127.0.0.1:{console_port}",
        ],
        env={
            "MINIO_ROOT_USER": MINIO_USER,
            "MINIO_ROOT_PASSWORD": MINIO_PASSWORD,
            "MINIO_BROWSER": "off",
        },
    )


def stop_object_store(state: State) -> None:
    """Stop MinIO alone, as an outage of the object store would (its data stays)."""
    stop_component(state, "minio")


def start_object_store(state: State) -> None:
    """Start MinIO again on its port, with the data it had."""
    start_component(state, "minio")
    port = urlsplit(state.endpoints()["minio"]).port
    assert port is not None
    _wait_until("MinIO", lambda: _listening(port), state, timeout=60)


def restart_api_server(state: State) -> None:
    """Kill the kube-apiserver and start it again: every watch breaks, every client retries."""
    stop_component(state, "kube-apiserver")
    start_component(state, "kube-apiserver")
    _wait_until("kube-apiserver", lambda: _api_ready(state), state, timeout=120)


def restart_etcd(state: State) -> None:
    """Kill etcd and start it again on its data; the API server reconnects by itself."""
    stop_component(state, "etcd")
    start_component(state, "etcd")
    _wait_until("kube-apiserver", lambda: _api_ready(state), state, timeout=120)


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _start_control_plane(state: State, ports: dict[str, int]) -> None:
    etcd_data = state.root / "etcd"
    _start(
        state,
        "etcd",
        [
            str(binary("etcd")),
            f"--data-dir={etcd_data}",
            "--name=local",
            f"--listen-client-urls=http://127.0.0.1:{ports['etcd']}",
            f"--advertise-client-urls=http://127.0.0.1:{ports['etcd']}",
            f"--listen-peer-urls=http://127.0.0.1:{ports['etcd-peer']}",
            f"--initial-advertise-peer-urls=http://127.0.0.1:{ports['etcd-peer']}",
            f"--initial-cluster=local=http://127.0.0.1:{ports['etcd-peer']}",
            "--unsafe-no-fsync",
            "--log-level=warn",
        ],
    )
    p = state.pki
    _start(
        state,
        "kube-apiserver",
        [
            str(binary("kube-apiserver")),
            f"--etcd-servers=http://127.0.0.1:{ports['etcd']}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            f"--secure-port={ports['apiserver']}",
            f"--tls-cert-file={p / 'apiserver.crt'}",
            f"--tls-private-key-file={p / 'apiserver.key'}",
            f"--client-ca-file={p / 'ca.crt'}",
            f"--token-auth-file={pki.tokens_file(p)}",
            f"--service-account-key-file={p / 'sa.pub'}",
            f"--service-account-signing-key-file={p / 'sa.key'}",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            "--service-cluster-ip-range=10.96.0.0/16",
            "--authorization-mode=RBAC",
            "--allow-privileged=true",
            "--enable-priority-and-fairness=false",
            f"--audit-policy-file={_write_audit_policy(state)}",
            f"--audit-log-path={state.audit_log}",
            "--audit-log-format=json",
            "--audit-log-maxbackup=1",
            "--audit-log-maxsize=500",
            "--v=1",
        ],
    )


def _write_audit_policy(state: State) -> Path:
    """Record the operator's requests once each, when answered, and nobody else's."""
    policy = {
        "apiVersion": "audit.k8s.io/v1",
        "kind": "Policy",
        "omitStages": ["RequestReceived", "ResponseStarted"],
        "rules": [{"level": "Metadata", "users": [OPERATOR_USER]}, {"level": "None"}],
    }
    path = state.run / "audit-policy.yaml"
    path.write_text(yaml.safe_dump(policy))
    return path


def _bootstrap(state: State) -> None:
    """Cluster-level objects a real Stratus cluster would have: upstream CRDs, nodes, classes."""
    kubectl(
        state, "apply", "--server-side", "--field-manager=devcluster", "-f", str(thirdparty_crds())
    )
    kubectl(state, "wait", "--for=condition=Established", "crd", "--all", "--timeout=60s")
    kubectl(
        state,
        "apply",
        "--server-side",
        "--field-manager=devcluster",
        "-f",
        str(HERE / "cluster-objects.yaml"),
    )


def down(state: State) -> None:
    """Stop every component and remove the cluster's data; nothing is left running."""
    alive = running(state)
    for pid in alive.values():
        _signal_group(pid, signal.SIGTERM)
    deadline = time.monotonic() + 20
    while any(_alive(pid) for pid in alive.values()) and time.monotonic() < deadline:
        time.sleep(0.2)
    for pid in alive.values():
        _signal_group(pid, signal.SIGKILL)
    if state.root.exists():
        shutil.rmtree(state.root)
    print("local cluster stopped")


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, sig)


def install(state: State) -> None:
    """Install Stratus as a user does: the CRDs, then the Helm chart (tenant roles, admission
    policies, the operator's ServiceAccount and RBAC). The chart's Deployments are scaled to
    zero: nothing here runs images, so the operator and the console run as processes, the
    operator with the ServiceAccount's token (`operator_kubeconfig`), and so with exactly the
    chart's RBAC."""
    root = HERE.parent
    # Helm installs CRDs only once; applying them keeps them current as the models change.
    kubectl(
        state,
        "apply",
        "--server-side",
        "--field-manager=devcluster",
        "--force-conflicts",
        "-f",
        str(root / "crds"),
    )
    kubectl(state, "wait", "--for=condition=Established", "crd", "--all", "--timeout=60s")
    helm(
        state,
        "upgrade",
        "--install",
        RELEASE,
        str(root / "charts" / "stratus"),
        f"--namespace={OPERATOR_NAMESPACE}",
        "--skip-crds",
        "--set=replicas=0",
        "--set=dashboard.replicas=0",
    )
    _configure_object_store(state)
    _write_operator_kubeconfig(state)


def helm(state: State, *args: str) -> str:
    result = subprocess.run(
        [str(binary("helm")), f"--kubeconfig={state.kubeconfig}", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    if result.returncode != 0:
        raise RuntimeError(f"helm {' '.join(args)}: {result.stderr.strip()}")
    return result.stdout


def _write_operator_kubeconfig(state: State) -> None:
    """A kubeconfig with a token of the chart's ServiceAccount, for the operator process."""
    token = kubectl(
        state,
        "create",
        "token",
        OPERATOR_ACCOUNT,
        f"--namespace={OPERATOR_NAMESPACE}",
        "--duration=48h",
    ).strip()
    admin = yaml.safe_load(state.kubeconfig.read_text())
    admin["users"] = [{"name": "stratus-operator", "user": {"token": token}}]
    admin["contexts"][0]["context"]["user"] = "stratus-operator"
    state.operator_kubeconfig.write_text(yaml.safe_dump(admin))
    state.operator_kubeconfig.chmod(0o600)


def _configure_object_store(state: State) -> None:
    """The object store's admin credentials as the operator reads them (a Secret), and the
    operator configuration that points at this cluster's MinIO."""
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": OBJECT_STORE_SECRET, "namespace": OPERATOR_NAMESPACE},
        "type": "Opaque",
        "stringData": {"accessKey": MINIO_USER, "secretKey": MINIO_PASSWORD},
    }
    kubectl(
        state,
        "apply",
        "--server-side",
        "--field-manager=devcluster",
        "-f",
        "-",
        stdin=json.dumps(secret),
    )
    config = {
        # Two types on the shared class, fast differing only in what the driver changes live
        # (a retype between them is in place), and archive on a class of its own.
        "storage": {
            "volumeTypes": {"standard": "standard", "fast": "standard", "archive": "archive"},
            "volumeAttributes": {"fast": "fast"},
        },
        "objectStore": {
            "endpoint": state.endpoints()["minio"],
            "credentialsSecret": f"{OPERATOR_NAMESPACE}/{OBJECT_STORE_SECRET}",
        },
    }
    state.operator_config.write_text(yaml.safe_dump(config))
