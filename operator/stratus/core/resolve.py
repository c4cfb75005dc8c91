"""Resolving what one Stratus object names of another: references across Projects, the
Project that owns a namespace, and what an Image offers to copy. Shared by every handler
that follows a reference, so each rule lives once."""

from dataclasses import dataclass
from typing import Any

from stratus.api.image import ImageSpec
from stratus.api.network import NetworkSpec
from stratus.constants import API_VERSION, LABEL_PROJECT
from stratus.core import kube
from stratus.core.errors import DependencyNotReady, NotVisible
from stratus.core.reconcile import deleting

Manifest = dict[str, Any]


def split_reference(namespace: str, reference: str) -> tuple[str, str]:
    """(namespace, name) of `<name>` (in `namespace`) or `<namespace>/<name>`."""
    owner_namespace, _, name = reference.rpartition("/")
    return owner_namespace or namespace, name


def attach_key(namespace: str, volume: str) -> str:
    """Held while a Volume's attachment is decided: by a Server attaching it, and by the
    Volume's deletion checking it is free, so that exactly one of them wins."""
    return f"attach/{namespace}/{volume}"


def ports_key(namespace: str, network: str) -> str:
    """Held while addresses are taken on a Network, and while its deletion checks that none
    are: a Server allocating at that moment is either seen, or sees the Network deleting."""
    return f"ports/{namespace}/{network}"


def project_name_of(namespace: str) -> str | None:
    """The Project whose namespace this is, read off the namespace's label."""
    found = kube.read("v1", "Namespace", namespace)
    return ((found or {}).get("metadata", {}).get("labels") or {}).get(LABEL_PROJECT)


def project_of(namespace: str) -> Manifest | None:
    """The Project that owns a namespace, if any."""
    project = project_name_of(namespace)
    return kube.read(API_VERSION, "Project", project) if project else None


def ready_dependency(
    kind: str, name: str, namespace: str, phases: tuple[str, ...], reason: str
) -> Manifest:
    """The Stratus object this one needs, in one of `phases` and not being deleted; otherwise
    DependencyNotReady, which a change to that object ends at once."""
    found = kube.read(API_VERSION, kind, name, namespace)
    phase = ((found or {}).get("status") or {}).get("phase")
    if found is None:
        state = "does not exist"
    elif deleting(found):
        state = "is being deleted"
    elif phase not in phases:
        state = f"is {phase or 'not ready'}"
    else:
        return found
    raise DependencyNotReady(reason, f"{kind} {name} {state}")


def bucket_credentials(namespace: str, bucket: str) -> str:
    """A Ready Bucket's credentials Secret, which volume backup and restore pods use."""
    found = ready_dependency("Bucket", bucket, namespace, ("Ready",), "BucketNotReady")
    return str(found["status"]["credentialsSecret"])


def resolve_network(
    namespace: str, reference: str, *, external: bool = False
) -> tuple[str, str, NetworkSpec]:
    """A Network of this Project, or another Project's that is shared (or external, where
    `external` welcomes one: a VIP may face outside). Another Project's private Network is
    never used, not even to take an address of it."""
    network_namespace, name = split_reference(namespace, reference)
    found = kube.read(API_VERSION, "Network", name, network_namespace)
    if found is None:
        raise DependencyNotReady(
            "NetworkNotFound", f"Network {network_namespace}/{name} does not exist"
        )
    network = NetworkSpec.model_validate(found["spec"])
    if network_namespace != namespace and not (network.shared or (external and network.external)):
        raise NotVisible("NetworkNotVisible", f"Network {network_namespace}/{name} is not shared")
    if deleting(found):
        raise DependencyNotReady(
            "NetworkNotReady", f"Network {network_namespace}/{name} is being deleted"
        )
    if (found.get("status") or {}).get("phase") != "Active":
        raise DependencyNotReady(
            "NetworkNotReady", f"Network {network_namespace}/{name} is not Active"
        )
    return network_namespace, name, network


def resolve_image(namespace: str, reference: str) -> tuple[str, str, Manifest, ImageSpec]:
    """The Image a reference names, if this namespace may use it."""
    image_namespace, name = split_reference(namespace, reference)
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
    source: Manifest
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
    where = f"{image_namespace}/{name}"
    if deleting(image):
        raise DependencyNotReady("ImageNotReady", f"Image {where} is being deleted")
    if status.get("phase") != "Active":
        raise DependencyNotReady(
            "ImageNotReady", f"Image {where} is {status.get('phase') or 'Queued'}"
        )
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
    return project_name_of(namespace) in spec.shared_with
