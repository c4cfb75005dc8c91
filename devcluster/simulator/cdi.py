"""CDI's DataVolume controller: a claim per DataVolume, and the import or clone it reports.

Each DataVolume gets a PersistentVolumeClaim of its name (provisioned by `storage`). Once that
is Bound the "transfer" runs: a timer advances status.progress for a few seconds, then the
phase becomes Succeeded, and a clone then holds its source's bytes (`contents`). The status
shapes (phases, the Bound/Ready/Running conditions and their reasons) are CDI's own. Sources
that cannot work here fail the way CDI reports them: an http URL on a `.invalid` host cannot
be resolved, a clone source that does not exist is waited for.
"""

import copy
import random
from typing import Any
from urllib.parse import urlparse

import kopf

from devcluster.simulator import conditions, contents, kube, storage
from devcluster.simulator.conditions import condition
from devcluster.simulator.kube import Manifest

GROUP, VERSION, PLURAL = "cdi.kubevirt.io", "v1beta1", "datavolumes"

IMPORT, CLONE, UPLOAD = "Import", "Clone", "Upload"
IMPORT_SOURCES = ("http", "s3", "gcs", "registry", "imageio", "vddk", "blank")
SCHEDULED = {IMPORT: "ImportScheduled", CLONE: "CloneScheduled", UPLOAD: "UploadScheduled"}
IN_PROGRESS = {IMPORT: "ImportInProgress", CLONE: "CloneInProgress", UPLOAD: "UploadReady"}
COMPLETE = {IMPORT: "Import Complete", CLONE: "Clone Complete", UPLOAD: "Upload Complete"}
POD_RUNNING = "Pod is running"  # CDI's reason while the importer/cloner pod runs
CLONE_WITHOUT_SOURCE = "CloneWithoutSource"
LABELS = {
    "app": "containerized-data-importer",
    "app.kubernetes.io/component": "storage",
    "app.kubernetes.io/managed-by": "cdi-controller",
}


def operation(dv: Manifest) -> str:
    """Import, Clone or Upload: what CDI does to fill the claim."""
    source = dv["spec"].get("source") or {}
    if "upload" in source:
        return UPLOAD
    if any(kind in source for kind in IMPORT_SOURCES):
        return IMPORT
    return CLONE  # pvc, snapshot, or a sourceRef to a DataSource


def import_error(dv: Manifest) -> str | None:
    """The importer's error for a URL that cannot be reached here (a host under .invalid)."""
    url = (dv["spec"].get("source") or {}).get("http", {}).get("url")
    host = urlparse(url).hostname if url else None
    if not host or not host.endswith(".invalid"):
        return None
    return (
        f'Unable to connect to http data source: HTTP request errored: Get "{url}": '
        f"dial tcp: lookup {host}: no such host"
    )


def clone_source(dv: Manifest, data_source: Manifest | None = None) -> tuple[str, str, str] | None:
    """(kind, namespace, name) of what a clone copies: a pvc or snapshot, maybe via a DataSource."""
    spec = dv["spec"]
    namespace = dv["metadata"]["namespace"]
    source = spec.get("source") or {}
    if spec.get("sourceRef"):
        source = (data_source or {}).get("spec", {}).get("source") or {}
        namespace = spec["sourceRef"].get("namespace", namespace)
    for kind in ("pvc", "snapshot"):
        if kind in source:
            return kind, source[kind].get("namespace", namespace), source[kind]["name"]
    return None


def claim_spec(dv: Manifest, default_class: str | None, source_size: str | None) -> Manifest:
    """The claim's spec from spec.pvc (as given) or spec.storage (with CDI's defaults)."""
    spec = dv["spec"]
    claim: Manifest
    if "pvc" in spec:
        claim = copy.deepcopy(spec["pvc"])
    else:
        claim = copy.deepcopy(spec.get("storage") or {})
        # CDI takes what the storage API leaves out from the class's StorageProfile. The local
        # cluster's class stands for shared storage (as Ceph RBD is), whose profile offers
        # ReadWriteMany first: what lets a Server's root disk live-migrate.
        claim.setdefault("accessModes", ["ReadWriteMany"])
        claim.setdefault("volumeMode", "Filesystem")
    requests = claim.setdefault("resources", {}).setdefault("requests", {})
    if "storage" not in requests and source_size:
        requests["storage"] = source_size
    if not claim.get("storageClassName") and default_class:
        claim["storageClassName"] = default_class
    return claim


def build_claim(
    dv: Manifest, default_class: str | None, source_size: str | None = None
) -> Manifest:
    """The DataVolume's PersistentVolumeClaim: same name, controlled by the DataVolume."""
    annotations = {"cdi.kubevirt.io/createdForDataVolume": dv["metadata"]["uid"]}
    source = dv["spec"].get("source") or {}
    for kind in ("http", "registry", "s3", "gcs"):
        if kind in source:
            annotations["cdi.kubevirt.io/storage.import.source"] = kind
            annotations["cdi.kubevirt.io/storage.import.endpoint"] = source[kind].get("url", "")
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {
            "name": dv["metadata"]["name"],
            "namespace": dv["metadata"]["namespace"],
            "labels": {**(dv["metadata"].get("labels") or {}), **LABELS},
            "annotations": annotations,
            "ownerReferences": [kube.owner_reference(dv)],
        },
        "spec": claim_spec(dv, default_class, source_size),
    }


def _status(
    dv: Manifest,
    phase: str,
    progress: str,
    wanted: list[Manifest],
    at: str,
    *,
    restarts: int = 0,
    claimed: bool = True,
) -> Manifest:
    previous = (dv.get("status") or {}).get("conditions")
    return {
        "phase": phase,
        "progress": progress,
        "restartCount": restarts,
        "claimName": dv["metadata"]["name"] if claimed else None,
        "conditions": conditions.merge(previous, wanted, at, heartbeat="lastHeartbeatTime"),
    }


def _bound(claim_name: str) -> Manifest:
    return condition("Bound", True, "Bound", f"PVC {claim_name} Bound")


def succeeded(dv: Manifest, at: str) -> Manifest:
    name = dv["metadata"]["name"]
    return _status(
        dv,
        "Succeeded",
        "100.0%",
        [
            _bound(name),
            condition("Ready", True),
            condition("Running", False, "Completed", COMPLETE[operation(dv)]),
        ],
        at,
    )


def datavolume_status(
    dv: Manifest, claim: Manifest | None, at: str, source_missing: str | None = None
) -> Manifest:
    """What CDI reports for the DataVolume, given its claim (phases that need time are kept)."""
    op, name = operation(dv), dv["metadata"]["name"]
    current = dv.get("status") or {}
    phase = current.get("phase")
    if source_missing:
        return _status(
            dv,
            SCHEDULED[op],
            "N/A",
            [
                condition("Bound", "Unknown", CLONE_WITHOUT_SOURCE, source_missing),
                condition("Ready", False, CLONE_WITHOUT_SOURCE),
                condition("Running", False),
            ],
            at,
            claimed=False,
        )
    if claim is None or claim.get("status", {}).get("phase") != "Bound":
        bound = (
            condition("Bound", False, "NotFound", "No PVC found")
            if claim is None
            else condition("Bound", False, "Pending", f"PVC {name} Pending")
        )
        return _status(
            dv,
            "Pending",
            "N/A",
            [bound, condition("Ready", False), condition("Running", False)],
            at,
            claimed=claim is not None,
        )
    if phase == "Succeeded":
        return succeeded(dv, at)
    error = import_error(dv)
    if error:  # the importer pod keeps failing: CDI leaves the phase at ImportInProgress
        return _status(
            dv,
            IN_PROGRESS[op],
            "N/A",
            [
                _bound(name),
                condition("Ready", False),
                condition("Running", False, "Error", error),
            ],
            at,
            restarts=1,
        )
    if phase == IN_PROGRESS[op] or op == UPLOAD:
        return _status(
            dv,
            IN_PROGRESS[op],
            current.get("progress", "N/A"),
            [
                _bound(name),
                condition("Ready", False, "TransferRunning"),
                condition("Running", True, POD_RUNNING),
            ],
            at,
        )
    return _status(
        dv,
        SCHEDULED[op],
        "N/A",
        [_bound(name), condition("Ready", False), condition("Running", False)],
        at,
    )


def transferring(dv: Manifest) -> bool:
    """Whether an import or clone is under way that time alone will finish."""
    op = operation(dv)
    status = dv.get("status") or {}
    running = conditions.find(status.get("conditions"), "Running") or {}
    bound = conditions.find(status.get("conditions"), "Bound") or {}
    return (
        op != UPLOAD
        and status.get("phase") in (SCHEDULED[op], IN_PROGRESS[op])
        and bound.get("status") == "True"
        and running.get("reason") != "Error"
    )


def advance(dv: Manifest, step: float, at: str) -> Manifest:
    """The status one progress step later: scheduled -> in progress -> ... -> Succeeded."""
    op = operation(dv)
    status = dv.get("status") or {}
    if status.get("phase") != IN_PROGRESS[op]:
        progress = 0.0
    else:
        progress = float(str(status.get("progress", "0")).rstrip("%") or 0) + step
    if progress >= 100:
        return succeeded(dv, at)
    started = {**dv, "status": {**status, "phase": IN_PROGRESS[op], "progress": f"{progress:.2f}%"}}
    return datavolume_status(started, {"status": {"phase": "Bound"}}, at)


# --- handlers: read, decide with the functions above, write ---------------------------------


def _default_class() -> str | None:
    classes = [c for c in kube.list_(kube.STORAGE_CLASS) if storage.is_default(c)]
    return classes[0]["metadata"]["name"] if classes else None


def _clone_source_state(dv: Manifest) -> tuple[str | None, str | None]:
    """(why the clone must wait, the source's size) for a clone; (None, None) otherwise."""
    if operation(dv) != CLONE:
        return None, None
    ref = dv["spec"].get("sourceRef")
    data_source = None
    if ref:
        ref_ns = ref.get("namespace", dv["metadata"]["namespace"])
        data_source = kube.get(kube.DATA_SOURCE, ref["name"], ref_ns)
        if data_source is None:
            return f"The source DataSource {ref['name']} doesn't exist", None
    source = clone_source(dv, data_source)
    if source is None:
        return "The clone source is not specified", None
    kind, namespace, name = source
    found = kube.get(kube.PVC if kind == "pvc" else kube.VOLUME_SNAPSHOT, name, namespace)
    if found is None:
        return f"The source {kind} {name} doesn't exist", None
    status = found.get("status") or {}
    size = status.get("capacity", {}).get("storage") or status.get("restoreSize")
    return None, size


def _copy_clone(dv: Manifest) -> None:
    """The clone's bytes: its source claim's volume, or its source snapshot's content."""
    ref = dv["spec"].get("sourceRef")
    data_source = None
    if ref:
        ref_namespace = ref.get("namespace", dv["metadata"]["namespace"])
        data_source = kube.get(kube.DATA_SOURCE, ref["name"], ref_namespace)
    found = clone_source(dv, data_source)
    claim = kube.get(kube.PVC, dv["metadata"]["name"], dv["metadata"]["namespace"])
    target = ((claim or {}).get("spec") or {}).get("volumeName")
    if found is None or not target:
        return
    kind, namespace, name = found
    source = kube.get(kube.PVC if kind == "pvc" else kube.VOLUME_SNAPSHOT, name, namespace)
    image = storage.source_image(source)
    if image is not None:
        contents.clone(image, target)


@kube.one_at_a_time
def reconcile(namespace: str, name: str, logger: kopf.Logger) -> None:
    """Ensure the DataVolume's claim and bring its status up to date."""
    dv = kube.get(kube.DATA_VOLUME, name, namespace)
    if dv is None or dv["metadata"].get("deletionTimestamp"):
        return
    waiting, source_size = _clone_source_state(dv)
    claim = kube.get(kube.PVC, name, namespace)
    if claim is None and waiting is None:
        created = kube.create(build_claim(dv, _default_class(), source_size))
        if created:
            logger.info(f"created claim {namespace}/{name}")
        claim = created or kube.get(kube.PVC, name, namespace)
    wanted = datavolume_status(dv, claim, conditions.now(), waiting)
    if kube.changed(dv.get("status"), wanted):
        kube.patch(kube.DATA_VOLUME, name, namespace, {"status": wanted}, status=True)


@kopf.on.event(GROUP, VERSION, PLURAL)
def datavolume_changed(type: str, body: kopf.Body, logger: kopf.Logger, **_: Any) -> None:
    if type != "DELETED":
        reconcile(kube.namespace_of(body), body.metadata.name, logger)


@kopf.on.event("", "v1", "persistentvolumeclaims")
def claim_changed_for_datavolume(body: kopf.Body, logger: kopf.Logger, **_: Any) -> None:
    """A claim's binding moves its DataVolume on; a clone waits for its source claim too."""
    owner = kube.controller_of(dict(body))
    if owner and owner.get("kind") == "DataVolume":
        reconcile(kube.namespace_of(body), owner["name"], logger)
    for dv in kube.list_(kube.DATA_VOLUME, kube.namespace_of(body)):
        if (dv.get("status") or {}).get("phase") == SCHEDULED[CLONE] and not kube.get(
            kube.PVC, dv["metadata"]["name"], dv["metadata"]["namespace"]
        ):
            reconcile(dv["metadata"]["namespace"], dv["metadata"]["name"], logger)


@kopf.timer(GROUP, VERSION, PLURAL, interval=1.0, when=lambda body, **_: transferring(dict(body)))
def transfer_progress(body: kopf.Body, **_: Any) -> None:
    """One step of an import or clone; the timer stops matching once the phase is Succeeded."""
    dv = kube.get(kube.DATA_VOLUME, body.metadata.name, kube.namespace_of(body))
    if dv is None or not transferring(dv):
        return
    wanted = advance(dv, random.uniform(18.0, 34.0), conditions.now())
    if wanted["phase"] == "Succeeded" and operation(dv) == CLONE:
        _copy_clone(dv)
    kube.patch(
        kube.DATA_VOLUME,
        body.metadata.name,
        kube.namespace_of(body),
        {"status": wanted},
        status=True,
    )
