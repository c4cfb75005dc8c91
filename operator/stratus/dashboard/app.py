"""The console's web application: sign-in with a person's own token, the pages, and what guards
them: signed session cookies, starlette-csrf's check on every change, and headers that keep
the browser to the console's own scripts and styles."""

import contextlib
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

from prometheus_client import make_asgi_app
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette_csrf.middleware import CSRFMiddleware

from stratus.dashboard import live
from stratus.dashboard.access import Permissions
from stratus.dashboard.kubeapi import ApiError, ApiServer, Kube
from stratus.dashboard.pages import (
    admin,
    network,
    objects,
    overview,
    routing,
    securitygroups,
    servers,
    storage,
)
from stratus.dashboard.session import SESSION_SECONDS, Sessions
from stratus.dashboard.views import (
    Console,
    NotVisible,
    SignedOut,
    console_of,
    kube_of,
    projects_of,
    redirect,
    refused,
    render,
)

STATIC = Path(__file__).parent / "static"
SECURITY_HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        b"object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
]


class SecurityHeaders:
    """Scripts and styles from the console only, never framed, never sniffed."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *SECURITY_HEADERS]
            await send(message)

        await self.app(scope, receive, send_with_headers)


async def healthy(_: Request) -> Response:
    return PlainTextResponse("ok")


async def sign_in_form(request: Request) -> Response:
    return render(request, "login.html")


async def sign_in(request: Request) -> Response:
    console = console_of(request)
    form = await request.form()
    token = str(form.get("token") or "").strip()
    assert console.http is not None
    try:
        person = await Kube(console.http, token).who_am_i()
    except ApiError as error:
        if error.status == 401:
            error.message = "The API server refused this token."
        return refused(error)
    console.sessions.sign_in(request, token, person)
    return redirect(request, "/")


async def sign_out(request: Request) -> Response:
    request.session.clear()
    return redirect(request, "/login")


async def home(request: Request) -> Response:
    """The first of the person's Projects, or a page that says they have none."""
    kube = kube_of(request)
    permissions = Permissions.of(await kube.rules("default"))
    projects = await projects_of(kube, permissions)
    if projects:
        return RedirectResponse(f"/p/{projects[0]}/", status_code=303)
    return render(request, "no-projects.html", {"admin": permissions.administers})


async def signed_out(request: Request, _: Exception) -> Response:
    return await sign_out(request)


async def not_visible(request: Request, _: Exception) -> Response:
    return render(request, "not-found.html", {"path": request.url.path}, status_code=404)


async def api_refused(request: Request, error: Exception) -> Response:
    """A read the page needed was refused: a token the API server no longer accepts means
    signing in again; anything else is said as the API server said it."""
    assert isinstance(error, ApiError)
    if error.status == 401:
        return await signed_out(request, error)
    return render(request, "refused.html", {"error": error}, status_code=error.status)


def create_app(api: ApiServer, secret: str | None = None, secure: bool = True) -> Starlette:
    """`secure` marks the cookies Secure; off only for plain-HTTP loopback (`make run`)."""
    key = secret or secrets.token_urlsafe(32)
    console = Console(Sessions(key))

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        async with api.connect() as http:
            console.http = http
            yield
            console.http = None

    routes = [
        Route("/healthz", healthy, methods=["GET"]),
        Route("/login", sign_in_form, methods=["GET"]),
        Route("/login", sign_in, methods=["POST"]),
        Route("/logout", sign_out, methods=["POST"]),
        Route("/", home, methods=["GET"]),
        *overview.routes,
        *servers.routes,
        *storage.routes,
        *network.routes,
        *securitygroups.routes,
        *routing.routes,
        *objects.routes,
        *admin.routes,
        Route("/p/{project}/live", live.stream, methods=["GET"]),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
        Mount("/metrics", make_asgi_app()),
    ]
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        middleware=[
            Middleware(SecurityHeaders),
            Middleware(
                SessionMiddleware,
                secret_key=key,
                session_cookie="stratus_session",
                max_age=SESSION_SECONDS,
                same_site="strict",
                https_only=secure,
            ),
            Middleware(CSRFMiddleware, secret=key, cookie_secure=secure, cookie_samesite="strict"),
        ],
        exception_handlers={
            SignedOut: signed_out,
            NotVisible: not_visible,
            ApiError: api_refused,
        },
    )
    app.state.console = console
    return app
