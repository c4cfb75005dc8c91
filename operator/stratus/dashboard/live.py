"""Live pages: a Kubernetes watch, as the signed-in person, streamed to the page as server-sent
events. The page rendered its objects at one resourceVersion and watches from there, so it
misses nothing; each burst of changes becomes one `changed` event, on which htmx fetches the
part of the page that shows them."""

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from stratus.dashboard.kubeapi import (
    BUCKETS,
    EVENTS,
    FLOATINGIPS,
    IMAGES,
    KEYPAIRS,
    LOADBALANCERS,
    NETWORKS,
    PORTS,
    PROJECTS,
    ROUTERS,
    SECURITYGROUPS,
    SERVERGROUPS,
    SERVERS,
    SNAPSHOTS,
    VOLUME_BACKUPS,
    VOLUMES,
    ApiError,
    Kube,
    Resource,
)
from stratus.dashboard.views import kube_of, namespace_of

FOLLOWED = {
    r.plural: r
    for r in (
        SERVERS,
        VOLUMES,
        SNAPSHOTS,
        VOLUME_BACKUPS,
        IMAGES,
        NETWORKS,
        PORTS,
        KEYPAIRS,
        SERVERGROUPS,
        SECURITYGROUPS,
        ROUTERS,
        FLOATINGIPS,
        LOADBALANCERS,
        BUCKETS,
    )
}
SETTLE_SECONDS = 0.25
"""How long a burst of changes may go on before the page is told, so it fetches once."""
HEARTBEAT_SECONDS = 15
"""A comment this often keeps proxies from closing a quiet stream."""
RETRY_SECONDS = 2


@dataclass(frozen=True)
class Watch:
    resource: Resource
    namespace: str | None
    field_selector: str | None = None


def watches_of(request: Request, project: str, namespace: str) -> list[Watch]:
    """What the page follows, each `watch` one of: `<plural>` (every object of a kind in the
    Project), `<plural>:<name>` (one), `events:<Kind>:<name>` (the Events about one object),
    `events` and `projects` (this Project: its usage)."""
    watches = []
    for wanted in request.query_params.getlist("watch"):
        plural, _, name = wanted.partition(":")
        if plural == "projects":
            watches.append(Watch(PROJECTS, None, f"metadata.name={project}"))
        elif plural == "events":
            kind, _, about = name.partition(":")
            selector = f"involvedObject.kind={kind},involvedObject.name={about}" if about else None
            watches.append(Watch(EVENTS, namespace, selector))
        elif plural in FOLLOWED:
            watches.append(
                Watch(FOLLOWED[plural], namespace, f"metadata.name={name}" if name else None)
            )
    return watches


class Ended:
    """The person may no longer watch (their token or rights are gone): the stream ends."""


async def follow(kube: Kube, watch: Watch, since: str, changes: asyncio.Queue[object]) -> None:
    version = since
    while True:
        try:
            async for _ in kube.watch(
                watch.resource, watch.namespace, version, watch.field_selector
            ):
                changes.put_nowait(watch.resource.plural)
        except ApiError as error:
            if error.status in (401, 403):
                changes.put_nowait(Ended())
                return
            await asyncio.sleep(RETRY_SECONDS)  # a version too old (410), or a refusal to retry
        except (httpx.HTTPError, ValueError):
            await asyncio.sleep(RETRY_SECONDS)  # a dropped connection
        # Watch again from the current state: the objects come first, as events, so the page
        # fetches what it may have missed. A LIST would need a right that a person watching
        # one object by name (their Project) does not have.
        version = ""


async def server_sent(kube: Kube, watches: list[Watch], since: str) -> AsyncIterator[str]:
    changes: asyncio.Queue[object] = asyncio.Queue()
    followers = [asyncio.create_task(follow(kube, w, since, changes)) for w in watches]
    try:
        yield f"retry: {RETRY_SECONDS * 1000}\n\n"
        while True:
            try:
                change = await asyncio.wait_for(changes.get(), HEARTBEAT_SECONDS)
            except TimeoutError:
                yield ": still watching\n\n"
                continue
            await asyncio.sleep(SETTLE_SECONDS)
            burst = [change]
            while not changes.empty():
                burst.append(changes.get_nowait())
            if any(isinstance(c, Ended) for c in burst):
                return
            yield "event: changed\ndata: changed\n\n"
    finally:
        for follower in followers:
            follower.cancel()
        for follower in followers:
            with contextlib.suppress(asyncio.CancelledError):
                await follower


async def stream(request: Request) -> Response:
    kube = kube_of(request)
    project = request.path_params["project"]
    namespace = await namespace_of(kube, project)
    watches = watches_of(request, project, namespace)
    since = request.query_params.get("since", "")
    if not watches or not since:
        return Response("say what to watch (watch=<plural>) and from when (since)", 400)
    return StreamingResponse(
        server_sent(kube, watches, since),
        media_type="text/event-stream",
        headers={"cache-control": "no-store", "x-accel-buffering": "no"},
    )
