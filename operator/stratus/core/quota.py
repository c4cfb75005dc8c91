"""Project quota on sums (storage) and the usage Projects report.

Object counts are the API server's job (the Project's ResourceQuota). Sums are checked here,
before any child exists: under a lock per namespace, from a consistent read of the API, and
the admission is recorded in the API (status.claimName) before the lock is released, so
concurrent creates can never overshoot the quota together.
"""

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from stratus.api.common import QUOTA_ADMITTED
from stratus.api.project import ProjectSpec
from stratus.constants import API_VERSION
from stratus.core import kube
from stratus.core.errors import StratusError
from stratus.core.reconcile import commit_status
from stratus.core.resolve import project_of
from stratus.core.units import amount, gibibytes, quantity
from stratus.core.workqueue import Strength, hold, offer

QUOTA_EXCEEDED = "QuotaExceeded"


class QuotaExceeded(StratusError):
    """Admitting this would take the Project over its quota. What can change that (an object
    of the Project gone, the Project's quota raised) retries it at once
    (handlers.quota); the delay is only a safety net."""

    retry_after = 600.0
    phase = "Error"
    condition = QUOTA_ADMITTED


def _present(objects: list[kube.Manifest]) -> list[kube.Manifest]:
    return [o for o in objects if not o["metadata"].get("deletionTimestamp")]


COUNTED_KINDS = (
    "Server",
    "Volume",
    "Network",
    "Bucket",
    "VolumeBackup",
    "FloatingIP",
    "LoadBalancer",
)


def usage_of(namespace: str) -> dict[str, int | str]:
    """What a Project's namespace holds, in the units of its quota."""
    return tally({kind: kube.list_objects(API_VERSION, kind, namespace) for kind in COUNTED_KINDS})


def held(server: kube.Manifest) -> tuple[int, Decimal]:
    """The vCPUs and memory a Server holds: none unless admitted, none while shelved; while a
    resize waits to be confirmed, the larger of its two Flavors for each, as Nova keeps the old
    host's share until then, so that a revert always fits the quota."""
    status = server.get("status") or {}
    if not status.get("flavor") or status.get("shelved"):
        return 0, Decimal(0)
    flavors = [f for f in (status["flavor"], status.get("previousFlavor")) if f]
    return max(int(f["vcpus"]) for f in flavors), max(amount(f["memory"]) for f in flavors)


def tally(objects: Mapping[str, list[kube.Manifest]]) -> dict[str, int | str]:
    """Usage in the quota's units, from a namespace's objects of COUNTED_KINDS by kind."""
    present = {kind: _present(list(objects.get(kind, []))) for kind in COUNTED_KINDS}
    servers, volumes = present["Server"], present["Volume"]
    holdings = [held(s) for s in servers]
    storage = sum(
        (amount(v["spec"]["size"]) for v in volumes if (v.get("status") or {}).get("claimName")),
        Decimal(0),
    )
    return {
        "servers": len(servers),
        "cores": sum(cores for cores, _ in holdings),
        "memory": quantity(sum((memory for _, memory in holdings), Decimal(0))),
        "volumes": len(volumes),
        "storage": quantity(storage),
        "networks": len(present["Network"]),
        "buckets": len(present["Bucket"]),
        "backups": len(present["VolumeBackup"]),
        "floatingIps": len(present["FloatingIP"]),
        "loadBalancers": len(present["LoadBalancer"]),
    }


def refresh_usage(namespace: str) -> None:
    """Bring the owning Project's status.usage up to date after its contents changed.

    This is the only writer of usage, and it counts and writes one pass at a time: two
    passes counting at once could otherwise land their writes in the wrong order. A refresh
    asked for while one runs is left to that pass's thread, which counts once more when it
    is done: a boot storm of a hundred Servers counts a few times, not a hundred."""
    offer(f"usage/{namespace}", Strength.OBSERVE, lambda: _write_usage(namespace))


def _write_usage(namespace: str) -> None:
    project = project_of(namespace)
    if project is None:
        return
    usage = usage_of(namespace)
    if (project.get("status") or {}).get("usage") != usage:
        kube.patch_status(
            API_VERSION, "Project", project["metadata"]["name"], None, status={"usage": usage}
        )


def _check(
    project: kube.Manifest, what: str, asks: list[tuple[str, Decimal, Decimal, Decimal | None]]
) -> None:
    """QuotaExceeded for the first (resource, used by others, wanted, limit) over its limit."""
    for resource, used, wanted, limit in asks:
        if limit is not None and used + wanted > limit:
            shown = gibibytes if resource in ("storage", "memory") else str
            raise QuotaExceeded(
                QUOTA_EXCEEDED,
                f"{resource} quota of Project {project['metadata']['name']} exceeded: "
                f"{shown(used)} used by other {what} + {shown(wanted)} requested "
                f"> {shown(limit)} allowed",
            )


def _limit(value: str | int | None) -> Decimal | None:
    return None if value is None else amount(value)


def admit_storage(body: Mapping[str, Any], size: str) -> None:
    """Admit a Volume of `size` (new, or grown to it), or raise QuotaExceeded with the numbers."""
    namespace, volume = body["metadata"]["namespace"], body["metadata"]["name"]
    project = project_of(namespace)
    with hold(f"quota/{namespace}"):
        if project is not None:
            quota = ProjectSpec.model_validate(project["spec"]).quota
            others = [
                v
                for v in _admitted(namespace, "Volume", "claimName")
                if v["metadata"]["name"] != volume
            ]
            used = sum((amount(v["spec"]["size"]) for v in others), Decimal(0))
            _check(project, "Volumes", [("storage", used, amount(size), _limit(quota.storage))])
        commit_status(body, {"claimName": volume})


def admit_server(
    body: Mapping[str, Any],
    flavor: Mapping[str, Any],
    previous: Mapping[str, Any] | None = None,
) -> None:
    """Admit a Server of `flavor` (as status.flavor records it), or raise QuotaExceeded. A
    shelved Server counts as a server, not for its vCPUs and memory; admitted, it is not
    shelved any more. `previous` is the Flavor a resize leaves, held until it is confirmed."""
    namespace, server = body["metadata"]["namespace"], body["metadata"]["name"]
    project = project_of(namespace)
    with hold(f"quota/{namespace}"):
        if project is not None:
            quota = ProjectSpec.model_validate(project["spec"]).quota
            others = [
                s
                for s in _admitted(namespace, "Server", "flavor")
                if s["metadata"]["name"] != server
            ]
            holdings = [held(s) for s in others]
            _check(
                project,
                "Servers",
                [
                    ("servers", Decimal(len(others)), Decimal(1), _limit(quota.servers)),
                    (
                        "cores",
                        Decimal(sum(cores for cores, _ in holdings)),
                        Decimal(flavor["vcpus"]),
                        _limit(quota.cores),
                    ),
                    (
                        "memory",
                        sum((memory for _, memory in holdings), Decimal(0)),
                        amount(flavor["memory"]),
                        _limit(quota.memory),
                    ),
                ],
            )
        fields = {"flavor": dict(flavor), "previousFlavor": previous, "shelved": None}
        commit_status(body, fields)


def _admitted(namespace: str, kind: str, mark: str) -> list[kube.Manifest]:
    """Objects of `kind` whose admission is recorded as status.<mark>, deleting ones included:
    they hold their resources until they are gone."""
    return [
        o
        for o in kube.list_objects(API_VERSION, kind, namespace)
        if (o.get("status") or {}).get(mark)
    ]
