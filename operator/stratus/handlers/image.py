"""Image handlers: import a URL once into a golden volume; report progress; enforce visibility."""

from dataclasses import dataclass
from typing import Any

import kopf

from stratus.api.image import IMAGE, ImageSpec
from stratus.builders.meta import ChildRef, Children, Owner
from stratus.builders.storage import build_golden_datavolume
from stratus.config import settings
from stratus.constants import (
    API_VERSION,
    GROUP,
    LABEL_MANAGED_BY,
    LABEL_PROJECT,
    MANAGED_BY,
    VERSION,
)
from stratus.core import kube
from stratus.core.errors import DependencyNotReady, NotVisible
from stratus.core.quota import amount
from stratus.core.reconcile import Outcome, parse_spec, reconcile
from stratus.handlers.children import Parent, parent_key, register


@kopf.on.resume(GROUP, VERSION, IMAGE.plural)
@kopf.on.create(GROUP, VERSION, IMAGE.plural)
@kopf.on.update(GROUP, VERSION, IMAGE.plural)
def image_changed(body: kopf.Body, **_: Any) -> None:
    reconcile(IMAGE, body, lambda: ensure_image(body))


@kopf.on.delete(GROUP, VERSION, IMAGE.plural)
def image_deleted(body: kopf.Body, **_: Any) -> None:
    """The golden volume lives in another namespace, so no ownerReference removes it."""
    for ref in image_children(body):
        kube.delete(ref.api_version, ref.kind, ref.name, ref.namespace)


@kopf.index(GROUP, VERSION, IMAGE.plural)
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
        kube.apply(images_namespace())
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


def datavolume_failure(status: kube.Manifest) -> str | None:
    """CDI's own words when an import or clone fails (CDI keeps retrying; Stratus reports it)."""
    if status.get("phase") == "Failed":
        return "the import failed"
    for condition in status.get("conditions") or []:
        if (
            condition.get("type") == "Running"
            and condition.get("status") == "False"
            and condition.get("reason") == "Error"
        ):
            return str(condition.get("message") or "the importer failed")
    return None


register(Parent(IMAGE, image_children, ensure_image, observe_image))


def resolve_image(
    namespace: str, reference: str
) -> tuple[str, str, kopf.Body | kube.Manifest, ImageSpec]:
    """The Image a reference names (<name> or <namespace>/<name>), if this namespace may use it."""
    image_namespace, _, name = reference.rpartition("/")
    image_namespace = image_namespace or namespace
    image = kube.read(API_VERSION, "Image", name, image_namespace)
    if image is None:
        raise DependencyNotReady("ImageNotFound", f"Image {image_namespace}/{name} does not exist")
    spec = ImageSpec.model_validate(image["spec"])
    if not visible_to(image_namespace, spec, namespace):
        raise NotVisible(
            "ImageNotVisible",
            f"Image {image_namespace}/{name} is {spec.visibility} and not shared with this Project",
        )
    return image_namespace, name, image, spec


@dataclass(frozen=True)
class ImageCopy:
    """What a root disk or a Volume copies from an Active Image, as a CDI DataVolume source."""

    image: str
    source: kube.Manifest
    spec: ImageSpec
    size: int | None
    """The golden volume's size in bytes, when the Image was imported from a URL."""

    @property
    def min_disk(self) -> str | int | None:
        return self.spec.min_disk


def image_copy(namespace: str, reference: str) -> ImageCopy:
    """The copy source of an Image this namespace may use; DependencyNotReady until Active."""
    image_namespace, name, image, spec = resolve_image(namespace, reference)
    status = image.get("status") or {}
    if status.get("phase") != "Active":
        raise DependencyNotReady(
            "ImageNotReady", f"Image {image_namespace}/{name} is {status.get('phase') or 'Queued'}"
        )
    where = f"{image_namespace}/{name}"
    if spec.source.registry:
        return ImageCopy(where, {"registry": {"url": spec.source.registry}}, spec, None)
    golden_namespace, golden = str(status["goldenVolume"]).split("/", 1)
    source = {"pvc": {"namespace": golden_namespace, "name": golden}}
    return ImageCopy(where, source, spec, status.get("size"))


def visible_to(image_namespace: str, spec: ImageSpec, namespace: str) -> bool:
    """Glance's rule: the owner always; shared ones to the listed Projects; public ones to all."""
    if namespace == image_namespace or spec.visibility == "public":
        return True
    if spec.visibility != "shared":
        return False
    found = kube.read("v1", "Namespace", namespace) or {}
    project = (found.get("metadata", {}).get("labels") or {}).get(LABEL_PROJECT)
    return project in spec.shared_with
