"""Every refusal as RFC 9457 problem details (application/problem+json), with a specific reason.

Each domain rule violation has its own problem type, so a client (or the dashboard) can tell a
missing consent from a closed case without parsing prose.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import iter_route_contexts
from pydantic import BaseModel
from starlette.exceptions import HTTPException
from starlette.routing import compile_path

from domain.access import EmergencyAccessRefused
from domain.alert import AlertIsClosed
from domain.errors import (
    CaseIsClosed,
    ConsentRequired,
    DomainRuleViolation,
    ImplausibleDate,
    InvalidTransition,
    InvalidValue,
    MergeRefused,
    PatientAlreadyRegistered,
    TransitionAlreadyCancelled,
    UnknownReference,
    UnknownTransition,
)
from domain.users import AccountChangeRefused
from services.errors import NotFound, VersionConflict
from services.users import AuthenticationFailed, PasswordRefused

PROBLEM_MEDIA_TYPE = "application/problem+json"
IF_MATCH = ("header", "If-Match")
log = logging.getLogger(__name__)


class FieldError(BaseModel):
    location: list[str | int]
    message: str


class Problem(BaseModel):
    """RFC 9457 problem details, with caretrail's extensions where they apply."""

    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None
    current_version: int | None = None
    errors: list[FieldError] | None = None


@dataclass(frozen=True)
class Refusal:
    status: int
    name: str
    title: str

    @property
    def type(self) -> str:
        return f"urn:caretrail:problem:{self.name}"


INVALID_VALUE = Refusal(422, "invalid-value", "A value is not acceptable")
DOMAIN_REFUSALS: dict[type[DomainRuleViolation], Refusal] = {
    ConsentRequired: Refusal(409, "consent-required", "The client's consent is required"),
    CaseIsClosed: Refusal(409, "case-closed", "The case is closed"),
    InvalidTransition: Refusal(409, "invalid-transition", "Not allowed in the current state"),
    UnknownTransition: Refusal(422, "unknown-transition", "No such transition"),
    TransitionAlreadyCancelled: Refusal(
        409, "transition-already-cancelled", "The transition was already cancelled"
    ),
    ImplausibleDate: Refusal(422, "implausible-date", "A date contradicts another"),
    InvalidValue: INVALID_VALUE,
    UnknownReference: Refusal(
        422, "unknown-reference", "The case has no such goal, referral or barrier"
    ),
    MergeRefused: Refusal(409, "merge-refused", "The merge would lose or confuse records"),
    PatientAlreadyRegistered: Refusal(
        409, "patient-already-registered", "Another patient has that identifier"
    ),
    EmergencyAccessRefused: Refusal(
        422, "emergency-access-refused", "Break-glass needs a reason and a bounded duration"
    ),
    AccountChangeRefused: Refusal(409, "account-change-refused", "The account cannot change so"),
    AlertIsClosed: Refusal(409, "alert-closed", "The alert is closed"),
}
# A rule added to the domain later still answers as a refusal, never as a server error.
ANY_DOMAIN_RULE = Refusal(409, "domain-rule", "Refused by a rule of the case management process")

NOT_FOUND = Refusal(404, "not-found", "No such record")
VERSION_CONFLICT = Refusal(409, "version-conflict", "The record changed since you read it")
INVALID_REQUEST = Refusal(422, "invalid-request", "The request is malformed")
PASSWORD_REFUSED = Refusal(422, "password-refused", "The password breaks the password policy")
IF_MATCH_REQUIRED = Refusal(428, "if-match-required", "Changes need If-Match")
SIGN_IN_FAILED = Refusal(401, "sign-in-failed", "Sign-in failed")
INTERNAL_ERROR = Refusal(500, "internal-error", "Something went wrong on our side")
HTTP_REFUSALS = {
    400: Refusal(400, "unreadable-body", "The request body could not be read"),
    401: Refusal(401, "unauthenticated", "Sign in first"),
    403: Refusal(403, "forbidden", "Your roles do not allow this"),
    404: NOT_FOUND,
    405: Refusal(405, "method-not-allowed", "Method not allowed"),
    422: INVALID_REQUEST,
}

RESPONSE_DESCRIPTIONS = {
    400: "The body could not be read (not JSON, or not form data)",
    401: "Not signed in, or the session or token is no longer valid",
    403: "Signed in, but no role of yours allows this here",
    404: "No such record",
    409: "Refused by a rule of the process, or the record changed (stale If-Match)",
    422: "The request is malformed, or names something that cannot be",
    428: "A change needs If-Match with the version you read (the ETag)",
    503: "Not configured on this server (the reason says what is missing)",
}


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the problems a route can answer with."""
    return {
        status: {
            "description": RESPONSE_DESCRIPTIONS[status],
            "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        for status in statuses
    }


def problem(
    request: Request,
    refusal: Refusal,
    detail: str,
    headers: Mapping[str, str] | None = None,
    **extensions: Any,
) -> JSONResponse:
    body = Problem(
        type=refusal.type,
        title=refusal.title,
        status=refusal.status,
        detail=detail,
        instance=request.url.path,
        **extensions,
    )
    return JSONResponse(
        body.model_dump(mode="json", exclude_none=True),
        status_code=refusal.status,
        headers=headers,
        media_type=PROBLEM_MEDIA_TYPE,
    )


def domain_refusal(violation: DomainRuleViolation) -> Refusal:
    for rule in type(violation).__mro__:
        if rule in DOMAIN_REFUSALS:
            return DOMAIN_REFUSALS[rule]
    return ANY_DOMAIN_RULE


async def _domain_rule(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, DomainRuleViolation)
    return problem(request, domain_refusal(error), str(error))


async def _not_found(request: Request, error: Exception) -> JSONResponse:
    return problem(request, NOT_FOUND, str(error))


async def _version_conflict(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, VersionConflict)
    return problem(
        request,
        VERSION_CONFLICT,
        str(error),
        headers={"ETag": f'"{error.current}"'},
        current_version=error.current,
    )


async def _invalid_request(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    issues = error.errors()
    if any(_is_missing_if_match(issue) for issue in issues):
        return problem(
            request,
            IF_MATCH_REQUIRED,
            "send If-Match with the case's ETag (or * to change whatever version is current)",
        )
    errors = [
        FieldError(location=list(issue.get("loc", ())), message=str(issue.get("msg", "")))
        for issue in issues
    ]
    return problem(request, INVALID_REQUEST, "see errors", errors=errors)


def _is_missing_if_match(issue: Any) -> bool:
    # FastAPI reports a missing required header as a validation error; RFC 6585 has 428 for it.
    return bool(issue.get("type") == "missing" and tuple(issue.get("loc", ())) == IF_MATCH)


async def _sign_in_failed(request: Request, error: Exception) -> JSONResponse:
    return problem(request, SIGN_IN_FAILED, str(error), headers={"WWW-Authenticate": "Bearer"})


async def _password_refused(request: Request, error: Exception) -> JSONResponse:
    return problem(request, PASSWORD_REFUSED, str(error))


async def _invalid_value(request: Request, error: Exception) -> JSONResponse:
    # The domain refuses impossible values (an empty identifier...) with ValueError.
    return problem(request, INVALID_VALUE, str(error))


async def _http_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, HTTPException)
    refusal = HTTP_REFUSALS.get(error.status_code) or Refusal(
        error.status_code, f"http-{error.status_code}", HTTPStatus(error.status_code).phrase
    )
    headers = dict(error.headers or {})
    if error.status_code == 405:
        headers["Allow"] = ", ".join(_allowed_methods(request))
    return problem(request, refusal, str(error.detail), headers=headers)


def _allowed_methods(request: Request) -> list[str]:
    # RFC 9110 wants every method the path serves, and one path can have several routes
    # (POST and DELETE /auth/session).
    methods: set[str] = set()
    for route in iter_route_contexts(request.app.routes):
        if route.path and compile_path(route.path)[0].match(request.url.path):
            methods |= route.methods or set()
    return sorted(methods)


async def _server_error(request: Request, error: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=error)
    return problem(request, INTERNAL_ERROR, "the error was logged; please report it")


def add_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(DomainRuleViolation, _domain_rule)
    app.add_exception_handler(NotFound, _not_found)
    app.add_exception_handler(VersionConflict, _version_conflict)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_exception_handler(AuthenticationFailed, _sign_in_failed)
    app.add_exception_handler(PasswordRefused, _password_refused)
    app.add_exception_handler(ValueError, _invalid_value)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(Exception, _server_error)
