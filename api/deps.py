"""What routes depend on: the wired services, the signed-in user, and role gates."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated
from uuid import UUID
from zoneinfo import ZoneInfo

from fastapi import Depends, HTTPException, Request, Response
from fastapi.security import APIKeyCookie, OAuth2PasswordBearer

from api.auth.principal import Principal, SignedInWith
from api.auth.sessions import SESSION_COOKIE, SessionCookies, SessionEnded
from api.auth.tokens import BearerTokens, TokenRejected
from api.settings import ApiSettings
from domain.users import Role, User
from projections.audit_trail import AuditTrailIndex
from projections.store import ProjectionStore
from services.access_audit import AccessAudit
from services.application import CareTrail
from services.audit_chain import AuditChain, AuditRecord, history
from services.errors import NotFound
from services.settings import Settings
from services.users import UserAccounts

API_PREFIX = "/api/v1"
TOKEN_PATH = f"{API_PREFIX}/auth/token"


@dataclass(frozen=True)
class ApiServices:
    """Everything the API calls, wired once per application."""

    caretrail: CareTrail
    users: UserAccounts
    access: AccessAudit
    settings: ApiSettings
    tokens: BearerTokens
    sessions: SessionCookies
    read_models: ProjectionStore
    audit_chain: AuditChain
    zone: ZoneInfo

    @classmethod
    def wire(
        cls,
        caretrail: CareTrail,
        users: UserAccounts,
        settings: ApiSettings,
        read_models: ProjectionStore,
        audit_chain: AuditChain,
        zone: ZoneInfo | None = None,
    ) -> ApiServices:
        """`zone`: the organization's, for times shown on pages (default: CARETRAIL_TIMEZONE)."""
        return cls(
            caretrail=caretrail,
            users=users,
            access=AccessAudit(caretrail),
            settings=settings,
            tokens=BearerTokens(settings, caretrail.clock),
            sessions=SessionCookies(settings, caretrail.clock),
            read_models=read_models,
            audit_chain=audit_chain,
            zone=zone or ZoneInfo(Settings().timezone),
        )

    def close(self) -> None:
        self.caretrail.close()
        self.users.close()
        self.read_models.close()
        self.audit_chain.engine.dispose()

    def now(self) -> datetime:
        return self.caretrail.clock()

    def patient_history(self, patient_id: UUID) -> list[AuditRecord]:
        """Every stored event of the patient (all their records), with its chain link."""
        index = AuditTrailIndex(self.read_models)
        return history(self.caretrail, self.audit_chain, index, patient_id=patient_id)


def get_services(request: Request) -> ApiServices:
    services = request.app.state.services
    assert isinstance(services, ApiServices)
    return services


Services = Annotated[ApiServices, Depends(get_services)]

bearer_token = OAuth2PasswordBearer(
    tokenUrl=TOKEN_PATH,
    auto_error=False,
    description="A caretrail token from the token endpoint, or one from the site's identity "
    "provider (JWT with the configured issuer and audience)",
)
session_cookie = APIKeyCookie(
    name=SESSION_COOKIE,
    auto_error=False,
    description="The dashboard's session, set by signing in at /auth/session",
)


def unauthenticated(detail: str) -> HTTPException:
    return HTTPException(401, detail, headers={"WWW-Authenticate": 'Bearer realm="caretrail"'})


def forbidden(detail: str) -> HTTPException:
    return HTTPException(403, detail)


def current_principal(
    request: Request,
    response: Response,
    services: Services,
    token: Annotated[str | None, Depends(bearer_token)],
    cookie: Annotated[str | None, Depends(session_cookie)],
) -> Principal:
    if token is not None:
        principal = _from_token(services, token)
    elif cookie is not None:
        principal = _from_session(services, cookie, response)
    else:
        raise unauthenticated("sign in for a session, or send a bearer token")
    request.state.principal = principal  # a refusal page still shows who is signed in
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def require_roles(*roles: Role) -> Callable[[Principal], Principal]:
    """A dependency letting through users holding at least one of `roles`."""

    def role_gate(principal: CurrentPrincipal) -> Principal:
        if not principal.has_any(*roles):
            raise forbidden(f"this needs one of the roles: {', '.join(roles)}")
        return principal

    return role_gate


AdtFeed = Annotated[Principal, Depends(require_roles(Role.ADT_FEED))]


def _from_token(services: ApiServices, token: str) -> Principal:
    try:
        claims = services.tokens.verify(token)
    except TokenRejected as rejected:
        raise unauthenticated(str(rejected)) from None
    try:
        user = services.users.user(claims.username)
    except NotFound:
        # Not registered here: a user of the site's identity provider, with the roles it names.
        return Principal(claims.username, claims.roles, SignedInWith.BEARER)
    _require_usable(user, claims.issued_at)
    return Principal(user.username, frozenset(user.roles), SignedInWith.BEARER)


def _from_session(services: ApiServices, cookie: str, response: Response) -> Principal:
    try:
        session = services.sessions.resume(cookie)
        user = services.users.user(session.username)
    except (SessionEnded, NotFound) as ended:
        raise unauthenticated(str(ended)) from None
    _require_usable(user, session.signed_in_at.timestamp())
    services.sessions.keep_alive(response, session)
    return Principal(user.username, frozenset(user.roles), SignedInWith.SESSION)


def _require_usable(user: User, signed_in_at: float) -> None:
    """The account state wins over a credential issued earlier: disabling or a new password
    ends every session and token at once."""
    if user.disabled:
        raise unauthenticated("the account is disabled")
    if int(user.password_changed_at.timestamp()) > int(signed_in_at):
        raise unauthenticated("the password changed since this sign-in; sign in again")
