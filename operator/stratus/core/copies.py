"""Copies in progress: which DataVolumes are still cloning from a claim (a golden Image volume,
a Volume), from a Kopf index, so that the source is not deleted under a copy."""

from typing import Any

import kopf

from stratus.core.indexes import index

DATAVOLUMES = ("cdi.kubevirt.io", "v1beta1", "datavolumes")


def source_claim(body: Any) -> str | None:
    """<namespace>/<name> of the claim a DataVolume clones, if it clones one."""
    pvc = (((body.get("spec") or {}).get("source") or {}).get("pvc")) or {}
    if not pvc.get("name"):
        return None
    return f"{pvc.get('namespace') or body['metadata']['namespace']}/{pvc['name']}"


@index(*DATAVOLUMES)
def copies_by_source(body: kopf.Body, **_: Any) -> dict[str, str] | None:
    """Clones not yet finished, by the claim they copy: a finished clone no longer reads it."""
    source = source_claim(body)
    if source is None or (body.get("status") or {}).get("phase") == "Succeeded":
        return None
    return {source: f"{body['metadata']['namespace']}/{body['metadata']['name']}"}


def copies_of(namespace: str, claim: str) -> list[str]:
    """The clones still reading this claim."""
    return sorted(set(copies_by_source.get(f"{namespace}/{claim}")))
