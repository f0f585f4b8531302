"""Signing in and out of the dashboard, and each role's first page."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from api.dashboard.pages import HOME, FormPoster, local_path, render
from api.deps import CurrentPrincipal, Services
from services.users import AuthenticationFailed

router = APIRouter()


@router.get("/")
def home(principal: CurrentPrincipal) -> RedirectResponse:
    first_role = sorted(principal.roles)[0] if principal.roles else None
    return RedirectResponse(HOME.get(first_role, "/account") if first_role else "/account", 303)


@router.get("/login")
def sign_in_page(request: Request, next: str = "/") -> HTMLResponse:
    return render(request, "login.html", None, next=local_path(next))


@router.post("/login")
def sign_in(
    request: Request,
    services: Services,
    username: Annotated[str, Form()],
    password: Annotated[str, Form()],
    next: Annotated[str, Form()] = "/",
) -> Response:
    try:
        user = services.users.authenticate(username, password)
    except AuthenticationFailed:
        return render(
            request, "login.html", None, status_code=401, next=local_path(next), username=username,
            error="Wrong username or password, or the account is disabled.",
        )  # fmt: skip
    answer = RedirectResponse(local_path(next), status_code=303)
    services.sessions.start(answer, user.username)
    return answer


@router.post("/logout")
def sign_out(_: FormPoster, services: Services) -> RedirectResponse:
    answer = RedirectResponse("/login", status_code=303)
    services.sessions.end(answer)
    return answer


@router.get("/account")
def account(request: Request, principal: CurrentPrincipal) -> HTMLResponse:
    return render(request, "account.html", principal)
