"""Signing in and out: bearer tokens for systems and feeds, a session cookie for the dashboard."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response
from fastapi.security import OAuth2PasswordRequestForm

from api.auth.principal import Principal, SignedInWith
from api.deps import CurrentPrincipal, Services, forbidden
from api.models.auth import AccessToken, Credentials, Me, PasswordChange
from api.problems import problem_responses
from services.users import AuthenticationFailed

router = APIRouter(prefix="/auth", tags=["auth"])


@router.post(
    "/token",
    summary="Issue a bearer token for a local user (OAuth2 password grant)",
    responses=problem_responses(400, 401, 422),
)
def issue_token(
    form: Annotated[OAuth2PasswordRequestForm, Depends()], services: Services
) -> AccessToken:
    user = services.users.authenticate(form.username, form.password)
    issued = services.tokens.issue(user)
    return AccessToken(access_token=issued.token, expires_in=issued.expires_in)


@router.post(
    "/session",
    summary="Sign in to the dashboard: sets the session cookie",
    responses=problem_responses(400, 401, 422),
)
def sign_in(credentials: Credentials, response: Response, services: Services) -> Me:
    user = services.users.authenticate(credentials.username, credentials.password)
    services.sessions.start(response, user.username)
    return _me(Principal(user.username, frozenset(user.roles), SignedInWith.SESSION))


@router.delete("/session", summary="Sign out: ends the session cookie", status_code=204)
def sign_out(response: Response, services: Services) -> None:
    services.sessions.end(response)


@router.get("/me", summary="Who you are signed in as", responses=problem_responses(401))
def me(principal: CurrentPrincipal) -> Me:
    return _me(principal)


@router.post(
    "/password",
    summary="Change your own password; ends your other sessions and tokens",
    responses=problem_responses(400, 401, 403, 404, 422),
)
def change_password(
    change: PasswordChange, principal: CurrentPrincipal, response: Response, services: Services
) -> Me:
    try:
        services.users.change_password(
            principal.username, change.current_password, change.new_password
        )
    except AuthenticationFailed:
        raise forbidden("the current password is wrong") from None
    if principal.signed_in_with is SignedInWith.SESSION:
        services.sessions.start(response, principal.username)
    return _me(principal)


def _me(principal: Principal) -> Me:
    return Me(
        username=principal.username,
        roles=sorted(principal.roles),
        signed_in_with=principal.signed_in_with,
    )
