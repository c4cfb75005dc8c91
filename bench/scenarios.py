"""The scenarios, each returning its figures: counts and ratios measured in one run, so that
they hold on a noisy machine."""

import json
import os
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
from kubernetes.client.exceptions import ApiException

from bench import floor, objects
from bench.harness import KUBEVIRT, STRATUS, Bench, vm_ready
from devcluster.cluster import run_kubectl, simulator_data
from devcluster.console import ConsoleProcess
from devcluster.simulator import contents
from stratus.backup.manifest import CHUNK_SIZE
from stratus.core.conditions import ready

Figures = dict[str, Any]
SETTLE_QUIET = 5.0
"""Seconds without a request of the operator's that make it idle."""
NAMESPACE = objects.PROJECT


def summary(seconds: list[float]) -> Figures:
    ordered = sorted(seconds)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {"median": round(statistics.median(ordered), 3), "p95": round(p95, 3)}


def prepare(bench: Bench, nodes: int) -> None:
    """The tenant every scenario works in, and enough hypervisors for the largest storm."""
    add_nodes(bench, nodes)
    bench.apply([*objects.flavors(), objects.project(NAMESPACE)])
    bench.kubectl("wait", "--for=condition=Ready", f"project/{NAMESPACE}", "--timeout=180s")
    tenant = [
        objects.network(objects.NETWORK, NAMESPACE, 64),
        objects.image(NAMESPACE),
        objects.key_pair(NAMESPACE),
    ]
    bench.apply(tenant)
    for manifest in tenant:
        target = f"{manifest['kind'].lower()}/{manifest['metadata']['name']}"
        bench.kubectl("wait", "--for=condition=Ready", target, "-n", NAMESPACE, "--timeout=300s")


def add_nodes(bench: Bench, count: int) -> None:
    """`count` benchmark nodes in all; KWOK makes them Ready."""
    bench.kubectl(
        "apply",
        "--server-side",
        "--field-manager=bench",
        "-f",
        "-",
        stdin="\n---\n".join(json.dumps(objects.node(i)) for i in range(count)),
    )
    bench.kubectl(
        "wait", "--for=condition=Ready", "node", "-l", objects.BENCH_LABEL, "--timeout=300s"
    )


def remove_nodes_from(bench: Bench, first: int, count: int) -> None:
    names = [objects.node(i)["metadata"]["name"] for i in range(first, count)]
    if names:
        bench.kubectl("delete", "node", *names, "--wait=true")


def server_names(prefix: str, count: int) -> list[str]:
    return [f"{prefix}-{i:04d}" for i in range(count)]


# --- 1, 2, 3: boot storm, API writes, at rest ----------------------------------------------


def boot_storm(bench: Bench, count: int, concurrency: int, rest_seconds: float) -> Figures:
    """`count` Servers applied at once, against the floor of the same children made with
    the operator stopped; the operator's requests on the way; then a quiet window."""
    names = server_names("storm", count)
    wanted = set(names)
    timeout = 300 + 3 * count
    with bench.track("servers", NAMESPACE) as servers:
        start = bench.audit.mark()
        began = time.monotonic()
        bench.apply([objects.server(name, NAMESPACE) for name in names])
        servers.wait(f"{count} Servers Active", servers.count_ready(wanted), count, timeout)
        stratus = _since(began, servers.ready_at, wanted)
        window = bench.audit.since(start)
    # The last Server Active is not the operator's last word (a Project's usage, Kopf's own
    # bookkeeping): rest begins once it has been silent for a few seconds.
    settled = bench.idle_after(bench.audit.mark(), time.time(), SETTLE_QUIET, 300)
    at_rest = bench.quiet(rest_seconds)
    children = floor.capture(bench, NAMESPACE, wanted)
    deletion = _delete_servers(bench, wanted)
    with (
        bench.operator_stopped(),
        bench.track("virtualmachines", NAMESPACE, vm_ready, KUBEVIRT) as machines,
    ):
        began = time.monotonic()
        floor.create_all(bench, children, concurrency)
        machines.wait(f"floor: {count} VMs Ready", machines.count_ready(wanted), count, timeout)
        floor_seconds = _since(began, machines.ready_at, wanted)
        floor.delete_all(bench, NAMESPACE)
    writes = window.writes()
    return {
        "servers": count,
        "stratusSeconds": round(max(stratus), 2),
        "floorSeconds": round(max(floor_seconds), 2),
        "ratio": round(max(stratus) / max(floor_seconds), 3),
        "stratusToActive": summary(stratus),
        "floorToReady": summary(floor_seconds),
        "deleteSeconds": round(deletion, 2),
        "apiWrites": {
            "perServer": round(len(writes) / count, 2),
            "byVerb": {v: round(n / count, 2) for v, n in sorted(window.by_verb().items())},
            "writesByResource": {
                r: round(n / count, 2) for r, n in sorted(window.writes_by_resource().items())
            },
            "clusterWideLists": window.cluster_wide_lists(),
        },
        "atRest": {
            "settledAfterSeconds": round(settled, 1),
            "seconds": rest_seconds,
            "writes": len(at_rest.writes()),
            "writesByResource": at_rest.writes_by_resource(),
            "writesByNamespace": at_rest.writes_by_namespace(),
            "writesByObject": at_rest.writes_by_object(),
            "requests": at_rest.by_verb(),
        },
    }


def _since(began: float, ready_at: dict[str, float], names: set[str]) -> list[float]:
    return [ready_at[name] - began for name in names]


def _delete_servers(bench: Bench, names: set[str]) -> float:
    """Seconds until every Server and what it held are gone."""
    began = time.monotonic()
    with bench.track("servers", NAMESPACE) as servers:
        bench.kubectl("delete", "servers", "--all", "-n", NAMESPACE, "--wait=false")
        servers.wait("Servers deleted", servers.count_gone(names), len(names), 600)
    floor.wait_children_gone(bench, NAMESPACE)
    return time.monotonic() - began


# --- 4 and 5: memory with many objects, and a restart among them ---------------------------

MIX = {"Project": 2, "KeyPair": 2, "Network": 6, "Server": 245, "Volume": 500}
"""Per 1,000 Stratus objects; each Server brings its Port, the thousandth."""


def memory_and_restart(bench: Bench, total: int, rest_seconds: float) -> Figures:
    """RSS as Stratus objects grow by thousands, from a fresh operator; then a SIGKILL and
    a start among them all."""
    bench.operator.stop()
    bench.operator.start()
    time.sleep(5)
    steps = [{"objects": _count_stratus(bench), "rssMiB": _rss(bench)}]
    batches = max(1, total // 1000)
    per_batch = {kind: max(1, n * total // (1000 * batches)) for kind, n in MIX.items()}
    for batch in range(batches):
        _add_tenants(bench, batch, per_batch)
        time.sleep(5)
        steps.append({"objects": _count_stratus(bench), "rssMiB": _rss(bench)})
    first, last = steps[0], steps[-1]
    added = last["objects"] - first["objects"]
    growth = (last["rssMiB"] - first["rssMiB"]) / added if added > 0 else None
    bench.idle_after(bench.audit.mark(), time.time(), SETTLE_QUIET, 300)
    at_rest = bench.quiet(rest_seconds)
    restart = _restart(bench)
    restart["atRestWrites"] = len(at_rest.writes())
    return {
        "memory": {
            "steps": steps,
            "perThousandMiB": None if growth is None else round(growth * 1000, 1),
            "objects": last["objects"],
            "rssMiB": last["rssMiB"],
        },
        "restart": restart,
    }


def _add_tenants(bench: Bench, batch: int, counts: dict[str, int]) -> None:
    """One batch of the mix: its Projects first, then what lives in them, all Ready."""
    projects = [f"bench-m{batch}-{i}" for i in range(counts["Project"])]
    bench.apply([objects.project(p) for p in projects])
    for project in projects:
        bench.kubectl("wait", "--for=condition=Ready", f"project/{project}", "--timeout=300s")
    inside: dict[str, list[dict[str, Any]]] = {p: [] for p in projects}
    for i, project in enumerate(projects):
        share = len(projects)
        networks = [f"net-{n}" for n in range(counts["Network"] // share)]
        inside[project] += [
            objects.key_pair(project),
            *(objects.network(n, project, 100 + j) for j, n in enumerate(networks)),
            *(
                objects.server(f"vm-{s:04d}", project, networks[s % len(networks)])
                for s in range(counts["Server"] // share + (i < counts["Server"] % share))
            ),
            *(
                objects.volume(f"vol-{v:04d}", project)
                for v in range(counts["Volume"] // share + (i < counts["Volume"] % share))
            ),
        ]
    for project, manifests in inside.items():
        bench.apply(manifests)
        for kind in ("keypairs", "networks", "volumes", "servers"):
            bench.wait_for(f"--for=condition=Ready {kind} --all -n {project}", 1800)


def _count_stratus(bench: Bench) -> int:
    kinds = "projects,networks,ports,volumes,servers,keypairs,images,flavors"
    listed = bench.kubectl("get", kinds, "-A", "--no-headers", "--ignore-not-found")
    return len([line for line in listed.splitlines() if line.strip()])


def _rss(bench: Bench) -> float:
    return round(bench.operator.rss_bytes() / 2**20, 1)


def _restart(bench: Bench, quiet: float = 10, timeout: float = 180) -> Figures:
    """SIGKILL, start again; how long until it is idle, and what it wrote on the way."""
    objects_now = _count_stratus(bench)
    bench.operator.kill()
    start = bench.audit.mark()
    began = time.time()
    bench.operator.start()
    idle = bench.idle_after(start, began, quiet, timeout)
    window = bench.audit.since(start)
    return {
        "objects": objects_now,
        "idleSeconds": round(idle, 1),
        "writes": len(window.writes()),
        "writesByResource": window.writes_by_resource(),
        "writesByNamespace": window.writes_by_namespace(),
        "writesByObject": window.writes_by_object(),
        "requests": window.by_verb(),
    }


def clear_tenants(bench: Bench) -> None:
    bench.kubectl(
        "delete",
        "projects",
        "-l",
        objects.BENCH_LABEL,
        "--field-selector",
        f"metadata.name!={NAMESPACE}",
        "--wait=false",
    )
    bench.wait_for(
        f"--for=delete projects -l {objects.BENCH_LABEL} --field-selector "
        f"metadata.name!={NAMESPACE}",
        3600,
    )


# --- 6: the scheduler on many nodes --------------------------------------------------------


def scheduler(bench: Bench, nodes: int, keep: int, repeats: int) -> Figures:
    """A Server no node can hold meets NoValidHost; one that fits gets its VirtualMachine
    (placement decided) and goes Active."""
    add_nodes(bench, nodes)
    refused, placed, active = [], [], []
    try:
        with (
            bench.track("servers", NAMESPACE) as servers,
            bench.track("servers", NAMESPACE, _no_valid_host) as unplaceable,
            bench.track("virtualmachines", NAMESPACE, lambda _: True, KUBEVIRT) as machines,
        ):
            for attempt in range(repeats):
                too_big = objects.server(f"nohost-{attempt}", NAMESPACE)
                too_big["spec"]["flavor"] = objects.HUGE_FLAVOR
                began = _apply_one(bench, too_big)
                unplaceable.wait(
                    "NoValidHost", unplaceable.count_ready({f"nohost-{attempt}"}), 1, 60
                )
                refused.append(unplaceable.ready_at[f"nohost-{attempt}"] - began)
                name = f"fits-{attempt}"
                began = _apply_one(bench, objects.server(name, NAMESPACE))
                servers.wait("a fitting Server Active", servers.count_ready({name}), 1, 120)
                placed.append(machines.ready_at[name] - began)
                active.append(servers.ready_at[name] - began)
            bench.kubectl("delete", "servers", "--all", "-n", NAMESPACE, "--timeout=300s")
    finally:
        remove_nodes_from(bench, keep, nodes)
    return {
        "nodes": nodes,
        "noValidHostSeconds": summary(refused),
        "placedSeconds": summary(placed),
        "activeSeconds": summary(active),
    }


def _no_valid_host(body: dict[str, Any]) -> bool:
    return (ready(body) or {}).get("reason") == "NoValidHost"


def _apply_one(bench: Bench, manifest: dict[str, Any]) -> float:
    """`kubectl apply` of one object; when it was sent."""
    began = time.monotonic()
    bench.apply([manifest])
    return began


# --- 7: Rally's boot and delete ------------------------------------------------------------


def boot_and_delete(bench: Bench, iterations: int, concurrency: int) -> Figures:
    """NovaServers.boot_and_delete_server: each iteration boots a Server, waits for Active,
    deletes it and waits for it to be gone; `concurrency` iterations at a time."""
    created: list[float] = []
    deleted: list[float] = []
    failures: list[str] = []
    with bench.track("servers", NAMESPACE) as servers:

        def iteration(index: int) -> None:
            name = f"rally-{index:04d}"
            try:
                began = time.monotonic()
                bench.custom.create_namespaced_custom_object(
                    "stratus.io", "v1alpha1", NAMESPACE, "servers", objects.server(name, NAMESPACE)
                )
                servers.until(lambda t: name in t.ready_at, 300)
                active = servers.ready_at[name] - began
                began = time.monotonic()
                bench.custom.delete_namespaced_custom_object(
                    "stratus.io", "v1alpha1", NAMESPACE, "servers", name
                )
                servers.until(lambda t: name in t.gone_at, 300)
                gone = servers.gone_at[name] - began
            except (TimeoutError, ApiException) as error:
                failures.append(f"{name}: {error}")
            else:
                created.append(active)
                deleted.append(gone)
            with servers.changed:
                servers.changed.notify_all()

        with ThreadPoolExecutor(concurrency) as pool:
            finished = pool.map(iteration, range(iterations))
            servers.wait(
                f"boot and delete, {concurrency} at a time",
                lambda _: len(created) + len(failures),
                iterations,
                iterations * 60,
            )
            list(finished)
    return {
        "iterations": iterations,
        "concurrency": concurrency,
        "createToActive": summary(created) if created else None,
        "deleteToGone": summary(deleted) if deleted else None,
        "successRate": round(len(created) / iterations, 3),
        "failures": failures[:10],
    }


# --- 8: the console's Servers page among many Servers --------------------------------------


def console_servers_page(bench: Bench, count: int, repeats: int = 20) -> Figures:
    """How long the console takes to answer a Project's Servers page with `count` Servers in
    it, and what it asks the API server for. The Servers are made with the operator stopped,
    their status written as the operator would have (Active, a host, an address), so that
    the page draws what a tenant would see without `count` simulated machines booting; they
    are deleted before the operator starts again."""
    name = "bench-console"
    person = bench.kubectl("create", "token", _account(bench, name), "-n", "default").strip()
    username = f"system:serviceaccount:default:{name}"
    project = objects.stratus(
        "Project",
        name,
        {"deletionPolicy": "Cascade", "members": [{"name": username, "role": "member"}]},
    )
    bench.apply([project])
    bench.kubectl("wait", "--for=condition=Ready", f"project/{name}", "--timeout=180s")
    console = ConsoleProcess(log=bench.state.logs / "bench-console.log", state=bench.state)
    with bench.operator_stopped():
        names = server_names("page", count)
        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(lambda n: _active_server(bench, name, n), names))
        console.start()
        try:
            figures = _time_the_page(console, person, f"/p/{name}/servers", repeats)
        finally:
            console.stop()
        bench.kubectl("delete", "servers", "--all", "-n", name, "--wait=true")
    bench.kubectl("delete", "project", name, "--wait=true", "--timeout=180s")
    return {"servers": count} | figures


def _account(bench: Bench, name: str) -> str:
    """A ServiceAccount to sign in as, made once: a later run finds it there."""
    run_kubectl(bench.state, "create", "serviceaccount", name, "-n", "default")
    return name


def _active_server(bench: Bench, namespace: str, name: str) -> None:
    index = int(name.rsplit("-", 1)[1])
    host = f"node-{index % 3 + 1}"
    bench.custom.create_namespaced_custom_object(
        *STRATUS, namespace, "servers", objects.server(name, namespace)
    )
    conditions = [
        {
            "type": kind,
            "status": "True",
            "reason": "Running",
            "message": f"running on {host}",
            "lastTransitionTime": "2026-12-01T00:00:00Z",
            "observedGeneration": 1,
        }
        for kind in ("Ready", "WorkloadReady")
    ]
    status = {
        "phase": "Active",
        "host": host,
        "addresses": {objects.NETWORK: [f"10.64.{index // 250}.{index % 250 + 2}"]},
        "virtualMachine": name,
        "flavor": {"name": objects.FLAVOR, "vcpus": 1, "memory": "256Mi", "disk": "1Gi"},
        "observedGeneration": 1,
        "conditions": conditions,
    }
    bench.custom.patch_namespaced_custom_object_status(
        *STRATUS, namespace, "servers", name, {"status": status}
    )


def _time_the_page(console: ConsoleProcess, token: str, path: str, repeats: int) -> Figures:
    with httpx.Client(base_url=console.url, timeout=30) as browser:
        browser.get("/login")
        csrf = {"x-csrftoken": browser.cookies["csrftoken"], "hx-request": "true"}
        browser.post("/login", data={"token": token}, headers=csrf).raise_for_status()
        for _ in range(3):  # connections, templates and the first LISTs warmed
            browser.get(path).raise_for_status()
        before = console.api_requests()
        seconds, size = [], 0
        for _ in range(repeats):
            page = browser.get(path)
            page.raise_for_status()
            seconds.append(page.elapsed.total_seconds())
            size = len(page.content)
        after = console.api_requests()
    per_page = {
        f"{verb} {resource}": (after[(verb, resource)] - before.get((verb, resource), 0)) / repeats
        for verb, resource in after
        if after[(verb, resource)] != before.get((verb, resource), 0)
    }
    return {"seconds": summary(seconds), "pageBytes": size, "apiRequestsPerPage": per_page}


# --- 9: a Volume's backup and restore through the object store ----------------------------


def backup_and_restore(bench: Bench, size_gib: int, data_mib: int) -> Figures:
    """A VolumeBackup of a `size_gib` GiB Volume holding `data_mib` MiB of random bytes in
    chunks spread over it, timed from `kubectl apply` to Ready; an incremental one after one
    chunk changed; and a Volume restored from that, checked byte for byte. The movers run in
    the simulator's kubelet against the simulated volume's image file and the local MinIO, on
    the same two cores as everything else: the seconds are the mover's and the pods'
    lifecycle's, not a real disk's or network's."""
    name = "bench-backup"
    bench.apply([objects.stratus("Project", name, {"deletionPolicy": "Cascade"})])
    bench.kubectl("wait", "--for=condition=Ready", f"project/{name}", "--timeout=180s")
    size = f"{size_gib}Gi"
    bench.apply(
        [
            objects.stratus("Bucket", "backups", {}, name),
            objects.stratus("Volume", "data", {"size": size}, name),
        ]
    )
    for target in ("bucket/backups", "volume/data"):
        bench.kubectl("wait", "--for=condition=Ready", target, "-n", name, "--timeout=180s")
    image = _volume_image(bench, name, "data")
    chunk = CHUNK_SIZE
    stride = (size_gib << 30) // max(1, data_mib * 1024 * 1024 // chunk) // chunk * chunk
    written = {
        index * stride: os.urandom(chunk) for index in range(data_mib * 1024 * 1024 // chunk)
    }
    for offset, data in written.items():
        contents.write(image, offset, data)

    def timed(manifest: dict[str, Any], target: str) -> tuple[float, dict[str, Any]]:
        began = time.monotonic()
        bench.apply([manifest])
        bench.kubectl("wait", "--for=condition=Ready", target, "-n", name, "--timeout=900s")
        seconds = round(time.monotonic() - began, 2)
        return seconds, json.loads(bench.kubectl("get", target, "-n", name, "-o", "json"))

    backup = {"volume": "data", "bucket": "backups"}
    full, full_body = timed(
        objects.stratus("VolumeBackup", "full", backup, name), "volumebackup/full"
    )
    changed = next(iter(written))
    written[changed] = os.urandom(chunk)
    contents.write(image, changed, written[changed])
    incremental, incremental_body = timed(
        objects.stratus("VolumeBackup", "incremental", backup | {"incremental": True}, name),
        "volumebackup/incremental",
    )
    restored_spec = {"size": size, "source": {"backup": "incremental"}}
    restore, _ = timed(
        objects.stratus("Volume", "restored", restored_spec, name), "volume/restored"
    )
    restored = _volume_image(bench, name, "restored")
    same = all(contents.read(restored, offset, chunk) == data for offset, data in written.items())
    bench.kubectl("delete", "project", name, "--wait=true", "--timeout=300s")
    return {
        "volumeGiB": size_gib,
        "writtenMiB": data_mib,
        "fullSeconds": full,
        "fullStoredMiB": full_body["status"]["storedBytes"] / 2**20,
        "incrementalSeconds": incremental,
        "incrementalStoredMiB": incremental_body["status"]["storedBytes"] / 2**20,
        "restoreSeconds": restore,
        "restoredByteForByte": same,
    }


def _volume_image(bench: Bench, namespace: str, volume: str) -> Path:
    """The simulated disk of a Volume, which the benchmark writes as a guest would."""
    claim = json.loads(bench.kubectl("get", "pvc", volume, "-n", namespace, "-o", "json"))
    contents.configure(simulator_data(bench.state))
    return contents.volume_path(claim["spec"]["volumeName"])
