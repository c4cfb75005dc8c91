"""Access to the Kubernetes API: server-side apply, reads and deletes through one client."""

import contextlib
import functools
import os
import threading
from collections.abc import Mapping
from typing import Any

from kubernetes import client, config, dynamic
from kubernetes.dynamic.exceptions import ConflictError, NotFoundError, ResourceNotFoundError
from kubernetes.dynamic.resource import Resource

from stratus.builders.meta import Children
from stratus.constants import FIELD_MANAGER
from stratus.core.drift import covers, with_digest
from stratus.core.errors import BackendUnavailable
from stratus.core.metrics import API_REQUESTS, APPLY_REQUESTS

Manifest = dict[str, Any]
HANDLER_THREADS = int(os.environ.get("STRATUS_WORKERS", "16"))
"""How many handlers Kopf runs at once; the client keeps a connection for each, so a burst
reuses connections instead of opening (and discarding) new ones."""


@functools.cache
def _dynamic_client() -> dynamic.DynamicClient:
    if os.environ.get("KUBERNETES_SERVICE_HOST"):
        config.load_incluster_config()
    else:
        config.load_kube_config()
    configuration = client.Configuration.get_default_copy()
    configuration.connection_pool_maxsize = HANDLER_THREADS
    return dynamic.DynamicClient(client.ApiClient(configuration))


_discovery = threading.Lock()


@functools.cache
def _resource(api_version: str, kind: str) -> Resource:
    """The API resource of a kind, looked up once: the client's discovery cache is not safe
    to fill from several handler threads at the same time."""
    with _discovery:
        try:
            return _dynamic_client().resources.get(api_version=api_version, kind=kind)
        except ResourceNotFoundError as error:
            raise BackendUnavailable(
                "KindNotInstalled",
                f"the cluster does not serve {kind}.{api_version}: is it installed?",
            ) from error


def apply(manifest: Manifest) -> Manifest:
    """Server-side apply as Stratus; the API server persists nothing when nothing changed."""
    metadata = manifest["metadata"]
    APPLY_REQUESTS.labels(manifest["kind"]).inc()
    API_REQUESTS.labels("apply", manifest["kind"]).inc()
    applied = _dynamic_client().server_side_apply(
        _resource(manifest["apiVersion"], manifest["kind"]),
        body=manifest,
        name=metadata["name"],
        namespace=metadata.get("namespace"),
        field_manager=FIELD_MANAGER,
        force_conflicts=True,
    )
    result: Manifest = applied.to_dict()
    return result


def read(
    api_version: str,
    kind: str,
    name: str,
    namespace: str | None = None,
    timeout: float | None = None,
) -> Manifest | None:
    """The object as the API server has it, or None when it does not exist."""
    API_REQUESTS.labels("get", kind).inc()
    try:
        found = _dynamic_client().get(
            _resource(api_version, kind), name=name, namespace=namespace, _request_timeout=timeout
        )
    except NotFoundError:
        return None
    result: Manifest = found.to_dict()
    return result


def list_objects(
    api_version: str, kind: str, namespace: str, label_selector: str = ""
) -> list[Manifest]:
    """One kind's objects in one namespace (never cluster-wide): a consistent read."""
    API_REQUESTS.labels("list", kind).inc()
    found = _dynamic_client().get(
        _resource(api_version, kind), namespace=namespace, label_selector=label_selector
    )
    items: list[Manifest] = found.to_dict()["items"]
    return items


def list_names(api_version: str, kind: str, namespace: str, label_selector: str = "") -> list[str]:
    return [
        o["metadata"]["name"] for o in list_objects(api_version, kind, namespace, label_selector)
    ]


def delete(
    api_version: str,
    kind: str,
    name: str,
    namespace: str | None = None,
    *,
    uid: str | None = None,
    foreground: bool = False,
) -> None:
    """Delete; an object already gone, or (with `uid`) replaced by a new one, is not an error.
    Foreground: the object stays until the garbage collector has removed its dependents."""
    body: Manifest = {"propagationPolicy": "Foreground" if foreground else "Background"}
    if uid:
        body["preconditions"] = {"uid": uid}
    API_REQUESTS.labels("delete", kind).inc()
    try:
        _dynamic_client().delete(
            _resource(api_version, kind), name=name, namespace=namespace, body=body
        )
    except NotFoundError:
        return
    except ConflictError:
        if uid is None:
            raise


def patch_status(
    api_version: str, kind: str, name: str, namespace: str | None, *, status: Manifest
) -> None:
    """Merge-patch the status subresource. An object deleted meanwhile (its finalizer already
    gone) has no status left to record: that is not a failure of the pass."""
    API_REQUESTS.labels("patch_status", kind).inc()
    resource = _resource(api_version, kind)
    with contextlib.suppress(NotFoundError):
        _dynamic_client().patch(
            resource.subresources["status"],
            body={"status": status},
            name=name,
            namespace=namespace,
            content_type="application/merge-patch+json",
        )


def served(api_version: str, kind: str) -> bool:
    """Whether the API server serves a kind (for example, whether KubeVirt is installed)."""
    try:
        _resource(api_version, kind)
    except BackendUnavailable:
        return False
    return True


def create(manifest: Manifest, timeout: float | None = None) -> Manifest:
    """Create, failing with 409 if it exists: used where taking something over would be wrong."""
    API_REQUESTS.labels("create", manifest["kind"]).inc()
    metadata = manifest["metadata"]
    created = _dynamic_client().create(
        _resource(manifest["apiVersion"], manifest["kind"]),
        body=manifest,
        namespace=metadata.get("namespace"),
        field_manager=FIELD_MANAGER,
        _request_timeout=timeout,
    )
    result: Manifest = created.to_dict()
    return result


def replace(manifest: Manifest, timeout: float | None = None) -> Manifest:
    """Replace, failing with 409 if the object changed since the resourceVersion it carries."""
    API_REQUESTS.labels("update", manifest["kind"]).inc()
    metadata = manifest["metadata"]
    replaced = _dynamic_client().replace(
        _resource(manifest["apiVersion"], manifest["kind"]),
        body=manifest,
        name=metadata["name"],
        namespace=metadata.get("namespace"),
        field_manager=FIELD_MANAGER,
        _request_timeout=timeout,
    )
    result: Manifest = replaced.to_dict()
    return result


def merge_patch(
    api_version: str, kind: str, name: str, namespace: str | None, patch: Manifest
) -> None:
    API_REQUESTS.labels("patch", kind).inc()
    _dynamic_client().patch(
        _resource(api_version, kind),
        body=patch,
        name=name,
        namespace=namespace,
        content_type="application/merge-patch+json",
        field_manager=FIELD_MANAGER,
    )


def converge(manifest: Manifest) -> None:
    """Apply `manifest` unless the object already carries every field of it, and the digest
    of the same manifest: a pass that changes nothing writes nothing, so a restart or a
    repeated pass costs reads only, while a field the builder dropped is applied away."""
    stamped = with_digest(manifest)
    metadata = stamped["metadata"]
    live = read(stamped["apiVersion"], stamped["kind"], metadata["name"], metadata.get("namespace"))
    if live is None or not covers(live, stamped):
        apply(stamped)


def sync(children: Children) -> None:
    """Converge the children a builder wants and delete the ones it wants gone."""
    for ref, manifest in children.items():
        if manifest is None:
            if read(ref.api_version, ref.kind, ref.name, ref.namespace) is not None:
                delete(ref.api_version, ref.kind, ref.name, ref.namespace)
        else:
            converge(manifest)


def remove_finalizer(body: Mapping[str, Any], finalizer: str) -> None:
    """Let a deleted object go: drop only `finalizer`, tested to be still where it was read
    (the API server refuses the patch if the list changed since)."""
    metadata = body["metadata"]
    present = list(metadata.get("finalizers") or [])
    if finalizer not in present:
        return
    at = f"/metadata/finalizers/{present.index(finalizer)}"
    API_REQUESTS.labels("patch", body["kind"]).inc()
    with contextlib.suppress(NotFoundError):
        _dynamic_client().patch(
            _resource(body["apiVersion"], body["kind"]),
            body=[{"op": "test", "path": at, "value": finalizer}, {"op": "remove", "path": at}],
            name=metadata["name"],
            namespace=metadata.get("namespace"),
            content_type="application/json-patch+json",
        )
