"""What every page shares: the signed-in person's API access, the Project a page is about and
what they may do in it, and rendering, whole pages or the fragments htmx swaps in."""

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import jinja2
from markupsafe import escape
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route
from starlette.templating import Jinja2Templates

from stratus.constants import GROUP
from stratus.core.conditions import ready
from stratus.dashboard import display
from stratus.dashboard.access import Permissions
from stratus.dashboard.kubeapi import (
    EVENTS,
    PROJECTS,
    ApiError,
    Kube,
    Manifest,
    Resource,
)
from stratus.dashboard.manifests import Form
from stratus.dashboard.session import Sessions

# The templates ship with the package: looking for changes on disk at every include of a
# row's actions would cost a stat call per row.
TEMPLATES = Jinja2Templates(
    env=jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
        autoescape=True,
        auto_reload=False,
    )
)
TEMPLATES.env.filters.update(display.FILTERS)
TEMPLATES.env.globals["ready"] = ready
RECENT_EVENTS = 15
CORE_RESOURCES = frozenset({"secrets", "events", "pods", "nodes"})
"""Kinds of the core API group, which pages ask about beside Stratus's own."""


class SignedOut(Exception):
    """No session, or the API server no longer accepts its token: sign in again."""


class NotVisible(Exception):
    """A Project the person may not see, or that does not exist: the same page for both, so
    that the console tells nobody which Projects exist."""


@dataclass
class Console:
    """The application's state: the session keys, and the pool of connections to the API
    server while the application runs."""

    sessions: Sessions
    http: httpx.AsyncClient | None = None


def console_of(request: Request) -> Console:
    found: Console = request.app.state.console
    return found


def kube_of(request: Request) -> Kube:
    console = console_of(request)
    token = console.sessions.token(request)
    if token is None or console.http is None:
        raise SignedOut
    return Kube(console.http, token)


@dataclass
class Tenancy:
    """The Project a page is about, and the signed-in person's place in it."""

    name: str
    project: Manifest
    namespace: str
    permissions: Permissions
    projects: list[str]

    @property
    def admin(self) -> bool:
        return self.permissions.administers

    def can(self, verb: str, resource: str) -> bool:
        group = "" if resource in CORE_RESOURCES else GROUP
        return self.permissions.can(verb, resource, group)


async def projects_of(kube: Kube, permissions: Permissions) -> list[str]:
    """The Projects the person may open: all of them for whoever may list Projects, otherwise
    those granted to them by name (each Project grants its members `get` on itself)."""
    if permissions.can("list", "projects"):
        listed = await kube.list(PROJECTS)
        return sorted(p["metadata"]["name"] for p in listed["items"])
    return sorted(permissions.named("get", "projects"))


async def project_of(kube: Kube, name: str) -> Manifest:
    try:
        return await kube.get(PROJECTS, name)
    except ApiError as error:
        if error.status in (403, 404):
            raise NotVisible from error
        raise


def namespace_in(project: Manifest) -> str:
    status, spec = project.get("status") or {}, project.get("spec") or {}
    return str(status.get("namespace") or spec.get("namespace") or project["metadata"]["name"])


async def namespace_of(kube: Kube, name: str) -> str:
    return namespace_in(await project_of(kube, name))


async def tenancy_of(request: Request, kube: Kube) -> Tenancy:
    """The Project and the person's rights in its namespace. Most Projects' namespace is
    their name: the rights there are asked for at once, beside the Project, and again only
    for a Project whose namespace is another."""
    name = request.path_params["project"]
    project, rules = await gather(project_of(kube, name), kube.rules(name))
    namespace = namespace_in(project)
    if namespace != name:
        rules = await kube.rules(namespace)
    permissions = Permissions.of(rules)
    return Tenancy(name, project, namespace, permissions, await projects_of(kube, permissions))


@dataclass
class Visit:
    """One request of a signed-in person about one Project."""

    request: Request
    kube: Kube
    tenancy: Tenancy

    @property
    def namespace(self) -> str:
        return self.tenancy.namespace

    def url(self, *parts: str) -> str:
        return "/".join([f"/p/{self.tenancy.name}", *parts])


async def visit(request: Request) -> Visit:
    kube = kube_of(request)
    return Visit(request, kube, await tenancy_of(request, kube))


def fragment(request: Request) -> bool:
    """htmx asks for the part of a page it swaps, not the whole page."""
    return request.headers.get("hx-request") == "true"


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    console = console_of(request)
    merged = {"person": console.sessions.person(request)} | (context or {})
    return TEMPLATES.TemplateResponse(
        request, template, merged, status_code=status_code, headers=headers
    )


def page(place: Visit, template: str, **context: Any) -> Response:
    """A page about the Project, with the picker and navigation it shares."""
    tenancy = place.tenancy
    return render(
        place.request,
        template,
        {"tenancy": tenancy, "can": tenancy.can, "base": place.url()} | context,
    )


def redirect(request: Request, url: str) -> Response:
    """Send the browser on to `url`: htmx, which would otherwise swap the next page into the
    current one, by HX-Redirect; a plain request by its Location."""
    if fragment(request):
        return Response(headers={"hx-redirect": url})
    return Response(status_code=303, headers={"location": url})


async def gather(*requests: Awaitable[Any]) -> list[Any]:
    """A page's reads, sent together: its time is the slowest one's, not their sum."""
    return list(await asyncio.gather(*requests))


async def events_of(
    place: Visit, kind: str | None = None, name: str | None = None
) -> tuple[list[Manifest], str]:
    """The newest Events in the Project, or about one object of it, newest first, and the
    version of the LIST: the newest the page has seen, to watch from."""
    selector = None
    if kind and name:
        selector = f"involvedObject.kind={kind},involvedObject.name={name}"
    listed = await place.kube.list(EVENTS, place.namespace, field_selector=selector)
    events = sorted(listed["items"], key=event_time, reverse=True)
    return events[:RECENT_EVENTS], listed["metadata"]["resourceVersion"]


def event_time(event: Manifest) -> str:
    return (
        event.get("lastTimestamp")
        or event.get("eventTime")
        or event["metadata"].get("creationTimestamp")
        or ""
    )


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


async def form_of(request: Request) -> Form:
    submitted = await request.form()
    fields = {k: v for k, v in submitted.multi_items() if isinstance(v, str)}
    lists = {k: [v for v in submitted.getlist(k) if isinstance(v, str)] for k in fields}
    return Form(fields, lists)


async def listing(place: Visit, resource: Resource) -> tuple[list[Manifest], str]:
    """One LIST of a kind in the Project: its objects by name, and the version to watch from."""
    listed = await place.kube.list(resource, place.namespace)
    items = sorted(listed["items"], key=lambda o: o["metadata"]["name"])
    return items, listed["metadata"]["resourceVersion"]


async def kind_page(request: Request, resource: Resource, *others: Resource) -> Response:
    """A kind's page in the Project: its objects, and those of the kinds its forms and actions
    offer (Volumes to attach, Images to copy), each read with one LIST, whatever their number.
    htmx, following the objects live, fetches the table alone."""
    place = await visit(request)
    (items, version), *rest = await gather(*(listing(place, r) for r in (resource, *others)))
    template = (
        f"{resource.plural}/_table.html" if fragment(request) else f"{resource.plural}/index.html"
    )
    offered = {r.plural: found for r, (found, _) in zip(others, rest, strict=True)}
    return page(place, template, items=items, version=version, **offered)


def deleter(resource: Resource) -> Callable[[Request], Awaitable[Response]]:
    """The endpoint that deletes one object of `resource`, as the person."""

    async def delete(request: Request) -> Response:
        name = request.path_params["name"]

        async def carry_out(place: Visit) -> str:
            await place.kube.delete(resource, name, place.namespace)
            return f"{name} is being deleted."

        return await change(request, carry_out)

    return delete


def kind_routes(
    resource: Resource,
    build: Callable[[Form, str], Manifest],
    *offered: Resource,
    to_the_new_one: bool = False,
) -> list[Route]:
    """A kind's page (with `offered` kinds for its forms), creating one from its form (then
    on to the new object's page, or back to the list), and deleting one."""
    collection = f"/p/{{project}}/{resource.plural}"

    async def index(request: Request) -> Response:
        return await kind_page(request, resource, *offered)

    async def make(request: Request) -> Response:
        then = None if to_the_new_one else request.url.path
        return await create(request, resource, build, then)

    return [
        Route(collection, index, methods=["GET"]),
        Route(collection, make, methods=["POST"]),
        Route(f"{collection}/{{name}}/delete", deleter(resource), methods=["POST"]),
    ]


def told(message: str) -> Response:
    """What a change did, for the notice area."""
    return HTMLResponse(f'<span class="notice">{escape(message)}</span>')


def refused(error: ApiError) -> Response:
    """The API server's refusal, in its own words, where the person acted. 422, which htmx
    swaps in like a success, so that the message lands next to the form."""
    return HTMLResponse(escape(error.message), status_code=422)


async def change(request: Request, act: Callable[[Visit], Awaitable[str]]) -> Response:
    """A change on a person's request: what it did, or why the API server refused it."""
    place = await visit(request)
    try:
        return told(await act(place))
    except ApiError as error:
        return refused(error)


Action = Callable[[Visit, str, Form], Awaitable[str]]
"""Something a person does to one object (by name), with what the form says: it returns
what to tell them."""


def acting(actions: Mapping[str, Action]) -> Callable[[Request], Awaitable[Response]]:
    """The endpoint of a kind's actions, `.../{name}/{action}`."""

    async def endpoint(request: Request) -> Response:
        name, action = request.path_params["name"], request.path_params["action"]
        if action not in actions:
            return Response(f"there is no action {action} here", status_code=404)
        form = await form_of(request)
        return await change(request, lambda place: actions[action](place, name, form))

    return endpoint


async def create(
    request: Request,
    resource: Resource,
    build: Callable[[Form, str], Manifest],
    then: str | None = None,
) -> Response:
    """Create what a form describes, as the person: on to `then` (by default the new object's
    page), or the API server's refusal under the form."""
    place = await visit(request)
    manifest = build(await form_of(request), place.namespace)
    try:
        await place.kube.create(resource, manifest, place.namespace)
    except ApiError as error:
        return refused(error)
    return redirect(request, then or place.url(resource.plural, manifest["metadata"]["name"]))
