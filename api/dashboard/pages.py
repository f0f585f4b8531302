"""What every dashboard page shares: templates, the signed-in user, CSRF tokens, times in the
organization's zone and in words ("due in 5 h")."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from api.auth.principal import Principal, SignedInWith
from api.deps import ApiServices, CurrentPrincipal, Services, forbidden
from domain.users import Role

TEMPLATES = Jinja2Templates(directory=Path(__file__).parent.parent / "templates")
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"

# Each role's first page, and the pages the navigation offers it.
HOME = {
    Role.CASE_MANAGER: "/worklist",
    Role.SUPERVISOR: "/supervisor",
    Role.COMPLIANCE: "/compliance",
    Role.SECURITY_ADMIN: "/account",
    Role.ADT_FEED: "/account",
}
NAVIGATION = (
    ("/worklist", "Worklist", (Role.CASE_MANAGER, Role.SUPERVISOR)),
    ("/supervisor", "Supervisor", (Role.SUPERVISOR,)),
    ("/compliance", "Compliance", (Role.COMPLIANCE,)),
    ("/account", "Account", tuple(Role)),
)


def checked_form_post(
    request: Request,
    principal: CurrentPrincipal,
    services: Services,
    csrf_token_field: Annotated[str | None, Form(alias=CSRF_FIELD)] = None,
) -> Principal:
    """A dashboard form post by the signed-in user, carrying their CSRF token. A bearer token
    is never sent by a browser on its own, so only session sign-ins need one."""
    if principal.signed_in_with is SignedInWith.BEARER:
        return principal
    sent = csrf_token_field or request.headers.get(CSRF_HEADER) or ""
    if not services.sessions.csrf_token_is_valid(sent, principal.username):
        raise forbidden("the form is out of date or came from another site; reload the page")
    return principal


FormPoster = Annotated[Principal, Depends(checked_form_post)]


def page_roles(*roles: Role) -> Any:
    """A page dependency letting through signed-in users holding one of `roles`."""

    def gate(principal: CurrentPrincipal) -> Principal:
        if not principal.has_any(*roles):
            raise forbidden(
                f"this page is for {_either(roles)}; you are signed in as "
                f"{principal.username} ({_either(tuple(principal.roles))})"
            )
        return principal

    return Depends(gate)


def render(
    request: Request,
    template: str,
    principal: Principal | None,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    services: ApiServices = request.app.state.services
    navigation = [
        (path, label)
        for path, label, roles in NAVIGATION
        if principal is not None and principal.has_any(*roles)
    ]
    return TEMPLATES.TemplateResponse(
        request,
        template,
        {
            "principal": principal,
            "navigation": navigation,
            "csrf_token": ""
            if principal is None
            else services.sessions.csrf_token(principal.username),
            "zone": services.zone,
            **context,
        },
        status_code=status_code,
    )


def _either(roles: tuple[Role, ...]) -> str:
    return " or ".join(sorted(roles)) or "no role"


def not_found(what: str) -> HTTPException:
    return HTTPException(404, what)


def local_path(target: str, default: str = "/") -> str:
    """Only a path of this site: a crafted link cannot send a user elsewhere afterwards."""
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    return target
