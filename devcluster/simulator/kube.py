"""The simulator's access to the Kubernetes API: one client, idempotent verbs on raw dicts."""

# The kubernetes package's dynamic client has no annotations; only this module calls it.
# mypy: disallow-untyped-calls=False, warn-return-any=False

import contextlib
import functools
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Concatenate, ParamSpec

from kubernetes import client, config, dynamic, utils
from kubernetes.dynamic.exceptions import ConflictError, ForbiddenError, NotFoundError
from kubernetes.dynamic.resource import Resource

Manifest = dict[str, Any]

FIELD_MANAGER = "devcluster-simulator"

Options = ParamSpec("Options")


@dataclass(frozen=True)
class Kind:
    """A kind the simulator reads or writes, named as the API server serves it."""

    api_version: str
    kind: str


PVC = Kind("v1", "PersistentVolumeClaim")
PV = Kind("v1", "PersistentVolume")
POD = Kind("v1", "Pod")
SECRET = Kind("v1", "Secret")
STORAGE_CLASS = Kind("storage.k8s.io/v1", "StorageClass")
VOLUME_ATTRIBUTES_CLASS = Kind("storage.k8s.io/v1", "VolumeAttributesClass")
CSI_DRIVER = Kind("storage.k8s.io/v1", "CSIDriver")
DATA_VOLUME = Kind("cdi.kubevirt.io/v1beta1", "DataVolume")
DATA_SOURCE = Kind("cdi.kubevirt.io/v1beta1", "DataSource")
VOLUME_SNAPSHOT = Kind("snapshot.storage.k8s.io/v1", "VolumeSnapshot")
VOLUME_SNAPSHOT_CONTENT = Kind("snapshot.storage.k8s.io/v1", "VolumeSnapshotContent")
VOLUME_SNAPSHOT_CLASS = Kind("snapshot.storage.k8s.io/v1", "VolumeSnapshotClass")
VM = Kind("kubevirt.io/v1", "VirtualMachine")
VMI = Kind("kubevirt.io/v1", "VirtualMachineInstance")
MIGRATION = Kind("kubevirt.io/v1", "VirtualMachineInstanceMigration")
NODE = Kind("v1", "Node")
INSTANCETYPE = Kind("instancetype.kubevirt.io/v1beta1", "VirtualMachineInstancetype")
CLUSTER_INSTANCETYPE = Kind("instancetype.kubevirt.io/v1beta1", "VirtualMachineClusterInstancetype")


def configure(kubeconfig: str) -> None:
    """Point the client at the local cluster (once, before any handler runs)."""
    config.load_kube_config(config_file=kubeconfig)
    _client.cache_clear()


@functools.cache
def _client() -> dynamic.DynamicClient:
    return dynamic.DynamicClient(client.ApiClient())


_LOCKS: dict[tuple[str, str, str], threading.Lock] = {}
_LOCKS_GUARD = threading.Lock()


def one_at_a_time(
    reconcile: Callable[Concatenate[str, str, Options], None],
) -> Callable[Concatenate[str, str, Options], None]:
    """A controller's work queue gives an object to one worker at a time. Kopf runs the
    handlers of each watched kind in their own threads, so an instance's event and its pod's
    could reconcile one object at once, and the slower write its older view over the newer
    one, which no later event would correct."""
    name_of = f"{reconcile.__module__}.{reconcile.__qualname__}"

    @functools.wraps(reconcile)
    def serialized(
        namespace: str, name: str, /, *args: Options.args, **kwargs: Options.kwargs
    ) -> None:
        with _LOCKS_GUARD:
            lock = _LOCKS.setdefault((name_of, namespace, name), threading.Lock())
        with lock:
            reconcile(namespace, name, *args, **kwargs)

    return serialized


def _resource(kind: Kind) -> Resource:
    return _client().resources.get(api_version=kind.api_version, kind=kind.kind)


def get(kind: Kind, name: str, namespace: str | None = None) -> Manifest | None:
    """The object as the API server has it now, or None."""
    try:
        found: Manifest = _client().get(_resource(kind), name=name, namespace=namespace).to_dict()
    except NotFoundError:
        return None
    return found


def list_(kind: Kind, namespace: str | None = None, label_selector: str = "") -> list[Manifest]:
    found = _client().get(_resource(kind), namespace=namespace, label_selector=label_selector)
    items: list[Manifest] = found.to_dict()["items"]
    return items


def create(manifest: Manifest) -> Manifest | None:
    """Create; None when one of that name exists (a retry, a race) or its namespace is ending."""
    kind = Kind(manifest["apiVersion"], manifest["kind"])
    try:
        created: Manifest = (
            _client()
            .create(
                _resource(kind),
                body=manifest,
                namespace=manifest["metadata"].get("namespace"),
                field_manager=FIELD_MANAGER,
            )
            .to_dict()
        )
    except ConflictError:
        return None
    except ForbiddenError as error:
        if "being terminated" not in str(error.body):
            raise
        return None  # its namespace is going away, and everything in it
    return created


def patch(
    kind: Kind, name: str, namespace: str | None, body: Manifest, *, status: bool = False
) -> None:
    """JSON merge patch, of the status subresource where the kind has one and status=True."""
    resource = _resource(kind)
    if status and "status" in resource.subresources:
        resource = resource.subresources["status"]
    with contextlib.suppress(NotFoundError):  # deleted meanwhile: nothing left to update
        _client().patch(
            resource,
            body=body,
            name=name,
            namespace=namespace,
            content_type="application/merge-patch+json",
            field_manager=FIELD_MANAGER,
        )


def delete(
    kind: Kind,
    name: str,
    namespace: str | None,
    *,
    uid: str | None = None,
    foreground: bool = False,
) -> None:
    """Delete (only the object with this uid, when given); one already gone is no error."""
    body: Manifest = {"propagationPolicy": "Foreground" if foreground else "Background"}
    if uid:
        body["preconditions"] = {"uid": uid}
    # Gone already, or replaced by a newer object of that name that is not ours to delete.
    with contextlib.suppress(NotFoundError, ConflictError):
        _client().delete(_resource(kind), name=name, namespace=namespace, body=body)


def owner_reference(owner: Manifest) -> Manifest:
    """The controller reference of a child: the garbage collector removes it with its owner."""
    return {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def controller_of(obj: Manifest) -> Manifest | None:
    """The ownerReference marked controller, if any."""
    for reference in obj.get("metadata", {}).get("ownerReferences") or []:
        if reference.get("controller"):
            found: Manifest = reference
            return found
    return None


def namespace_of(body: Mapping[str, Any]) -> str:
    """The namespace of a namespaced object (Kopf types it as optional for all kinds)."""
    return str(body["metadata"]["namespace"])


def quantity(value: str) -> Decimal:
    """A resource quantity ("1Gi", "500m") as a number."""
    parsed: Decimal = utils.parse_quantity(value)
    return parsed


def changed(current: Manifest | None, wanted: Manifest) -> bool:
    """Whether writing `wanted` (a merge patch of status) would change `current`."""
    return any((current or {}).get(key) != value for key, value in wanted.items())
