"""Cinder and Glance: Volumes (create, extend, retype, snapshot, attach), Snapshots,
VolumeBackups and Images."""

from starlette.routing import Route

from stratus.dashboard import manifests
from stratus.dashboard.kubeapi import (
    BUCKETS,
    IMAGES,
    SERVERS,
    SNAPSHOTS,
    VOLUME_BACKUPS,
    VOLUMES,
)
from stratus.dashboard.manifests import Form
from stratus.dashboard.pages.servers import change_volumes
from stratus.dashboard.views import Visit, acting, kind_routes


async def extend(place: Visit, name: str, form: Form) -> str:
    size = form.text("size")
    await place.kube.patch(VOLUMES, name, manifests.resize(size), place.namespace)
    return f"Volume {name} is being extended to {size}."


async def retype(place: Visit, name: str, form: Form) -> str:
    volume_type = form.text("volumeType")
    await place.kube.patch(VOLUMES, name, manifests.retype(volume_type), place.namespace)
    return f"Volume {name} is asked to retype to {volume_type}."


async def snapshot(place: Visit, name: str, form: Form) -> str:
    taken = manifests.snapshot(form, place.namespace)
    await place.kube.create(SNAPSHOTS, taken, place.namespace)
    return f"Snapshot {taken['metadata']['name']} of Volume {name} is being taken."


async def attach(place: Visit, name: str, form: Form) -> str:
    return await change_volumes(place, form.text("server"), name, attaching=True)


VOLUME_ACTIONS = {"extend": extend, "retype": retype, "snapshot": snapshot, "attach": attach}

routes = [
    # A Volume's form offers Images, Snapshots and backups to copy; its rows, Servers to
    # attach to.
    *kind_routes(VOLUMES, manifests.volume, IMAGES, SNAPSHOTS, VOLUME_BACKUPS, SERVERS),
    Route("/p/{project}/volumes/{name}/{action}", acting(VOLUME_ACTIONS), methods=["POST"]),
    *kind_routes(SNAPSHOTS, manifests.snapshot, VOLUMES),
    *kind_routes(VOLUME_BACKUPS, manifests.volume_backup, VOLUMES, BUCKETS),
    *kind_routes(IMAGES, manifests.image),
]
