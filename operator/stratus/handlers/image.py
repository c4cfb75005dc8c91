"""Image handlers: import a URL once into a golden volume; report progress; enforce visibility."""

from typing import Any

import kopf

from stratus.api.image import IMAGE, ImageSpec
from stratus.builders.meta import ChildRef, Children, Owner
from stratus.builders.storage import build_golden_datavolume
from stratus.config import settings
from stratus.constants import (
    GROUP,
    LABEL_MANAGED_BY,
    MANAGED_BY,
    VERSION,
)
from stratus.core import kube
from stratus.core.copies import DATAVOLUMES, copies_of, source_claim
from stratus.core.errors import WaitingForEvent
from stratus.core.indexes import index
from stratus.core.parents import Parent, finish_deletion, own_pass, parent_key, register
from stratus.core.reconcile import Outcome, parse_spec, reconcile
from stratus.core.units import amount
from stratus.status.storage import datavolume_failure


@kopf.on.resume(GROUP, VERSION, IMAGE.plural)
@kopf.on.create(GROUP, VERSION, IMAGE.plural)
@kopf.on.update(GROUP, VERSION, IMAGE.plural)
def image_changed(body: kopf.Body, **_: Any) -> None:
    own_pass(IMAGE, body, ensure_image)


@kopf.on.delete(GROUP, VERSION, IMAGE.plural)
def image_deleted(body: kopf.Body, **_: Any) -> None:
    reconcile(IMAGE, body, release_image, error_phase="Deleting", deletion=True)


def release_image(body: kopf.Body) -> Outcome:
    """The golden volume lives in another namespace, so no ownerReference removes it; it goes
    once no Volume or Server is still being copied from it."""
    for ref in image_children(body):
        if copies := copies_of(str(ref.namespace), ref.name):
            raise WaitingForEvent(
                "ImageInUse",
                f"{len(copies)} copies of this Image are still being made: {', '.join(copies)}",
            )
        kube.delete(ref.api_version, ref.kind, ref.name, ref.namespace)
    return Outcome(
        phase="Deleting", ready=False, reason="Deleting", message="golden volume removed"
    )


@index(GROUP, VERSION, IMAGE.plural)
def images_by_golden_volume(body: kopf.Body, **_: Any) -> dict[str, kopf.Body] | None:
    golden = (body.get("status") or {}).get("goldenVolume")
    return {str(golden): body} if golden else None


@index(GROUP, VERSION, IMAGE.plural)
def images_by_name(
    namespace: str | None, name: str, body: kopf.Body, **_: Any
) -> dict[str, kopf.Body]:
    return {parent_key(namespace, name): body}


def image_children(body: kopf.Body) -> Children:
    spec = parse_spec(ImageSpec, body)
    if spec.source.url is None:
        return {}
    storage = settings().storage
    size = str(spec.min_disk) if spec.min_disk is not None else storage.default_image_size
    golden = build_golden_datavolume(Owner.of(body), spec, storage.images_namespace, size, None)
    return {ChildRef.of(golden): golden}


def ensure_image(body: kopf.Body) -> Outcome:
    children = image_children(body)
    if children:
        kube.converge(images_namespace())
        kube.sync(children)
    return observe_image(body)


def images_namespace() -> kube.Manifest:
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": settings().storage.images_namespace,
            "labels": {LABEL_MANAGED_BY: MANAGED_BY},
        },
    }


def observe_image(body: kopf.Body) -> Outcome:
    children = image_children(body)
    if not children:
        return Outcome(phase="Active", message="a containerDisk image, used where it is")
    (ref,) = children
    golden = kube.read(ref.api_version, ref.kind, ref.name, ref.namespace)
    status = (golden or {}).get("status") or {}
    location = {"goldenVolume": f"{ref.namespace}/{ref.name}", "progress": status.get("progress")}
    failure = datavolume_failure(status)
    if failure:
        return Outcome(
            phase="Error", ready=False, reason="ImportFailed", message=failure, fields=location
        )
    if status.get("phase") == "Succeeded":
        claim = kube.read("v1", "PersistentVolumeClaim", ref.name, ref.namespace) or {}
        capacity = ((claim.get("status") or {}).get("capacity") or {}).get("storage")
        size = int(amount(capacity)) if capacity else None
        return Outcome(phase="Active", message="imported", fields={**location, "size": size})
    if status.get("phase") in (None, "Pending", "ImportScheduled"):
        return Outcome(
            phase="Queued",
            ready=False,
            reason="Queued",
            message="waiting for the importer",
            fields=location,
        )
    return Outcome(
        phase="Importing",
        ready=False,
        reason="Importing",
        message=f"importing {status.get('progress') or ''}".strip(),
        fields=location,
    )


PARENT = Parent(IMAGE, images_by_name, image_children, ensure_image, observe_image, release_image)
register(PARENT)


@kopf.on.event(*DATAVOLUMES)
def golden_copy_changed(body: kopf.Body, **_: Any) -> None:
    """A copy from a golden volume finished or went away: a deleted Image may now let it go."""
    source = source_claim(body)
    for image in images_by_golden_volume.get(source) if source else []:
        finish_deletion(PARENT, image)
