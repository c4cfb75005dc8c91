"""The floor of the boot storm: the very children Stratus made for a Server (its Port, its
Secrets, its VirtualMachine with the DataVolume template), created straight by a minimal
client, with the operator stopped. No operator can be faster than this at making them."""

import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import cast

from kubernetes import client

from bench.harness import Bench, Manifest

OWNED_BY_SERVER = "stratus.io/kind=Server"
OWNER_NAME = "stratus.io/name"
KEPT_METADATA = ("name", "namespace", "labels", "annotations")


@dataclass(frozen=True)
class ServerChildren:
    """What one Server needs created, in the order the operator creates it."""

    server: str
    port: Manifest
    secrets: list[Manifest]
    machine: Manifest


def _bare(body: Manifest) -> Manifest:
    """The manifest as a client would send it: no owner (the Server is gone by then), no
    status, no server-set metadata."""
    metadata = {k: v for k, v in body["metadata"].items() if k in KEPT_METADATA}
    manifest = {k: v for k, v in body.items() if k not in ("metadata", "status")}
    return {**manifest, "metadata": metadata}


def capture(bench: Bench, namespace: str, servers: set[str]) -> list[ServerChildren]:
    """Stratus's children of `servers`, read back from the cluster."""
    custom = bench.custom
    ports = cast(
        Manifest, custom.list_namespaced_custom_object("stratus.io", "v1alpha1", namespace, "ports")
    )
    machines = cast(
        Manifest,
        custom.list_namespaced_custom_object("kubevirt.io", "v1", namespace, "virtualmachines"),
    )
    secrets = json.loads(
        bench.kubectl("get", "secrets", "-n", namespace, "-l", OWNED_BY_SERVER, "-o", "json")
    )
    by_holder = {p["spec"]["holder"].rsplit("/", 1)[-1]: p for p in ports["items"]}
    by_server: dict[str, list[Manifest]] = {}
    for secret in secrets["items"]:
        by_server.setdefault(secret["metadata"]["labels"][OWNER_NAME], []).append(secret)
    captured = []
    for machine in machines["items"]:
        name = machine["metadata"]["name"]
        if name in servers:
            captured.append(
                ServerChildren(
                    name,
                    _bare(by_holder[name]),
                    [_bare(s) for s in by_server.get(name, [])],
                    _bare(machine),
                )
            )
    missing = servers - {c.server for c in captured}
    if missing:
        raise RuntimeError(f"no children captured for {len(missing)} Servers")
    return captured


def create(api: client.ApiClient, children: ServerChildren) -> None:
    custom, core = client.CustomObjectsApi(api), client.CoreV1Api(api)
    namespace = children.machine["metadata"]["namespace"]
    custom.create_namespaced_custom_object(
        "stratus.io", "v1alpha1", children.port["metadata"]["namespace"], "ports", children.port
    )
    for secret in children.secrets:
        # The client sends a plain manifest as it is; its annotation asks for a model.
        core.create_namespaced_secret(namespace, cast(client.V1Secret, secret))
    custom.create_namespaced_custom_object(
        "kubevirt.io", "v1", namespace, "virtualmachines", children.machine
    )


def create_all(bench: Bench, everything: list[ServerChildren], concurrency: int) -> None:
    """As many at once as the operator runs handlers at once."""
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(lambda c: create(bench.api, c), everything))


def delete_all(bench: Bench, namespace: str) -> None:
    """The floor's objects, which no owner collects: the VirtualMachines take their
    DataVolumes and claims with them."""
    for kind in ("virtualmachines.kubevirt.io", "ports.stratus.io"):
        bench.kubectl("delete", kind, "--all", "-n", namespace, "--wait=false")
    bench.kubectl("delete", "secrets", "-l", OWNED_BY_SERVER, "-n", namespace, "--wait=false")
    wait_children_gone(bench, namespace)


def wait_children_gone(bench: Bench, namespace: str) -> None:
    """Until no Server child is left (the garbage collector takes the last ones), so that
    the next run starts from the same cluster."""
    for kind in ("virtualmachines.kubevirt.io", "datavolumes.cdi.kubevirt.io", "ports.stratus.io"):
        bench.wait_for(f"--for=delete {kind} --all -n {namespace}", 900)
    bench.wait_for(f"--for=delete secrets -l {OWNED_BY_SERVER} -n {namespace}", 900)
