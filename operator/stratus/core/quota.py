"""Project quota on sums (storage) and the usage Projects report.

Object counts are the API server's job (the Project's ResourceQuota). Sums are checked here,
before any child exists: under a lock per namespace, from a consistent read of the API, and
the admission is recorded in the API (status.claimName) before the lock is released, so
concurrent creates can never overshoot the quota together.
"""

import threading
from collections import defaultdict
from decimal import Decimal

from kubernetes.utils.quantity import parse_quantity

from stratus.api.project import ProjectSpec
from stratus.constants import API_VERSION, LABEL_PROJECT
from stratus.core import kube
from stratus.core.errors import StratusError

_guard = threading.Lock()
_locks: defaultdict[str, threading.Lock] = defaultdict(threading.Lock)


class QuotaExceeded(StratusError):
    """Admitting this would take the Project over its quota; retried as usage may change."""

    retry_after = 60.0
    phase = "Error"


def _namespace_lock(namespace: str) -> threading.Lock:
    with _guard:
        return _locks[namespace]


def project_of(namespace: str) -> kube.Manifest | None:
    """The Project that owns a namespace, if any."""
    found = kube.read("v1", "Namespace", namespace)
    project = ((found or {}).get("metadata", {}).get("labels") or {}).get(LABEL_PROJECT)
    return kube.read(API_VERSION, "Project", project) if project else None


def amount(text: str | int) -> Decimal:
    """A Kubernetes quantity as a number (the kubernetes package leaves this untyped)."""
    parsed: Decimal = parse_quantity(text)  # type: ignore[no-untyped-call]
    return parsed


def gibibytes(amount: Decimal) -> str:
    return f"{amount / 2**30:.1f}Gi"


def quantity(amount: Decimal) -> str:
    """Bytes as the largest binary unit that holds them exactly, as Kubernetes writes them."""
    for suffix, factor in (("Ti", 2**40), ("Gi", 2**30), ("Mi", 2**20), ("Ki", 2**10)):
        if amount and amount % factor == 0:
            return f"{amount // factor}{suffix}"
    return str(amount)


def usage_of(namespace: str) -> dict[str, int | str]:
    """What a Project's namespace holds, in the units of its quota."""
    volumes = [
        v
        for v in kube.list_objects(API_VERSION, "Volume", namespace)
        if not v["metadata"].get("deletionTimestamp")
    ]
    admitted = [v for v in volumes if (v.get("status") or {}).get("claimName")]
    storage = sum((amount(v["spec"]["size"]) for v in admitted), Decimal(0))
    return {
        "servers": 0,
        "cores": 0,
        "memory": "0",
        "volumes": len(volumes),
        "storage": quantity(storage),
        "networks": len(kube.list_names(API_VERSION, "Network", namespace)),
        "buckets": 0,
    }


def refresh_usage(namespace: str) -> None:
    """Bring the owning Project's status.usage up to date after its contents changed."""
    project = project_of(namespace)
    if project is None:
        return
    usage = usage_of(namespace)
    if (project.get("status") or {}).get("usage") != usage:
        kube.patch_status(
            API_VERSION, "Project", project["metadata"]["name"], None, status={"usage": usage}
        )


def admit_storage(namespace: str, volume: str, size: str) -> None:
    """Admit a Volume of `size` (new, or grown to it), or raise QuotaExceeded with the numbers."""
    project = project_of(namespace)
    limit = ProjectSpec.model_validate(project["spec"]).quota.storage if project else None
    with _namespace_lock(namespace):
        if limit is not None:
            others = sum(
                (
                    amount(v["spec"]["size"])
                    for v in admitted_volumes(namespace)
                    if v["metadata"]["name"] != volume
                ),
                Decimal(0),
            )
            wanted, allowed = amount(size), amount(limit)
            if others + wanted > allowed:
                raise QuotaExceeded(
                    "QuotaExceeded",
                    f"storage quota of Project {project['metadata']['name']} exceeded: "  # type: ignore[index]
                    f"{gibibytes(others)} used by other Volumes + {gibibytes(wanted)} requested "
                    f"> {gibibytes(allowed)} allowed",
                )
        kube.patch_status(API_VERSION, "Volume", volume, namespace, status={"claimName": volume})


def admitted_volumes(namespace: str) -> list[kube.Manifest]:
    return [
        v
        for v in kube.list_objects(API_VERSION, "Volume", namespace)
        if (v.get("status") or {}).get("claimName")
    ]
