"""A Project's overview: its quota as charts, used of limit, and what happened lately."""

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from stratus.dashboard.display import gauges
from stratus.dashboard.views import events_of, fragment, page, project_of, visit


async def overview(request: Request) -> Response:
    place = await visit(request)
    # The Project is read again after the Events, so that the page shows it as it was at or
    # after the version it watches from: no change falls between the two.
    events, version = await events_of(place)
    project = await project_of(place.kube, place.tenancy.name)
    template = "overview/_body.html" if fragment(request) else "overview/index.html"
    return page(place, template, gauges=gauges(project), events=events, version=version)


routes = [Route("/p/{project}/", overview, methods=["GET"])]
