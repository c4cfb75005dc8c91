"""The console's web application: sign-in with a person's token, and pages that show what
that token may see. Sessions are signed HttpOnly cookies (Starlette's SessionMiddleware);
every change needs the CSRF header that starlette-csrf checks."""

import secrets
from pathlib import Path
from typing import Any

from kubernetes.client.exceptions import ApiException
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route
from starlette.templating import Jinja2Templates
from starlette_csrf.middleware import CSRFMiddleware

from stratus.dashboard.kubeapi import Cluster, who_is

TEMPLATES = Jinja2Templates(directory=Path(__file__).parent / "templates")
SESSION_SECONDS = 8 * 3600
"""A session ends after a working day, whatever the token's own lifetime."""


def create_app(cluster: Cluster, secret: str | None = None, secure: bool = True) -> Starlette:
    """`secure` marks the cookies Secure; off only for plain-HTTP loopback (`make run`)."""
    key = secret or secrets.token_urlsafe(32)

    async def sign_in_form(request: Request) -> Response:
        return TEMPLATES.TemplateResponse(request, "login.html", {"error": None})

    async def sign_in(request: Request) -> Response:
        form = await request.form()
        token = str(form.get("token") or "").strip()
        try:
            person = await run_in_threadpool(who_is, cluster.as_person(token))
        except ApiException as error:
            message = "the API server refused this token" if error.status == 401 else str(error)
            return TEMPLATES.TemplateResponse(
                request, "login.html", {"error": message}, status_code=401
            )
        request.session.clear()
        request.session.update({"token": token, "person": person})
        return RedirectResponse("/", status_code=303)

    async def sign_out(request: Request) -> Response:
        request.session.clear()
        return RedirectResponse("/login", status_code=303)

    async def home(request: Request) -> Response:
        person = signed_in(request)
        if person is None:
            return RedirectResponse("/login", status_code=303)
        return TEMPLATES.TemplateResponse(request, "home.html", {"person": person})

    return Starlette(
        routes=[
            Route("/login", sign_in_form, methods=["GET"]),
            Route("/login", sign_in, methods=["POST"]),
            Route("/logout", sign_out, methods=["POST"]),
            Route("/", home, methods=["GET"]),
        ],
        middleware=[
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
    )


def signed_in(request: Request) -> dict[str, Any] | None:
    person = request.session.get("person")
    return person if isinstance(person, dict) and request.session.get("token") else None
