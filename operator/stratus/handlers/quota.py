"""Objects refused by the Project's quota try again as soon as that can change: an object of
the Project is gone, or the Project (its quota) changed. No timer is needed."""

from typing import Any

import kopf

from stratus.api.project import ProjectSpec
from stratus.constants import GROUP, VERSION
from stratus.core import conditions
from stratus.core.indexes import index
from stratus.core.parents import PARENTS, run
from stratus.core.quota import QUOTA_EXCEEDED
from stratus.core.workqueue import Strength

ADMITTED_KINDS = ("servers", "volumes")
"""The kinds admitted against the quota on sums (cores, memory, storage)."""


def refused_by_quota(namespace: str | None, body: kopf.Body) -> dict[str, kopf.Body] | None:
    """Objects whose Ready condition says QuotaExceeded, by namespace."""
    return {str(namespace): body} if conditions.ready_reason(body) == QUOTA_EXCEEDED else None


@index(GROUP, VERSION, "servers")
def servers_over_quota(namespace: str | None, body: kopf.Body, **_: Any) -> Any:
    return refused_by_quota(namespace, body)


@index(GROUP, VERSION, "volumes")
def volumes_over_quota(namespace: str | None, body: kopf.Body, **_: Any) -> Any:
    return refused_by_quota(namespace, body)


def _gone(type: str | None, **_: Any) -> bool:
    return type == "DELETED"


def project_object_gone(namespace: str | None, **_: Any) -> None:
    retry_over_quota(str(namespace))


for plural in ADMITTED_KINDS:
    kopf.on.event(GROUP, VERSION, plural, when=_gone)(project_object_gone)


@kopf.on.event(GROUP, VERSION, "projects")
def project_event(name: str, body: kopf.Body, **_: Any) -> None:
    spec = ProjectSpec.model_validate(body.get("spec") or {})
    retry_over_quota(spec.namespace or name)


def retry_over_quota(namespace: str) -> None:
    for kind, waiting in (("Server", servers_over_quota), ("Volume", volumes_over_quota)):
        parent = PARENTS.get(kind)
        if parent is None:
            continue
        for refused in waiting.get(namespace):
            run(parent.kind, refused, parent.ensure, Strength.ENSURE)
